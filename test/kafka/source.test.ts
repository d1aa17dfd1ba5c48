/**
 * kafkaSource on the in-memory consumer double: what a fetched batch becomes, when offsets are
 * committed, when partitions are paused and resumed, and which records are dropped as stale.
 */
import { describe, expect, it } from 'vitest';
import { memoryCheckpoint } from '../../src/checkpoint/memory.js';
import { silentLogger } from '../../src/core/logger.js';
import { kafkaSource } from '../../src/kafka/index.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memoryDeadLetter } from '../../src/sinks/dead-letter-memory.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { SourceChunk, SourceContext, SourceReader } from '../../src/sources/types.js';
import { testClock } from '../../src/testing/clock.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, expectInvalid, rejection, thrown } from '../support.js';
import { FakeCluster, type FakeConsumer } from './fake-kafka.js';

function context(overrides: Partial<SourceContext> = {}): SourceContext {
  return {
    pipeline: 'unit',
    clock: testClock(),
    logger: silentLogger,
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function openSource(
  consumer: FakeConsumer,
  options: Partial<Parameters<typeof kafkaSource>[0]> = {},
  ctx: SourceContext = context(),
) {
  const source = kafkaSource({ consumer, topics: ['orders'], fromBeginning: true, ...options });
  const reader = (await source.open(ctx)) as SourceReader<unknown>;
  return { source, reader };
}

/** The chunk a read returns at once (the queue holds one), failing the test when it would wait. */
function readNow(reader: SourceReader<unknown>): SourceChunk<unknown> {
  const result = reader.read();
  if (result === null || typeof (result as Promise<unknown>).then === 'function') {
    throw new Error('expected a queued chunk');
  }
  return result as SourceChunk<unknown>;
}

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 5000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 1));
  expect(condition()).toBe(true);
};

describe('kafkaSource options', () => {
  it('are checked when the source is made', () => {
    const cluster = new FakeCluster();
    const consumer = cluster.consumer('g');
    expectInvalid(
      () => kafkaSource({ consumer: {} as FakeConsumer, topics: ['a'] }),
      'no subscribe() method',
    );
    expectInvalid(() => kafkaSource({ consumer, topics: [] }), 'at least one topic');
    expectInvalid(() => kafkaSource({ consumer, topics: ['a b'] }), "'a b' is not a Kafka topic name");
    expectInvalid(
      () => kafkaSource({ consumer, topics: ['a'], highWaterMark: '1KB', lowWaterMark: '2KB' }),
      'lowWaterMark',
    );
    expectInvalid(() => kafkaSource({ consumer, topics: ['a'], decode: 'json' as never }), 'decode');
  });

  it('subscribes and runs the consumer without auto-commit or auto-resolve', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    const consumer = cluster.consumer('g');
    await openSource(consumer, { partitionsConsumedConcurrently: 3 });
    expect(consumer.calls.slice(0, 2)).toEqual([
      { method: 'subscribe', args: { topics: ['orders'], fromBeginning: true } },
      {
        method: 'run',
        args: {
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 3,
          eachBatch: 'function',
        },
      },
    ]);
  });

  it('refuses a second source on the same consumer object', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    const consumer = cluster.consumer('g');
    await openSource(consumer);
    expectCode(
      await rejection(Promise.resolve(kafkaSource({ consumer, topics: ['orders'] }).open(context()))),
      'MB_INVALID_OPTIONS',
    );
  });
});

