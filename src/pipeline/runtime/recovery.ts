import { checkPartitionCheckpoint } from '../../checkpoint/state.js';
import type { PartitionCheckpoint } from '../../checkpoint/types.js';
import { describeError, MicrobatchError } from '../../core/errors.js';
import { estimateBytes } from '../../core/size.js';
import { show } from '../../core/units.js';
import type { SourceChunk } from '../../sources/types.js';
import { offsetAt, offsetOrderError, restOf } from './chunks.js';
import { newPartitionCommits, type PartitionCommits } from './commit-tracker.js';
import type { Lane } from './lane.js';
import type { Parts } from './parts.js';

/**
 * Resuming after a restart: loads each source partition's checkpoint state once, reads the sink's
 * ledger, checks that they agree, and guards the partition's first chunks. Invariants: nothing at
 * or below the committed offset is delivered again (a source that resumes there fails the
 * pipeline, `MB_LEDGER_AHEAD`); records the ledger already holds are skipped; a plan of an earlier
 * run is written again with exactly its range and so its batch id.
 */
export class Recovery {
  readonly #parts: Parts;
  /** Partition states loaded from the checkpoint store, once each. */
  readonly #states = new Map<string, Promise<PartitionCheckpoint | undefined>>();

  constructor(parts: Parts) {
    this.#parts = parts;
  }

  /** A partition's state in the checkpoint store, loaded once. */
  loadState(partition: string): Promise<PartitionCheckpoint | undefined> {
    let state = this.#states.get(partition);
    if (state === undefined) {
      const { checkpoint: store, name } = this.#parts.settings;
      state =
        store === undefined
          ? Promise.resolve(undefined)
          : (async () => {
              try {
                return checkState(await store.load(partition), partition, store.kind);
              } catch (error) {
                throw MicrobatchError.wrap(
                  error,
                  'MB_CHECKPOINT_FAILED',
                  `pipeline '${name}': checkpoint store '${store.kind}' could not load partition '${partition}'`,
                  { details: { partition } },
                );
              }
            })();
      this.#states.set(partition, state);
    }
    return state;
  }

  /** Whether a state of `partition` was loaded (or is loading). */
  loaded(partition: string): boolean {
    return this.#states.has(partition);
  }

  /** Forgets a partition's loaded state: a later assignment loads it afresh. */
  forget(partition: string): void {
    this.#states.delete(partition);
  }

