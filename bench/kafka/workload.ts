/**
 * The Kafka benchmark's workload, shared by the orchestrator (bench.ts) and the child processes
 * (worker.ts): the messages, the batching thresholds every variant uses, and what a run reports.
 */
import { z } from 'zod';

/** Messages in the topic (`--quick`: {@link QUICK_RECORDS}). */
export const RECORDS = 1_000_000;
/** Messages in the topic with `--quick`. */
export const QUICK_RECORDS = 100_000;
/** Partitions of the topic. */
export const PARTITIONS = 6;
/** Every variant flushes a partition's buffer at this many records… */
export const BATCH_RECORDS = 10_000;
/** …or this long after the buffer's first record, in ms. */
export const WINDOW_MS = 1_000;

/** A small JSON message, about 80 bytes: what a scraper would send. */
export const Price = z.object({
  id: z.number().int(),
  sku: z.string(),
  price: z.number(),
  qty: z.number().int(),
  inStock: z.boolean(),
});
export type Price = z.output<typeof Price>;

/** Message `i` of the topic (it goes to partition `i % PARTITIONS`). */
export function price(i: number): Price {
  return {
    id: i,
    sku: `sku-${(i * 7_919) % 100_003}`,
    price: (i % 10_000) / 100,
    qty: i % 17,
    inStock: i % 5 !== 0,
  };
}

/**
 * The variants, each run in a fresh process with a fresh consumer group. Every batching variant
 * drains once kafkajs has handed over each partition's last message (the topic is read: its last
 * windows are flushed at once, as `pipeline.stop()` does), except `microbatch-wait`, which waits its
 * last windows out as a consumer of an endless stream would.
 */
export const KAFKA_VARIANTS = [
  'raw',
  'raw-keep',
  'hand',
  'microbatch',
  'microbatch-lake',
  'hand-lake',
  'microbatch-wait',
] as const;
export type KafkaVariant = (typeof KAFKA_VARIANTS)[number];

/** What one run of a variant reports (printed by worker.ts, read by bench.ts). */
export interface KafkaRunResult {
  variant: KafkaVariant;
  /** Records the sink received. */
  records: number;
  /** Batches the sink received. */
  batches: number;
  /**
   * From the first fetched batch to the commit of the last offset of every partition, ms (raw: to
   * the last message parsed).
   */
  elapsedMs: number;
  recordsPerSecond: number;
  /**
   * From the first fetched batch until kafkajs had handed over every partition's last message, ms:
   * `elapsedMs − readMs` is the tail (the last windows closing, their writes and commits).
   */
  readMs: number;
  /** CPU time (user + system) of the process over `elapsedMs`, ms. */
  cpuMs: number;
  /** CPU time of the process over `readMs`, ms. */
  readCpuMs: number;
  /** The main thread's event-loop utilisation over `readMs` (0–1): 1 means it never waited. */
  readElu?: number;
  /** The main thread's own CPU time over `readMs`, ms (Node ≥ 23.9, `process.threadCpuUsage()`). */
  readThreadCpuMs?: number;
  /** `process.resourceUsage().maxRSS` at the end, bytes. */
  peakRss: number;
  /** RSS before the consumer connected, bytes. */
  baselineRss: number;
  /** The pipeline's `metrics().guarantee` for microbatch; `at-least-once` for the hand loop. */
  guarantee: string;
}
