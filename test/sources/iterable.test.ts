import { describe, expect, it } from 'vitest';
import { recordOffsets } from '../../src/core/batch.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import type { Envelope, SourceChunk, SourceReader } from '../../src/sources/types.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, expectInvalid, listed, rejection, sourceContext } from '../support.js';

/** Reads a source to its end, returning every chunk. */
async function drain<T>(reader: SourceReader<T>): Promise<SourceChunk<T>[]> {
  const chunks: SourceChunk<T>[] = [];
  for (;;) {
    const chunk = await reader.read();
    if (chunk === null) return chunks;
    chunks.push(listed(chunk)!);
  }
}

/** Reads until a read throws; returns the values read before and the error. */
async function readUntilError<T>(reader: SourceReader<T>): Promise<{ values: T[]; error: unknown }> {
  const values: T[] = [];
  for (;;) {
    try {
      const chunk = await reader.read();
      if (chunk === null) return { values, error: undefined };
      values.push(...chunk.values);
    } catch (error) {
      return { values, error };
    }
  }
}

async function chunksOf<T>(source: ReturnType<typeof fromIterable<T>>): Promise<SourceChunk<T>[]> {
  return drain(await source.open(sourceContext()));
}

/** Runs a pipeline over `source` into a memory sink on a test clock. */
async function runInto<T>(source: ReturnType<typeof fromIterable<T>>) {
  const clock = testClock();
  const sink = memorySink<T>();
  const p = pipeline({ name: 'it', clock }).source(source).sink(sink).build();
  const outcome = await clock.runUntil(p.run()).then(
    (report) => ({ report, error: undefined }),
    (error: unknown) => ({ report: undefined, error }),
  );
  return { sink, ...outcome };
}

describe('fromIterable: plain values', () => {
  it('reads a sync array with offsets from 0 in partition "0"', async () => {
    const source = fromIterable(['a', 'b', 'c']);
    expect(source.kind).toBe('iterable');
    expect(source.replayable).toBe(false);
    const chunks = await chunksOf(source);
    expect(chunks).toEqual([{ partition: '0', values: ['a', 'b', 'c'], offsets: [0, 1, 2] }]);
  });

  it('reads a generator in chunks of readSize', async () => {
    function* numbers() {
      for (let i = 0; i < 5; i++) yield i * 10;
    }
    const chunks = await chunksOf(fromIterable(numbers(), { readSize: 2 }));
    expect(chunks.map((c) => c.values)).toEqual([[0, 10], [20, 30], [40]]);
    expect(chunks.flatMap((c) => c.offsets)).toEqual([0, 1, 2, 3, 4]);
  });

  it('reads an async generator one item per read', async () => {
    async function* letters() {
      yield 'x';
      yield 'y';
    }
    const chunks = await chunksOf(fromIterable(letters()));
    expect(chunks).toEqual([
      { partition: '0', values: ['x'], offsets: [0] },
      { partition: '0', values: ['y'], offsets: [1] },
    ]);
  });

  it('uses the partition option', async () => {
    const chunks = await chunksOf(fromIterable([1], { partition: 'scraper' }));
    expect(chunks[0]!.partition).toBe('scraper');
  });

  it('appends arrays in bulk with arrays: true', async () => {
    const chunks = await chunksOf(fromIterable([[1, 2], [], [3]], { arrays: true }));
    expect(chunks.flatMap((c) => c.values)).toEqual([1, 2, 3]);
    expect(chunks.flatMap((c) => c.offsets)).toEqual([0, 1, 2]);
  });

  it('fails the read when arrays: true meets a non-array item', async () => {
    const reader = await fromIterable([[1], 2] as never, { arrays: true }).open(sourceContext());
    const { values, error } = await readUntilError(reader);
    expect(values.length).toBeLessThanOrEqual(1);
    expect(expectCode(error, 'MB_SOURCE_FAILED').message).toContain('arrays: true');
  });

  it('delivers every record of a sync source through a pipeline', async () => {
    const { sink, report } = await runInto(fromIterable(Array.from({ length: 10 }, (_, i) => i)));
    expect(sink.records).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(report!.status).toBe('completed');
    expect(report!.guarantee).toBe('best-effort');
    expect(report!.committed).toEqual({ '0': 9 });
  });

  it('delivers every record of an async generator through a pipeline', async () => {
    async function* gen() {
      for (let i = 0; i < 7; i++) yield { i };
    }
    const { sink, report } = await runInto(fromIterable(gen()));
    expect(sink.records).toEqual(Array.from({ length: 7 }, (_, i) => ({ i })));
    expect(report!.records).toMatchObject({ in: 7, written: 7, undelivered: 0 });
  });
});

