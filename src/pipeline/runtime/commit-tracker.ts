import type { PartitionCheckpoint, PlannedBatch } from '../../checkpoint/types.js';
import type { Batch } from '../../core/batch.js';
import { describeError, MicrobatchError } from '../../core/errors.js';
import type { SourceReader, SourceRejection } from '../../sources/types.js';
import type { BatchSummary } from '../events.js';
import type { UndeliveredRange } from '../report.js';
import { withRetry } from '../retry.js';
import { sourceMarks } from '../source-marks.js';
import type { SealedLane } from './lane.js';
import type { Parts } from './parts.js';

/** A batch between its flush and its commit. */
export interface InFlightBatch {
  batch: Batch<unknown>;
  summary: BatchSummary;
  rejected: SourceRejection[];
  heldBytes: number;
  /** Records read for this batch: batch records plus source rejects. */
  count: number;
  written: boolean;
  failed: boolean;
  /** Dead letters of this batch already counted (they were stored before the batch was written). */
  deadCounted: number;
  /** Its partition was revoked before it was written or committed: nothing of it counts or commits. */
  handedOver: boolean;
}

/** The commit order of one source partition: batches in flush order; commits go up to the first unwritten one. */
export interface PartitionCommits {
  partition: string;
  batches: InFlightBatch[];
  committing: boolean;
  committed: number | undefined;
  /** Batches flushed and not yet committed, as the checkpoint holds them, in offset order. */
  plans: PlannedBatch[];
  /** Plans of an earlier run still to be written again, in offset order (recovery's). */
  replays: PlannedBatch[];
  /** Offsets at or below this were delivered by an earlier run (the sink's ledger): dropped. */
  skipThrough: number;
  /** The checkpoint's committed offset, until the run's first record is checked against it. */
  resumeAfter: number | undefined;
  /** The next chunk needs the recovery guard: a check, records to skip, or plans to replay. */
  guarded: boolean;
  /** The state changed since the last save began. */
  dirty: boolean;
  /** The save in progress, which also takes every change made while it runs. */
  saving: Promise<void> | undefined;
  /** With a ledger the runtime relies on, writes of a partition go one at a time: the last one. */
  lastWrite: Promise<void> | undefined;
  /** The source gave the partition up: forgotten, commits nothing more. */
  revoked: boolean;
}

/** A fresh commit order for a partition. */
export function newPartitionCommits(partition: string): PartitionCommits {
  return {
    partition,
    batches: [],
    committing: false,
    committed: undefined,
    plans: [],
    replays: [],
    skipThrough: Number.NEGATIVE_INFINITY,
    resumeAfter: undefined,
    guarded: false,
    dirty: false,
    saving: undefined,
    lastWrite: undefined,
    revoked: false,
  };
}

/**
 * In-flight batches per source partition and their commits. Invariants: a partition commits in
 * flush order and never past a batch not yet written; with a checkpoint, a batch's range is saved
 * (planned) before its first write, and a commit is saved before its `commit` event; committed
 * plans are pruned; a revoked partition saves and commits nothing more.
 */
export class CommitTracker {
  readonly #parts: Parts;
  readonly partitions = new Map<string, PartitionCommits>();
  /** The source reader whose `commit` is called (set once the source is open). */
  reader: SourceReader<unknown> | undefined;
  /** Batches flushed and not yet committed or handed over. */
  #pending = 0;
  /** Flushed batches not yet written: how many, their records and the bytes they hold. */
  readonly inFlight = { batches: 0, records: 0, bytes: 0 };
  #idleWaiters: (() => void)[] = [];

  /** Batches flushed and not yet committed or handed over (for `onIdle()`). */
  get pending(): number {
    return this.#pending;
  }

  constructor(parts: Parts) {
    this.#parts = parts;
  }

  /** The partition's commit order, created on first use. */
  of(partition: string): PartitionCommits {
    let commits = this.partitions.get(partition);
    if (commits === undefined) this.partitions.set(partition, (commits = newPartitionCommits(partition)));
    return commits;
  }

