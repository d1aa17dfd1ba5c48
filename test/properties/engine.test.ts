import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  type Batch,
  type DeadLetter,
  estimateBytes,
  fromIterable,
  memorySink,
  pipeline,
  recordOffsets,
  type Sink,
  triggers,
} from '../../src/index.js';
import { flakySink, type ScriptedRecord, scriptedSource, testClock } from '../../src/testing/index.js';

/** A record of the generated streams: its partition, position and a payload of arbitrary size. */
interface Rec {
  p: string;
  i: number;
  pad: string;
}

const arrivals = fc.array(
  fc.record({
    partition: fc.constantFrom('a', 'b', 'c'),
    gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 5_000 })),
    size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 600 })),
  }),
  { maxLength: 250, size: 'large' },
);

const writeStep = fc.oneof(
  { weight: 5, arbitrary: fc.constant({}) },
  { weight: 2, arbitrary: fc.record({ delay: fc.integer({ min: 1, max: 3_000 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      fail: fc.constant('retryable' as const),
      delay: fc.integer({ min: 0, max: 500 }),
    }),
  },
);

const setup = fc.record({
  window: fc.integer({ min: 1, max: 3_000 }),
  maxRecords: fc.integer({ min: 1, max: 60 }),
  maxBatchBytes: fc.integer({ min: 400, max: 8_000 }),
  maxRecordBytes: fc.integer({ min: 50, max: 700 }),
  budget: fc.integer({ min: 800, max: 20_000 }),
  concurrency: fc.integer({ min: 1, max: 4 }),
  // `sized`: an explicit maxRecordBytes and a byte cap, so every record is sized (the exact path);
  // `sampled`: the defaults, records counted and sizes estimated from samples (the bulk path).
  sizing: fc.constantFrom('sized' as const, 'sampled' as const),
  steps: fc.array(writeStep, { maxLength: 40, size: 'large' }),
});

/** Builds the scripted input: arrival times accumulate the gaps; offsets count per partition. */
function script(
  input: { partition: string; gap: number; size: number }[],
  start: number,
): ScriptedRecord<Rec>[] {
  let at = start;
  const next = new Map<string, number>();
  return input.map(({ partition, gap, size }) => {
    at += gap;
    const i = next.get(partition) ?? 0;
    next.set(partition, i + 1);
    return { at, partition, value: { p: partition, i, pad: 'x'.repeat(size) } };
  });
}

function byPartition(records: readonly Rec[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const r of records) {
    let list = out.get(r.p);
    if (list === undefined) out.set(r.p, (list = []));
    list.push(r.i);
  }
  return out;
}

describe('engine laws (scripted arrivals, flaky sink, test clock)', () => {
  it.prop([arrivals, setup], { numRuns: 150 })(
    'no loss, no duplicate, order per partition, caps, window, budget, commit safety',
    async (input, s) => {
      const clock = testClock(1_700_000_000_000);
      const records = script(input, clock.now());
      const source = scriptedSource(clock, records);
      const dead = memorySink<DeadLetter>();
      const violations: string[] = [];
      const sized = s.sizing === 'sized';
      const limit = sized ? Math.min(s.maxRecordBytes, s.maxBatchBytes) : Number.POSITIVE_INFINITY;
      const maxBatchBytes = sized ? s.maxBatchBytes : Number.POSITIVE_INFINITY;
      const budget = Math.max(s.budget, s.maxRecordBytes, s.maxBatchBytes);

      // The sink under the flaky wrapper checks the budget at every write, and keeps what was written.
      const written = new Map<string, Batch<Rec>>();
      // The flaky wrapper fails before the inner write, so a batch reaches it once: a second write of
      // an id here would be a needless rewrite, which a one-effect-per-id sink would hide.
      const rewrites: string[] = [];
      const checking: Sink<Rec> = {
        write(batch) {
          checkBudget('write');
          if (written.has(batch.id)) rewrites.push(batch.id);
          written.set(batch.id, batch);
        },
      };
      const sink = flakySink<Rec>({ clock, schedule: s.steps, inner: checking });

      const p = pipeline({
        name: 'laws',
        clock,
        maxBufferBytes: budget,
        ...(sized && { maxRecordBytes: s.maxRecordBytes }),
        concurrency: s.concurrency,
        retry: { initialDelay: 10, maxDelay: 2_000 },
      })
        .source(source)
        .trigger(
          triggers.any(
            triggers.time(s.window),
            triggers.volume(
              sized ? { records: s.maxRecords, bytes: s.maxBatchBytes } : { records: s.maxRecords },
            ),
          ),
        )
        .sink(sink)
        .deadLetter(dead)
        .build();

      function checkBudget(where: string) {
        const held = p.metrics().buffer.heldBytes;
        if (held > budget) violations.push(`${where}: held ${held} > budget ${budget}`);
      }
      p.on('flush', () => checkBudget('flush'));
      p.on('pause', () => checkBudget('pause'));
      p.on('commit', ({ partition, offset }) => {
        // Every record of the partition up to the committed offset is written or dead-lettered.
        const done = new Set<number>();
        for (const b of written.values())
          if (b.partition === partition) for (const o of recordOffsets(b)) done.add(o);
        for (const d of dead.records) if (d.cursor.partition === partition) done.add(d.cursor.offset);
        for (const r of records) {
          if (r.partition === partition && r.value.i <= offset && !done.has(r.value.i)) {
            violations.push(`commit ${partition}@${offset} passed unwritten offset ${r.value.i}`);
          }
        }
      });

      const report = await clock.runUntil(p.run());
      expect(violations).toEqual([]);
      expect(rewrites).toEqual([]);

      const tooLarge = records.filter((r) => estimateBytes(r.value, limit) > limit).map((r) => r.value);
      const fits = records.filter((r) => estimateBytes(r.value, limit) <= limit).map((r) => r.value);

      // No loss, no duplicate, order per partition: batches of a partition, taken in offset order,
      // concatenate to exactly the input that fits.
      const batches = [...written.values()].sort((a, b) => a.firstOffset - b.firstOffset);
      const out: Rec[] = batches.flatMap((b) => b.records);
      const expected = byPartition(fits);
      const actual = byPartition(out);
      expect(new Map([...actual].filter(([, v]) => v.length > 0))).toEqual(expected);
      expect(out.length).toBe(fits.length);
      // Too-large records are dead-lettered with their cursor, exactly once.
      expect(dead.records.map((d) => `${d.cursor.partition}:${d.cursor.offset}:${d.reason}`).sort()).toEqual(
        tooLarge.map((r) => `${r.p}:${r.i}:too_large`).sort(),
      );

      for (const b of batches) {
        // Caps.
        expect(b.records.length).toBeLessThanOrEqual(s.maxRecords);
        expect(b.bytes).toBeLessThanOrEqual(maxBatchBytes);
        // No record waits in a lane longer than the window (the window opens at the first record).
        expect(b.closedAt - b.openedAt).toBeLessThanOrEqual(s.window);
        // A batch is a contiguous, ordered range of one lane.
        const offsets = recordOffsets(b);
        expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
        expect(b.firstOffset).toBeLessThanOrEqual(offsets[0] ?? b.firstOffset);
        expect(b.lastOffset).toBeGreaterThanOrEqual(offsets[offsets.length - 1] ?? b.lastOffset);
        // Each record carries its own scripted position: the offsets say where it really was.
        expect(offsets).toEqual(b.records.map((r) => r.i));
      }

      // Drain delivered everything; the report balances; every partition is committed to its end.
      expect(report.status).toBe('completed');
      expect(report.undelivered).toEqual([]);
      expect(report.records.in).toBe(records.length);
      expect(report.records.written + report.records.deadLettered).toBe(records.length);
      const lastOffsets: Record<string, number> = {};
      for (const r of records) lastOffsets[r.value.p] = r.value.i;
      expect(report.committed).toEqual(lastOffsets);
      // Commits per partition only move forward.
      const seen = new Map<string, number>();
      for (const c of source.commits) {
        expect(c.offset).toBeGreaterThan(seen.get(c.partition) ?? -1);
        seen.set(c.partition, c.offset);
      }
    },
  );

  it.prop(
    [
      fc.array(fc.array(fc.integer(), { maxLength: 600 }), { maxLength: 30 }),
      fc.integer({ min: 1, max: 2_000 }),
    ],
    {
      numRuns: 100,
    },
  )(
    'bulk path (arrays, sampled sizes): every record once, in order, within the record cap',
    async (chunks, cap) => {
      const sink = memorySink<number>();
      const p = pipeline({ name: 'bulk', maxRecordBytes: Number.POSITIVE_INFINITY, concurrency: 3 })
        .source(fromIterable(chunks, { arrays: true }))
        .trigger(triggers.volume({ records: cap }))
        .sink(sink)
        .build();
      const report = await p.run();
      expect(sink.records).toEqual(chunks.flat());
      for (const b of sink.batches) expect(b.records.length).toBeLessThanOrEqual(cap);
      expect(report.records.written).toBe(chunks.flat().length);
    },
  );

  it.prop(
    [
      fc.array(fc.string({ maxLength: 300 }), { minLength: 1, maxLength: 300 }),
      fc.integer({ min: 400, max: 3_000 }),
      fc.array(fc.record({ delay: fc.integer({ min: 0, max: 2_000 }) }), { maxLength: 30 }),
    ],
    { numRuns: 100 },
  )(
    'the memory budget is never exceeded, whatever the sink speed, and nothing is dropped',
    async (values, budget, steps) => {
      const clock = testClock();
      let maxHeld = 0;
      let memoryFlushes = 0;
      const inner = memorySink<string>();
      const sink = flakySink<string>({ clock, schedule: steps, inner });
      const p = pipeline({
        name: 'budget',
        clock,
        maxBufferBytes: budget,
        maxRecordBytes: 350,
        concurrency: 2,
      })
        .source(fromIterable(values))
        .trigger(triggers.time('1h'))
        .sink(sink)
        .build();
      const sample = () => {
        maxHeld = Math.max(maxHeld, p.metrics().buffer.heldBytes);
      };
      p.on('flush', ({ batch }) => {
        sample();
        if (batch.reason === 'memory') memoryFlushes++;
      });
      p.on('pause', sample);
      p.on('write', sample);
      const report = await clock.runUntil(p.run());
      expect(maxHeld).toBeLessThanOrEqual(budget);
      expect(inner.records.length).toBe(values.length);
      expect(
        [...inner.batches].sort((a, b) => a.firstOffset - b.firstOffset).flatMap((b) => b.records),
      ).toEqual(values);
      expect(report.records.written).toBe(values.length);
      // The one-hour window never elapses on this clock unless memory forced flushes; total size
      // beyond the budget must have caused at least one.
      const total = values.reduce((n, v) => n + estimateBytes(v), 0);
      if (total > budget) expect(memoryFlushes).toBeGreaterThan(0);
    },
  );
});

describe('failure accounting', () => {
  it.prop(
    [
      arrivals,
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 30 }),
    ],
    {
      numRuns: 100,
    },
  )(
    'a fatal sink error: run() rejects with MB_SINK_FAILED and the report accounts for every record',
    async (input, fatalCall, concurrency, maxRecords) => {
      const clock = testClock();
      const records = script(input, clock.now());
      const inner = memorySink<Rec>();
      const sink = flakySink<Rec>({
        clock,
        inner,
        schedule: ({ call }) =>
          call === fatalCall ? { fail: 'fatal' } : { delay: call % 3 === 0 ? 700 : 0 },
      });
      const source = scriptedSource(clock, records);
      const p = pipeline({ name: 'fatal', clock, concurrency, maxRecordBytes: Number.POSITIVE_INFINITY })
        .source(source)
        .trigger(triggers.any(triggers.time(500), triggers.volume({ records: maxRecords })))
        .sink(sink)
        .build();
      const confirmed: string[] = [];
      p.on('write', ({ batch }) => confirmed.push(batch.id));
      const outcome = await clock.runUntil(p.run()).then(
        (report) => ({ report, error: undefined }),
        (error) => ({ report: error.details.report, error }),
      );
      const report = outcome.report;
      if (sink.calls >= fatalCall) {
        expect(outcome.error?.code).toBe('MB_SINK_FAILED');
        expect(report.status).toBe('failed');
        expect(report.undelivered.some((r: { state: string }) => r.state === 'failed')).toBe(true);
      } else {
        expect(outcome.error).toBeUndefined();
      }
      // Every record read is written or listed as undelivered; nothing vanishes.
      expect(report.records.written + report.records.deadLettered + report.records.undelivered).toBe(
        report.records.in,
      );
      // Every write the runtime counted is in the sink. A write the failure cut short may have landed
      // as well (the runtime cannot know): its range must then be reported as undelivered.
      const counted = new Set(confirmed);
      expect(inner.batches.filter((b) => counted.has(b.id)).reduce((n, b) => n + b.records.length, 0)).toBe(
        report.records.written,
      );
      for (const b of inner.batches) {
        if (counted.has(b.id)) continue;
        expect(report.undelivered).toContainEqual(
          expect.objectContaining({
            partition: b.partition,
            firstOffset: b.firstOffset,
            lastOffset: b.lastOffset,
          }),
        );
      }
      // Commits never pass a record that is not in the sink.
      for (const c of source.commits) {
        const mine = new Set(inner.records.filter((r) => r.p === c.partition).map((r) => r.i));
        for (const r of records)
          if (r.partition === c.partition && r.value.i <= c.offset) expect(mine.has(r.value.i)).toBe(true);
      }
    },
  );
});