describe('fromIterable: envelopes', () => {
  it('keeps partitions, offsets, event times, keys and headers', async () => {
    const items: Envelope<string>[] = [
      { value: 'a', partition: 'p1', offset: 10, eventTime: new Date('2024-01-01T00:00:00Z'), key: 'k1' },
      { value: 'b', partition: 'p2', offset: 5, eventTime: '2024-01-01T00:00:01Z', headers: { h: '1' } },
      { value: 'c', partition: 'p1', offset: 12, eventTime: 1_704_067_202_000 },
      { value: 'd', partition: 'p1' },
      { value: 'e', partition: 3 },
    ];
    const chunks = await chunksOf(fromIterable(items, { envelopes: true }));
    const byPartition = Object.fromEntries(chunks.map((c) => [c.partition, c]));
    expect(Object.keys(byPartition).sort()).toEqual(['3', 'p1', 'p2']);
    expect(byPartition.p1).toEqual({
      partition: 'p1',
      values: ['a', 'c', 'd'],
      offsets: [10, 12, 13],
      eventTimes: [1_704_067_200_000, 1_704_067_202_000, undefined],
      keys: ['k1', undefined, undefined],
    });
    expect(byPartition.p2).toEqual({
      partition: 'p2',
      values: ['b'],
      offsets: [5],
      eventTimes: [1_704_067_201_000],
      headers: [{ h: '1' }],
    });
    expect(byPartition['3']).toEqual({ partition: '3', values: ['e'], offsets: [0] });
  });

  it('leaves an unusable event time undefined', async () => {
    const chunks = await chunksOf(
      fromIterable(
        [
          { value: 1, eventTime: 5 },
          { value: 2, eventTime: 'not a date' },
          { value: 3, eventTime: new Date(Number.NaN) },
        ],
        { envelopes: true },
      ),
    );
    expect(chunks[0]!.eventTimes).toEqual([5, undefined, undefined]);
  });

  it('back-fills metadata arrays so they stay aligned with values', async () => {
    const chunks = await chunksOf(
      fromIterable([{ value: 1 }, { value: 2 }, { value: 3, key: 'k' }], { envelopes: true }),
    );
    expect(chunks[0]!.keys).toEqual([undefined, undefined, 'k']);
  });

  it('combines arrays: true with envelopes: true', async () => {
    const chunks = await chunksOf(
      fromIterable(
        [
          [
            { value: 'a', offset: 3 },
            { value: 'b', offset: 7 },
          ],
          [{ value: 'c' }],
        ],
        { arrays: true, envelopes: true },
      ),
    );
    expect(chunks[0]).toMatchObject({ values: ['a', 'b', 'c'], offsets: [3, 7, 8] });
  });

  it('carries envelope metadata into the batches a pipeline writes', async () => {
    const { sink } = await runInto(
      fromIterable(
        [
          { value: 'a', partition: 'p', offset: 1, eventTime: '2024-05-01T10:00:00Z', key: 'x' },
          { value: 'b', partition: 'p', offset: 2, headers: { trace: 't-1' } },
        ],
        { envelopes: true },
      ),
    );
    expect(sink.batches).toHaveLength(1);
    const batch = sink.batches[0]!;
    expect(batch.partition).toBe('p');
    expect(recordOffsets(batch)).toEqual([1, 2]);
    expect(batch.eventTimes).toEqual([Date.parse('2024-05-01T10:00:00Z'), undefined]);
    expect(batch.keys).toEqual(['x', undefined]);
    expect(batch.headers).toEqual([undefined, { trace: 't-1' }]);
  });

  it.each([
    ['equal', [5, 5]],
    ['decreasing', [5, 4]],
  ])('rejects a %s offset with MB_SOURCE_FAILED', async (_, [first, second]) => {
    const reader = await fromIterable(
      [
        { value: 'a', partition: 'p', offset: first },
        { value: 'b', partition: 'p', offset: second },
      ],
      { envelopes: true, readSize: 1 },
    ).open(sourceContext());
    await reader.read();
    const error = expectCode(
      await rejection(Promise.resolve().then(() => reader.read())),
      'MB_SOURCE_FAILED',
    );
    expect(error.message).toContain("partition 'p'");
    expect(error.message).toContain(`offset ${second}`);
    expect(error.details).toMatchObject({ partition: 'p', offset: second });
  });

  it.each([[1.5], [-1], [Number.NaN]])('rejects the offset %j', async (offset) => {
    const reader = await fromIterable([{ value: 'a', offset }], { envelopes: true }).open(sourceContext());
    expectCode(await rejection(Promise.resolve().then(() => reader.read())), 'MB_SOURCE_FAILED');
  });

  it('rejects an item that is not an envelope', async () => {
    const reader = await fromIterable([42] as never, { envelopes: true }).open(sourceContext());
    const error = expectCode(
      await rejection(Promise.resolve().then(() => reader.read())),
      'MB_SOURCE_FAILED',
    );
    expect(error.message).toContain('expected an envelope');
  });

  it('makes run() reject with MB_SOURCE_FAILED on a non-increasing offset, after delivering the records before it', async () => {
    async function* items() {
      yield { value: 'a', offset: 1 };
      yield { value: 'b', offset: 2 };
      yield { value: 'c', offset: 2 };
    }
    const { sink, error } = await runInto(fromIterable(items(), { envelopes: true }));
    const failure = expectCode(error, 'MB_SOURCE_FAILED');
    expect(failure.message).toContain('offset 2');
    expect(sink.records).toEqual(['a', 'b']);
  });
});

