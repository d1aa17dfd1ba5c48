/**
 * Scale-out on a real broker: workers of one consumer group (pipelines in this process, each with
 * its own kafkajs consumer, sharing one idempotent sink and kafkaCheckpoint) while messages keep
 * arriving. Two workers start, a third joins, one leaves: every message ends in the sink exactly
 * once.
 */
import { logLevel, type Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaCheckpoint, kafkaSource } from '../../../src/kafka/index.js';
import { pipeline } from '../../../src/pipeline/builder.js';
import type { DeliveryReport } from '../../../src/pipeline/report.js';
import type { Pipeline } from '../../../src/pipeline/types.js';
import { triggers } from '../../../src/triggers/index.js';
import { createTopic, kafkaClients, waitFor } from './helpers.js';
import { type CountingSink, committedToEnd, countingSink, type Row, tally } from './pipeline-support.js';

/** Produces `steps × perStep` messages to each partition, `{ p, n }` with n its offset, over time. */
async function produceSlowly(
  producer: Producer,
  topic: string,
  partitions: number,
  steps: number,
  perStep: number,
) {
  for (let step = 0; step < steps; step++) {
    await producer.sendBatch({
      acks: -1,
      topicMessages: [
        {
          topic,
          messages: Array.from({ length: partitions * perStep }, (_, k) => {
            const p = k % partitions;
            return {
              partition: p,
              value: JSON.stringify({ p, n: step * perStep + Math.floor(k / partitions) }),
            };
          }),
        },
      ],
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('workers of one consumer group', () => {
  // kafkajs logs each rebalance's refused heartbeats at ERROR: expected here.
  const clients = kafkaClients('mb-scale-out-test', { logLevel: logLevel.NOTHING });

  it('deliver every message once while a worker joins and another leaves', async () => {
    const { admin, producer } = clients;
    const partitions = 6;
    const steps = 60;
    const perStep = 500;
    const topic = await createTopic(admin, 'scale-out', partitions);
    const groupId = `${topic}-workers`;
    const sizes = new Array<number>(partitions).fill(steps * perStep);
    const sink: CountingSink = countingSink(topic, sizes);
    // Writes take a little while, so rebalances find batches in flight.
    const slowSink = {
      ...sink,
      write: async (
        batch: Parameters<CountingSink['write']>[0],
        options: Parameters<CountingSink['write']>[1],
      ) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return sink.write(batch, options);
      },
    };
    const workers: { name: string; pipeline: Pipeline<Row> }[] = [];
    const startWorker = async (name: string) => {
      const consumer = await clients.consumer({ groupId, heartbeatInterval: 500, sessionTimeout: 10_000 });
      const p = pipeline({ name: 'scale-out', checkpoint: kafkaCheckpoint({ consumer, admin, groupId }) })
        .source(kafkaSource<Row>({ consumer, topics: [topic], fromBeginning: true }))
        .trigger(triggers.any(triggers.volume({ records: 2000 }), triggers.time('200ms')))
        .sink(slowSink)
        .build();
      await p.start();
      workers.push({ name, pipeline: p });
      return p;
    };

    const producing = produceSlowly(producer, topic, partitions, steps, perStep);
    const a = await startWorker('a');
    const b = await startWorker('b');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const c = await startWorker('c');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const reports: DeliveryReport[] = [await a.stop()];
    await producing;
    await waitFor(() => committedToEnd(admin, groupId, topic, sizes), {
      timeoutMs: 120_000,
      intervalMs: 250,
      message: 'the group committing every partition to its end',
    });
    reports.push(await b.stop(), await c.stop());

    const result = tally(sink);
    expect(result, JSON.stringify(reports.map((r) => r.records))).toEqual({
      missing: 0,
      duplicated: 0,
      firstMissing: [],
    });
    expect(sink.misplaced).toEqual([]);
    for (const report of reports) {
      const r = report.records;
      expect(report.status).toBe('stopped');
      expect(r.in).toBe(
        r.written + r.deadLettered + r.duplicates + r.filtered + r.droppedLate + r.undelivered + r.handedOver,
      );
    }
    const written = reports.reduce((n, r) => n + r.records.written, 0);
    const replays = reports.reduce((n, r) => n + (r.batches.byReason.replay ?? 0), 0);
    console.log(
      `scale-out: ${partitions * steps * perStep} messages; written by a/b/c: ${reports.map((r) => r.records.written).join('/')}; handed over: ${reports.map((r) => r.records.handedOver).join('/')}; replayed batches: ${replays}; repeated writes: ${sink.repeatedWrites}`,
    );
    // A batch id is written again only when a partition's next owner replays the plan of a batch
    // its previous owner had not committed: the same records, and never more often than replays.
    expect(sink.badRewrites).toEqual([]);
    expect(sink.repeatedWrites).toBeLessThanOrEqual(replays);
    // Each worker did part of the work, and together they wrote each message at least once.
    expect(written).toBeGreaterThanOrEqual(partitions * steps * perStep);
    for (const report of reports) expect(report.records.written).toBeGreaterThan(0);
  }, 200_000);
});
