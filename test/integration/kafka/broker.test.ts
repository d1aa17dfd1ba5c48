/**
 * Smoke test of the Kafka test infrastructure itself: the shared broker from the global setup
 * round-trips data in order, a broker started with startKafka() keeps data and committed consumer
 * offsets across a restart, and a machine without Java gets an error saying how to fix it.
 * Timings (broker start, 1M messages produced) are printed, never asserted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchKafkaJars, type KafkaBroker, startKafka } from '../../infra/kafka/broker.js';
import { rejection } from '../../support.js';
import {
  consumeAll,
  createTopic,
  endOffsets,
  kafkaClients,
  kafkaFor,
  produceJson,
  producerFor,
  waitFor,
} from './helpers.js';

interface Row {
  i: number;
  partition: number;
}

/** The `i` of each message read back, grouped by partition. */
function idsByPartition(messages: { partition: number; value: string | null }[], partitions: number) {
  const ids: number[][] = Array.from({ length: partitions }, () => []);
  for (const message of messages) {
    const row = JSON.parse(message.value ?? 'null') as Row;
    expect(row.partition).toBe(message.partition);
    ids[message.partition]!.push(row.i);
  }
  return ids;
}

/** The `i` values produceJson sends to `partition`, in order. */
function expectedIds(n: number, partitions: number, partition: number): number[] {
  const ids: number[] = [];
  for (let i = partition; i < n; i += partitions) ids.push(i);
  return ids;
}

describe('shared broker (global setup)', () => {
  const clients = kafkaClients('mb-smoke');

  it('round-trips 10,000 messages over 6 partitions in order', async () => {
    const { kafka, admin, producer } = clients;
    const topic = await createTopic(admin, 'smoke', 6);
    const counts = await produceJson(producer, topic, 6, 10_000, (i, partition) => ({ i, partition }));
    expect(counts).toEqual([1667, 1667, 1667, 1667, 1666, 1666]);
    expect(await endOffsets(admin, topic)).toEqual(counts);

    const messages = await consumeAll(kafka, topic);
    expect(messages).toHaveLength(10_000);
    const ids = idsByPartition(messages, 6);
    for (let p = 0; p < 6; p++) {
      expect(ids[p]).toEqual(expectedIds(10_000, 6, p));
      expect(messages.filter((m) => m.partition === p).map((m) => m.offset)).toEqual(
        ids[p]!.map((_, offset) => offset),
      );
    }
  });

  it('produces 1,000,000 messages with produceJson (time printed)', async () => {
    const { admin, producer } = clients;
    const topic = await createTopic(admin, 'smoke-1m', 6);
    const started = performance.now();
    await produceJson(producer, topic, 6, 1_000_000, (i, partition) => ({
      i,
      partition,
      sku: `sku-${i % 1000}`,
      price: (i % 10_000) / 100,
    }));
    const ms = performance.now() - started;
    console.log(
      `[kafka smoke] produced 1,000,000 messages (6 partitions, acks -1) in ${Math.round(ms)} ms ` +
        `(${Math.round(1_000_000 / (ms / 1000))} msg/s)`,
    );
    const ends = await endOffsets(admin, topic);
    expect(ends.reduce((a, b) => a + b, 0)).toBe(1_000_000);
    await admin.deleteTopics({ topics: [topic] });
  }, 180_000);
});

describe('own broker (startKafka)', () => {
  let broker: KafkaBroker;
  beforeAll(async () => {
    const started = performance.now();
    broker = await startKafka();
    console.log(`[kafka smoke] startKafka() took ${Math.round(performance.now() - started)} ms`);
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('keeps the data and a group’s committed offsets across a restart', async () => {
    const kafka = kafkaFor(broker.brokers, 'mb-smoke-restart');
    const admin = kafka.admin();
    const producer = producerFor(kafka);
    await Promise.all([admin.connect(), producer.connect()]);
    const topic = await createTopic(admin, 'restart', 3);
    const groupId = `mb-smoke-group-${topic}`;
    const make = (i: number, partition: number): Row => ({ i, partition });
    await produceJson(producer, topic, 3, 3_000, make);

    // A group reads everything there is and commits it…
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let read = 0;
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        read += batch.messages.length;
        await consumer.commitOffsets([
          { topic, partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) },
        ]);
      },
    });
    await waitFor(() => read === 3_000, { message: 'the group to read 3,000 messages' });
    await consumer.disconnect();
    // …and 1,500 more arrive that it has not read.
    await produceJson(producer, topic, 3, 1_500, (i, partition) => make(3_000 + i, partition));
    await Promise.all([admin.disconnect(), producer.disconnect()]);

    const before = await consumeAll(kafka, topic);
    const pidBefore = broker.pid;
    await broker.restart();
    expect(broker.pid).not.toBe(pidBefore);

    await admin.connect();
    try {
      expect(await endOffsets(admin, topic)).toEqual([1_500, 1_500, 1_500]);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      expect(
        committed!.partitions.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset)),
      ).toEqual([1_000, 1_000, 1_000]);
    } finally {
      await admin.disconnect();
    }
    const after = await consumeAll(kafka, topic);
    expect(after).toHaveLength(4_500);
    expect(after).toEqual(before);

    // The group resumes where it committed: exactly the 1,500 messages it had not read.
    const resumed = kafka.consumer({ groupId });
    const seen: { partition: number; offset: number; i: number }[] = [];
    await resumed.connect();
    await resumed.subscribe({ topic, fromBeginning: true });
    await resumed.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({ partition, offset: Number(message.offset), i: JSON.parse(String(message.value)).i });
      },
    });
    await waitFor(() => seen.length >= 1_500, { message: 'the group to read the 1,500 new messages' });
    await resumed.disconnect();
    expect(seen).toHaveLength(1_500);
    for (let p = 0; p < 3; p++) {
      const mine = seen.filter((s) => s.partition === p);
      expect(mine.map((s) => s.offset)).toEqual(Array.from({ length: 500 }, (_, k) => 1_000 + k));
      expect(mine.map((s) => s.i)).toEqual(expectedIds(1_500, 3, p).map((i) => 3_000 + i));
    }
  });

  it('restarts after kill() (SIGKILL) with the data that was acknowledged', async () => {
    const kafka = kafkaFor(broker.brokers, 'mb-smoke-kill');
    const admin = kafka.admin();
    const producer = producerFor(kafka);
    await Promise.all([admin.connect(), producer.connect()]);
    const topic = await createTopic(admin, 'kill', 2);
    await produceJson(producer, topic, 2, 2_000, (i, partition) => ({ i, partition }));
    await Promise.all([admin.disconnect(), producer.disconnect()]);

    const pid = broker.pid!;
    await broker.kill();
    expect(broker.pid).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow();
    await broker.restart();

    const messages = await consumeAll(kafka, topic);
    const ids = idsByPartition(messages, 2);
    expect(ids).toEqual([expectedIds(2_000, 2, 0), expectedIds(2_000, 2, 1)]);
  });
});

describe('missing prerequisites', () => {
  it('says which tool is missing and how to fix it', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'mb-kafka-cache-'));
    try {
      const error = (await rejection(fetchKafkaJars({ cacheDir, env: { PATH: '/nonexistent' } }))) as Error;
      expect(error.message).toContain('`java`');
      expect(error.message).toContain('not installed');
      expect(error.message).toContain('apt-get install openjdk-17-jre-headless maven');
      expect(error.message).toContain('MICROBATCH_KAFKA_BROKERS=host:port');
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
