import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/** A batch that was planned (its range fixed, durably) before its first write attempt. */
export interface PlannedBatch {
  readonly firstOffset: number;
  readonly lastOffset: number;
}

/**
 * The durable state of one partition: a few numbers, small enough for Kafka's commit metadata.
 * The batch id of a plan is derived from (pipeline name, partition, range), so it is not stored.
 */
export interface PartitionCheckpoint {
  /** Last offset (inclusive) whose batch was written and committed; absent before the first commit. */
  readonly committed?: number;
  /** Batches cut but not yet committed, in offset order, each after the previous one. */
  readonly plans: readonly PlannedBatch[];
  /**
   * What the source needs to recognise the partition's input again after a restart, as it gave it
   * with the committed offset (`SourceReader.marks`): `fromJsonLines` keeps a fingerprint of the
   * file's head here, so a replaced or truncated file is noticed. Stores that keep only offsets
   * (Kafka's commit metadata) may drop it.
   */
  readonly source?: Readonly<Record<string, string | number>>;
}

/** What a checkpoint store gets when the pipeline opens it. */
export interface CheckpointContext {
  /** The store keeps the state of this pipeline only; two pipelines may share a store. */
  readonly pipeline: string;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Where a pipeline keeps its write-ahead batch plans and committed offsets, per partition. The
 * contract:
 * - `save(partition, state)` resolves once `state` is durable: after a crash, `load(partition)`
 *   returns it (or a later saved state), never an earlier one;
 * - saves of one partition take effect in call order (a later state replaces an earlier one);
 *   the store may coalesce saves that overlap into one durable write;
 * - `load` of a partition never saved resolves with `undefined`.
 */
export interface CheckpointStore {
  /** Short name for metrics and logs: `'memory'`, `'file'`, `'kafka'`. */
  readonly kind: string;
  /** Whether the state outlives the process (a file store does; a memory store does not). */
  readonly durable: boolean;
  open?(context: CheckpointContext): void | Promise<void>;
  load(partition: string): PartitionCheckpoint | undefined | Promise<PartitionCheckpoint | undefined>;
  save(partition: string, state: PartitionCheckpoint): void | Promise<void>;
  close?(): void | Promise<void>;
}
