/**
 * Scale-out on the in-memory double: workers of one consumer group, with kafkaCheckpoint, write to
 * one shared idempotent sink while partitions move between them. Every record must be in the sink
 * exactly once: a revoked worker's buffered records are handed over and replayed by the new owner,
 * and its in-flight writes neither commit nor write anything the new owner does not replay.
 */
import { describe, expect, it } from 'vitest';
import type { Batch } from '../../src/core/batch.js';
import { kafkaCheckpoint, kafkaSource } from '../../src/kafka/index.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { Pipeline } from '../../src/pipeline/types.js';
import type { Sink } from '../../src/sinks/types.js';
import { triggers } from '../../src/triggers/index.js';
import { FakeCluster, type FakeConsumer } from './fake-kafka.js';

interface Row {
  p: number;
  i: number;
}

/** A sink shared by all workers: one effect per batch id; every record's (partition, offset) counted. */
function sharedSink() {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  const sink: Sink<Row> & { seen: Map<string, number>; batches: number } = {
    kind: 'shared',
    seen,
    batches: 0,
    async write(batch: Batch<Row>) {
      // Let writes overlap with fetching and rebalancing.
      await new Promise((resolve) => setImmediate(resolve));
      if (ids.has(batch.id)) return;
      ids.add(batch.id);
      sink.batches++;
      batch.records.forEach((row, i) => {
        const offset = batch.offsets === undefined ? batch.firstOffset + i : batch.offsets[i]!;
        expect(row.i).toBe(offset);
        const key = `${batch.partition}@${offset}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      });
    },
  };
  return sink;
}

const until = async (condition: () => boolean, what: string, detail?: () => string) => {
  for (let i = 0; i < 20_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`timed out waiting for ${what}: ${detail?.() ?? ''}`);
};

describe('kafkaSource across rebalances (in-memory group)', () => {
  it('keeps every record exactly once while workers join and leave', async () => {
    const cluster = new FakeCluster();
    const partitions = 4;
    const perPartition = 3000;
    cluster.createTopic('events', partitions);
    for (let p = 0; p < partitions; p++) {
      cluster.produceJson(
        'events',
        p,
        Array.from({ length: perPartition }, (_, i) => ({ p, i })),
      );
    }
    const sink = sharedSink();
    const admin = cluster.admin();
    const workers: { consumer: FakeConsumer; pipeline: Pipeline<Row> }[] = [];
    const startWorker = async () => {
      const consumer = cluster.consumer('loaders', { maxMessagesPerBatch: 37 });
      const p = pipeline({
        name: 'loader',
        checkpoint: kafkaCheckpoint({ consumer, admin, groupId: 'loaders' }),
      })
        .source(kafkaSource<Row>({ consumer, topics: ['events'], fromBeginning: true }))
        .trigger(triggers.any(triggers.volume({ records: 100 }), triggers.time('20ms')))
        .sink(sink)
        .build();
      await p.start();
      workers.push({ consumer, pipeline: p });
      return { consumer, pipeline: p };
    };
    const committedTotal = () => {
      let n = 0;
      for (let p = 0; p < partitions; p++) n += cluster.committed('loaders', 'events', p)?.offset ?? 0;
      return n;
    };

    const a = await startWorker();
    cluster.assign('loaders', new Map([[a.consumer, { events: [0, 1, 2, 3] }]]));
    a.consumer.startLoop();
    await until(() => committedTotal() > 1000, 'first commits');

    // B joins: A loses partitions 2 and 3 mid-stream.
    const b = await startWorker();
    cluster.startRebalance('loaders');
    await new Promise((resolve) => setTimeout(resolve, 2));
    cluster.assign(
      'loaders',
      new Map([
        [a.consumer, { events: [0, 1] }],
        [b.consumer, { events: [2, 3] }],
      ]),
    );
    b.consumer.startLoop();
    await until(() => committedTotal() > 6000, 'progress after the first rebalance');

    // C joins and takes partition 1 and 3.
    const c = await startWorker();
    cluster.startRebalance('loaders');
    cluster.assign(
      'loaders',
      new Map([
        [a.consumer, { events: [0] }],
        [b.consumer, { events: [2] }],
        [c.consumer, { events: [1, 3] }],
      ]),
    );
    c.consumer.startLoop();
    await until(() => committedTotal() > 9000, 'progress after the second rebalance');

    // A leaves: it drains and commits while still a member, then B takes its partition.
    const reportA = await a.pipeline.stop();
    cluster.startRebalance('loaders');
    cluster.assign(
      'loaders',
      new Map([
        [b.consumer, { events: [0, 2] }],
        [c.consumer, { events: [1, 3] }],
      ]),
    );
    await until(
      () => committedTotal() === partitions * perPartition,
      'everything committed',
      () =>
        JSON.stringify([0, 1, 2, 3].map((p) => cluster.committed('loaders', 'events', p))) +
        JSON.stringify(workers.map((w) => w.pipeline.metrics().counts)),
    );
    const reports = [reportA, await b.pipeline.stop(), await c.pipeline.stop()];

    for (let p = 0; p < partitions; p++) {
      for (let i = 0; i < perPartition; i++) {
        expect(sink.seen.get(`events-${p}@${i}`), `events-${p}@${i}`).toBe(1);
      }
    }
    expect(sink.seen.size).toBe(partitions * perPartition);
    for (const report of reports) {
      const r = report.records;
      expect(r.in).toBe(
        r.written + r.deadLettered + r.duplicates + r.filtered + r.droppedLate + r.undelivered + r.handedOver,
      );
      expect(report.status).toBe('stopped');
    }
    // The rebalances did take buffered work away from someone.
    expect(reports.reduce((n, r) => n + r.records.handedOver, 0)).toBeGreaterThan(0);
    for (let p = 0; p < partitions; p++) {
      expect(cluster.committed('loaders', 'events', p)?.metadata).toMatch(/^mb1;[0-9a-f]{8};2999;$/);
    }
  });
});
