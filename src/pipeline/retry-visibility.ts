import { describeError } from '../core/errors.js';

/** A retried operation as `metrics().sink.retryingBatches` shows it. */
export interface RetryingOperation {
  /** What is retried: `sink write of batch <id>`, `checkpoint save of partition '<p>'`… */
  readonly what: string;
  /** The batch whose operation it is. */
  readonly batch: string;
  /** Attempts that failed so far. */
  readonly attempts: number;
  /** The last attempt's error, as text. */
  readonly lastError: string;
  /** When the first attempt failed (ms since epoch, pipeline clock). */
  readonly since: number;
}

/** At most one warning per operation in this long, after the first one. */
export const RETRY_WARNING_EVERY = 30_000;

interface Entry {
  what: string;
  batch: string;
  attempts: number;
  lastError: string;
  since: number;
  warnedAt: number | undefined;
}

/**
 * Keeps operations that are being retried, so that a sink that keeps failing is visible: the
 * pipeline warns on an operation's first retry and then at most every 30 s while it keeps failing
 * (unlimited retries are the default, and a quiet retry loop looked like a hang), and `metrics()`
 * lists each one with its attempts and last error.
 */
export class RetryVisibility {
  readonly #operations = new Map<string, Entry>();

  /** An attempt of `what` failed and will be retried; whether to log a warning now. */
  failed(what: string, batch: string, attempt: number, error: unknown, now: number): boolean {
    let entry = this.#operations.get(what);
    if (entry === undefined) {
      entry = { what, batch, attempts: 0, lastError: '', since: now, warnedAt: undefined };
      this.#operations.set(what, entry);
    }
    entry.attempts = attempt;
    entry.lastError = describeError(error);
    if (entry.warnedAt !== undefined && now - entry.warnedAt < RETRY_WARNING_EVERY) return false;
    entry.warnedAt = now;
    return true;
  }

  /** `what` succeeded or gave up: it is no longer retried. */
  settled(what: string): void {
    this.#operations.delete(what);
  }

  /** The operations being retried, oldest first. */
  snapshot(): RetryingOperation[] {
    return [...this.#operations.values()].map(({ what, batch, attempts, lastError, since }) => ({
      what,
      batch,
      attempts,
      lastError,
      since,
    }));
  }
}