  /**
   * Takes a sealed lane in flush order. `planned`: its range is already in the checkpoint (a replay
   * of a plan); otherwise it is added to the plans the next save writes.
   */
  add(sealed: SealedLane<unknown>, summary: BatchSummary, planned: boolean): InFlightBatch {
    const entry: InFlightBatch = {
      batch: sealed.batch,
      summary,
      rejected: sealed.rejected,
      heldBytes: sealed.heldBytes,
      count: sealed.count,
      written: false,
      failed: false,
      deadCounted: 0,
      handedOver: false,
    };
    const commits = this.partitions.get(sealed.batch.partition)!;
    commits.batches.push(entry);
    if (this.#parts.settings.checkpoint !== undefined && !planned) {
      addPlan(commits.plans, sealed.batch.firstOffset, sealed.batch.lastOffset);
    }
    this.#pending++;
    this.inFlight.batches++;
    this.inFlight.records += entry.count;
    this.inFlight.bytes += entry.heldBytes;
    return entry;
  }

  /** The batch was written (or given up): it no longer counts as in flight, its memory goes back. */
  landed(entry: InFlightBatch): void {
    this.inFlight.batches--;
    this.inFlight.records -= entry.count;
    this.inFlight.bytes -= entry.heldBytes;
    this.#parts.budget.release(entry.heldBytes);
  }

  /** Saves the partition's plans and committed offset; resolves once a save that includes them is durable. */
  save(commits: PartitionCommits, entry: InFlightBatch): Promise<void> {
    commits.dirty = true;
    commits.saving ??= this.#saveWhileDirty(commits, entry);
    return commits.saving;
  }

