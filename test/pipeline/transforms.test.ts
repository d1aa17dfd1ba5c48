import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { recordOffsets } from '../../src/core/batch.js';
import { MicrobatchError } from '../../src/core/errors.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { DeliveryReport } from '../../src/pipeline/report.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { testClock } from '../../src/testing/clock.js';
import { filter, map } from '../../src/transforms/basic.js';
import type { Transform } from '../../src/transforms/types.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, rejection } from '../support.js';

interface Price {
  sku: string;
  price: number | string;
}

/** Rejects records whose price is not a number, as a validating transform would. */
const validatePrice: Transform<Price, Price> = {
  name: 'validate-price',
  apply({ records }) {
    const kept: Price[] = [];
    const from: number[] = [];
    const rejected: { index: number; reason: string; details: unknown }[] = [];
    records.forEach((r, i) => {
      if (typeof r.price === 'number') {
        kept.push(r);
        from.push(i);
      } else
        rejected.push({
          index: i,
          reason: 'type_mismatch',
          details: { field: 'price', got: typeof r.price },
        });
    });
    return { records: kept, from, rejected };
  },
};

describe('pipeline transforms', () => {
  it('dead-letters the value the source gave, not an intermediate form from earlier transforms', async () => {
    const dead = memorySink<DeadLetter>();
    const sink = memorySink<number>();
    const parse = map((raw: string) => Number(raw));
    const rejectNaN: Transform<number, number> = {
      name: 'reject-nan',
      apply: ({ records }) => {
        const kept: number[] = [];
        const from: number[] = [];
        const rejected: { index: number; reason: string }[] = [];
        records.forEach((n, i) => {
          if (Number.isNaN(n)) rejected.push({ index: i, reason: 'type_mismatch' });
          else {
            kept.push(n);
            from.push(i);
          }
        });
        return { records: kept, from, rejected };
      },
    };
    const dropOdd = filter((n: number) => Number.isNaN(n) || n % 2 === 0);
    const p = pipeline({ name: 'origin' })
      .source(fromIterable(['2', 'x', '3', '4', 'y']))
      .transform(parse, dropOdd, rejectNaN)
      .sink(sink)
      .deadLetter(dead)
      .build();
    const report = await p.run();
    expect(sink.records).toEqual([2, 4]);
    expect(dead.records.map((d) => [d.value, d.cursor.offset])).toEqual([
      ['x', 1],
      ['y', 4],
    ]);
    expect(report.records).toMatchObject({ in: 5, written: 2, deadLettered: 2, filtered: 1 });
  });

  it('map changes records before the sink, keeping offsets', async () => {
    const clock = testClock();
    const sink = memorySink<string>();
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable([1, 2, 3]))
      .transform(map((n: number) => `#${n}`))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual(['#1', '#2', '#3']);
    expect(recordOffsets(sink.batches[0]!)).toEqual([0, 1, 2]);
    expect(report.records).toMatchObject({ in: 3, written: 3, filtered: 0 });
  });

  it('filter drops records, counted as filtered, and the batch keeps the surviving offsets', async () => {
    const clock = testClock();
    const sink = memorySink<number>();
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable([1, 2, 3, 4, 5, 6]))
      .transform(filter((n: number) => n % 3 !== 0))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual([1, 2, 4, 5]);
    expect(sink.batches[0]).toMatchObject({ offsets: [0, 1, 3, 4], firstOffset: 0, lastOffset: 5 });
    expect(report.records).toMatchObject({ in: 6, written: 4, filtered: 2, undelivered: 0 });
    expect(report.committed).toEqual({ '0': 5 });
  });

  it('chains transforms in order and keeps metadata aligned with the kept records', async () => {
    const clock = testClock();
    const sink = memorySink<number>();
    const items = [1, 2, 3, 4].map((n) => ({ value: n, key: `k${n}`, eventTime: n * 1_000 }));
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable(items, { envelopes: true }))
      .transform(
        filter((n: number) => n !== 2),
        map((n: number) => n * 10),
      )
      .sink(sink)
      .build();
    await clock.runUntil(p.run());
    expect(sink.batches[0]).toMatchObject({
      records: [10, 30, 40],
      offsets: [0, 2, 3],
      keys: ['k1', 'k3', 'k4'],
      eventTimes: [1_000, 3_000, 4_000],
    });
  });

  it('a filter that removes everything writes nothing and still commits', async () => {
    const clock = testClock();
    const sink = memorySink<number>();
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable([1, 2]))
      .transform(filter(() => false))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.batches).toEqual([]);
    expect(report.committed).toEqual({ '0': 1 });
    expect(report.records).toMatchObject({ in: 2, written: 0, filtered: 2 });
  });

  it('turns transform rejections into dead letters with the original cursor', async () => {
    const clock = testClock(7);
    const sink = memorySink<Price>();
    const dead = memorySink<DeadLetter>();
    const prices: Price[] = [
      { sku: 'a', price: 1 },
      { sku: 'b', price: 'N/A' },
      { sku: 'c', price: 3 },
      { sku: 'd', price: '4,50' },
    ];
    const p = pipeline({ name: 'tx', clock })
      .source(
        fromIterable(
          prices.map((value, i) => ({ value, offset: 100 + i * 2 })),
          { envelopes: true },
        ),
      )
      .transform(validatePrice)
      .sink(sink)
      .deadLetter(dead)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records.map((r) => r.sku)).toEqual(['a', 'c']);
    expect(recordOffsets(sink.batches[0]!)).toEqual([100, 104]);
    const batchId = sink.batches[0]!.id;
    expect(dead.records).toEqual([
      {
        reason: 'type_mismatch',
        details: { field: 'price', got: 'string' },
        value: { sku: 'b', price: 'N/A' },
        cursor: { partition: '0', offset: 102 },
        pipeline: 'tx',
        batchId,
        at: 7,
      },
      {
        reason: 'type_mismatch',
        details: { field: 'price', got: 'string' },
        value: { sku: 'd', price: '4,50' },
        cursor: { partition: '0', offset: 106 },
        pipeline: 'tx',
        batchId,
        at: 7,
      },
    ]);
    expect(report.rejected).toEqual({ type_mismatch: 2 });
    expect(report.records).toMatchObject({ in: 4, written: 2, deadLettered: 2, undelivered: 0 });
    expect(report.committed).toEqual({ '0': 106 });
  });

  it('maps rejection cursors through an earlier filter', async () => {
    const clock = testClock();
    const sink = memorySink<Price>();
    const prices: Price[] = [
      { sku: 'skip', price: 0 },
      { sku: 'bad', price: 'x' },
      { sku: 'skip', price: 0 },
      { sku: 'bad2', price: 'y' },
      { sku: 'ok', price: 5 },
    ];
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable(prices))
      .transform(
        filter((r: Price) => r.sku !== 'skip'),
        validatePrice,
      )
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual([{ sku: 'ok', price: 5 }]);
    expect(recordOffsets(sink.batches[0]!)).toEqual([4]);
    expect(report.deadLetters!.map((d) => [d.value, d.cursor.offset])).toEqual([
      [{ sku: 'bad', price: 'x' }, 1],
      [{ sku: 'bad2', price: 'y' }, 3],
    ]);
    expect(report.records).toMatchObject({ in: 5, written: 1, filtered: 2, deadLettered: 2 });
  });

  it('counts duplicates a transform removes', async () => {
    const clock = testClock();
    const sink = memorySink<string>();
    const dedupe: Transform<string, string> = {
      name: 'dedupe',
      apply({ records }) {
        const seen = new Set<string>();
        const kept: string[] = [];
        const from: number[] = [];
        records.forEach((r, i) => {
          if (!seen.has(r)) {
            seen.add(r);
            kept.push(r);
            from.push(i);
          }
        });
        return { records: kept, from, duplicates: records.length - kept.length };
      },
    };
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable(['a', 'b', 'a', 'c', 'b']))
      .transform(dedupe)
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual(['a', 'b', 'c']);
    expect(report.records).toMatchObject({ in: 5, written: 3, duplicates: 2 });
  });

  it('a transform that loses records fails the pipeline with MB_TRANSFORM_FAILED', async () => {
    const clock = testClock();
    const lossy: Transform<number, number> = {
      name: 'lossy',
      apply: ({ records }) => ({ records: records.slice(1) }),
    };
    const sink = memorySink<number>();
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable([1, 2, 3]))
      .transform(lossy)
      .sink(sink)
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_TRANSFORM_FAILED');
    expect(error.message).toContain("pipeline 'tx'");
    expect(error.message).toContain("transform 'lossy'");
    expect(error.message).toContain('3 in, 2 kept');
    expect(sink.records).toEqual([]);
    const report = error.details.report as DeliveryReport;
    expect(report.undelivered).toEqual([
      { partition: '0', firstOffset: 0, lastOffset: 2, records: 3, state: 'failed' },
    ]);
  });

  it('a transform whose from[] does not match its records fails with MB_TRANSFORM_FAILED', async () => {
    const clock = testClock();
    const confused: Transform<number, number> = {
      name: 'confused',
      apply: ({ records }) => ({ records: records.slice(1), from: [0], filtered: 1 }),
    };
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable([1, 2, 3]))
      .transform(confused)
      .sink(memorySink())
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_TRANSFORM_FAILED');
    expect(error.message).toContain('from has 1 indices');
  });

  it('a transform that throws fails the pipeline with MB_TRANSFORM_FAILED carrying the cause', async () => {
    const clock = testClock();
    const boom = new RangeError('schema registry unreachable');
    const broken: Transform<number, number> = {
      name: 'broken',
      apply: async () => {
        throw boom;
      },
    };
    const p = pipeline({ name: 'tx', clock })
      .source(fromIterable([1, 2]))
      .trigger(triggers.volume({ records: 1 }))
      .transform(broken)
      .sink(memorySink())
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_TRANSFORM_FAILED');
    expect(error.cause).toBe(boom);
    expect(error.message).toContain("transform 'broken' threw");
    expect(error.message).toContain('schema registry unreachable');
    expect(MicrobatchError.is(error)).toBe(true);
  });
});
