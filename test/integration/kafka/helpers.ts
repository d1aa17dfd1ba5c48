/**
 * Helpers for the Kafka integration tests: quiet clients, uniquely named topics, fast bulk
 * production, reading a topic back, and polling. The broker comes from the global setup
 * (`kafkaBrokers()` here, or `inject('kafkaBrokers')`); see docs/testing-with-kafka.md.
 */
import { randomBytes } from 'node:crypto';
import {
  type Admin,
  type Consumer,
  type ConsumerConfig,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Message,
  Partitioners,
  type Producer,
  type ProducerConfig,
} from 'kafkajs';
import { afterAll, beforeAll, inject } from 'vitest';

/** The brokers of the run (from `MICROBATCH_KAFKA_BROKERS` or the broker the global setup started). */
export function kafkaBrokers(): string[] {
  const brokers = inject('kafkaBrokers');
  if (brokers === undefined || brokers.length === 0) {
    throw new Error(
      'no Kafka broker was provided to this test: test/integration/kafka/setup.ts starts one when a ' +
        'file under test/integration/kafka/ is part of the run (check vitest.config.ts globalSetup)',
    );
  }
  return brokers;
}

/**
 * A kafkajs client for `brokers` that logs only warnings and errors (kafkajs logs every
 * connection and group join at INFO). `overrides` is merged into the config.
 */
export function kafkaFor(brokers: string[], clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.WARN, ...overrides });
}

/**
 * A producer that never creates topics and uses kafkajs 2's default partitioner explicitly
 * (which also silences its warning about the partitioner change in 2.0).
 */
export function producerFor(kafka: Kafka, config: ProducerConfig = {}): Producer {
  return kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    ...config,
  });
}

/** The clients {@link kafkaClients} makes for the tests of one `describe`. */
export interface KafkaClients {
  readonly kafka: Kafka;
  /** Connected. */
  readonly admin: Admin;
  /** Connected ({@link producerFor}). */
  readonly producer: Producer;
  /** A new consumer, connected; it is disconnected after the tests. */
  consumer(config: ConsumerConfig): Promise<Consumer>;
}

/**
 * Registers `beforeAll`/`afterAll` hooks in the calling `describe` that make a client
 * ({@link kafkaFor} with `clientId` and `overrides`) with a connected admin and producer, and
 * disconnect them and every consumer made with `consumer()` after the tests. The clients are read
 * inside the tests: reading one before `beforeAll` ran throws.
 */
export function kafkaClients(clientId: string, overrides: Partial<KafkaConfig> = {}): KafkaClients {
  let kafka: Kafka | undefined;
  let admin: Admin | undefined;
  let producer: Producer | undefined;
  const consumers: Consumer[] = [];
  beforeAll(async () => {
    kafka = kafkaFor(kafkaBrokers(), clientId, overrides);
    admin = kafka.admin();
    producer = producerFor(kafka);
    await Promise.all([admin.connect(), producer.connect()]);
  });
  afterAll(async () => {
    for (const consumer of consumers) await consumer.disconnect().catch(() => {});
    await Promise.all([admin?.disconnect(), producer?.disconnect()]);
  });
  const made = <T>(client: T | undefined): T => {
    if (client === undefined) throw new Error(`kafkaClients('${clientId}'): used before beforeAll ran`);
    return client;
  };
  return {
    get kafka() {
      return made(kafka);
    },
    get admin() {
      return made(admin);
    },
    get producer() {
      return made(producer);
    },
    async consumer(config) {
      const consumer = made(kafka).consumer(config);
      consumers.push(consumer);
      await consumer.connect();
      return consumer;
    },
  };
}

/** A topic name unique to this call: `mb-<label>-<random>`, `label` reduced to `[a-z0-9-]`. */
export function uniqueTopic(label: string): string {
  const safe = label
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
  return `mb-${safe || 'topic'}-${randomBytes(4).toString('hex')}`;
}

/**
 * Creates a topic with `partitions` partitions (replication factor 1) named
 * `uniqueTopic(label)`, waits until every partition has a leader, and returns the name.
 */
export async function createTopic(admin: Admin, label: string, partitions: number): Promise<string> {
  const topic = uniqueTopic(label);
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  if (!created) throw new Error(`topic ${topic} already existed`);
  return topic;
}

/** Options of {@link produceJson}. */
export interface ProduceJsonOptions {
  /**
   * Messages per `sendBatch()` call.
   * @default 10_000
   */
  batchSize?: number;
  /**
   * A `sendBatch()` call is also made once the values pending reach `partitions × batchBytes`
   * bytes, so that one partition's record batch stays below the broker's `message.max.bytes`
   * (1 MiB by default). In bytes of JSON.
   * @default 786_432 (768 KiB)
   */
  batchBytes?: number;
  /**
   * Key of message `i` on `partition`; none by default (the partition is explicit).
   * @default no key
   */
  key?: (i: number, partition: number) => string;
}