describe('fromIterable: a throwing iterator', () => {
  it('async: run() rejects with MB_SOURCE_FAILED, and the records read before the throw are delivered', async () => {
    const boom = new Error('scraper crashed');
    async function* gen() {
      yield 1;
      yield 2;
      yield 3;
      throw boom;
    }
    const { sink, error } = await runInto(fromIterable(gen()));
    const failure = expectCode(error, 'MB_SOURCE_FAILED');
    expect(failure.message).toContain('scraper crashed');
    expect(failure.cause).toBe(boom);
    expect(sink.records).toEqual([1, 2, 3]);
    const report = failure.details.report as { status: string; records: { in: number; written: number } };
    expect(report.status).toBe('failed');
    expect(report.records).toMatchObject({ in: 3, written: 3 });
  });

  it('sync: run() rejects with MB_SOURCE_FAILED, and the records read before the throw are delivered', async () => {
    const boom = new Error('parser crashed');
    function* gen() {
      yield 1;
      yield 2;
      yield 3;
      throw boom;
    }
    const { sink, error } = await runInto(fromIterable(gen()));
    const failure = expectCode(error, 'MB_SOURCE_FAILED');
    expect(failure.cause).toBe(boom);
    // The three records were taken from the iterator before it threw: they must not vanish.
    expect(sink.records).toEqual([1, 2, 3]);
    const report = failure.details.report as { records: { in: number; written: number } };
    expect(report.records).toMatchObject({ in: 3, written: 3 });
  });

  it('sync, one record per read: the records before the throw are delivered', async () => {
    function* gen() {
      yield 'a';
      yield 'b';
      throw new Error('late failure');
    }
    const { sink, error } = await runInto(fromIterable(gen(), { readSize: 1 }));
    expectCode(error, 'MB_SOURCE_FAILED');
    expect(sink.records).toEqual(['a', 'b']);
  });
});

describe('fromIterable: a bad envelope in a sync iterable', () => {
  it('delivers the records before it, then run() rejects with MB_SOURCE_FAILED', async () => {
    const items = [
      { value: 'a', offset: 1 },
      { value: 'b', offset: 2 },
      { value: 'c', offset: 2 },
    ];
    const { sink, error } = await runInto(fromIterable(items, { envelopes: true }));
    expectCode(error, 'MB_SOURCE_FAILED');
    expect(sink.records).toEqual(['a', 'b']);
  });
});

describe('fromIterable: lifecycle and options', () => {
  it('returns the iterator when closed early', async () => {
    let returned = false;
    function* gen() {
      try {
        yield 1;
        yield 2;
      } finally {
        returned = true;
      }
    }
    const reader = await fromIterable(gen(), { readSize: 1 }).open(sourceContext());
    await reader.read();
    await reader.close();
    expect(returned).toBe(true);
  });

  it('stop() ends the source', async () => {
    const reader = await fromIterable([1, 2, 3], { readSize: 1 }).open(sourceContext());
    await reader.read();
    reader.stop?.();
    expect(await reader.read()).toBeNull();
  });

  it('rejects a non-iterable', () => {
    expectInvalid(() => fromIterable(42 as never), 'fromIterable(iterable)', 'iterable');
    expectInvalid(() => fromIterable(null as never), 'fromIterable(iterable)');
  });

  it('rejects bad readSize and partition', () => {
    expectInvalid(() => fromIterable([], { readSize: 0 }), 'fromIterable({ readSize })', 'got 0');
    expectInvalid(() => fromIterable([], { partition: 7 as never }), 'fromIterable({ partition })');
  });
});
