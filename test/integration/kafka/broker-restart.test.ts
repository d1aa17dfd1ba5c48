/**
 * A broker restart in the middle of a stream, on a broker of this test's own: the consumer loses
 * its connections, commits fail and are retried, the group is joined again, and the pipeline
 * resumes from the checkpoint without losing or repeating a message.
 */
import { type Admin, type Consumer, type Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaCheckpoint, kafkaSource } from '../../../src/kafka/index.js';
import { pipeline } from '../../../src/pipeline/builder.js';
import { triggers } from '../../../src/triggers/index.js';
import { type KafkaBroker, startKafka } from '../../infra/kafka/broker.js';
import { createTopic, kafkaFor, produceJson, producerFor, waitFor } from './helpers.js';
import { committedToEnd, countingSink, type Row, tally } from './pipeline-support.js';

describe('a broker restart mid-stream', () => {
  let broker: KafkaBroker;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    broker = await startKafka();
    // kafkajs logs every lost connection at ERROR while the broker is down: expected here.
    kafka = kafkaFor(broker.brokers, 'mb-restart-test', {
      logLevel: logLevel.NOTHING,
      // A retry budget that covers the outage (about a minute here, against a restart of ~10–30 s on
      // a loaded machine): with a smaller one kafkajs gives up ('Failed to find group coordinator',
      // `restart: false`) and the pipeline fails, as docs/kafka.md says it must.
      retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 2000 },
    });
    admin = kafka.admin();
    producer = producerFor(kafka);
    await Promise.all([admin.connect(), producer.connect()]);
  }, 180_000);

  afterAll(async () => {
    await consumer?.disconnect().catch(() => {});
    await Promise.all([admin?.disconnect().catch(() => {}), producer?.disconnect().catch(() => {})]);
    await broker?.stop();
  });

  it('resumes without loss or duplicates', async () => {
    const partitions = 3;
    const topic = await createTopic(admin, 'restart', partitions);
    const sizes = await produceJson(producer, topic, partitions, 90_000, (i, p) => ({
      p,
      n: Math.floor(i / partitions),
    }));
    const groupId = `${topic}-loader`;
    consumer = kafka.consumer({
      groupId,
      heartbeatInterval: 500,
      sessionTimeout: 15_000,
      maxBytesPerPartition: 64 * 1024,
    });
    await consumer.connect();
    const sink = countingSink(topic, sizes);
    // Slow writes keep the stream going while the broker restarts.
    const slowSink = {
      ...sink,
      write: async (batch: Parameters<typeof sink.write>[0], options: Parameters<typeof sink.write>[1]) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return sink.write(batch, options);
      },
    };
    const logs: string[] = [];
    const log = (level: string) => (context: Record<string, unknown>, message: string) => {
      if (logs.length < 200)
        logs.push(
          `${level} ${message} ${JSON.stringify(context, (_k, v) => (v instanceof Error ? v.message : v))}`,
        );
    };
    const consumerEvents: string[] = [];
    for (const event of [
      'consumer.group_join',
      'consumer.crash',
      'consumer.rebalancing',
      'consumer.stop',
      'consumer.disconnect',
    ]) {
      consumer.on(event as 'consumer.crash', (e) =>
        consumerEvents.push(
          `${Date.now() % 1e6} ${event} ${JSON.stringify(e.payload, (_k, v) => (v instanceof Error ? v.message : v))}`,
        ),
      );
    }
    const p = pipeline({
      name: 'restart',
      logger: { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') },
      checkpoint: kafkaCheckpoint({ consumer, admin, groupId }),
      // Commits and checkpoint saves fail while the broker is down: retry them, not for long each.
      retry: { initialDelay: '100ms', maxDelay: '1s' },
    })
      .source(kafkaSource<Row>({ consumer, topics: [topic], fromBeginning: true }))
      .trigger(triggers.any(triggers.volume({ records: 1000 }), triggers.time('100ms')))
      .sink(slowSink)
      .build();
    await p.start();
    await waitFor(() => p.metrics().counts.commits >= 10, { timeoutMs: 60_000, message: 'first commits' });
    const before = p.metrics().counts.written;
    await broker.restart();
    await waitFor(() => committedToEnd(admin, groupId, topic, sizes), {
      timeoutMs: 120_000,
      intervalMs: 500,
      message: 'the group committing every partition to its end after the restart',
    }).catch((error) => {
      console.log(JSON.stringify(p.metrics(), null, 1), logs.join('\n'), consumerEvents.join('\n'));
      throw error;
    });
    const report = await p.stop();
    expect(before).toBeLessThan(90_000); // the restart did happen mid-stream
    expect(tally(sink)).toEqual({ missing: 0, duplicated: 0, firstMissing: [] });
    expect(sink.misplaced).toEqual([]);
    expect(report.status).toBe('stopped');
    const r = report.records;
    expect(r.in).toBe(
      r.written + r.deadLettered + r.duplicates + r.filtered + r.droppedLate + r.undelivered + r.handedOver,
    );
    console.log(
      `broker restart: written before ${before}, report ${JSON.stringify(r)}, retries ${p.metrics().counts.retries}, repeated writes ${sink.repeatedWrites}`,
    );
    // A batch id is written again only as a replay of a plan the restart left uncommitted (the
    // partitions come back through a rebalance): the same records, never more often than replays.
    expect(sink.badRewrites).toEqual([]);
    expect(sink.repeatedWrites).toBeLessThanOrEqual(report.batches.byReason.replay ?? 0);
  }, 300_000);
});