/**
 * Produces `n` JSON messages to `topic`: message `i` goes to partition `i % partitions` with the
 * value `JSON.stringify(make(i, partition))`, so that each partition receives its messages in
 * increasing `i`. Sends with `acks: -1` in `sendBatch()` calls of `batchSize` messages, one at a
 * time (order within a partition holds). Returns the number of messages sent to each partition.
 */
export async function produceJson(
  producer: Producer,
  topic: string,
  partitions: number,
  n: number,
  make: (i: number, partition: number) => unknown,
  options: ProduceJsonOptions = {},
): Promise<number[]> {
  const batchSize = options.batchSize ?? 10_000;
  const byteLimit = partitions * (options.batchBytes ?? 786_432);
  const counts = new Array<number>(partitions).fill(0);
  let pending: Message[][] = Array.from({ length: partitions }, () => []);
  let pendingCount = 0;
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingCount === 0) return;
    const topicMessages = pending
      .filter((messages) => messages.length > 0)
      .map((messages) => ({ topic, messages }));
    pending = Array.from({ length: partitions }, () => []);
    pendingCount = 0;
    pendingBytes = 0;
    await producer.sendBatch({ topicMessages, acks: -1 });
  };
  for (let i = 0; i < n; i++) {
    const partition = i % partitions;
    const value = JSON.stringify(make(i, partition));
    pending[partition]!.push({ partition, value, key: options.key?.(i, partition) ?? null });
    counts[partition]!++;
    pendingCount++;
    pendingBytes += value.length;
    if (pendingCount >= batchSize || pendingBytes >= byteLimit) await flush();
  }
  await flush();
  return counts;
}

/**
 * The end offset (high watermark) of every partition of `topic`, indexed by partition: the
 * number of messages it holds when it starts at 0. No consumer needed.
 */
export async function endOffsets(admin: Admin, topic: string): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const result = new Array<number>(offsets.length).fill(0);
  for (const { partition, high } of offsets) result[partition] = Number(high);
  return result;
}

/** One message read back by {@link consumeAll}. */
export interface ReadMessage {
  partition: number;
  /** Offset as a number (tests stay far below 2^53). */
  offset: number;
  key: string | null;
  /** The value decoded as UTF-8; null for a tombstone. */
  value: string | null;
  headers: Record<string, string>;
}

/** Options of {@link consumeAll}. */
export interface ConsumeAllOptions {
  /**
   * Consumer group to read with. Its committed offsets are not used nor changed: the read starts
   * at the beginning and commits nothing.
   * @default a new group `mb-read-<random>`
   */
  groupId?: string;
  /**
   * Give up after this many milliseconds with an error saying how far the read got.
   * @default 60_000
   */
  timeoutMs?: number;
}

/**
 * Reads `topic` from the beginning up to the end offsets it had when the call started (messages
 * produced later are not waited for) and returns the messages in partition order, then offset
 * order. For checking what a pipeline wrote, e.g. to a dead-letter topic.
 */
export async function consumeAll(
  kafka: Kafka,
  topic: string,
  options: ConsumeAllOptions = {},
): Promise<ReadMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await endOffsets(admin, topic).finally(() => admin.disconnect());
  const byPartition: ReadMessage[][] = ends.map(() => []);
  const remaining = () => ends.reduce((sum, end, p) => sum + Math.max(0, end - nextOffset(p)), 0);
  const nextOffset = (p: number) => {
    const read = byPartition[p]!;
    return read.length === 0 ? 0 : read[read.length - 1]!.offset + 1;
  };
  if (remaining() === 0) return [];

  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId ?? `mb-read-${randomBytes(6).toString('hex')}`,
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((done, failed) => {
      const timer = setTimeout(
        () =>
          failed(new Error(`consumeAll(${topic}): ${remaining()} messages not read after ${timeoutMs} ms`)),
        timeoutMs,
      );
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        clearTimeout(timer);
        failed(payload.error);
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const read = byPartition[batch.partition]!;
            const end = ends[batch.partition]!;
            for (const message of batch.messages) {
              const offset = Number(message.offset);
              if (offset >= end) break;
              read.push({
                partition: batch.partition,
                offset,
                key: message.key?.toString('utf8') ?? null,
                value: message.value?.toString('utf8') ?? null,
                headers: Object.fromEntries(
                  Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
                ),
              });
            }
            if (remaining() === 0) {
              clearTimeout(timer);
              done();
            }
          },
        })
        .catch(failed);
    });
  } finally {
    await consumer.disconnect();
  }
  return byPartition.flat();
}

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /**
   * Give up after this many milliseconds.
   * @default 30_000
   */
  timeoutMs?: number;
  /**
   * Pause between two checks, in milliseconds.
   * @default 100
   */
  intervalMs?: number;
  /** Said in the error on timeout, e.g. what was expected. */
  message?: string;
}

/**
 * Polls `predicate` until it returns true (or a promise of true) and rejects when it has not
 * after `timeoutMs`. For waiting on real servers only: unit tests use the injected clock.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= deadline) {
      throw new Error(`waitFor: ${options.message ?? 'condition'} not met after ${timeoutMs} ms`);
    }
    await new Promise((wake) => setTimeout(wake, options.intervalMs ?? 100));
  }
}
