import type { Batch } from '../core/batch.js';
import { type Clock, sleep } from '../core/clock.js';
import { MicrobatchError } from '../core/errors.js';
import { type MemorySink, memorySink } from '../sinks/memory.js';
import type { Sink, WriteOptions, WriteResult } from '../sinks/types.js';

/** What one write call does. Fields combine: wait `delay` ms, then fail or succeed. */
export interface FlakyStep {
  /** Wait this long (on the clock) before answering. */
  delay?: number;
  /**
   * `retryable`: throw a retryable `MicrobatchError` (like a 429/503, a lock timeout);
   * `fatal`: throw a non-retryable one; `hang`: never answer until the write is aborted.
   */
  fail?: 'retryable' | 'fatal' | 'hang';
  /** With `fail: 'retryable'`: the back-off the "server" asks for, in ms. */
  retryAfter?: number;
  /** A back-pressure hint returned with a successful write. */
  backpressure?: number;
}

/** Information about one write call, for schedule functions. */
export interface FlakyCall<T> {
  /** 1-based count of write calls so far, across batches. */
  call: number;
  attempt: number;
  batch: Batch<T>;
  now: number;
}

/** A flaky sink and what happened to it. */
export interface FlakySink<T> extends Sink<T> {
  /** The sink that receives successful writes. */
  readonly inner: Sink<T>;
  /** Successful writes land here when no `inner` sink was given. */
  readonly memory: MemorySink<T> | undefined;
  readonly calls: number;
  readonly failures: number;
  /** Writes in progress right now, and the most seen at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
}

/**
 * A sink that misbehaves on a schedule, for testing retries, back-pressure and failure reports:
 * `flakySink({ clock, schedule: [{ fail: 'retryable' }, { delay: 500 }] })` fails the first call,
 * delays the second by 500 ms, and lets later calls through. A function schedule decides per call.
 * Successful writes go to `inner` (default: a memory sink, exposed as `memory`).
 */
export function flakySink<T = unknown>(options: {
  clock: Clock;
  schedule: readonly FlakyStep[] | ((call: FlakyCall<T>) => FlakyStep | undefined);
  inner?: Sink<T>;
}): FlakySink<T> {
  const memory = options.inner === undefined ? memorySink<T>() : undefined;
  const inner = options.inner ?? memory!;
  const { clock, schedule } = options;
  let calls = 0;
  let failures = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  return {
    kind: 'flaky',
    inner,
    memory,
    get calls() {
      return calls;
    },
    get failures() {
      return failures;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    open: (context) => inner.open?.(context),
    close: () => inner.close?.(),
    async write(batch: Batch<T>, writeOptions: WriteOptions): Promise<void | WriteResult> {
      const call = ++calls;
      const step =
        (typeof schedule === 'function'
          ? schedule({ call, attempt: writeOptions.attempt, batch, now: clock.now() })
          : schedule[call - 1]) ?? {};
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (step.delay !== undefined && step.delay > 0) await sleep(clock, step.delay, writeOptions.signal);
        if (step.fail === 'hang') {
          await new Promise((_, reject) => {
            const signal = writeOptions.signal;
            if (signal.aborted) reject(signal.reason);
            signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          });
        }
        if (step.fail === 'retryable' || step.fail === 'fatal') {
          failures++;
          throw new MicrobatchError(
            'MB_SINK_FAILED',
            `flakySink: scripted ${step.fail} failure on call ${call} (batch ${batch.id}, attempt ${writeOptions.attempt})`,
            { retryable: step.fail === 'retryable', retryAfter: step.retryAfter },
          );
        }
        const result = await inner.write(batch, writeOptions);
        return step.backpressure === undefined
          ? result
          : { ...(result ?? {}), backpressure: step.backpressure };
      } finally {
        inFlight--;
      }
    },
  };
}
