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
 *   retry or a crash, with the same id and the same records;
 * - throw to fail; an error with `retryable: true` (or a network error) is retried with back-off,
 *   anything else stops the pipeline with `MB_SINK_FAILED`;
 * - `close()` releases resources once the pipeline is done with the sink.
 */
export interface Sink<T = unknown> {
  /** Short name for metrics and logs. */
  readonly kind?: string;
  open?(context: SinkContext): void | Promise<void>;
  write(batch: Batch<T>, options: WriteOptions): void | WriteResult | Promise<void | WriteResult>;
  close?(): void | Promise<void>;
}
