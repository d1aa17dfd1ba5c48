import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { recordOffsets } from '../../src/core/batch.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { scriptedSource } from '../../src/testing/scripted-source.js';
import { triggers } from '../../src/triggers/index.js';
import { bestEffortId, expectCode, rejection } from '../support.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('pipeline: delivery', () => {
  it('writes every record of a finite source in order and completes', async () => {
    const clock = testClock();
    const sink = memorySink<number>();
    const p = pipeline({ name: 'basic', clock })
      .source(fromIterable(range(2_500)))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual(range(2_500));
    expect(sink.batches.map((b) => b.records.length)).toEqual([1_000, 1_000, 500]);
    expect(sink.batches.map((b) => b.reason)).toEqual(['records', 'records', 'drain']);
    expect(report).toMatchObject({
      pipeline: 'basic',
      status: 'completed',
      guarantee: 'best-effort',
      startedAt: 0,
      records: { in: 2_500, written: 2_500, deadLettered: 0, duplicates: 0, filtered: 0, undelivered: 0 },
      batches: { written: 3, byReason: { records: 2, drain: 1 } },
      committed: { '0': 2_499 },
      undelivered: [],
      deadLetters: [],
    });
    expect(report.error).toBeUndefined();
    expect(p.status).toBe('completed');
  });

  it('gives each batch a contiguous range, its offsets and times', async () => {
    const clock = testClock(1_000);
    const sink = memorySink<string>();
    const p = pipeline({ name: 'shape', clock })
      .source(fromIterable(['a', 'b', 'c', 'd', 'e']))
      .trigger(triggers.volume({ records: 2 }))
      .sink(sink)
      .build();
    await clock.runUntil(p.run());
    expect(
      sink.batches.map((b) => ({
        id: b.id,
        partition: b.partition,
        range: [b.firstOffset, b.lastOffset],
        offsets: recordOffsets(b),
        records: b.records,
        reason: b.reason,
        openedAt: b.openedAt,
        closedAt: b.closedAt,
      })),
    ).toEqual([
      {
        id: bestEffortId('shape.0.', '0000000000000000-0000000000000001'),
        partition: '0',
        range: [0, 1],
        offsets: [0, 1],
        records: ['a', 'b'],
        reason: 'records',
        openedAt: 1_000,
        closedAt: 1_000,
      },
      {
        id: bestEffortId('shape.0.', '0000000000000002-0000000000000003'),
        partition: '0',
        range: [2, 3],
        offsets: [2, 3],
        records: ['c', 'd'],
        reason: 'records',
        openedAt: 1_000,
        closedAt: 1_000,
      },
      {
        id: bestEffortId('shape.0.', '0000000000000004-0000000000000004'),
        partition: '0',
        range: [4, 4],
        offsets: [4],
        records: ['e'],
        reason: 'drain',
        openedAt: 1_000,
        closedAt: 1_000,
      },
    ]);
  });

  it('keeps one lane per partition and commits each partition', async () => {
    const clock = testClock();
    const sink = memorySink<string>();
    const items = [
      { value: 'a0', partition: 'a', offset: 100 },
      { value: 'b0', partition: 'b', offset: 7 },
      { value: 'a1', partition: 'a', offset: 101 },
      { value: 'b1', partition: 'b', offset: 9 },
    ];
    const p = pipeline({ name: 'lanes', clock })
      .source(fromIterable(items, { envelopes: true }))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    const byPartition = Object.fromEntries(sink.batches.map((b) => [b.partition, b.records]));
    expect(byPartition).toEqual({ a: ['a0', 'a1'], b: ['b0', 'b1'] });
    expect(report.committed).toEqual({ a: 101, b: 9 });
  });

  it('produces the same batch ids for the same input across runs of a replayable source', async () => {
    const ids = async () => {
      const clock = testClock();
      const sink = memorySink<number>();
      await clock.runUntil(
        pipeline({ name: 'det', clock })
          .source(
            scriptedSource(
              clock,
              range(35).map((value) => ({ at: 0, value })),
              { replayable: true },
            ),
          )
          .trigger(triggers.volume({ records: 10 }))
          .sink(sink)
          .build()
          .run(),
      );
      return sink.batches.map((b) => b.id);
    };
    const first = await ids();
    expect(first).toEqual([
      'det.0.0000000000000000-0000000000000009',
      'det.0.0000000000000010-0000000000000019',
      'det.0.0000000000000020-0000000000000029',
      'det.0.0000000000000030-0000000000000034',
    ]);
    expect(await ids()).toEqual(first);
  });

  it('flushes a time window measured from the lane’s first record; empty windows produce nothing', async () => {
    const clock = testClock();
    const sink = memorySink<string>();
    const source = scriptedSource(clock, [
      { at: 10_000, value: 'a' },
      { at: 12_000, value: 'b' },
      { at: 60_000, value: 'c' },
    ]);
    const p = pipeline({ name: 'window', clock })
      .source(source)
      .trigger(triggers.time('15s'))
      .sink(sink)
      .build();
    await clock.runUntil(p.run());
    expect(sink.batches.map((b) => [b.records, b.openedAt, b.closedAt, b.reason])).toEqual([
      [['a', 'b'], 10_000, 25_000, 'time'],
      [['c'], 60_000, 60_000, 'drain'],
    ]);
  });

  it('cuts at a byte cap before a record would pass it', async () => {
    const clock = testClock();
    const sink = memorySink<string>();
    const record = 'x'.repeat(98); // 100 bytes estimated
    const p = pipeline({ name: 'bytes', clock })
      .source(fromIterable(range(7).map(() => record)))
      .trigger(triggers.volume({ bytes: 350 }))
      .sink(sink)
      .build();
    await clock.runUntil(p.run());
    expect(sink.batches.map((b) => [b.records.length, b.bytes, b.reason])).toEqual([
      [3, 300, 'bytes'],
      [3, 300, 'bytes'],
      [1, 100, 'drain'],
    ]);
  });

  it('does not commit past an unwritten batch when a later one finishes first', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, [
      { at: 0, value: 'a' },
      { at: 0, value: 'b' },
      { at: 0, value: 'c' },
      { at: 0, value: 'd' },
    ]);
    const sink = flakySink<string>({
      clock,
      schedule: ({ batch }) => (batch.firstOffset === 0 ? { delay: 5_000 } : { delay: 10 }),
    });
    const p = pipeline({ name: 'order', clock, concurrency: 2 })
      .source(source)
      .trigger(triggers.volume({ records: 2 }))
      .sink(sink)
      .build();
    const commits: [number, number][] = [];
    p.on('commit', (e) => commits.push([e.offset, clock.now()]));
    await clock.runUntil(p.run());
    expect(sink.maxInFlight).toBe(2);
    expect(sink.memory!.batches.map((b) => b.firstOffset)).toEqual([2, 0]);
    expect(commits).toEqual([[3, 5_000]]);
    expect(source.commits).toEqual([{ partition: '0', offset: 3 }]);
  });

  it('bounds sink writes in flight by concurrency', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: () => ({ delay: 100 }) });
    const p = pipeline({ name: 'bounded', clock, concurrency: 3 })
      .source(fromIterable(range(100)))
      .trigger(triggers.volume({ records: 5 }))
      .sink(sink)
      .build();
    await clock.runUntil(p.run());
    expect(sink.maxInFlight).toBe(3);
    expect(sink.memory!.records).toEqual(range(100));
  });

  it('run() again after completion resolves with the final report', async () => {
    const clock = testClock();
    const p = pipeline({ name: 'once', clock })
      .source(fromIterable([1]))
      .sink(memorySink())
      .build();
    await clock.runUntil(p.run());
    expect(await clock.runUntil(p.run())).toMatchObject({ status: 'completed' });
    expect(p.status).toBe('completed');
  });

  it('fails to start with MB_SINK_FAILED when the sink cannot be opened', async () => {
    const clock = testClock();
    const boom = new Error('no credentials');
    const p = pipeline({ name: 'open', clock })
      .source(fromIterable([1]))
      .sink({
        write() {},
        open() {
          throw boom;
        },
      })
      .build();
    const error = expectCode(await rejection(p.run()), 'MB_SINK_FAILED');
    expect(error.cause).toBe(boom);
    expect(error.message).toContain("pipeline 'open'");
    expect(p.status).toBe('failed');
  });

  it('opens and closes the sink, the dead-letter sink and the source once', async () => {
    const clock = testClock();
    const calls: string[] = [];
    const sink = memorySink<number>();
    const dead = memorySink<DeadLetter>();
    const p = pipeline({ name: 'life', clock })
      .source({
        kind: 'custom',
        replayable: false,
        open(context) {
          calls.push(`source.open:${context.pipeline}`);
          let done = false;
          return {
            read: () => {
              if (done) return null;
              done = true;
              return { partition: '0', values: [1], offsets: [0] };
            },
            close: () => {
              calls.push('source.close');
            },
          };
        },
      })
      .sink({
        ...sink,
        write: sink.write,
        open: (context) => {
          calls.push(`sink.open:${context.pipeline}`);
        },
        close: () => {
          calls.push('sink.close');
        },
      })
      .deadLetter({
        write: dead.write,
        open: () => {
          calls.push('dead.open');
        },
        close: () => {
          calls.push('dead.close');
        },
      })
      .build();
    await clock.runUntil(p.run());
    expect(calls).toEqual([
      'sink.open:life',
      'dead.open',
      'source.open:life',
      'source.close',
      'sink.close',
      'dead.close',
    ]);
    expect(sink.records).toEqual([1]);
  });

  it('keeps the invariant in = written + dead-lettered + filtered + duplicates + undelivered', async () => {
    const clock = testClock();
    const source = pushSource<number>();
    const p = pipeline({ name: 'inv', clock, maxRecordBytes: 20 }).source(source).sink(memorySink()).build();
    const run = p.run();
    await source.pushMany([1, 2, 3]);
    await source.push('x'.repeat(50) as unknown as number);
    await source.push(4);
    source.end();
    const { records } = await clock.runUntil(run);
    expect(records.in).toBe(5);
    expect(
      records.written + records.deadLettered + records.filtered + records.duplicates + records.undelivered,
    ).toBe(records.in);
  });
});

