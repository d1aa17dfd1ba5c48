import { invalidOptions } from '../core/errors.js';
import { parseTime } from '../core/time.js';
import { show } from '../core/units.js';

/** The size of an event-time partition. */
export type BucketUnit = 'minute' | 'hour' | 'day' | 'month';

/** An event-time partition: its Hive-style path and its bounds in ms since the epoch, UTC. */
export interface Bucket {
  /** `dt=2026-11-25/hr=14` for an hour, `dt=2026-11-25` for a day, `month=2026-11` for a month. */
  readonly path: string;
  /** First millisecond in the bucket. */
  readonly start: number;
  /** First millisecond after the bucket. */
  readonly end: number;
}

export const BUCKET_UNITS: readonly BucketUnit[] = ['minute', 'hour', 'day', 'month'];

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * The event-time partition `time` falls in, in UTC: `bucketOf(t, 'hour').path` is
 * `dt=2026-11-25/hr=14`. Paths are built from the date alone, never from record text, so they are
 * safe as directory names. Throws `MB_INVALID_OPTIONS` for a time that is not a valid date.
 */
export function bucketOf(time: number | Date | string, unit: BucketUnit = 'hour'): Bucket {
  const ms = toEventTime(time);
  if (ms === undefined) throw invalidOptions(`bucketOf(time): not a valid time: ${show(time)}`);
  if (!BUCKET_UNITS.includes(unit)) {
    throw invalidOptions(
      `bucketOf(time, unit): unit must be one of ${BUCKET_UNITS.join(', ')}; got ${show(unit)}`,
    );
  }
  const d = new Date(ms);
  const year = pad(d.getUTCFullYear(), 4);
  const month = pad(d.getUTCMonth() + 1);
  const dt = `dt=${year}-${month}-${pad(d.getUTCDate())}`;
  switch (unit) {
    case 'minute': {
      const start = Math.floor(ms / MINUTE) * MINUTE;
      return {
        path: `${dt}/hr=${pad(d.getUTCHours())}/min=${pad(d.getUTCMinutes())}`,
        start,
        end: start + MINUTE,
      };
    }
    case 'hour': {
      const start = Math.floor(ms / HOUR) * HOUR;
      return { path: `${dt}/hr=${pad(d.getUTCHours())}`, start, end: start + HOUR };
    }
    case 'day': {
      const start = Math.floor(ms / DAY) * DAY;
      return { path: dt, start, end: start + DAY };
    }
    default: {
      const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      return { path: `month=${year}-${month}`, start, end };
    }
  }
}

/**
 * An event time as ms since the epoch, or `undefined` when it is not usable: a finite number (ms), a
 * valid `Date`, or a date-time string, read by the one rule of `parseTime` (`src/core/time.ts`): a
 * date-time without a zone is UTC, not the machine's local time — the partition a record lands in
 * must not depend on where the pipeline runs — and times beyond ±8.64e15 ms are not usable.
 */
export function toEventTime(value: unknown): number | undefined {
  return parseTime(value);
}
