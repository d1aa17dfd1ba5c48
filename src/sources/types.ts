import type { PartitionCheckpoint } from '../checkpoint/types.js';
import type { Cursor, RejectReason } from '../core/batch.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Duration } from '../core/units.js';

/**
 * A run of records from one partition, in offset order, in columns: `values[i]` is at `offsets[i]`,
 * or at `firstOffset + i` when the offsets are consecutive. Sources hand records over in chunks so
 * the runtime can append many at a time.
 */
export interface SourceChunk<T = unknown> {
  partition: string;
  /** The records. The runtime copies them out unless `owned`; the source may then reuse the array. */
  values: T[];
  /**
   * The source gives `values` away: it will never touch the array again, so the runtime may keep it
   * as a batch's records instead of copying. @default false
   */
  owned?: boolean;
  /** Offset of each record: strictly increasing within a partition, across chunks too. */
  offsets?: number[];
  /** Instead of `offsets`, for consecutive offsets: `values[i]` is at `firstOffset + i`. */
  firstOffset?: number;
  /** Encoded size of each record, when the source knows it (a JSON line, a Kafka message). */
  bytes?: number[];
  /** Event time of each record (ms since epoch), when the source knows it. */
  eventTimes?: (number | undefined)[];
  keys?: (string | undefined)[];
  headers?: (Readonly<Record<string, string>> | undefined)[];
  /**
   * Records the source read but could not decode, in offset order. They take their place in the
   * lane's range and are dead-lettered with the batch that covers them, before the source commits.
   */
  rejected?: SourceRejection[];
}

/** A record a source could not decode. */
export interface SourceRejection {
  offset: number;
  reason: RejectReason;
  details: unknown;
  /** What was read (raw text for `malformed`). */
  value: unknown;
  bytes?: number;
}

/** What a source gets when the pipeline opens it. */
export interface SourceContext {
  readonly pipeline: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Aborted when the pipeline stops reading. */
  readonly signal: AbortSignal;
  /**
   * The pipeline's memory budget (`maxBufferBytes`) in bytes: a source that holds records before
   * the pipeline takes them (`pushSource`) bounds them by a share of it. Absent when a test opens a
   * source by hand.
   */
  readonly memoryBudget?: number;
  /**
   * The last offset of `partition` this pipeline committed in an earlier run, from its checkpoint
   * store (`undefined` without a checkpoint or before the first commit). A replayable source
   * resumes right after it: it takes precedence over a start position given in the source's own
   * options. Absent when a test opens a source by hand.
   */
  readonly resumeAfter?: (partition: string) => Promise<number | undefined>;
  /**
   * The first offset of `partition` this pipeline must read (again): `committed + 1`, or, when the
   * checkpoint holds batches planned before anything was committed, the first planned offset;
   * `undefined` when the checkpoint knows nothing of the partition. A source whose default start
   * is not the beginning (a Kafka consumer starting at the latest offset) seeks here, so that
   * planned batches are replayed. Absent when a test opens a source by hand.
   */
  readonly resumeAt?: (partition: string) => Promise<number | undefined>;
  /**
   * The whole checkpoint state of `partition` from an earlier run: committed offset, planned
   * batches, and the marks the source gave with its last commit ({@link SourceReader.marks}).
   * `undefined` without a checkpoint or before anything was saved. Absent when a test opens a
   * source by hand.
   */
  readonly resumeState?: (partition: string) => Promise<PartitionCheckpoint | undefined>;
  /**
   * The source no longer owns `partitions` (a Kafka rebalance moved them to another worker). Their
   * lanes are flushed (`reason: 'revoke'`) and committed if that finishes within
   * `options.deadline`; otherwise what is not committed is given up: it is not committed, its
   * plans stay in the checkpoint for the next owner to replay, and it is counted in
   * `records.handedOver`. Then the pipeline forgets the partitions (lanes, commit order, checkpoint
   * state), so a later assignment starts over from the checkpoint. A write still in flight for a
   * revoked partition is left to finish (the sink holds one effect per batch id), but nothing of
   * the partition is committed any more, and a failed commit or checkpoint save of it is not a
   * pipeline failure. The source must not hand over records of these partitions before the
   * returned promise resolves, and records of a later assignment only after it.
   */
  readonly revoke?: (partitions: readonly string[], options?: RevokeOptions) => Promise<RevokeResult>;
}

/** Options of {@link SourceContext.revoke}. */
export interface RevokeOptions {
  /**
   * How long flushing and committing the partitions may take, in ms or a duration string; `0`
   * gives them up at once (a Kafka client that learns of the revocation only after the fact).
   * @default 0
   */
  deadline?: Duration;
}

/** What {@link SourceContext.revoke} did. */
export interface RevokeResult {
  /** Partitions whose records were all committed before they were forgotten. */
  committed: string[];
  /** Partitions given up with records read but not committed, and how many. */
  handedOver: { partition: string; records: number }[];
}

/** An open source. */
export interface SourceReader<T = unknown> {
  /**
   * The next chunk, or `null` once a finite source is exhausted. May return synchronously.
   * The runtime calls it only when it has room: not calling it is how the source is paused.
   */
  read(): SourceChunk<T> | null | Promise<SourceChunk<T> | null>;
  /**
   * Every record of `cursor.partition` up to and including `cursor.offset` is written (or
   * dead-lettered). Called in offset order per partition, never past an unwritten record.
   */
  commit?(cursor: Cursor): void | Promise<void>;
  /**
   * What the checkpoint should keep with the committed `cursor` so that a later run can recognise
   * its input again (a file's head fingerprint and size), as a flat object of strings and numbers;
   * it comes back in {@link SourceContext.resumeState}. Called before the state with `cursor` as
   * committed offset is saved; must not throw.
   */
  marks?(cursor: Cursor): Readonly<Record<string, string | number>> | undefined;
  /**
   * The pipeline is stopping: take no new input, but let `read()` return what the source already
   * accepted (records a producer was told were taken), then `null`. Without it, `read()` is simply
   * no longer called.
   */
  stop?(): void;
  /** Releases resources; pending `read()`s may resolve with `null`. */
  close(): void | Promise<void>;
}

/** A source of records. Implement it for your own inputs; adapters do, too. */
export interface Source<T = unknown> {
  /** Short name for metrics and logs: `'iterable'`, `'json-lines'`, `'push'`, `'kafka'`. */
  readonly kind: string;
  /**
   * Whether the source can re-read records from a committed cursor after a restart. Only
   * replayable sources can give at-least-once delivery across a crash; the others are `best-effort`.
   */
  readonly replayable: boolean;
  /**
   * Loads what the source needs before the pipeline opens anything (its optional peer
   * dependencies), like `Sink.prepare`. Optional; a missing peer rejects with `MB_MISSING_PEER`.
   */
  prepare?(): void | Promise<void>;
  open(context: SourceContext): SourceReader<T> | Promise<SourceReader<T>>;
}

/** A record with its metadata, as `fromIterable(…, { envelopes: true })` and `pushSource` accept it. */
export interface Envelope<T = unknown> {
  value: T;
  /** Lane key. @default the source's partition option, `'0'` */
  partition?: string | number;
  /** Strictly increasing per partition. @default the previous offset of the partition + 1 */
  offset?: number;
  /** Event time: ms since epoch, a `Date`, or an ISO string. */
  eventTime?: number | Date | string;
  key?: string;
  headers?: Readonly<Record<string, string>>;
}
