import { randomBytes } from 'node:crypto';
import { batchIdPrefix } from '../core/batch.js';
import type { Clock } from '../core/clock.js';

/**
 * Batch ids of runs that cannot replay. A replayable source's batch ids are deterministic — the same
 * range gets the same id in every run, which is what makes a replay after a crash overwrite its own
 * earlier attempt instead of adding rows. A source that cannot replay (`pushSource`, `fromIterable`)
 * counts offsets from 0 in each run, so the same rule gave a restarted scraper the ids, and the
 * file names, of the previous run's batches: its files were replaced, rows lost without a word. Such
 * runs put a run epoch in every id — `<pipeline>.<partition>.<epoch>.<range>` — that no earlier run
 * produced: the clock's time (base 36, so later runs sort later) and 32 random bits (two runs
 * started in the same millisecond differ).
 */

/** The epoch of each run, by the runtime object running it. */
const epochs = new WeakMap<object, string>();

/** A new run epoch: `r` + the time in base 36 (9 digits) + `-` + 8 hex digits. */
export function newRunEpoch(clock: Pick<Clock, 'now'>): string {
  const time = Math.max(0, Math.floor(clock.now())).toString(36).padStart(9, '0');
  return `r${time}-${randomBytes(4).toString('hex')}`;
}

/**
 * The constant part of a lane's batch ids: {@link batchIdPrefix} for a replayable source; with the
 * run's epoch appended (one per `run`, made at its first lane) for one that cannot replay.
 */
export function laneIdPrefix(
  run: object,
  pipeline: string,
  partition: string,
  replayable: boolean,
  clock: Pick<Clock, 'now'>,
): string {
  const prefix = batchIdPrefix(pipeline, partition);
  if (replayable) return prefix;
  let epoch = epochs.get(run);
  if (epoch === undefined) {
    epoch = newRunEpoch(clock);
    epochs.set(run, epoch);
  }
  return `${prefix}${epoch}.`;
}
