import type { Duration } from '../core/units.js';
import type { Listener, PipelineEventName } from './events.js';
import type { DeliveryReport, PipelineMetrics, PipelineStatus } from './report.js';

/** Options of `stop()`. */
export interface StopOptions {
  /**
   * Flush every lane and wait for writes and commits (`true`), or abandon what is buffered
   * (`false`: it is reported as undelivered and, with a replayable source, read again next run).
   * @default true
   */
  drain?: boolean;
  /** Give up waiting after this long: writes still running are aborted and reported. @default '30s' */
  deadline?: Duration;
}

/** A built pipeline. */
export interface Pipeline<T = unknown> {
  readonly name: string;
  readonly status: PipelineStatus;
  /**
   * Starts and resolves with the delivery report once a finite source is exhausted and everything is
   * written and committed (or once `stop()` finishes). Rejects with the fatal `MicrobatchError` when
   * the pipeline fails; its `details.report` holds the report.
   */
  run(): Promise<DeliveryReport>;
  /** Opens the sink and the source and starts reading; resolves once running. */
  start(): Promise<void>;
  /** Stops reading; by default flushes and commits everything first. Resolves with the report. */
  stop(options?: StopOptions): Promise<DeliveryReport>;
  /** A snapshot of the pipeline's state and counters. */
  metrics(): PipelineMetrics;
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends PipelineEventName>(event: E, listener: Listener<E>): () => void;
  /** `await using p = …build()` stops (draining) when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
  /** Type marker for the records the sink receives. */
  readonly __records?: T;
}
