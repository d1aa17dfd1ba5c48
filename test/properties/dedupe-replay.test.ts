import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Batch } from '../../src/core/batch.js';
import { applyTransforms } from '../../src/transforms/apply.js';
import { dedupe } from '../../src/transforms/dedupe.js';

/**
 * The replay exemption of a windowed `dedupe`: a batch written again after a failure (the same
 * partition and offsets) must keep what it kept the first time — a record is not a duplicate of
 * itself — while a record at another offset with a key seen within the ttl is a duplicate. The
 * expectation is computed independently: a key → (partition, offset) map of first occurrences.
 */

interface Row {
  key: string;
}

const stream = fc.array(
  fc.record({
    partition: fc.constantFrom('p0', 'p1'),
    keys: fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 8 }),
    /** Replay this many of the earlier batches right after this one (a retried write). */
    replays: fc.array(fc.nat(), { maxLength: 2 }),
  }),
  { minLength: 1, maxLength: 25 },
);

describe('dedupe: a replayed batch keeps what it kept', () => {
  it.prop([stream], { numRuns: 300 })(
    'same partition and offset is a replay, not a duplicate; another offset with a seen key is one',
    async (steps) => {
      // A ttl far longer than the test: every key stays remembered.
      const transform = dedupe<Row>((r) => r.key, { scope: { ttl: '1h', maxKeys: 1_000 } });
      const next = new Map<string, number>();
      const batches: Batch<Row>[] = [];
      /** First occurrence of each key: where it was kept. */
      const first = new Map<string, string>();
      const keptFirstTime = new Map<string, string[]>();
      let at = 0;
      const run = async (batch: Batch<Row>) => {
        const out = await applyTransforms([transform as never], batch, [], { pipeline: 'd', at: ++at });
        const offsets = out.batch.offsets ?? out.batch.records.map((_, i) => out.batch.firstOffset + i);
        return (out.batch.records as Row[]).map((r, i) => `${batch.partition}@${offsets[i]}:${r.key}`);
      };
      for (const step of steps) {
        const start = next.get(step.partition) ?? 0;
        next.set(step.partition, start + step.keys.length);
        const batch: Batch<Row> = {
          id: `${step.partition}-${start}`,
          partition: step.partition,
          firstOffset: start,
          lastOffset: start + step.keys.length - 1,
          records: step.keys.map((key) => ({ key })),
          bytes: 0,
          reason: 'records',
          openedAt: 0,
          closedAt: 0,
        };
        batches.push(batch);
        // Expected: a record is kept iff its key was first seen at this very position.
        const expected: string[] = [];
        step.keys.forEach((key, i) => {
          const position = `${step.partition}@${start + i}`;
          if (!first.has(key)) first.set(key, position);
          if (first.get(key) === position) expected.push(`${position}:${key}`);
        });
        const kept = await run(batch);
        expect(kept).toEqual(expected);
        keptFirstTime.set(batch.id, kept);
        for (const pick of step.replays) {
          const earlier = batches[pick % batches.length]!;
          // The same batch again: exactly what it kept the first time, nothing more, nothing less.
          expect(await run(earlier)).toEqual(keptFirstTime.get(earlier.id));
        }
      }
    },
  );
});
