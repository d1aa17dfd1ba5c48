import { createHash } from 'node:crypto';
/** Why a lane was flushed. Every batch carries one, so a person can see why it exists. */
export type FlushReason =
  /** The time window since the lane's first record elapsed. */
  | 'time'
  /** The record cap was reached. */
  | 'records'
  /** The next record would have passed the byte cap. */
  | 'bytes'
  /** The process-wide memory budget was reached; the largest lane was flushed. */
  | 'memory'
  /** The adaptive trigger decided (its own window or volume threshold). */
  | 'adaptive'
  /** The pipeline is stopping, or a finite source ended. */
  | 'drain'
  /** The source is giving up the partition (a Kafka rebalance). */
  | 'revoke'
  /** `pipeline.flush()` was called. */
  | 'flush'
  /** A planned but uncommitted batch is written again after a restart. */
  | 'replay';

/** Why a record did not reach the sink. Transforms may add their own codes. */
export type RejectReason =
  | 'malformed'
  | 'too_large'
  | 'invalid_offset'
  | 'type_mismatch'
  | 'missing_field'
  | 'unknown_schema'
  | 'too_late'
  | 'invalid_event_time'
  | 'consent_missing'
  | 'schema_error'
  | 'invalid_key'
  | 'unredactable'
  | 'unencodable'
  | 'unknown_field'
  | (string & {});

/** A record position: the lane (partition) and a strictly increasing offset within it. */
export interface Cursor {
  partition: string;
  offset: number;
}

/**
 * An atomic unit of work: a contiguous cursor range of one lane.
 * `records` (and `offsets`, `eventTimes`, `keys`, `headers` when present) are parallel arrays.
 */
export interface Batch<T = unknown> {
  /** Deterministic from (pipeline name, partition, firstOffset, lastOffset), safe in file names. */
  readonly id: string;
  readonly partition: string;
  /** Offset of the first record in the range (including records that were rejected). */
  readonly firstOffset: number;
  /** Offset of the last record in the range. */
  readonly lastOffset: number;
  /** The records to write, in source order. */
  readonly records: T[];
  /**
   * `offsets[i]` is the source offset of `records[i]`. Absent when the offsets are consecutive
   * (`records[i]` is at `firstOffset + i`, the common case, which then costs nothing per record);
   * {@link recordOffset} and {@link recordOffsets} read either form.
   */
  readonly offsets?: number[];
  /** Event time per record (ms since epoch) where the source gave one. */
  readonly eventTimes?: (number | undefined)[];
  /** Message key per record where the source gave one. */
  readonly keys?: (string | undefined)[];
  /** Message headers per record where the source gave any. */
  readonly headers?: (Readonly<Record<string, string>> | undefined)[];
  /** Size of the records in bytes: encoded size where the source knew it, else an estimate. */
  readonly bytes: number;
  readonly reason: FlushReason;
  /** When the lane received the batch's first record (ms since epoch, pipeline clock). */
  readonly openedAt: number;
  /** When the batch was cut. */
  readonly closedAt: number;
}

/** A record that did not reach the sink, as handed to the dead-letter sink. */
export interface DeadLetter<T = unknown> {
  reason: RejectReason;
  /** Machine-readable context: zod issues, the size and the limit, the parse error… */
  details: unknown;
  /** The original value (for `malformed`, the raw text). */
  value: T;
  cursor: Cursor;
  pipeline: string;
  /** The batch whose range holds the record. */
  batchId: string;
  /** When it was rejected (ms since epoch, pipeline clock). */
  at: number;
}

/** The source offset of `batch.records[i]`. */
export function recordOffset(batch: Pick<Batch, 'firstOffset' | 'offsets'>, i: number): number {
  return batch.offsets === undefined ? batch.firstOffset + i : batch.offsets[i]!;
}

/** The source offset of every record of `batch`, as a list. */
export function recordOffsets(batch: Pick<Batch, 'firstOffset' | 'offsets' | 'records'>): number[] {
  if (batch.offsets !== undefined) return batch.offsets;
  const offsets = new Array<number>(batch.records.length);
  for (let i = 0; i < offsets.length; i++) offsets[i] = batch.firstOffset + i;
  return offsets;
}

// Characters allowed verbatim in an id; everything else is escaped as `~XX` (UTF-8 bytes), so
// ids are injective, never contain a path separator, and stay readable for plain names.
const SAFE = /^[A-Za-z0-9_-]$/;

/** Escapes a name for use inside a batch id or a file name. */
export function safeName(text: string): string {
  let out = '';
  for (const ch of text) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `~${byte.toString(16).padStart(2, '0')}`;
  }
  return out.length === 0 ? '~' : out;
}

/** Offsets are padded so that ids sort in offset order (2^53 has 16 digits). */
const pad = (offset: number) => String(offset).padStart(16, '0');

/** The deterministic id of the batch covering `[firstOffset, lastOffset]` of `partition`. */
export function batchId(
  pipeline: string,
  partition: string,
  firstOffset: number,
  lastOffset: number,
): string {
  return batchIdPrefix(pipeline, partition) + batchIdRange(firstOffset, lastOffset);
}

/** Longest escaped name kept whole in a batch id; longer ones are cut and hashed. */
export const MAX_ID_NAME = 64;
const KEPT = 40;

/**
 * `safeName(text)`, bounded to {@link MAX_ID_NAME} characters: a longer one keeps its first 40
 * characters (readable) and ends in `~~` and 24 hex digits of the SHA-256 of the whole name
 * (distinct). Batch ids name files, and a file name longer than the file system allows (255 bytes
 * on most) failed every write of the partition with `ENAMETOOLONG`, for good. A cut name is 66
 * characters long, so it never equals a name kept whole.
 */
export function boundedName(text: string): string {
  const safe = safeName(text);
  if (safe.length <= MAX_ID_NAME) return safe;
  return `${safe.slice(0, KEPT)}~~${createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 24)}`;
}

/**
 * The part of a batch id that names the pipeline and the partition (constant per lane). Each name
 * takes at most 66 characters (see {@link boundedName}), so an id stays under 170.
 */
export function batchIdPrefix(pipeline: string, partition: string): string {
  return `${boundedName(pipeline)}.${boundedName(partition)}.`;
}

/** The part of a batch id that names the offset range. */
export function batchIdRange(firstOffset: number, lastOffset: number): string {
  return `${pad(firstOffset)}-${pad(lastOffset)}`;
}