  /**
   * Before a partition's first record of this run: loads its checkpoint state and the sink's ledger,
   * checks that they agree, and sets up what to skip and which plans to replay.
   */
  async preparePartition(partition: string): Promise<void> {
    const { settings, commits } = this.#parts;
    const { sink, checkpoint, name, logger } = settings;
    const state = await this.loadState(partition);
    let ledger: number | undefined;
    if (settings.ledger) {
      try {
        ledger = (await sink.committed!(partition)) ?? undefined;
      } catch (error) {
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `pipeline '${name}': the sink could not read its ledger for partition '${partition}': ${describeError(error)}`,
          { cause: error, details: { partition } },
        );
      }
      if (ledger !== undefined && !Number.isSafeInteger(ledger)) {
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `pipeline '${name}': the sink's committed('${partition}') returned ${show(ledger)}; expected an integer offset or undefined`,
        );
      }
    }
    const track = newPartitionCommits(partition);
    const durable = checkpoint?.durable === true;
    if (state !== undefined) {
      track.committed = state.committed;
      track.plans = state.plans.map((p) => ({ firstOffset: p.firstOffset, lastOffset: p.lastOffset }));
      track.replays = track.plans.slice();
      track.resumeAfter = state.committed;
      const known = state.plans.at(-1)?.lastOffset ?? state.committed;
      if (ledger !== undefined && (known === undefined || ledger > known)) {
        throw this.#ledgerAhead(
          partition,
          `the sink holds offset ${ledger} of partition '${partition}', past anything this pipeline planned (${known ?? 'nothing'})`,
          { ledger, planned: known },
        );
      }
    } else if (ledger !== undefined) {
      if (durable) {
        throw this.#ledgerAhead(
          partition,
          `the sink holds partition '${partition}' up to offset ${ledger}, but checkpoint store '${checkpoint!.kind}' has no record of it (was the checkpoint deleted or reset?)`,
          { ledger },
        );
      }
      // No durable record of our own: the ledger is the only truth (a prefix, see BatchWriter).
      track.skipThrough = ledger;
    }
    track.guarded = track.replays.length > 0 || track.resumeAfter !== undefined || ledger !== undefined;
    commits.partitions.set(partition, track);
    if (track.replays.length > 0) {
      logger.info(
        { pipeline: name, partition, plans: track.replays.length, committed: state?.committed },
        'replaying batches planned before a restart',
      );
    }
  }

  #ledgerAhead(partition: string, what: string, details: Record<string, unknown>): MicrobatchError {
    return new MicrobatchError(
      'MB_LEDGER_AHEAD',
      `pipeline '${this.#parts.settings.name}': ${what}. This does not happen in normal operation (a recreated topic, a reset offset or file, another pipeline under the same name); nothing was skipped. To reprocess on purpose, clear the checkpoint and the sink's data for the partition.`,
      { details: { partition, ...details } },
    );
  }

  /**
   * The first chunks of a partition after a restart: checks the source resumed after the committed
   * offset, drops records the sink already holds, and refills planned batches with exactly their
   * ranges, flushed as `replay`. Returns the rest of the chunk for the normal path, if any.
   */
  guard(
    lane: Lane<unknown>,
    track: PartitionCommits,
    chunk: SourceChunk<unknown>,
  ): SourceChunk<unknown> | undefined {
    const { settings, accounting, ingest, lanes } = this.#parts;
    const n = chunk.values.length;
    const rejects = chunk.rejected ?? [];
    let i = 0;
    let r = 0;
    const skippedBefore = accounting.counts.skipped;
    while (i < n || r < rejects.length) {
      const valueOffset = i < n ? offsetAt(chunk, i) : Number.POSITIVE_INFINITY;
      const reject = rejects[r];
      const isReject = reject !== undefined && reject.offset < valueOffset;
      const offset = isReject ? reject.offset : valueOffset;
      if (track.resumeAfter !== undefined) {
        if (offset <= track.resumeAfter) {
          throw this.#ledgerAhead(
            track.partition,
            `source '${settings.source.kind}' resumed partition '${track.partition}' at offset ${offset}, at or before offset ${track.resumeAfter} which this pipeline already committed`,
            { sourceOffset: offset, committed: track.resumeAfter },
          );
        }
        track.resumeAfter = undefined;
      }
      if (offset <= track.skipThrough) {
        accounting.counts.skipped++;
        if (isReject) r++;
        else i++;
        continue;
      }
      while (track.replays.length > 0 && offset > track.replays[0]!.lastOffset) this.endReplay(lane, track);
      if (track.replays.length === 0) break;
      const plan = track.replays[0]!;
      if (offset >= plan.firstOffset && lane.replay === undefined) {
        // Records before the plan that no plan covers (not normally possible): a batch of their own.
        lanes.flushReplay(lane, false);
        lane.replay = plan;
      }
      if (!(offset > lane.highestOffset)) throw offsetOrderError(settings, lane, offset, lane.highestOffset);
      if (isReject) {
        const limit = settings.recordLimit;
        ingest.addReject(lane, reject, Math.min(reject.bytes ?? estimateBytes(reject.value, limit), limit));
        r++;
      } else {
        ingest.appendReplayed(lane, chunk, i, offset);
        i++;
      }
      if (offset === plan.lastOffset) this.endReplay(lane, track);
    }
    if (accounting.counts.skipped > skippedBefore) {
      settings.logger.warn(
        {
          pipeline: settings.name,
          partition: track.partition,
          skipped: accounting.counts.skipped - skippedBefore,
          ledger: track.skipThrough,
        },
        "skipped records the sink's ledger says it already holds",
      );
    }
    if (track.replays.length === 0 && (i < n || r < rejects.length)) track.guarded = false;
    if (i >= n && r >= rejects.length) return undefined;
    if (i === 0 && r === 0) return chunk;
    return restOf(chunk, i, r);
  }

  /** The first plan to replay is done (or stale): flush what the lane holds of it, with its range. */
  endReplay(lane: Lane<unknown>, track: PartitionCommits): void {
    const plan = track.replays.shift()!;
    const { lanes } = this.#parts;
    if (lane.replay === plan) {
      if (!lane.empty) {
        // The plan's range and so its batch id, even if records at its edges are gone from the source.
        lane.stretchTo(plan);
        lanes.flushReplay(lane, true);
      }
      lane.replay = undefined;
    } else if (!lane.empty && lane.lastOffset < plan.firstOffset) {
      lanes.flushReplay(lane, false);
    }
  }
}

/** Checks what a checkpoint store returned: a wrong state would skip or repeat records. */
function checkState(state: unknown, partition: string, kind: string): PartitionCheckpoint | undefined {
  if (state === undefined || state === null) return undefined;
  try {
    return checkPartitionCheckpoint(state);
  } catch (error) {
    throw new MicrobatchError(
      'MB_CHECKPOINT_FAILED',
      `checkpoint store '${kind}' returned an invalid state for partition '${partition}': ${describeError(error)}`,
      { cause: error, details: { partition, state } },
    );
  }
}
