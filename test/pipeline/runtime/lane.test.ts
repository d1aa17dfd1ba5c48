import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { batchIdPrefix, batchIdRange } from '../../../src/core/batch.js';
import { Lane } from '../../../src/pipeline/runtime/lane.js';

/** One step of filling a lane: a value, a run of values, or a source reject, at a gap from the last offset. */
const step = fc.oneof(
  fc.record({ kind: fc.constant('value' as const), gap: fc.integer({ min: 1, max: 3 }), size: fc.nat(100) }),
  fc.record({
    kind: fc.constant('run' as const),
    length: fc.integer({ min: 1, max: 150 }),
    owned: fc.boolean(),
    size: fc.nat(100),
  }),
  fc.record({ kind: fc.constant('reject' as const), gap: fc.integer({ min: 1, max: 3 }), size: fc.nat(100) }),
);

describe('Lane', () => {
  test.prop([fc.array(step, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 1000 })])(
    'seal hands over every value in offset order, with its offsets, rejects and sizes, and empties the lane',
    (steps, start) => {
      const lane = new Lane<number>('p', 'pipe');
      const values: number[] = [];
      const offsets: number[] = [];
      const rejects: number[] = [];
      let held = 0;
      let bytes = 0;
      let last = start - 1;
      for (const s of steps) {
        if (s.kind === 'run') {
          const run = Array.from({ length: s.length }, (_, k) => last + 1 + k);
          if (lane.empty) lane.open(run[0]!, 0);
          lane.appendRun(run, 0, run.length, s.owned);
          // Consecutive offsets are implicit until something breaks the sequence.
          if (lane.offsets !== undefined) lane.offsets.push(...run);
          lane.bookedRun(run.length, run.length * s.size, run.at(-1)!);
          values.push(...run);
          offsets.push(...run);
          bytes += run.length * s.size;
          held += run.length * s.size;
          last = run.at(-1)!;
        } else if (s.kind === 'value') {
          const offset = last + s.gap;
          if (lane.empty) lane.open(offset, 0);
          lane.pushValue(offset);
          if (lane.offsets !== undefined) lane.offsets.push(offset);
          else if (lane.records > 0 && offset !== lane.highestOffset + 1) lane.listOffsets().push(offset);
          lane.booked(offset, s.size);
          values.push(offset);
          offsets.push(offset);
          bytes += s.size;
          held += s.size;
          last = offset;
        } else {
          const offset = last + s.gap;
          if (lane.empty) lane.open(offset, 0);
          lane.addReject({ offset, reason: 'malformed', details: {}, value: offset }, s.size);
          rejects.push(offset);
          held += s.size;
          last = offset;
        }
      }
      expect(lane.count).toBe(values.length + rejects.length);
      expect(lane.heldBytes).toBe(held);
      const firstOffset = Math.min(
        offsets[0] ?? Number.POSITIVE_INFINITY,
        rejects[0] ?? Number.POSITIVE_INFINITY,
      );
      const sealed = lane.seal('records', 5);
      const { batch } = sealed;
      expect(batch.records).toEqual(values);
      const listed = batch.offsets ?? values.map((_, i) => batch.firstOffset + i);
      expect(listed).toEqual(offsets);
      expect(sealed.rejected.map((r) => r.offset)).toEqual(rejects);
      expect(sealed.count).toBe(values.length + rejects.length);
      expect(sealed.heldBytes).toBe(held);
      expect(batch.bytes).toBe(bytes);
      expect(batch.firstOffset).toBe(firstOffset);
      expect(batch.lastOffset).toBe(last);
      expect(batch.id).toBe(`${batchIdPrefix('pipe', 'p')}${batchIdRange(firstOffset, last)}`);
      expect(batch.closedAt).toBe(5);
      // Empty again, but the ordering check still knows the highest offset ever taken.
      expect(lane.empty).toBe(true);
      expect(lane.records + lane.bytes + lane.heldBytes).toBe(0);
      expect(lane.openedAt).toBeUndefined();
      expect(lane.highestOffset).toBe(last);
    },
  );

  it('keeps a whole owned array without copying it, and copies a borrowed one', () => {
    const owned = Array.from({ length: 100 }, (_, i) => i);
    const lane = new Lane<number>('p', 'pipe');
    lane.open(0, 0);
    lane.appendRun(owned, 0, owned.length, true);
    lane.bookedRun(100, 0, 99);
    expect(lane.seal('records', 1).batch.records).toBe(owned);
    const borrowed = Array.from({ length: 100 }, (_, i) => i + 100);
    lane.open(100, 1);
    lane.appendRun(borrowed, 0, borrowed.length, false);
    lane.bookedRun(100, 0, 199);
    const records = lane.seal('records', 2).batch.records;
    expect(records).toEqual(borrowed);
    expect(records).not.toBe(borrowed);
  });

  it('stretchTo gives a replayed batch its plan range (and so its id) even when edge records are gone', () => {
    const lane = new Lane<string>('p', 'pipe');
    lane.open(12, 0);
    lane.pushValue('a');
    lane.booked(12, 1);
    lane.pushValue('b');
    lane.booked(13, 1);
    lane.stretchTo({ firstOffset: 10, lastOffset: 15 });
    const { batch } = lane.seal('replay', 3);
    expect([batch.firstOffset, batch.lastOffset]).toEqual([10, 15]);
    expect(batch.offsets).toEqual([12, 13]);
    expect(batch.id).toBe(`${batchIdPrefix('pipe', 'p')}${batchIdRange(10, 15)}`);
    expect(lane.highestOffset).toBe(15);
  });

  it('reset drops what the lane holds and its replay', () => {
    const lane = new Lane<number>('p', 'pipe');
    lane.open(0, 0);
    lane.pushValue(1);
    lane.booked(0, 10);
    lane.replay = { firstOffset: 0, lastOffset: 3 };
    lane.reset();
    expect(lane.empty).toBe(true);
    expect(lane.replay).toBeUndefined();
    expect(lane.heldBytes).toBe(0);
  });
});
