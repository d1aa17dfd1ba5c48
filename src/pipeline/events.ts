import { channel } from 'node:diagnostics_channel';
import type { FlushReason, RejectReason } from '../core/batch.js';
import type { MicrobatchError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Bucket } from '../event-time/buckets.js';
import type { WindowChange } from '../triggers/adaptive.js';
import type { PipelineStatus } from './report.js';

/** A batch as events describe it: its range and size, without the records. */
export interface BatchSummary {
  id: string;
  partition: string;
  firstOffset: number;
  lastOffset: number;
  records: number;
  bytes: number;
  reason: FlushReason;
  openedAt: number;
  closedAt: number;
}

/** The typed events of a pipeline, by name. */
export interface PipelineEvents {
  /** A lane was cut into a batch; `rejected` counts records already known to go to the dead-letter sink. */
  flush: { batch: BatchSummary; rejected: number };
  /** A batch reached the sink (after transforms; `records` is what was written). */
  write: { batch: BatchSummary; written: number; attempts: number; durationMs: number };
  /** A write attempt failed and will be retried after `delayMs`. */
  retry: { batch: BatchSummary; attempt: number; delayMs: number; error: unknown };
  /** Records of a batch went to the dead-letter sink. */
  'dead-letter': { batch: BatchSummary; count: number; reasons: Partial<Record<RejectReason, number>> };
  /** The source was committed up to and including `offset`. */
  commit: { partition: string; offset: number; batchId: string };
  /** Reading stopped: the memory budget is full and writes must drain it first. */
  pause: { heldBytes: number; budgetBytes: number; inFlight: number };
  /** Reading resumed. */
  resume: { heldBytes: number; budgetBytes: number; pausedMs: number };
  /**
   * The source gave up partitions (`SourceContext.revoke`, a Kafka rebalance): `committed` ones had
   * everything committed first; `handedOver` ones had records left uncommitted, which the next owner
   * reads again.
   */
  revoke: { committed: string[]; handedOver: { partition: string; records: number }[] };
  /** The pipeline changed status. */
  status: { from: PipelineStatus; to: PipelineStatus };
  /**
   * The watermark passed an event-time partition's end plus `allowedLateness`, and every record in
   * it is committed: downstream jobs may treat it as final. `reopened`: it was declared complete
   * before and a late record (`late: 'include'`) landed in it since.
   */
  'partition-complete': { bucket: Bucket; watermark: number; records: number; reopened: boolean };
  /**
   * The adaptive trigger moved its window or its write concurrency: from, to, the reason (`retry`,
   * `timeout`, `backpressure-hint`, `slow-write`, `memory`, `healthy`) and the signals it saw.
   */
  'window-change': WindowChange;
  /** A fatal error; the pipeline stops. */
  error: { error: MicrobatchError };
}

/** Name of a pipeline event. */
export type PipelineEventName = keyof PipelineEvents;

/** A listener; `on()` returns the function that removes it. */
export type Listener<E extends PipelineEventName> = (event: PipelineEvents[E]) => void;

/**
 * Delivers events to listeners and to `node:diagnostics_channel` channels named
 * `microbatch:<event>` (e.g. `microbatch:flush`), so tracing tools need no dependency on us.
 * Each message on a channel is the event plus `pipeline`.
 */
export class EventHub {
  readonly #listeners = new Map<PipelineEventName, Set<Listener<any>>>();
  readonly #pipeline: string;
  readonly #logger: Logger;

  constructor(pipeline: string, logger: Logger) {
    this.#pipeline = pipeline;
    this.#logger = logger;
  }

  on<E extends PipelineEventName>(event: E, listener: Listener<E>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<E extends PipelineEventName>(event: E, payload: PipelineEvents[E]): void {
    const set = this.#listeners.get(event);
    if (set !== undefined) {
      for (const listener of set) {
        try {
          listener(payload);
        } catch (error) {
          // A listener's bug must not break delivery; it is logged, not rethrown.
          this.#logger.error({ pipeline: this.#pipeline, event, err: error }, 'event listener threw');
        }
      }
    }
    const diagnostics = channel(`microbatch:${event}`);
    if (diagnostics.hasSubscribers) diagnostics.publish({ pipeline: this.#pipeline, ...payload });
  }
}
