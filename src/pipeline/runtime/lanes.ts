import type { FlushReason } from '../../core/batch.js';
import type { BatchSummary } from '../events.js';
import type { PipelineMetrics, UndeliveredRange } from '../report.js';
import { laneIdPrefix } from '../run-epoch.js';
import { Lane, type SealedLane } from './lane.js';
import type { Parts } from './parts.js';

/**
 * The lanes, one per source partition, and the flush: a lane sealed into a batch that the commit
 * tracker orders and the writer delivers. Invariants: an empty lane is never flushed; a lane
 * refilling a replayed plan is flushed only by the replay itself ({@link Lanes.flushReplay}), so a
 * plan keeps its exact range and id.
 */
export class Lanes {
  readonly #parts: Parts;
  readonly #lanes = new Map<string, Lane<unknown>>();

  constructor(parts: Parts) {
    this.#parts = parts;
  }

  get(partition: string): Lane<unknown> | undefined {
    return this.#lanes.get(partition);
  }

  /** The partition's lane, created (with its commit order) on its first chunk. */
  of(partition: string): Lane<unknown> {
    let lane = this.#lanes.get(partition);
    if (lane === undefined) {
      lane = new Lane(partition, this.#parts.settings.name, (pipeline, name) =>
        laneIdPrefix(
          this,
          pipeline,
          name,
          this.#parts.settings.source.replayable,
          this.#parts.settings.clock,
        ),
      );
      this.#lanes.set(partition, lane);
      this.#parts.commits.of(partition);
    }
    return lane;
  }

  all(): IterableIterator<Lane<unknown>> {
    return this.#lanes.values();
  }

  /** Flushes a lane for `reason`; a lane refilling a replayed plan waits for the plan's end. */
  flush(lane: Lane<unknown>, reason: FlushReason): void {
    if (lane.empty || lane.replay !== undefined) return;
    this.#flush(lane, reason, false);
  }

  /**
   * Flushes a lane during a replay: `planned` when it holds exactly a plan of the checkpoint (its
   * range is already saved), else records before or between plans, planned afresh.
   */
  flushReplay(lane: Lane<unknown>, planned: boolean): void {
    if (lane.empty) return;
    this.#flush(lane, 'replay', planned);
  }

  #flush(lane: Lane<unknown>, reason: FlushReason, planned: boolean): void {
    const { settings, commits, accounting, writer, scheduler } = this.#parts;
    const now = settings.clock.now();
    const sealed = lane.seal(reason, now);
    const { batch } = sealed;
    const summary = summarize(sealed);
    const entry = commits.add(sealed, summary, planned);
    accounting.flushed({
      batchId: batch.id,
      partition: batch.partition,
      reason,
      records: batch.records.length,
      bytes: batch.bytes,
      at: now,
    });
    settings.events.emit('flush', { batch: summary, rejected: entry.rejected.length });
    settings.logger.debug(
      {
        pipeline: settings.name,
        batch: batch.id,
        reason,
        records: batch.records.length,
        rejected: entry.rejected.length,
        bytes: batch.bytes,
      },
      'batch flushed',
    );
    writer.enqueue(entry);
    if (scheduler.armed) scheduler.arm();
  }

  /** The lane holding the most memory that a flush may take (not one refilling a replay). */
  largest(): Lane<unknown> | undefined {
    let largest: Lane<unknown> | undefined;
    for (const lane of this.#lanes.values()) {
      if (lane.empty || lane.replay !== undefined) continue; // a replay is flushed only at its plan's end
      if (largest === undefined || lane.heldBytes > largest.heldBytes) largest = lane;
    }
    return largest;
  }

  /**
   * Drops a revoked partition's lane: what it holds is handed over (its memory released). Returns the
   * records handed over.
   */
  forget(partition: string): number {
    const lane = this.#lanes.get(partition);
    if (lane === undefined) return 0;
    let records = 0;
    lane.revoked = true;
    if (!lane.empty) {
      records = lane.count;
      this.#parts.budget.release(lane.heldBytes);
      lane.reset();
    }
    this.#lanes.delete(partition);
    return records;
  }

  /** What lanes hold, as `buffered` ranges. */
  undelivered(into: UndeliveredRange[]): void {
    for (const lane of this.#lanes.values()) {
      if (lane.empty) continue;
      into.push({
        partition: lane.partition,
        firstOffset: lane.firstOffset,
        lastOffset: lane.lastOffset,
        records: lane.count,
        state: 'buffered',
      });
    }
  }

  /** Non-empty lanes for `metrics()`. */
  metrics(now: number): PipelineMetrics['lanes'] {
    const lanes: PipelineMetrics['lanes'] = [];
    for (const lane of this.#lanes.values()) {
      if (lane.empty) continue;
      lanes.push({
        partition: lane.partition,
        records: lane.count,
        bytes: lane.heldBytes,
        ageMs: now - lane.openedAt!,
      });
    }
    return lanes;
  }
}

function summarize({ batch }: SealedLane<unknown>): BatchSummary {
  return {
    id: batch.id,
    partition: batch.partition,
    firstOffset: batch.firstOffset,
    lastOffset: batch.lastOffset,
    records: batch.records.length,
    bytes: batch.bytes,
    reason: batch.reason,
    openedAt: batch.openedAt,
    closedAt: batch.closedAt,
  };
}
