import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import {
  type DeadLetter,
  dedupe,
  memoryDeadLetter,
  memorySink,
  pipeline,
  triggers,
  validate,
} from '../../src/index.js';
import { type ScriptedRecord, scriptedSource, testClock } from '../../src/testing/index.js';
import { lateness } from './watermark-model.js';

/**
 * The record-semantics law, all at once: for arbitrary streams over two partitions with arbitrary
 * invalid records (schema), duplicates and late or timeless records (event time), whatever the
 * trigger timings,
 *   in = written + dead-lettered + duplicates + dropped late,
 * and what is written is exactly the input that passes the schema, minus late records under
 * `dead-letter`/`drop` and minus later occurrences of a key, in order per partition. The expected
 * outcome is computed independently: zod's own safeParse, the watermark model, and a Set.
 */

const T0 = Date.UTC(2026, 10, 25, 14);

const Price = z.object({
  p: z.string(),
  i: z.number().int(),
  sku: z.string(),
  price: z.number(),
  t: z.number(),
});
type Price = z.output<typeof Price>;

const items = fc.array(
  fc.record({
    partition: fc.constantFrom('p0', 'p1'),
    gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 120_000 })),
    sku: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
    price: fc.oneof(
      { weight: 8, arbitrary: fc.double({ min: 0, max: 1e6, noNaN: true }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom<unknown>('n/a', null, Number.NaN, Number.POSITIVE_INFINITY, {}),
      },
    ),
    skew: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: -3_000, max: 1_000 }) },
      { weight: 2, arbitrary: fc.integer({ min: -900_000, max: 0 }) },
      { weight: 1, arbitrary: fc.constant(Number.NaN) }, // no usable event time
    ),
  }),
  { minLength: 1, maxLength: 120, size: 'large' },
);

const config = fc.record({
  maxOutOfOrderness: fc.constantFrom(0, 2_000),
  allowedLateness: fc.constantFrom(0, 10_000, 300_000),
  idleTimeout: fc.constantFrom(10_000, 60_000),
  late: fc.constantFrom('include' as const, 'dead-letter' as const, 'drop' as const),
  window: fc.integer({ min: 1, max: 10_000 }),
  maxRecords: fc.integer({ min: 1, max: 20 }),
});

describe('record semantics: validate, dedupe and event time together', () => {
  it.prop([items, config], { numRuns: 300 })(
    'in = written + dead-lettered + duplicates + dropped late; written = valid, on time, first per key, in order',
    async (input, c) => {
      const clock = testClock(T0);
      let at = T0;
      const next = new Map<string, number>();
      const records: ScriptedRecord<Record<string, unknown>>[] = input.map(
        ({ partition, gap, sku, price, skew }) => {
          at += gap;
          const i = next.get(partition) ?? 0;
          next.set(partition, i + 1);
          const t = Number.isNaN(skew) ? 'never' : at + skew;
          return { at, partition, value: { p: partition, i, sku: `${partition}/${sku}`, price, t } };
        },
      );
      const sink = memorySink<Price>();
      const dead = memoryDeadLetter();
      const report = await clock.runUntil(
        pipeline({ name: 'semantics', clock, concurrency: 1 })
          .source(scriptedSource(clock, records))
          .eventTime((r) => r.t as number, {
            maxOutOfOrderness: c.maxOutOfOrderness,
            allowedLateness: c.allowedLateness,
            idleTimeout: c.idleTimeout,
            late: c.late,
          })
          .trigger(triggers.any(triggers.time(c.window), triggers.volume({ records: c.maxRecords })))
          .transform(
            validate(Price),
            dedupe((r) => r.sku, { scope: { ttl: '1d', maxKeys: 1_000 } }),
          )
          .sink(sink)
          .deadLetter(dead)
          .build()
          .run(),
      );

      // The expected outcome, from the definitions.
      const verdicts = lateness(records, (v) => v.t, c);
      const expected = new Map<string, number[]>([
        ['p0', []],
        ['p1', []],
      ]);
      const reasons: string[] = [];
      const seen = new Set<string>();
      let duplicates = 0;
      let droppedLate = 0;
      /** What the pipeline must do with record j, from the definitions. */
      const fate = (j: number): string => {
        const v = records[j]!.value;
        if (verdicts[j] === 'invalid') return 'invalid_event_time';
        if (verdicts[j] === 'late' && c.late === 'dead-letter') return 'too_late';
        if (verdicts[j] === 'late' && c.late === 'drop') return 'dropped';
        if (!Price.safeParse(v).success) return 'type_mismatch';
        if (seen.has(v.sku as string)) return 'duplicate';
        seen.add(v.sku as string);
        return 'written';
      };
      records.forEach((r, j) => {
        const v = r.value;
        const outcome = fate(j);
        if (outcome === 'written') expected.get(v.p as string)!.push(v.i as number);
        else if (outcome === 'duplicate') duplicates++;
        else if (outcome === 'dropped') droppedLate++;
        else reasons.push(`${v.p}:${v.i}:${outcome}`);
      });

      expect(report.status).toBe('completed');
      const { in: total, written, deadLettered, duplicates: dup, droppedLate: dropped } = report.records;
      expect(total).toBe(records.length);
      expect(written + deadLettered + dup + dropped).toBe(total);
      expect(dup).toBe(duplicates);
      expect(dropped).toBe(droppedLate);
      expect(
        dead.records.map((d: DeadLetter) => `${d.cursor.partition}:${d.cursor.offset}:${d.reason}`).sort(),
      ).toEqual(reasons.sort());
      const batches = [...sink.batches].sort((x, y) => x.firstOffset - y.firstOffset);
      for (const [partition, list] of expected) {
        const out = batches.filter((b) => b.partition === partition).flatMap((b) => b.records);
        expect(out.map((r) => r.i)).toEqual(list);
      }
    },
  );
});
