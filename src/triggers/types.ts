import type { FlushReason } from '../core/batch.js';

/** What a trigger may look at: the state of one lane. Read-only, maintained by the runtime. */
export interface LaneState {
  readonly partition: string;
  /** Records buffered in the lane for the sink (source rejects waiting for the dead-letter sink are not counted). */
  readonly records: number;
  /** Bytes buffered in the lane (0 when no byte limit asked for sizes and none were known). */
  readonly bytes: number;
  /** When the lane received its first buffered record; `undefined` when empty. */
  readonly openedAt: number | undefined;
}

/** Hard limits on a batch; the runtime cuts before a record would pass them. */
export interface BatchCaps {
  readonly records: number;
  readonly bytes: number;
}

/** Whether `value` has everything a {@link Trigger} needs (for checking user input). */
export function isTrigger(value: unknown): value is Trigger {
  const t = value as Trigger | null | undefined;
  return (
    typeof t?.check === 'function' &&
    typeof t.deadline === 'function' &&
    typeof t.headroom === 'function' &&
    typeof t.caps?.records === 'number' &&
    typeof t.caps.bytes === 'number' &&
    typeof t.usesBytes === 'boolean'
  );
}

/**
 * A flush policy: pure functions of lane state and time. A trigger owns no timers; the runtime
 * asks {@link Trigger.deadline} and keeps the one timer for every lane.
 */
export interface Trigger {
  /** Human-readable, for metrics and logs: `time(1s) OR volume(5000 records)`. */
  readonly description: string;
  /** `'time'`, `'volume'`, `'any'`, `'all'`, `'adaptive'`… */
  readonly mode: string;
  /** Whether {@link Trigger.check} reads `bytes`; when false the runtime never sizes records for it. */
  readonly usesBytes: boolean;
  /** A batch never holds more than this; `Infinity` when unbounded. */
  readonly caps: BatchCaps;
  /** The reason to flush `lane` now, or `undefined` to keep filling it. Never called on an empty lane. */
  check(lane: LaneState, now: number): FlushReason | undefined;
  /** The earliest time at which `check` may fire because of time alone; `Infinity` if never. */
  deadline(lane: LaneState): number;
  /**
   * How many more records the lane can take before `check` may fire because of volume
   * (so the runtime can append in bulk); `Infinity` when volume does not matter, ≥ 1 otherwise.
   */
  headroom(lane: LaneState): number;
}
