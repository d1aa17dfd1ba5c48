/**
 * microbatch: hold records in memory and flush them as small atomic batches, on a time window, a
 * volume threshold, or both; commit the source only after the write.
 * @packageDocumentation
 */

export * from './checkpoint/index.js';
export type { Batch, Cursor, DeadLetter, FlushReason, RejectReason } from './core/batch.js';
export { batchId, recordOffset, recordOffsets } from './core/batch.js';
export { type Clock, systemClock } from './core/clock.js';
export {
  ERROR_CODES,
  type ErrorCode,
  isRetryable,
  MicrobatchError,
  type MicrobatchErrorOptions,
} from './core/errors.js';
export { type Logger, type LogMethod, silentLogger, stderrLogger } from './core/logger.js';
export { estimateBytes } from './core/size.js';
export { type Duration, parseDuration, parseSize, type Size } from './core/units.js';
export * from './event-time/index.js';
export * from './lake/index.js';
export * from './parquet/index.js';
export * from './pipeline/index.js';
export * from './sinks/index.js';
export * from './sources/index.js';
export * from './transforms/index.js';
export * from './triggers/index.js';