describe('pipeline: records over maxRecordBytes', () => {
  const big = { blob: 'z'.repeat(500) };

  it('dead-letters them as too_large to the dead-letter sink, in their place in the range', async () => {
    const clock = testClock(42);
    const sink = memorySink<unknown>();
    const dead = memorySink<DeadLetter>();
    const p = pipeline({ name: 'sizes', clock, maxRecordBytes: 100 })
      .source(fromIterable([{ a: 1 }, big, { a: 2 }]))
      .sink(sink)
      .deadLetter(dead)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual([{ a: 1 }, { a: 2 }]);
    expect(sink.batches[0]).toMatchObject({ firstOffset: 0, lastOffset: 2, offsets: [0, 2] });
    expect(dead.batches).toHaveLength(1);
    expect(dead.batches[0]!.id).toBe(`${sink.batches[0]!.id}.dead`);
    expect(dead.records).toEqual([
      {
        reason: 'too_large',
        details: { bytes: expect.any(Number), limit: 100 },
        value: big,
        cursor: { partition: '0', offset: 1 },
        pipeline: 'sizes',
        batchId: sink.batches[0]!.id,
        at: 42,
      },
    ]);
    expect((dead.records[0]!.details as { bytes: number }).bytes).toBeGreaterThan(100);
    expect(report.records).toMatchObject({ in: 3, written: 2, deadLettered: 1, undelivered: 0 });
    expect(report.rejected).toEqual({ too_large: 1 });
    expect(report.deadLetters).toBeUndefined();
    expect(report.committed).toEqual({ '0': 2 });
  });

  it('keeps them in report.deadLetters without a dead-letter sink', async () => {
    const clock = testClock();
    const sink = memorySink<unknown>();
    const p = pipeline({ name: 'sizes', clock, maxRecordBytes: 100 })
      .source(fromIterable([big, { a: 1 }]))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual([{ a: 1 }]);
    expect(report.deadLetters).toHaveLength(1);
    expect(report.deadLetters![0]).toMatchObject({
      reason: 'too_large',
      value: big,
      cursor: { partition: '0', offset: 0 },
      pipeline: 'sizes',
    });
    expect(report.rejected).toEqual({ too_large: 1 });
    expect(report.records.deadLettered).toBe(1);
  });

  it('commits a batch made only of rejected records', async () => {
    const clock = testClock();
    const sink = memorySink<unknown>();
    const dead = memorySink<DeadLetter>();
    const p = pipeline({ name: 'sizes', clock, maxRecordBytes: 100 })
      .source(fromIterable([big, big]))
      .sink(sink)
      .deadLetter(dead)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.batches).toEqual([]);
    expect(dead.records.map((d) => d.cursor.offset)).toEqual([0, 1]);
    expect(report.committed).toEqual({ '0': 1 });
    expect(report.status).toBe('completed');
  });

  it('uses a byte trigger’s cap as the record limit when it is tighter', async () => {
    const clock = testClock();
    const sink = memorySink<unknown>();
    const p = pipeline({ name: 'sizes', clock })
      .source(fromIterable(['x'.repeat(10), 'y'.repeat(300)]))
      .trigger(triggers.volume({ bytes: 200 }))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual(['x'.repeat(10)]);
    expect(report.deadLetters).toMatchObject([{ reason: 'too_large', details: { limit: 200 } }]);
  });
});
