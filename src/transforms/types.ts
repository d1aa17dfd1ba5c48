import type { DeadLetter, RejectReason } from '../core/batch.js';

/** What a transform sees: the records of one batch, with their positions. */
export interface TransformInput<T> {
  readonly records: readonly T[];
  /** `offsets[i]` is the source offset of `records[i]`. */
  readonly offsets: readonly number[];
  readonly partition: string;
  readonly batchId: string;
  /** When the batch is transformed (ms since epoch, pipeline clock): for time-based state such as a dedupe TTL. */
  readonly at: number;
}

/** A record a transform refuses, by its index in the input. */
export interface Rejection {
  index: number;
  reason: RejectReason;
  /** Why, for the dead-letter envelope: zod issues, a message… */
  details?: unknown;
}

/** What a transform returns. */
export interface TransformOutput<T> {
  /** The records kept (possibly changed), in input order. */
  records: T[];
  /**
   * For each kept record, the index of the input record it came from. Required when records were
   * removed; may be omitted when `records` maps one to one onto the input.
   */
  from?: number[];
  /** Records refused: they go to the dead-letter sink with the reason. */
  rejected?: Rejection[];
  /** How many input records were removed as duplicates (counted, not dead-lettered). */
  duplicates?: number;
  /** How many input records were removed on purpose (a filter), counted as `filtered`. */
  filtered?: number;
}

/**
 * A step between the batcher and the sink: pure per batch, async allowed. It maps a batch's records
 * to the ones kept and the ones rejected. Every input record must end up kept, rejected, a
 * duplicate or filtered: the runtime checks the counts so that nothing disappears silently.
 */
export interface Transform<I, O> {
  readonly name: string;
  apply(input: TransformInput<I>): TransformOutput<O> | Promise<TransformOutput<O>>;
  /**
   * Optional: this transform's privacy rules applied to a dead letter, whichever step rejected it
   * (a letter holds the value the source gave, before any transform ran). The pipeline passes every
   * letter through the `scrubDeadLetter` of each of its transforms, in order, before storing it.
   * Must not throw; returns the letter itself when nothing changes.
   */
  scrubDeadLetter?(letter: DeadLetter): DeadLetter;
  /** Optional: what this transform found suspicious so far (a rule that matched nothing), for `metrics()`. */
  warnings?(): readonly TransformWarning[];
}

/** Something a transform reports once, through the logger and `metrics().transforms.warnings`. */
export interface TransformWarning {
  /** The transform's name. */
  transform: string;
  /** `rule_unmatched`: a redact rule's path was absent from every record so far. */
  code: 'rule_unmatched';
  /** The rule (a field path). */
  rule: string;
  /** Records seen when the warning was raised. */
  records: number;
  message: string;
}
