import { parseDuration } from '../../core/units.js';
import type { RevokeOptions, RevokeResult } from '../../sources/types.js';
import type { Parts } from './parts.js';

/**
 * Source partitions the source gives up (`SourceContext.revoke`, a Kafka rebalance). Invariants:
 * what a revoked partition held uncommitted is counted once, as handed over, and its memory is
 * released; a chunk that arrived before its partition was revoked is handed over too, never
 * delivered; a revoked partition's lane, commit order and loaded state are dropped so that a later
 * assignment starts afresh.
 */
export class Ownership {
  readonly #parts: Parts;
  /** Counts calls of `revoke`; `#revokedAt` holds the count at each partition's last revocation. */
  #serial = 0;
  /** A chunk that arrived before its partition was revoked belongs to the ownership that ended. */
  readonly #revokedAt = new Map<string, number>();

  constructor(parts: Parts) {
    this.#parts = parts;
  }

  /** The moment a chunk arrives, to compare with its partition's last revocation. */
  get serial(): number {
    return this.#serial;
  }

  /** Whether a chunk of `partition` that arrived at `arrival` came before the partition was revoked. */
  revokedSince(partition: string, arrival: number): boolean {
    return this.#revokedAt.size > 0 && (this.#revokedAt.get(partition) ?? -1) > arrival;
  }

  /**
   * `SourceContext.revoke`: flushes and commits the partitions within the deadline if one is given,
   * then forgets them. With no deadline the partitions are forgotten before this returns its
   * promise, so a commit of theirs that fails right after is already known not to matter.
   */
  async revoke(partitions: readonly string[], options: RevokeOptions = {}): Promise<RevokeResult> {
    const { settings, lifecycle, lanes, commits } = this.#parts;
    const deadline = parseDuration(
      options.deadline ?? 0,
      `pipeline '${settings.name}': revoke({ deadline })`,
      {
        allowZero: true,
      },
    );
    const names = [...new Set(Array.from(partitions, String))];
    if (deadline > 0 && !lifecycle.halted && lifecycle.fatal === undefined) {
      for (const name of names) {
        const lane = lanes.get(name);
        // A lane refilling a plan is flushed only at the plan's end: the next owner replays it whole.
        if (lane !== undefined) lanes.flush(lane, 'revoke');
      }
      let expired = false;
      const timer = settings.clock.setTimeout(() => {
        expired = true;
        commits.wakeIdle();
      }, deadline);
      try {
        while (!expired && lifecycle.fatal === undefined && names.some((name) => this.#holds(name))) {
          await commits.waitForChange();
        }
      } finally {
        settings.clock.clearTimeout(timer);
      }
    }
    return this.#forget(names);
  }

  /** Whether the pipeline still holds uncommitted records of `partition`. */
  #holds(partition: string): boolean {
    const lane = this.#parts.lanes.get(partition);
    return (lane !== undefined && !lane.empty) || this.#parts.commits.holds(partition);
  }

  /**
   * Forgets partitions the source gave up: what they hold uncommitted is counted as handed over
   * (its memory released, its writes no longer counted or committed), and their lane, commit order
   * and checkpoint state are dropped so that a later assignment loads them afresh.
   */
  #forget(names: string[]): RevokeResult {
    const { settings, lanes, commits, recovery, eventTime, accounting, scheduler } = this.#parts;
    const result: RevokeResult = { committed: [], handedOver: [] };
    this.#serial++;
    for (const name of names) {
      this.#revokedAt.set(name, this.#serial);
      if (lanes.get(name) === undefined && !commits.partitions.has(name) && !recovery.loaded(name)) {
        result.committed.push(name); // nothing held: nothing to hand over
        continue;
      }
      const records = lanes.forget(name) + commits.forget(name);
      recovery.forget(name);
      eventTime?.forget(name);
      accounting.counts.handedOver += records;
      if (records > 0) result.handedOver.push({ partition: name, records });
      else result.committed.push(name);
    }
    eventTime?.checkBuckets();
    scheduler.arm();
    commits.wakeIdle();
    settings.events.emit('revoke', result);
    settings.logger.info(
      { pipeline: settings.name, committed: result.committed, handedOver: result.handedOver },
      'partitions revoked',
    );
    return result;
  }
}
