/**
 * The client seam: kafkajsClient maps kafkajs's consumer calls, `eachBatch` payloads and
 * instrumentation events onto the KafkaClient interface the source and the checkpoint use.
 */
import { describe, expect, it } from 'vitest';
import { type ClientHandlers, type FetchedBatch, kafkajsClient } from '../../src/kafka/client.js';
import { FakeCluster } from './fake-kafka.js';

function recorder() {
  const seen: unknown[][] = [];
  const batches: FetchedBatch[] = [];
  const handlers: ClientHandlers = {
    batch: async (batch) => {
      batches.push(batch);
      batch.resolve(batch.messages.at(-1)!.offset);
    },
    joined: (assignment) => seen.push(['joined', assignment]),
    rebalancing: () => seen.push(['rebalancing']),
    crashed: (error, restart) => seen.push(['crashed', (error as Error).message, restart]),
    stopped: () => seen.push(['stopped']),
  };
  return { seen, batches, handlers };
}

describe('kafkajsClient', () => {
  it('runs the consumer without auto-commit or auto-resolve and hands over its batches', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produceJson('orders', 0, [1, 2]);
    const consumer = cluster.consumer('g');
    const client = kafkajsClient(consumer);
    expect(kafkajsClient(consumer)).toBe(client); // one per consumer object
    const { seen, batches, handlers } = recorder();
    await client.start(
      { topics: ['orders'], fromBeginning: true, partitionsConsumedConcurrently: 2 },
      handlers,
    );
    expect(consumer.calls.find((c) => c.method === 'run')?.args).toEqual({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 2,
      eachBatch: 'function',
    });
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    expect(seen).toEqual([['joined', { orders: [0] }]]);
    await consumer.fetchOnce();
    expect(batches).toHaveLength(1);
    expect(batches[0]!.messages.map((m) => m.offset)).toEqual(['0', '1']);
    expect(batches[0]!.isStale()).toBe(false);
    expect(batches[0]!.isRunning()).toBe(true);
    // resolve() moved the fetch position.
    expect(consumer.positions.get('orders-0')).toBe(2);
  });

  it('commits and seeks with decimal-string offsets, and maps the group events', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    const consumer = cluster.consumer('g');
    const client = kafkajsClient(consumer);
    const { seen, handlers } = recorder();
    await client.start(
      { topics: ['orders'], fromBeginning: false, partitionsConsumedConcurrently: 1 },
      handlers,
    );
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await client.commit([{ topic: 'orders', partition: 0, offset: 7, metadata: 'm' }]);
    expect(cluster.committed('g', 'orders', 0)).toEqual({ offset: 7, metadata: 'm' });
    client.seek('orders', 0, 5);
    expect(consumer.seeks.get('orders-0')).toBe(5);
    consumer.emit('consumer.rebalancing', {});
    consumer.emit('consumer.crash', { error: new Error('boom'), restart: true });
    consumer.emit('consumer.stop', {});
    expect(seen.slice(1)).toEqual([['rebalancing'], ['crashed', 'boom', true], ['stopped']]);
    const before = consumer.listenerCount();
    client.detach();
    expect(before).toBe(4);
    expect(consumer.listenerCount()).toBe(0);
  });
});
