import type { CheckpointStore } from '../checkpoint/types.js';
import type { Clock } from '../core/clock.js';
import { invalidOptions } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type Duration, parseCount, parseDuration, parseSize, type Size, show } from '../core/units.js';

/** Retry policy for sink writes, dead-letter writes and source commits. */
export interface RetryOptions {
  /**
   * Attempts per batch, the first included, for retryable errors. Fatal errors are never retried.
   * The default retries until the write succeeds or the pipeline is stopped: a transient outage
   * delays delivery, it does not lose or fail it. @default Infinity
   */
  maxAttempts?: number;
  /** Base delay before the first retry; it doubles per attempt (full jitter). @default '100ms' */
  initialDelay?: Duration;
  /** Longest delay between attempts. @default '30s' */
  maxDelay?: Duration;
  /** Abort a write attempt after this long and retry it (`MB_TIMEOUT`, retryable). @default none */
  attemptTimeout?: Duration;
  /**
   * Where the jitter comes from: a function returning a number in [0, 1). Inject a seeded one to
   * make retries deterministic in tests and simulations. @default Math.random
   */
  random?: () => number;
}

/** Options of `pipeline()`. */
export interface PipelineOptions {
  /** Names the pipeline in batch ids, errors, logs and metrics. Keep it stable across restarts. */
  name: string;
  /** Time source. @default the system clock */
  clock?: Clock;
  /**
   * A pino-compatible logger. `silentLogger` (exported) logs nothing.
   * @default warnings and errors on stderr, one line each (`stderrLogger`)
   */
  logger?: Logger;
  /**
   * Memory budget for records held by the pipeline: buffered in lanes and in batches not yet
   * written. Reaching it flushes the largest lane; when writes cannot keep up, reading pauses
   * until writes free memory. @default '64MB'
   */
  maxBufferBytes?: Size;
  /**
   * A record larger than this is dead-lettered as `too_large`.
   *
   * Checked for every record whose size is known for free (a JSON line, a Kafka message) and, when
   * a byte trigger sizes records anyway, for every record. Setting it explicitly turns on sizing of
   * in-memory records too (an estimate of their JSON size, about 30 ns for a small object); without
   * it, in-memory records are not sized one by one and the memory budget uses a sampled average.
   * `Infinity` turns the check off.
   * @default '1MiB' (Kafka's default message size limit), or `maxBufferBytes` if that is smaller
   */
  maxRecordBytes?: Size;
  /** Most batch writes in flight at once, across partitions. @default 4 */
  concurrency?: number;
  retry?: RetryOptions;
  /**
   * Where batch plans and committed offsets are kept (`memoryCheckpoint()`, `fileCheckpoint({ dir })`):
   * each batch's range is stored before its first write, so a restart replays an unfinished batch
   * with the same range and id, and an idempotent sink ends with every record exactly once. Needs a
   * replayable source. See docs/exactly-once.md. @default none (at-least-once)
   */
  checkpoint?: CheckpointStore;
  /** Aborting it stops the pipeline as `stop()` would (draining). */
  signal?: AbortSignal;
}

/** Options after parsing: numbers in ms and bytes. */
export interface ResolvedOptions {
  name: string;
  maxBufferBytes: number;
  maxRecordBytes: number;
  /** The user set a finite `maxRecordBytes`: size every in-memory record to enforce it. */
  sizeRecords: boolean;
  /** The user set `concurrency` (an adaptive trigger sets its own and says so). */
  concurrencySet: boolean;
  concurrency: number;
  retry: {
    maxAttempts: number;
    initialDelay: number;
    maxDelay: number;
    attemptTimeout: number;
    random: (() => number) | undefined;
  };
}

const PIPELINE_KEYS = new Set([
  'name',
  'clock',
  'logger',
  'maxBufferBytes',
  'maxRecordBytes',
  'concurrency',
  'retry',
  'checkpoint',
  'signal',
]);
const RETRY_KEYS = new Set(['maxAttempts', 'initialDelay', 'maxDelay', 'attemptTimeout', 'random']);

/** Checks the name first, so that every later message can name the pipeline. */
export function checkName(options: unknown): string {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`pipeline(options): options must be an object with a name; got ${show(options)}`);
  }
  const name = (options as { name?: unknown }).name;
  if (typeof name !== 'string' || name.trim().length === 0) {
    throw invalidOptions(`pipeline(options): name must be a non-empty string; got ${show(name)}`, {
      option: 'name',
    });
  }
  return name;
}

