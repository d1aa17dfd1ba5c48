import type { Batch } from '../core/batch.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

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

/** What a sink gets when the pipeline opens it. */
export interface SinkContext {
  readonly pipeline: string;
  readonly clock: Clock;
  readonly logger: Logger;
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
  open?(context: SinkContext): void | Promise<void>;
  write(batch: Batch<T>, options: WriteOptions): void | WriteResult | Promise<void | WriteResult>;
  /**
   * The sink's ledger: the highest offset of `partition` it holds durably for this pipeline, or
   * `undefined` when it holds none. Optional; a sink that keeps one (a SQL sink's ledger table, file
   * names derived from batch ids) lets the runtime skip records that were written before a crash
   * whose commit was lost, and detect a source that went back behind what the sink holds
   * (`MB_LEDGER_AHEAD`). Called once per partition per run, after `open()`.
   */
  committed?(partition: string): number | undefined | Promise<number | undefined>;
  close?(): void | Promise<void>;
}