describe('a fetched batch', () => {
  it('becomes one chunk: offsets, sizes, event times, keys and headers', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 2);
    cluster.produce('orders', 1, [
      {
        value: Buffer.from('{"id":1}'),
        key: Buffer.from('k1'),
        timestamp: 1000,
        headers: { trace: Buffer.from('t1'), multi: ['a', Buffer.from('b')] },
      },
      { value: Buffer.from('{"id":2}'), timestamp: 2000 },
      { value: Buffer.from('{"id":3}'), key: Buffer.from('k3'), timestamp: 3000 },
    ]);
    const consumer = cluster.consumer('g');
    const { reader } = await openSource(consumer);
    cluster.assign('g', new Map([[consumer, { orders: [0, 1] }]]));
    await consumer.fetchOnce();
    const chunk = readNow(reader);
    expect(chunk).toEqual({
      partition: 'orders-1',
      values: [{ id: 1 }, { id: 2 }, { id: 3 }],
      owned: true,
      firstOffset: 0,
      bytes: [10, 8, 10],
      eventTimes: [1000, 2000, 3000],
      keys: ['k1', undefined, 'k3'],
      headers: [{ trace: 't1', multi: 'b' }, undefined, undefined],
    });
    // The fetch position moved past the batch; nothing was committed.
    expect(consumer.positions.get('orders-1')).toBe(3);
    expect(consumer.calls.some((c) => c.method === 'commitOffsets')).toBe(false);
  });

  it('lists offsets when they have gaps (a compacted topic) and applies eventTime', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produceJson('orders', 0, [{ at: '2026-01-01T00:00:00Z' }, { at: 'x' }, { at: 5 }]);
    cluster.topics.get('orders')![0]!.splice(1, 1); // offset 1 compacted away
    const consumer = cluster.consumer('g');
    const { reader } = await openSource(consumer, {
      eventTime: (_message, value) => (value as { at: string | number }).at,
    });
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await consumer.fetchOnce();
    const chunk = readNow(reader);
    expect(chunk.offsets).toEqual([0, 2]);
    expect(chunk.firstOffset).toBeUndefined();
    expect(chunk.eventTimes).toEqual([Date.parse('2026-01-01T00:00:00Z'), 5]);
  });

  it('lists every offset once a gap appears mid-batch, and keys and headers once one has them', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produce('orders', 0, [
      { value: Buffer.from('0') },
      { value: Buffer.from('1') },
      { value: Buffer.from('2') },
      { value: Buffer.from('3') },
      { value: Buffer.from('4'), key: Buffer.from('k4'), headers: { h: 'v4' } },
      { value: Buffer.from('5') },
    ]);
    cluster.topics.get('orders')![0]!.splice(3, 1); // offset 3 compacted away
    const consumer = cluster.consumer('g');
    const { reader } = await openSource(consumer);
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await consumer.fetchOnce();
    const chunk = readNow(reader);
    expect(chunk.values).toEqual([0, 1, 2, 4, 5]);
    expect(chunk.offsets).toEqual([0, 1, 2, 4, 5]);
    expect(chunk.firstOffset).toBeUndefined();
    expect(chunk.keys).toEqual([undefined, undefined, undefined, 'k4', undefined]);
    expect(chunk.headers).toEqual([undefined, undefined, undefined, { h: 'v4' }, undefined]);
  });

  it('lists the offsets of the values around a reject at the end of a batch', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produce('orders', 0, [{ value: Buffer.from('1') }, { value: Buffer.from('{') }]);
    const consumer = cluster.consumer('g');
    const { reader } = await openSource(consumer);
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await consumer.fetchOnce();
    const chunk = readNow(reader);
    expect(chunk.values).toEqual([1]);
    expect(chunk.offsets).toEqual([0]);
    expect(chunk.rejected?.map((r) => r.offset)).toEqual([1]);
  });

  it('turns undecodable messages into malformed rejects with their raw bytes, and goes on', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    const invalidUtf8 = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]); // {"a":"\xff"}
    cluster.produce('orders', 0, [
      { value: Buffer.from('{"ok":1}') },
      { value: Buffer.from('not json'), key: Buffer.from('bad-key') },
      { value: invalidUtf8 },
      { value: null },
    ]);
    const consumer = cluster.consumer('g');
    const { reader } = await openSource(consumer);
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await consumer.fetchOnce();
    const chunk = readNow(reader);
    expect(chunk.values).toEqual([{ ok: 1 }, null]); // a tombstone decodes to null
    expect(chunk.offsets).toEqual([0, 3]);
    expect(chunk.rejected).toHaveLength(2);
    const [notJson, notUtf8] = chunk.rejected!;
    expect(notJson).toMatchObject({
      offset: 1,
      reason: 'malformed',
      details: { topic: 'orders', partition: 0, offset: 1, key: 'bad-key' },
      bytes: 15,
    });
    expect(Buffer.isBuffer(notJson!.value) && notJson!.value.toString()).toBe('not json');
    expect((notJson!.details as { error: string }).error).toMatch(/JSON/);
    expect(notUtf8).toMatchObject({
      offset: 2,
      reason: 'malformed',
      details: { error: 'the value is not valid UTF-8' },
    });
    expect(notUtf8!.value).toEqual(invalidUtf8);
  });

  it('hands a throwing custom decode over as malformed too', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produce('orders', 0, [{ value: Buffer.from('1') }, { value: Buffer.from('2') }]);
    const consumer = cluster.consumer('g');
    const { reader } = await openSource(consumer, {
      decode: (m) => {
        if (m.offset === 1) throw new Error('odd one');
        return Number(m.value);
      },
    });
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await consumer.fetchOnce();
    const chunk = readNow(reader);
    expect(chunk.values).toEqual([1]);
    expect(chunk.rejected).toEqual([
      {
        offset: 1,
        reason: 'malformed',
        details: { topic: 'orders', partition: 0, offset: 1, error: 'odd one' },
        value: Buffer.from('2'),
        bytes: 1,
      },
    ]);
  });

  it('refuses offsets that are not integers below 2^53', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    const consumer = cluster.consumer('g');
    const { reader } = await openSource(consumer);
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    cluster.produce('orders', 0, [{ value: Buffer.from('1') }]);
    cluster.topics.get('orders')![0]![0]!.offset = 2 ** 53;
    await consumer.fetchOnce();
    const error = expectCode(
      thrown(() => reader.read()),
      'MB_SOURCE_FAILED',
    );
    expect(error.message).toContain('9007199254740992');
    expect(consumer.positions.get('orders-0')).toBe(0); // not resolved: nothing taken
  });
});

