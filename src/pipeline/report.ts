import type { DeadLetter, FlushReason, RejectReason } from '../core/batch.js';
import type { ErrorCode } from '../core/errors.js';
import type { TransformWarning } from '../transforms/types.js';
import type { RetryingOperation } from './retry-visibility.js';

/** Where a pipeline is in its life. */
export type PipelineStatus =
  /** Built, not started. */
  | 'idle'
  /** Reading and writing. */
  | 'running'
  /** Stopping: reading what the source already accepted, flushing every lane, waiting for commits. */
  | 'draining'
  /** The source ended and everything was written and committed. */
  | 'completed'
  /** Stopped on request. */
  | 'stopped'
  /** Stopped on a fatal error. */
  | 'failed';

/**
 * Delivery guarantee of a pipeline, decided by its source and its checkpoint store:
 * - `exactly-once`: a replayable source and a durable checkpoint store (`fileCheckpoint`): after a
 *   crash, unfinished batches are replayed with the same range and id, so a sink that honours the
 *   contract (one effect per batch id) holds every record once;
 * - `at-least-once`: the source can re-read from its committed cursor, so a crash loses nothing
 *   (records after the last commit are read again and may be written again under other batch ids);
 *   also the case with a checkpoint store that does not outlive the process (`memoryCheckpoint`);
 * - `best-effort`: the source cannot replay (an iterable, a push source). Writes are retried until
 *   delivered and a clean stop drains everything, but a crash loses what was buffered.
 */
export type Guarantee = 'exactly-once' | 'at-least-once' | 'best-effort';

/** A range of records the pipeline read but did not deliver. */
export interface UndeliveredRange {
  partition: string;
  firstOffset: number;
  lastOffset: number;
  records: number;
  /** `buffered`: still in a lane; `in-flight`: cut but not written; `failed`: its write failed. */
  state: 'buffered' | 'in-flight' | 'failed';
}

/**
 * Record counts; `in = written + deadLettered + duplicates + filtered + droppedLate + undelivered +
 * handedOver` once settled.
 */
export interface RecordCounts {
  /** Records read from the source (decodable or not), not counting `skipped` ones. */
  in: number;
  written: number;
  deadLettered: number;
  duplicates: number;
  filtered: number;
  /** Late records let go under `.eventTime(…, { late: 'drop' })`. */
  droppedLate: number;
  /** Records read but neither written nor dead-lettered (see `undelivered` ranges). */
  undelivered: number;
  /**
   * Records of partitions the source gave up (a Kafka rebalance moved them to another worker)
   * before they were committed: the partition's next owner reads them again. See
   * `SourceContext.revoke`.
   */
  handedOver: number;
  /**
   * Records the source delivered again that the sink's ledger says it already holds (a run without
   * a durable checkpoint, see docs/exactly-once.md): dropped on arrival, not part of `in`.
   */
  skipped: number;
}

/** What `run()` and `stop()` resolve with: what was delivered and what was not. */
export interface DeliveryReport {
  pipeline: string;
  status: PipelineStatus;
  /** See {@link Guarantee}. */
  guarantee: Guarantee;
  startedAt: number | undefined;
  endedAt: number;
  records: RecordCounts;
  /** Dead-lettered records by reason. */
  rejected: Partial<Record<RejectReason, number>>;
  batches: { written: number; byReason: Partial<Record<FlushReason, number>> };
  /** Last committed offset per partition. */
  committed: Record<string, number>;
  undelivered: UndeliveredRange[];
  /** The fatal error, when `status` is `failed`, or why a stop could not finish. */
  error?: { code: ErrorCode; message: string };
  /**
   * Dead letters kept in memory because no `.deadLetter()` sink was configured. Configure one for
   * anything long-running: these are lost with the process.
   */
  deadLetters?: DeadLetter[];
}

/** A snapshot of a running pipeline, from `metrics()`. */
export interface PipelineMetrics {
  pipeline: string;
  status: PipelineStatus;
  /** True while reading is paused by the memory budget. */
  paused: boolean;
  guarantee: Guarantee;
  source: { kind: string; replayable: boolean };
  /** The checkpoint store, if any: its kind and whether it outlives the process. */
  checkpoint: { kind: string; durable: boolean } | undefined;
  /**
   * The sink's health as the pipeline sees it: its last back-pressure hint (`WriteResult.backpressure`,
   * 0 healthy … 1 saturated; `undefined` until a sink reports one), how long the last write took
   * (ms, including retries), and how many writes are waiting to retry.
   */
  sink: {
    kind: string;
    backpressure: number | undefined;
    lastWriteMs: number | undefined;
    /** Operations waiting to be retried right now. */
    retrying: number;
    /** Every operation being retried (failed at least once, not yet settled): attempts, last error. */
    retryingBatches: RetryingOperation[];
  };
  /** The trigger; with `triggers.adaptive`, also where its controller stands ({@link AdaptiveMetrics}). */
  trigger: {
    mode: string;
    description: string;
    maxRecords: number;
    maxBytes: number;
    lastFlushReason: FlushReason | undefined;
  } & Partial<AdaptiveMetrics>;
  buffer: { records: number; bytes: number; budgetBytes: number; heldBytes: number; lanes: number };
  lanes: { partition: string; records: number; bytes: number; ageMs: number }[];
  inFlight: { batches: number; records: number; bytes: number; concurrency: number };
  lastFlush:
    | { batchId: string; partition: string; reason: FlushReason; records: number; bytes: number; at: number }
    | undefined;
  counts: RecordCounts & {
    rejected: Partial<Record<RejectReason, number>>;
    /** Records that arrived late (below watermark − allowedLateness), whatever the policy did. */
    late: number;
    batches: number;
    retries: number;
    commits: number;
  };
  /** Record-weighted wait from arrival in a lane to commit, over recent batches, in ms. */
  latency: LatencyQuantiles;
  /** Event-time state, with `.eventTime()`. */
  eventTime: EventTimeMetrics | undefined;
  committed: Record<string, number>;
  /** What the transforms reported, e.g. a `redact` rule whose path no record had (each also logged once). */
  transforms: { warnings: TransformWarning[] };
}

/** Latency quantiles in ms. */
export interface LatencyQuantiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  samples: number;
}

/** The event-time part of {@link PipelineMetrics}. */
export interface EventTimeMetrics {
  /** The pipeline's watermark (ms since epoch); `undefined` before the first event time. */
  watermark: number | undefined;
  /** How far event time trails the clock: `now − watermark` in ms; `undefined` before the first. */
  lagMs: number | undefined;
  /** Each lane's watermark (its newest event time − maxOutOfOrderness) and whether it is idle. */
  lanes: { partition: string; watermark: number | undefined; idle: boolean }[];
  /** Event-time partitions holding records that are not declared complete yet. */
  openPartitions: string[];
  /** From a record's event time to its commit, in ms (sampled, record-weighted). */
  latency: LatencyQuantiles;
}

/** The adaptive trigger's state in {@link PipelineMetrics}`.trigger`. */
export interface AdaptiveMetrics {
  /** The current window, ms. */
  window: number;
  /** A lane flushes at this many records: window × input rate, within [minRecords, maxRecords]. */
  volumeThreshold: number;
  /** The current write concurrency. */
  concurrency: number;
  /** Round-trip time estimate (EWMA) of healthy writes, ms; `undefined` before the first write. */
  rttMs: number | undefined;
  /** Recent congestion, 0 (healthy) … 1 (every recent write congested). */
  backpressure: number;
  /** Measured input rate, records per second. */
  inputRate: number;
}