  async #saveWhileDirty(commits: PartitionCommits, entry: InFlightBatch): Promise<void> {
    const store = this.#parts.settings.checkpoint!;
    try {
      // A revoked partition saves nothing more: it may already be someone else's (or ours again,
      // under a new commit order), and an old state landing now would move its checkpoint back.
      while (commits.dirty && !commits.revoked) {
        commits.dirty = false;
        const state: PartitionCheckpoint = {
          ...(commits.committed !== undefined && { committed: commits.committed }),
          plans: commits.plans.slice(),
          ...sourceMarks(this.reader, commits.partition, commits.committed),
        };
        await withRetry(
          this.#parts.writer.retryContext(
            entry,
            'MB_CHECKPOINT_FAILED',
            `checkpoint save of partition '${commits.partition}'`,
          ),
          () => {
            if (commits.revoked) throw revokedPartition(commits.partition);
            return store.save(commits.partition, state);
          },
        );
      }
    } finally {
      commits.saving = undefined;
    }
  }

  /** Commits the partition up to its last written batch, in order, one commit at a time. */
  async advance(commits: PartitionCommits): Promise<void> {
    if (commits.committing) return;
    const { settings, lifecycle, accounting, eventTime } = this.#parts;
    commits.committing = true;
    try {
      while (commits.batches[0]?.written === true && lifecycle.fatal === undefined) {
        let k = 0;
        while (commits.batches[k]?.written === true) k++;
        const last = commits.batches[k - 1]!;
        const cursor = { partition: last.batch.partition, offset: last.batch.lastOffset };
        const reader = this.reader;
        if (reader?.commit !== undefined) {
          await withRetry(
            this.#parts.writer.retryContext(
              last,
              'MB_COMMIT_FAILED',
              `commit of ${cursor.partition}@${cursor.offset}`,
            ),
            () => {
              if (commits.revoked) throw revokedPartition(commits.partition);
              return reader.commit!(cursor);
            },
          );
        }
        if (commits.revoked) return;
        commits.committed = cursor.offset;
        if (settings.checkpoint !== undefined) {
          // After the source's own commit: a crash between the two replays the batches (same ids).
          let done = 0;
          while (done < commits.plans.length && commits.plans[done]!.lastOffset <= cursor.offset) done++;
          commits.plans.splice(0, done);
          await this.save(commits, last);
          if (commits.revoked) return;
        }
        const now = settings.clock.now();
        for (const entry of commits.batches.splice(0, k)) {
          accounting.latency.add(now - entry.batch.openedAt, entry.count);
          eventTime?.sampleLatency(entry.batch, now);
        }
        accounting.counts.commits++;
        this.#pending -= k;
        settings.events.emit('commit', {
          partition: cursor.partition,
          offset: cursor.offset,
          batchId: last.batch.id,
        });
        eventTime?.checkBuckets();
      }
    } catch (error) {
      if (commits.revoked) {
        // The source no longer owns the partition: its next owner replays what was not committed.
        settings.logger.debug(
          { pipeline: settings.name, partition: commits.partition, err: describeError(error) },
          'a commit of a revoked partition failed; its next owner replays it',
        );
        return;
      }
      lifecycle.fail(error, MicrobatchError.is(error) ? error.code : 'MB_COMMIT_FAILED', 'commit failed');
    } finally {
      commits.committing = false;
      this.wakeIdle();
    }
  }

  /**
   * Drops a revoked partition's commit order: its unwritten batches are handed over (their memory
   * released). Returns the records handed over.
   */
  forget(partition: string): number {
    const commits = this.partitions.get(partition);
    if (commits === undefined) return 0;
    let records = 0;
    commits.revoked = true;
    for (const entry of commits.batches) {
      if (!entry.written && !entry.handedOver) {
        records += entry.count - entry.deadCounted;
        this.landed(entry);
      }
      entry.handedOver = true;
      this.#pending--;
    }
    commits.batches = [];
    this.partitions.delete(partition);
    return records;
  }

  /** Whether `partition` has batches not yet committed. */
  holds(partition: string): boolean {
    return (this.partitions.get(partition)?.batches.length ?? 0) > 0;
  }

  /** The committed offset of `partition`, if any. */
  committedOf(partition: string): number | undefined {
    return this.partitions.get(partition)?.committed;
  }

  /** Last committed offset per partition. */
  committed(): Record<string, number> {
    const committed: Record<string, number> = {};
    for (const [partition, commits] of this.partitions)
      if (commits.committed !== undefined) committed[partition] = commits.committed;
    return committed;
  }

  /** Flushed batches not written: in flight, or failed. */
  undelivered(into: UndeliveredRange[]): void {
    for (const commits of this.partitions.values()) {
      for (const entry of commits.batches) {
        if (entry.written) continue;
        into.push({
          partition: entry.batch.partition,
          firstOffset: entry.batch.firstOffset,
          lastOffset: entry.batch.lastOffset,
          records: entry.count,
          state: entry.failed ? 'failed' : 'in-flight',
        });
      }
    }
  }

  /** Resolves once every flushed batch is committed, or the pipeline failed or missed its stop deadline. */
  async whenIdle(): Promise<void> {
    const { lifecycle, writer } = this.#parts;
    while (this.#pending > 0 && lifecycle.fatal === undefined && !lifecycle.deadlineMissed) {
      await this.waitForChange();
    }
    // Let writes that already started settle (they observe the abort and return).
    await writer.onIdle();
  }

  /** Resolves at the next commit, revocation, failure or deadline. */
  waitForChange(): Promise<void> {
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  wakeIdle(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }
}

/** Stops a save or commit of a partition the source gave up (not retried; not a pipeline failure). */
function revokedPartition(partition: string): MicrobatchError {
  return new MicrobatchError('MB_COMMIT_FAILED', `partition '${partition}' was revoked`, {
    details: { partition, revoked: true },
  });
}

/** Adds a plan in offset order (it is almost always the last). */
export function addPlan(plans: PlannedBatch[], firstOffset: number, lastOffset: number): void {
  let at = plans.length;
  while (at > 0 && plans[at - 1]!.firstOffset > firstOffset) at--;
  plans.splice(at, 0, { firstOffset, lastOffset });
}
