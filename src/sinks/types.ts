import type { Batch, RejectReason } from '../core/batch.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Bucket, BucketUnit } from '../event-time/buckets.js';

/** What a write gets besides the batch. */
export interface WriteOptions {
  /** Aborted when the pipeline gives up on the write (stop deadline, attempt timeout). */
  signal: AbortSignal;
  /** 1 for the first attempt, then 2, 3… */
  attempt: number;
}

/** What a sink may report back from a write; all optional. */
export interface WriteResult {
  /**
   * A back-pressure hint from the destination in [0, 1]: 0 healthy, 1 saturated (queue depth,
   * a warehouse's load). Reserved for adaptive flushing; the time and volume triggers ignore it.
   */
  backpressure?: number;
}

/**
 * A record a sink cannot write, found by {@link Sink.screen} before the batch is written: it becomes
 * a dead letter with this reason and details (e.g. `unencodable`, `{ column: 'at', … }`).
 */
export interface SinkRejection {
  /** The record's index in the batch given to `screen`. */
  index: number;
  reason: RejectReason;
  /** Why, for the dead-letter envelope. Never put the record's values here: letters keep `value` only. */
  details?: unknown;
}

/** What a sink gets when the pipeline opens it. */
export interface SinkContext {
  readonly pipeline: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * The pipeline's event-time settings, when it has `.eventTime(…)`: a sink that lays out files by
   * event time (the Parquet lake) partitions like the pipeline, so that `partitionComplete` matches
   * its directories.
   */
  readonly eventTime?: { readonly partitionBy: BucketUnit; readonly allowedLateness: number };
}

/** What {@link Sink.partitionComplete} gets: the `partition-complete` event. */
export interface PartitionComplete {
  /** The event-time partition (path such as `dt=2026-11-25/hr=14`, start and end in ms). */
  readonly bucket: Bucket;
  /** The watermark that closed it (`Infinity` at the end of a finite source). */
  readonly watermark: number;
  /** Records of this run that landed in it. */
  readonly records: number;
  /** It was complete before and a late record landed in it since. */
  readonly reopened: boolean;
}

/**
 * Where batches go. The contract is small:
 * - `write(batch)` must have **one effect per `batch.id`**: a batch may be written again after a
 *   retry or a crash, with the same id and the same records (`microbatch/testing`'s
 *   `sinkConformance` checks this for your own sinks);
 * - throw to fail; an error with `retryable: true` (or a network error) is retried with back-off,
 *   anything else stops the pipeline with `MB_SINK_FAILED`;
 * - `close()` releases resources once the pipeline is done with the sink.
 */
export interface Sink<T = unknown> {
  /** Short name for metrics and logs. */
  readonly kind?: string;
  /**
   * Loads what the sink needs before the pipeline opens anything: its optional peer dependencies
   * (the Parquet lake loads apache-arrow and parquet-wasm here). Optional. The pipeline calls every
   * part's `prepare()` together when it starts, before any `open()` and before any record is read;
   * a part whose peer is missing rejects with `MB_MISSING_PEER` (`details.peers`), and `start()`
   * then rejects with one `MB_MISSING_PEER` naming every missing package and the install command.
   */
  prepare?(): void | Promise<void>;
  open?(context: SinkContext): void | Promise<void>;
  write(batch: Batch<T>, options: WriteOptions): void | WriteResult | Promise<void | WriteResult>;
  /**
   * Optional: the records of a batch this sink can never write (a value its format cannot hold),
   * found before anything is written, so that one bad value costs one dead letter rather than a
   * fatal write error for the whole pipeline. Called after the transforms, before the dead letters
   * are written; each rejection becomes a dead letter (written before the batch, like every dead
   * letter, and counted as dead-lettered), and `write` gets the batch without them. Must be
   * deterministic and free of side effects: a replay after a crash screens the same records again.
   * A screen that throws fails the pipeline (`MB_TRANSFORM_FAILED`).
   */
  screen?(
    batch: Batch<T>,
  ): readonly SinkRejection[] | undefined | Promise<readonly SinkRejection[] | undefined>;
  /**
   * The sink's ledger: the highest offset of `partition` it holds durably for this pipeline, or
   * `undefined` when it holds none. Optional; a sink that keeps one (a SQL sink's ledger table, file
   * names derived from batch ids) lets the runtime skip records that were written before a crash
   * whose commit was lost, and detect a source that went back behind what the sink holds
   * (`MB_LEDGER_AHEAD`). Called once per partition per run, after `open()`.
   */
  committed?(partition: string): number | undefined | Promise<number | undefined>;
  /**
   * `true` when `committed()` is updated **atomically with the writes**: the ledger row of a batch is
   * committed in the same transaction as its records (a SQL sink's ledger table), so the ledger never
   * claims a batch whose records are missing and never misses one whose records are there. With a
   * replayable source the pipeline is then exactly-once without a durable checkpoint store — the
   * runtime skips records at or below the ledger and writes each partition's batches one at a time —
   * and `guarantee` says `'exactly-once'`. Leave it unset unless both hold. @default false
   */
  readonly atomicLedger?: boolean;
  /**
   * The watermark closed an event-time partition and every record in it is committed (the
   * `partition-complete` event). Optional; a lake sink writes its `_SUCCESS` marker here. Calls are
   * made one at a time, in the order partitions complete, and awaited before `close()`; a failure is
   * logged as a warning (the data is already committed), not retried.
   */
  partitionComplete?(event: PartitionComplete): void | Promise<void>;
  close?(): void | Promise<void>;
}
