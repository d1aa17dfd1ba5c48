import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  type Batch,
  bucketOf,
  type DeadLetter,
  memorySink,
  pipeline,
  recordOffsets,
  triggers,
} from '../../src/index.js';
import { type ScriptedRecord, scriptedSource, testClock } from '../../src/testing/index.js';
import { lateness } from './watermark-model.js';

/**
 * Event-time laws, for arbitrary streams with invalid, out-of-order and late records over several
 * partitions with idle spells: the accounting balances; what is written is exactly what is neither
 * invalid nor (for dead-letter and drop) late, in order per partition; the watermark never goes
 * back; a record is late exactly when its event time is below watermark − allowedLateness on
 * arrival (checked against an independent model of the watermark); every event-time partition is
 * declared complete once, after all its records are committed.
 */

interface Rec {
  p: string;
  i: number;
  t: number | string;
}

const START = Date.UTC(2026, 10, 25, 14, 0, 0);

const items = fc.array(
  fc.record({
    partition: fc.constantFrom('a', 'b', 'c'),
    gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 90_000 })),
    // Event time relative to arrival: mostly recent, sometimes far behind or ahead; sometimes invalid.
    skew: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: -5_000, max: 1_000 }) },
      { weight: 2, arbitrary: fc.integer({ min: -600_000, max: 0 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 120_000 }) },
    ),
    invalid: fc.oneof(
      { weight: 12, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
  }),
  { minLength: 1, maxLength: 150, size: 'large' },
);

const config = fc.record({
  maxOutOfOrderness: fc.constantFrom(0, 1_000, 30_000),
  allowedLateness: fc.constantFrom(0, 2_000, 60_000),
  idleTimeout: fc.constantFrom(5_000, 60_000, Number.POSITIVE_INFINITY),
  late: fc.constantFrom('include' as const, 'dead-letter' as const, 'drop' as const),
  window: fc.integer({ min: 1, max: 5_000 }),
  maxRecords: fc.integer({ min: 1, max: 30 }),
});

describe('event time laws', () => {
  it.prop([items, config], { numRuns: 400 })(
    'accounting, what is written, watermark monotonicity, lateness on arrival, partition completion',
    async (input, c) => {
      const clock = testClock(START);
      let at = START;
      const next = new Map<string, number>();
      const records: ScriptedRecord<Rec>[] = input.map(({ partition, gap, skew, invalid }) => {
        at += gap;
        const i = next.get(partition) ?? 0;
        next.set(partition, i + 1);
        return { at, partition, value: { p: partition, i, t: invalid ? 'not a time' : at + skew } };
      });
      const sink = memorySink<Rec>();
      const dead = memorySink<DeadLetter>();
      const p = pipeline({ name: 'et', clock })
        .source(scriptedSource(clock, records))
        .eventTime((r) => r.t, {
          maxOutOfOrderness: c.maxOutOfOrderness,
          allowedLateness: c.allowedLateness,
          idleTimeout: c.idleTimeout,
          late: c.late,
          partitionBy: 'minute',
        })
        .trigger(triggers.any(triggers.time(c.window), triggers.volume({ records: c.maxRecords })))
        .sink(sink)
        .deadLetter(dead)
        .build();

      // The watermark, sampled at every step the pipeline reports, never goes back.
      const seen: number[] = [];
      const sample = () => {
        const w = p.metrics().eventTime?.watermark;
        if (w !== undefined) seen.push(w);
      };
      const completions: {
        path: string;
        start: number;
        end: number;
        watermark: number;
        reopened: boolean;
      }[] = [];
      p.on('flush', sample);
      p.on('commit', sample);
      p.on('partition-complete', ({ bucket, watermark, reopened }) => {
        sample();
        completions.push({ ...bucket, watermark, reopened });
        // Everything admitted into the bucket so far is written already.
        const written = new Set(sink.records.map((r) => `${r.p}:${r.i}`));
        for (const r of records) {
          const t = r.value.t;
          if (typeof t !== 'number' || t < bucket.start || t >= bucket.end) continue;
          if (verdicts[records.indexOf(r)] !== 'ok' && c.late !== 'include') continue;
          if (r.at > clock.now()) continue; // not arrived yet
          expect(
            written.has(`${r.value.p}:${r.value.i}`),
            `${bucket.path} complete before ${r.value.p}:${r.value.i}`,
          ).toBe(true);
        }
      });
      const verdicts = lateness(records, (r) => r.t, c);
      const report = await clock.runUntil(p.run());

      for (let k = 1; k < seen.length; k++) expect(seen[k]).toBeGreaterThanOrEqual(seen[k - 1]!);

      // Lateness and validity exactly as the model says.
      const admitted = records.filter(
        (_, j) => verdicts[j] === 'ok' || (verdicts[j] === 'late' && c.late === 'include'),
      );
      const late = records.filter((_, j) => verdicts[j] === 'late');
      const invalid = records.filter((_, j) => verdicts[j] === 'invalid');
      expect(report.records.in).toBe(records.length);
      expect(p.metrics().counts.late).toBe(late.length);
      const key = (d: DeadLetter) => `${d.reason}:${d.cursor.partition}:${d.cursor.offset}`;
      const expectedLetters = [
        ...invalid.map((r) => `invalid_event_time:${r.value.p}:${r.value.i}`),
        ...(c.late === 'dead-letter' ? late.map((r) => `too_late:${r.value.p}:${r.value.i}`) : []),
      ].sort();
      expect(dead.records.map(key).sort()).toEqual(expectedLetters);
      for (const d of dead.records) {
        if (d.reason !== 'too_late') continue;
        const { eventTime, watermark, allowedLateness } = d.details as Record<string, number>;
        expect(eventTime).toBeLessThan(watermark! - allowedLateness!);
      }
      expect(report.records.droppedLate).toBe(c.late === 'drop' ? late.length : 0);

      // Accounting: in = written + dead-lettered + duplicates + dropped late.
      expect(
        report.records.written +
          report.records.deadLettered +
          report.records.duplicates +
          report.records.droppedLate,
      ).toBe(report.records.in);

      // Written: exactly the admitted records, in order per partition, each with its event time.
      const batches = [...sink.batches].sort((x, y) => x.firstOffset - y.firstOffset);
      for (const partition of ['a', 'b', 'c']) {
        const out = batches.filter((b) => b.partition === partition).flatMap((b: Batch<Rec>) => b.records);
        expect(out.map((r) => r.i)).toEqual(
          admitted.filter((r) => r.value.p === partition).map((r) => r.value.i),
        );
      }
      for (const b of sink.batches) {
        expect(b.eventTimes).toEqual(b.records.map((r) => r.t));
        expect(recordOffsets(b)).toEqual(b.records.map((r) => r.i));
      }

      // Each event-time partition with records is declared complete exactly once (the source ended),
      // after the watermark passed its end plus the allowed lateness.
      const buckets = new Set(admitted.map((r) => bucketOf(r.value.t as number, 'minute').path));
      const first = completions.filter((x) => !x.reopened);
      expect(new Set(first.map((x) => x.path))).toEqual(buckets);
      expect(first.length).toBe(buckets.size);
      for (const x of completions) expect(x.end + c.allowedLateness).toBeLessThanOrEqual(x.watermark);
      if (c.late !== 'include') expect(completions.every((x) => !x.reopened)).toBe(true);
    },
  );
});
