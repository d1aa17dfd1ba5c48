/**
 * One run of the Kafka benchmark in its own process:
 *
 *   tsx bench/kafka/worker.ts <raw|raw-keep|hand|microbatch|microbatch-lake|hand-lake|microbatch-wait> <brokers> <topic>
 *
 * Reads the whole topic from the beginning with a fresh consumer group, into a memory sink or a
 * Parquet lake in a temporary directory, and prints records/s (first fetched batch → every
 * partition's end offset committed) and peak RSS. Once every partition's last message has been
 * handed over, the batching variants drain (flush what they buffer at once) — except
 * `microbatch-wait`, which lets its last 1 s windows close on their own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { emitResult } from '../lib/child.js';
import { threadCpuUsage } from '../lib/cpu.js';
import { runHand } from './hand.js';
import { runMicrobatch } from './microbatch.js';
import { runRaw } from './raw.js';
import { KAFKA_VARIANTS, type KafkaRunResult, type KafkaVariant, Price } from './workload.js';

async function main(): Promise<void> {
  const [variant, brokers, topic] = process.argv.slice(2) as [KafkaVariant, string, string];
  if (!KAFKA_VARIANTS.includes(variant) || brokers === undefined || topic === undefined) {
    throw new Error(`usage: worker.ts <${KAFKA_VARIANTS.join('|')}> <brokers> <topic>`);
  }
  const baselineRss = process.memoryUsage().rss;
  const lake = variant.endsWith('-lake') ? await mkdtemp(join(tmpdir(), 'mb-bench-kafka-')) : undefined;
  const sink: Sink<unknown> =
    lake !== undefined
      ? parquetLakeSink({ dir: lake, table: 'prices', schema: Price })
      : process.env.MB_BENCH_DISCARD === '1'
        ? { kind: 'discard', write() {} }
        : memorySink();

  const kafka = new Kafka({
    clientId: `mb-bench-${variant}`,
    brokers: brokers.split(','),
    logLevel: logLevel.ERROR,
  });
  const groupId = `mb-bench-${variant}-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId });
  const admin = kafka.admin();
  await Promise.all([consumer.connect(), admin.connect()]);
  const ends: number[] = [];
  for (const { partition, high } of await admin.fetchTopicOffsets(topic)) ends[partition] = Number(high);
  const total = ends.reduce((sum, end) => sum + end, 0);

  // The clock starts at the first batch kafkajs hands over, the same event for every variant.
  let firstAt: number | undefined;
  let cpuAtFirst: NodeJS.CpuUsage | undefined;
  // The main thread's share of the read phase: how busy its event loop was, and (Node ≥ 23.9) its CPU.
  let eluAtFirst: EventLoopUtilization | undefined;
  let threadAtFirst: NodeJS.CpuUsage | undefined;
  const off = consumer.on(consumer.events.START_BATCH_PROCESS, () => {
    if (firstAt !== undefined) return;
    firstAt = performance.now();
    cpuAtFirst = process.cpuUsage();
    eluAtFirst = performance.eventLoopUtilization();
    threadAtFirst = threadCpuUsage();
  });
  // When kafkajs had handed over every partition's last message (what follows is the variant's tail:
  // its last windows closing, writes and commits).
  const fetched = ends.map(() => 0);
  let readAt: number | undefined;
  let cpuAtRead: NodeJS.CpuUsage | undefined;
  let readElu: number | undefined;
  let readThreadCpuMs: number | undefined;
  // What the variant does once the topic is read (the batching variants drain).
  let whenRead: () => void = () => {};
  const offEnd = consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const next = Number(payload.lastOffset) + 1;
    if (next > fetched[payload.partition]!) fetched[payload.partition] = next;
    if (readAt === undefined && fetched.every((offset, p) => offset >= ends[p]!)) {
      readAt = performance.now();
      cpuAtRead = process.cpuUsage();
      readElu = performance.eventLoopUtilization(eluAtFirst).utilization;
      const thread = threadCpuUsage();
      if (thread !== undefined && threadAtFirst !== undefined) {
        readThreadCpuMs = (thread.user - threadAtFirst.user + thread.system - threadAtFirst.system) / 1000;
      }
      whenRead();
    }
  });
  let outcome: {
    records: number;
    batches: number;
    committedAt: number;
    cpuAt: NodeJS.CpuUsage;
    guarantee: string;
  };
  try {
    if (variant === 'raw' || variant === 'raw-keep') {
      const hold = variant === 'raw-keep' ? 'keep' : process.env.MB_BENCH_HOLD === 'batch' ? 'batch' : 'none';
      outcome = { ...(await runRaw(consumer, topic, ends, hold)), guarantee: 'none (no commits)' };
      await consumer.disconnect();
    } else if (variant === 'hand' || variant === 'hand-lake') {
      outcome = {
        ...(await runHand(consumer, topic, ends, sink, (drain) => {
          whenRead = drain;
        })),
        guarantee: 'at-least-once',
      };
      await consumer.disconnect();
    } else {
      // The source disconnects the consumer when the pipeline stops.
      const onRead =
        variant === 'microbatch-wait'
          ? undefined
          : (drain: () => void) => {
              whenRead = drain;
            };
      outcome = await runMicrobatch(consumer, admin, groupId, topic, ends, sink, onRead);
    }
  } finally {
    off();
    offEnd();
    await admin.disconnect();
    if (lake !== undefined) await rm(lake, { recursive: true, force: true });
  }
  if (outcome.records !== total) {
    throw new Error(`${variant}: the sink received ${outcome.records} records, the topic holds ${total}`);
  }
  const elapsedMs = outcome.committedAt - (firstAt ?? outcome.committedAt);
  const cpuStart = cpuAtFirst ?? outcome.cpuAt;
  const cpuSince = (at: NodeJS.CpuUsage) => (at.user - cpuStart.user + (at.system - cpuStart.system)) / 1000;
  const cpuMs = cpuSince(outcome.cpuAt);
  const result: KafkaRunResult = {
    variant,
    records: outcome.records,
    batches: outcome.batches,
    elapsedMs,
    recordsPerSecond: total / (elapsedMs / 1000),
    readMs: (readAt ?? outcome.committedAt) - (firstAt ?? outcome.committedAt),
    cpuMs,
    readCpuMs: cpuSince(cpuAtRead ?? outcome.cpuAt),
    ...(readElu !== undefined && { readElu }),
    ...(readThreadCpuMs !== undefined && { readThreadCpuMs }),
    peakRss: process.resourceUsage().maxRSS * 1024,
    baselineRss,
    guarantee: outcome.guarantee,
  };
  emitResult(result);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
