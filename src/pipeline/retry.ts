import { type Clock, sleep } from '../core/clock.js';
import { describeError, type ErrorCode, isRetryable, MicrobatchError, retryAfterOf } from '../core/errors.js';

/** Retry settings in ms (see `RetryOptions`). */
export interface RetryPolicy {
  maxAttempts: number;
  initialDelay: number;
  maxDelay: number;
  attemptTimeout: number;
}

/** What one retried operation needs besides the operation. */
export interface RetryContext {
  clock: Clock;
  policy: RetryPolicy;
  /** Aborts the whole operation: the current attempt and any wait. */
  signal: AbortSignal;
  /** Code of the error raised when the operation fails for good. */
  failure: ErrorCode;
  /** Names the operation in error messages. */
  what: string;
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /** Called when the wait that followed `onRetry` is over (or was aborted). */
  onWaited?: () => void;
  /** Called once the operation succeeded or failed for good. */
  onSettled?: () => void;
  random?: () => number;
}

/**
 * Exponential back-off with full jitter (delay uniform in [0, min(max, initial · 2^(n-1))]), the
 * scheme that spreads retries of many writers best. A `retryAfter` on the error is a floor.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  error: unknown,
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxDelay, policy.initialDelay * 2 ** Math.min(attempt - 1, 30));
  const jittered = Math.floor(random() * ceiling);
  const floor = retryAfterOf(error) ?? 0;
  return Math.min(Math.max(jittered, floor), Math.max(policy.maxDelay, floor));
}

/**
 * Runs `operation` until it succeeds, retrying retryable errors (see `isRetryable`) with back-off.
 * Each attempt gets its own signal, aborted on `attemptTimeout` (then retried as `MB_TIMEOUT`) or when
 * the whole operation is aborted. An attempt that ignores its signal is abandoned, not awaited.
 * Resolves with the result and the number of attempts.
 */
export async function withRetry<R>(
  context: RetryContext,
  operation: (options: { signal: AbortSignal; attempt: number }) => R | Promise<R>,
): Promise<{ result: R; attempts: number }> {
  if (context.onSettled === undefined) return retrying(context, operation);
  try {
    return await retrying(context, operation);
  } finally {
    context.onSettled();
  }
}

async function retrying<R>(
  context: RetryContext,
  operation: (options: { signal: AbortSignal; attempt: number }) => R | Promise<R>,
): Promise<{ result: R; attempts: number }> {
  const { clock, policy, signal } = context;
  const random = context.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) throw aborted(context, signal.reason);
    // Without a timeout, the attempt's signal is the operation's: no controller per attempt.
    const timed = Number.isFinite(policy.attemptTimeout);
    const attemptController = timed ? new AbortController() : undefined;
    const attemptSignal = attemptController?.signal ?? signal;
    const forward = () => attemptController?.abort(signal.reason);
    if (timed) signal.addEventListener('abort', forward, { once: true });
    let timer: unknown;
    if (attemptController !== undefined) {
      timer = clock.setTimeout(() => {
        attemptController.abort(
          new MicrobatchError(
            'MB_TIMEOUT',
            `${context.what}: attempt ${attempt} timed out after ${policy.attemptTimeout}ms`,
            {
              retryable: true,
            },
          ),
        );
      }, policy.attemptTimeout);
    }
    try {
      const result = await raceAbort(operation({ signal: attemptSignal, attempt }), attemptSignal);
      return { result, attempts: attempt };
    } catch (thrown) {
      if (signal.aborted) throw aborted(context, signal.reason);
      const error = attemptSignal.aborted ? attemptSignal.reason : thrown;
      if (!isRetryable(error)) {
        throw new MicrobatchError(context.failure, `${context.what} failed: ${describeError(error)}`, {
          cause: error,
        });
      }
      if (attempt >= policy.maxAttempts) {
        throw new MicrobatchError(
          context.failure,
          `${context.what} failed after ${attempt} attempts: ${describeError(error)}`,
          { cause: error },
        );
      }
      const delay = backoffDelay(attempt, policy, error, random);
      context.onRetry?.(attempt, delay, error);
      try {
        await sleep(clock, delay, signal);
      } catch {
        throw aborted(context, signal.reason);
      } finally {
        context.onWaited?.();
      }
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
      if (timed) signal.removeEventListener('abort', forward);
    }
  }
}

function aborted(context: RetryContext, reason: unknown): MicrobatchError {
  if (MicrobatchError.is(reason)) return reason;
  return new MicrobatchError('MB_ABORTED', `${context.what}: aborted`, { cause: reason });
}

/** Settles with `value`, or rejects as soon as `signal` aborts. */
function raceAbort<R>(value: R | Promise<R>, signal: AbortSignal): Promise<R> {
  if (typeof (value as PromiseLike<R> | undefined)?.then !== 'function') return Promise.resolve(value as R);
  return new Promise<R>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    (value as Promise<R>).then(
      (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
