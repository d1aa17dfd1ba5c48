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
}

/**
 * An ISO-8601 date (`2026-11-25`) or date-time (`2026-11-25T14:00`, seconds and fraction optional,
 * a `T` or a space between), with `Z`, an offset (`+01:00`, `+0100`) or no zone. Nothing else: not a
 * bare number (`Date.parse('1')` is the year 2001), not English or RFC 2822 dates, whose reading
 * differs between engines.
 */
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * The earliest and latest event times: 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
 * Four-digit years are what ISO 8601 dates, warehouse DATE types and the `dt=YYYY-MM-DD` paths of
 * lake partitions hold; a time outside (`1e300`, year −1) made `dt=0NaN-NaN-NaN` and turned a
 * reader's `dt` column into text for the whole table.
 */
export const EVENT_TIME_RANGE = { min: -62_135_596_800_000, max: 253_402_300_799_999 } as const;

const inRange = (ms: number) => ms >= EVENT_TIME_RANGE.min && ms <= EVENT_TIME_RANGE.max;

/**
 * An event time as ms since the epoch, or `undefined` when it is not usable. Usable: a finite
 * number of ms, a valid `Date`, or an ISO-8601 date or date-time string, within
 * {@link EVENT_TIME_RANGE}. A date-time without a zone is read as UTC, not as the machine's local
 * time: the partition a record lands in must not depend on where the pipeline runs.
 */
export function toEventTime(value: unknown): number | undefined {
  // Strings must be ISO-shaped here (parseTime also reads zone-named strings such as
  // toUTCString() output, which a Parquet column may hold but an event time may not).
  if (typeof value === 'string' && (value.length > 64 || !ISO.test(value))) return undefined;
  // One rule for the instant itself (src/core/time.ts): zoneless is UTC, whatever the machine's zone.
  const ms = parseTime(value);
  return ms !== undefined && inRange(ms) ? ms : undefined;
}