describe('stale records', () => {
  it('drops a batch made stale by a seek, and records below the resume position', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produceJson('orders', 0, [0, 1, 2, 3, 4, 5]);
    const consumer = cluster.consumer('g');
    const { source, reader } = await openSource(consumer, {}, context({ resumeAt: async () => 4 }));
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await until(() => consumer.seeks.get('orders-0') === 4);
    // A fetch from before the seek: stale, dropped, not resolved.
    expect(await consumer.deliverBatch('orders', 0, 0, { stale: true })).toEqual([]);
    // A fetch that is not flagged stale but starts below the resume position: only 4 and 5 are taken.
    expect(await consumer.deliverBatch('orders', 0, 2)).toEqual([5]);
    expect(readNow(reader)).toMatchObject({ partition: 'orders-0', values: [4, 5], firstOffset: 4 });
    expect(source.metrics().staleDropped).toBe(6 + 2);
  });
});

describe('a batch of a partition whose resume position is not known yet', () => {
  it('waits for it, heartbeating meanwhile so the group keeps the member', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produceJson('orders', 0, [0, 1, 2]);
    const consumer = cluster.consumer('g');
    const clock = testClock();
    let found: (offset: number | undefined) => void = () => {};
    const { reader } = await openSource(
      consumer,
      {},
      context({ clock, resumeAt: () => new Promise((resolve) => (found = resolve)) }),
    );
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    const delivering = consumer.deliverBatch('orders', 0, 0);
    await clock.advance(2999);
    expect(consumer.heartbeats).toBe(0);
    await clock.advance(1);
    expect(consumer.heartbeats).toBe(1);
    await clock.advance(6000);
    expect(consumer.heartbeats).toBe(3);
    found(1); // resume at offset 1: the batch, fetched from 0, is not stale but starts below it
    expect(await delivering).toEqual([2]);
    expect(readNow(reader)).toMatchObject({ values: [1, 2], firstOffset: 1 });
    expect(consumer.seeks.get('orders-0')).toBe(1);
  });
});

describe('pause and resume', () => {
  it('pauses every assigned partition above the high-water mark and resumes below the low one', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 2);
    for (const p of [0, 1])
      cluster.produceJson(
        'orders',
        p,
        Array.from({ length: 30 }, (_, i) => i),
      ); // 1-2 bytes each
    const consumer = cluster.consumer('g', { maxMessagesPerBatch: 10 });
    const { source, reader } = await openSource(consumer, { highWaterMark: 40, lowWaterMark: 15 });
    cluster.assign('g', new Map([[consumer, { orders: [0, 1] }]]));
    await consumer.fetchOnce(); // 10 + 10 records, 20 bytes: below 40
    expect(source.metrics().paused).toBe(false);
    await consumer.fetchOnce(); // 40 records, 60 bytes: paused
    expect(source.metrics()).toMatchObject({ paused: true, queued: { records: 40, bytes: 60 } });
    expect(consumer.calls.filter((c) => c.method === 'pause')).toEqual([
      { method: 'pause', args: [{ topic: 'orders', partitions: [0, 1] }] },
    ]);
    expect(await consumer.fetchOnce()).toBe(0); // nothing is fetched while paused
    readNow(reader); // 50 bytes left
    readNow(reader); // 40
    expect(source.metrics().paused).toBe(true);
    readNow(reader); // 20: still above 15
    expect(source.metrics().paused).toBe(true);
    readNow(reader); // 0
    expect(source.metrics().paused).toBe(false);
    expect(consumer.calls.filter((c) => c.method === 'resume')).toEqual([
      { method: 'resume', args: [{ topic: 'orders', partitions: [0, 1] }] },
    ]);
    expect(await consumer.fetchOnce()).toBe(20);
  });
});

