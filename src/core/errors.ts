/**
 * Every error microbatch raises is a {@link MicrobatchError} with one of these stable codes.
 * Codes never change meaning once released; match on them, not on messages.
 */
export const ERROR_CODES = [
  /** An option or argument is invalid; raised by `build()` and factories, before anything runs. */
  'MB_INVALID_OPTIONS',
  /** A sink write failed with a fatal error, or kept failing past the retry budget. */
  'MB_SINK_FAILED',
  /** The dead-letter sink failed: rejected records could not be stored, so the source is not committed. */
  'MB_DEAD_LETTER_FAILED',
  /** The source failed (an iterator threw, a file could not be read). */
  'MB_SOURCE_FAILED',
  /** The source could not commit a cursor. */
  'MB_COMMIT_FAILED',
  /** A transform threw instead of rejecting records. */
  'MB_TRANSFORM_FAILED',
  /** The pipeline or source is stopped, or `stop()`'s deadline passed before the work finished. */
  'MB_CLOSED',
  /** The operation was aborted through an `AbortSignal`. */
  'MB_ABORTED',
  /** A write attempt took longer than `retry.attemptTimeout`. */
  'MB_TIMEOUT',
  /** An optional peer dependency of an adapter is not installed. */
  'MB_MISSING_PEER',
  /**
   * The sink's ledger or the checkpoint is ahead of the source in a way that cannot happen normally
   * (a recreated topic, a reset offset, another pipeline writing under the same name).
   */
  'MB_LEDGER_AHEAD',
  /** The checkpoint store could not load or save a partition's state. */
  'MB_CHECKPOINT_FAILED',
  /** A value does not fit its column when a batch is encoded (Parquet); the message names the field and the value. */
  'MB_ENCODE_FAILED',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

// A process-wide brand: the ESM and the CJS build each have their own class object, so
// `instanceof` can fail across them; the registered symbol does not.
const BRAND = Symbol.for('microbatch.error');

/** Options for {@link MicrobatchError}. */
export interface MicrobatchErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /** Whether retrying the same operation may succeed. @default false */
  retryable?: boolean;
  /** For retryable errors: the delay the remote side asked for, in ms. */
  retryAfter?: number;
  /** Structured context (pipeline, option, partition…), safe to log: never holds credentials. */
  details?: Record<string, unknown>;
}

/** The one error class of microbatch. Identify it with {@link MicrobatchError.is}. */
export class MicrobatchError extends Error {
  override readonly name = 'MicrobatchError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfter: number | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: MicrobatchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfter = options.retryAfter;
    this.details = options.details ?? {};
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `error` itself when it already is a MicrobatchError (its code says more than ours would);
   * otherwise a new one with `code` and the message `` `${what}: ${describeError(error)}` ``, keeping
   * `error` as its cause.
   */
  static wrap(
    error: unknown,
    code: ErrorCode,
    what: string,
    options: Omit<MicrobatchErrorOptions, 'cause'> = {},
  ): MicrobatchError {
    if (MicrobatchError.is(error)) return error;
    return new MicrobatchError(code, `${what}: ${describeError(error)}`, { ...options, cause: error });
  }

  /** True when `error` is a MicrobatchError (from either build), optionally with the given code. */
  static is(error: unknown, code?: ErrorCode): error is MicrobatchError {
    return (
      typeof error === 'object' &&
      error !== null &&
      (error as Record<symbol, unknown>)[BRAND] === true &&
      (code === undefined || (error as MicrobatchError).code === code)
    );
  }
}

/** Shorthand for the most common error: a bad option, named with its pipeline. */
export function invalidOptions(message: string, details?: Record<string, unknown>): MicrobatchError {
  return new MicrobatchError('MB_INVALID_OPTIONS', message, { details });
}

// Node's network errors that mean "try again": the request may not have reached the server.
const RETRYABLE_SYSTEM_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);
// HTTP statuses that ask the client to back off and retry (rate limits, overload, gateways).
const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * Classifies an error thrown by a sink or a source:
 * an explicit boolean `retryable` wins; then known network error codes and HTTP statuses;
 * anything else (a TypeError, a constraint violation) is fatal, so bugs are not retried forever.
 */
export function isRetryable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { retryable?: unknown; code?: unknown; statusCode?: unknown; status?: unknown };
  if (typeof e.retryable === 'boolean') return e.retryable;
  if (typeof e.code === 'string' && RETRYABLE_SYSTEM_CODES.has(e.code)) return true;
  const status = typeof e.statusCode === 'number' ? e.statusCode : e.status;
  if (typeof status === 'number' && RETRYABLE_STATUSES.has(status)) return true;
  // Wrapped network failures: Node's fetch rejects with `TypeError: fetch failed` and puts the
  // socket error (ECONNRESET…) in `cause`.
  const cause = (error as { cause?: unknown }).cause;
  return depth < 3 && cause !== undefined && cause !== error && isRetryable(cause, depth + 1);
}

/** The back-off delay an error asks for (`retryAfter` in ms), if any. */
export function retryAfterOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value = (error as { retryAfter?: unknown }).retryAfter;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** A short, single-line description of any thrown value, for messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