/** Parses and checks every pipeline option; messages name the pipeline, the option and the value. */
export function resolveOptions(options: PipelineOptions): ResolvedOptions {
  const name = checkName(options);
  const at = `pipeline '${name}'`;
  for (const key of Object.keys(options)) {
    if (!PIPELINE_KEYS.has(key)) throw invalidOptions(`${at}: unknown option '${key}'`, { option: key });
  }
  const retry = options.retry ?? {};
  if (typeof retry !== 'object' || retry === null) throw invalidOptions(`${at}: retry must be an object`);
  for (const key of Object.keys(retry)) {
    if (!RETRY_KEYS.has(key))
      throw invalidOptions(`${at}: unknown option 'retry.${key}'`, { option: `retry.${key}` });
  }
  const clock = options.clock;
  if (
    clock !== undefined &&
    (typeof clock.now !== 'function' ||
      typeof clock.setTimeout !== 'function' ||
      typeof clock.clearTimeout !== 'function')
  ) {
    throw invalidOptions(`${at}: clock must have now(), setTimeout() and clearTimeout()`, {
      option: 'clock',
    });
  }
  const logger = options.logger;
  if (
    logger !== undefined &&
    ['debug', 'info', 'warn', 'error'].some((m) => typeof (logger as any)[m] !== 'function')
  ) {
    throw invalidOptions(`${at}: logger must have debug(), info(), warn() and error() (a pino logger fits)`, {
      option: 'logger',
    });
  }
  const maxBufferBytes = parseSize(options.maxBufferBytes ?? 64e6, `${at}: maxBufferBytes`);
  const maxRecordBytes =
    options.maxRecordBytes === Number.POSITIVE_INFINITY
      ? Number.POSITIVE_INFINITY
      : options.maxRecordBytes === undefined
        ? Math.min(1024 * 1024, maxBufferBytes) // the default never exceeds a small budget
        : parseSize(options.maxRecordBytes, `${at}: maxRecordBytes`);
  if (maxRecordBytes > maxBufferBytes && Number.isFinite(maxRecordBytes)) {
    throw invalidOptions(
      `${at}: maxRecordBytes (${maxRecordBytes}) must be ≤ maxBufferBytes (${maxBufferBytes}): a record must fit the budget`,
      { option: 'maxRecordBytes' },
    );
  }
  const concurrency = parseCount(options.concurrency ?? 4, `${at}: concurrency`);
  const maxAttempts = parseCount(retry.maxAttempts ?? Number.POSITIVE_INFINITY, `${at}: retry.maxAttempts`, {
    allowInfinity: true,
  });
  const initialDelay = parseDuration(retry.initialDelay ?? 100, `${at}: retry.initialDelay`);
  const maxDelay = parseDuration(retry.maxDelay ?? 30_000, `${at}: retry.maxDelay`);
  if (maxDelay < initialDelay) {
    throw invalidOptions(
      `${at}: retry.maxDelay (${maxDelay}ms) must be ≥ retry.initialDelay (${initialDelay}ms)`,
      {
        option: 'retry.maxDelay',
      },
    );
  }
  const attemptTimeout =
    retry.attemptTimeout === undefined
      ? Number.POSITIVE_INFINITY
      : parseDuration(retry.attemptTimeout, `${at}: retry.attemptTimeout`);
  const checkpoint = options.checkpoint;
  if (
    checkpoint !== undefined &&
    (typeof checkpoint !== 'object' ||
      checkpoint === null ||
      typeof checkpoint.load !== 'function' ||
      typeof checkpoint.save !== 'function')
  ) {
    throw invalidOptions(
      `${at}: checkpoint must be a CheckpointStore (an object with load() and save(), e.g. fileCheckpoint({ dir })); got ${show(checkpoint)}`,
      { option: 'checkpoint' },
    );
  }
  if (retry.random !== undefined && typeof retry.random !== 'function') {
    throw invalidOptions(`${at}: retry.random must be a function returning a number in [0, 1)`, {
      option: 'retry.random',
    });
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidOptions(`${at}: signal must be an AbortSignal`, { option: 'signal' });
  }
  return {
    name,
    maxBufferBytes,
    maxRecordBytes,
    sizeRecords: options.maxRecordBytes !== undefined && Number.isFinite(maxRecordBytes),
    concurrencySet: options.concurrency !== undefined,
    concurrency,
    retry: { maxAttempts, initialDelay, maxDelay, attemptTimeout, random: retry.random },
  };
}