describe('in a pipeline', () => {
  it('commits last + 1 per partition, in order, after the writes', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 3);
    for (const p of [0, 1, 2])
      cluster.produceJson(
        'orders',
        p,
        Array.from({ length: 95 }, (_, i) => ({ p, i })),
      );
    const consumer = cluster.consumer('g', { maxMessagesPerBatch: 7 });
    const sink = memorySink();
    const writtenBefore: number[] = [];
    const p = pipeline({ name: 'orders' })
      .source(kafkaSource({ consumer, topics: ['orders'], fromBeginning: true }))
      .trigger(triggers.volume({ records: 10 }))
      .sink(sink)
      .build();
    p.on('commit', () => writtenBefore.push(sink.records.length));
    await p.start();
    cluster.assign('g', new Map([[consumer, { orders: [0, 1, 2] }]]));
    consumer.startLoop();
    await until(() => [0, 1, 2].every((q) => cluster.committed('g', 'orders', q)?.offset === 90));
    const report = await p.stop(); // drains the last 5 of each partition
    expect(report.records).toMatchObject({ in: 285, written: 285, handedOver: 0 });
    for (const q of [0, 1, 2]) {
      const commits = cluster.commits.filter((c) => c.partition === q).map((c) => c.offset);
      // Every commit is a batch's last offset + 1, increasing.
      expect(commits).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 95]);
      expect(cluster.commits.filter((c) => c.partition === q).every((c) => c.metadata === null)).toBe(true);
      expect(sink.batches.filter((b) => b.partition === `orders-${q}`).map((b) => b.lastOffset + 1)).toEqual(
        commits,
      );
    }
    // Each commit came after the sink held the batch it covers.
    expect(writtenBefore.every((n, i) => n >= (i + 1) * 10 || n === 285)).toBe(true);
    expect(consumer.calls.at(-1)?.method).toBe('stop');
    expect(consumer.calls.some((c) => c.method === 'disconnect')).toBe(true);
  });

  it("seeks to the pipeline's own checkpoint: plans of a file checkpoint are replayed, not skipped", async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produceJson(
      'orders',
      0,
      Array.from({ length: 30 }, (_, i) => i),
    );
    // The group has no offset (nothing was committed), the checkpoint holds a plan of a crashed run.
    const checkpoint = memoryCheckpoint();
    await checkpoint.open!({ pipeline: 'orders', clock: testClock(), logger: silentLogger });
    await checkpoint.save('orders-0', { plans: [{ firstOffset: 5, lastOffset: 16 }] });
    const consumer = cluster.consumer('g', { maxMessagesPerBatch: 7 });
    const sink = memorySink<number>();
    const p = pipeline({ name: 'orders', checkpoint })
      .source(kafkaSource<number>({ consumer, topics: ['orders'] })) // new messages only, by default
      .trigger(triggers.volume({ records: 100 }))
      .sink(sink)
      .build();
    await p.start();
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    consumer.startLoop();
    await until(() => p.metrics().counts.in === 25);
    await p.stop();
    expect(sink.batches.map((b) => [b.firstOffset, b.lastOffset, b.reason])).toEqual([
      [5, 16, 'replay'],
      [17, 29, 'drain'],
    ]);
    expect(cluster.committed('g', 'orders', 0)?.offset).toBe(30);
  });

  it('dead-letters malformed messages with their bytes and commits past them', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produce('orders', 0, [
      { value: Buffer.from('{"a":1}') },
      { value: Buffer.from('{oops'), key: Buffer.from('k') },
      { value: Buffer.from('{"a":3}') },
    ]);
    const consumer = cluster.consumer('g');
    const letters = memoryDeadLetter();
    const sink = memorySink();
    const p = pipeline({ name: 'orders' })
      .source(kafkaSource({ consumer, topics: ['orders'], fromBeginning: true }))
      .sink(sink)
      .deadLetter(letters)
      .build();
    await p.start();
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await consumer.fetchOnce();
    const report = await p.stop();
    expect(sink.records).toEqual([{ a: 1 }, { a: 3 }]);
    expect(report.records).toMatchObject({ in: 3, written: 2, deadLettered: 1 });
    expect(letters.records).toHaveLength(1);
    expect(letters.records[0]).toMatchObject({
      reason: 'malformed',
      cursor: { partition: 'orders-0', offset: 1 },
    });
    expect(letters.records[0]!.value).toEqual(Buffer.from('{oops'));
    expect(cluster.committed('g', 'orders', 0)?.offset).toBe(3);
  });

  it('fails the pipeline when the consumer crashes for good, after delivering what it read', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produceJson('orders', 0, [1, 2, 3]);
    const consumer = cluster.consumer('g');
    const sink = memorySink();
    const p = pipeline({ name: 'orders' })
      .source(kafkaSource({ consumer, topics: ['orders'], fromBeginning: true }))
      .sink(sink)
      .build();
    const done = p.run();
    await p.start();
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await consumer.fetchOnce();
    consumer.emit('consumer.crash', { error: new Error('broker gone'), restart: false });
    // What was read is written, but a dead consumer cannot commit it: the pipeline fails at once
    // (no retries), and the records are read again by the group's next consumer.
    const error = expectCode(await rejection(done), 'MB_COMMIT_FAILED');
    expect(error.message).toContain('crashed');
    expect(sink.records).toEqual([1, 2, 3]);
    expect(cluster.committed('g', 'orders', 0)).toBeUndefined();
  });
});
