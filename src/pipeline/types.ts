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
  /**
   * Cuts every lane now (`reason: 'flush'`) and resolves once those batches are committed. Records
   * a source has ready (a `pushSource`'s accepted records) are read first, so
   * `await src.push(r); await p.flush()` commits `r`. Rejects with `MB_CLOSED` before `start()`,
   * or when the pipeline stops or fails before the commit (a failure is the `cause`).
   */
  flush(): Promise<void>;
  /**
   * Resolves the next time the pipeline has nothing to do: the source has nothing ready, no lane
   * holds records and every batch is committed (like p-queue's `onIdle()`). It cuts nothing: with a
   * long time window it waits for the window; call `flush()` to cut now. Resolves once the pipeline
   * has completed or stopped; rejects with `MB_CLOSED` (the failure as `cause`) if it failed.
   */
  onIdle(): Promise<void>;
  /** A snapshot of the pipeline's state and counters. */
  metrics(): PipelineMetrics;
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends PipelineEventName>(event: E, listener: Listener<E>): () => void;
  /** `await using p = …build()` stops (draining) when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
  /** Type marker for the records the sink receives. */
  readonly __records?: T;
}
