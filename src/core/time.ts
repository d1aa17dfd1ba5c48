/**
 * The one rule for reading a point in time from a record, shared by event time and the Parquet
 * encoder, so that a value lands in the same partition and is stored as the same instant whatever
 * machine runs the pipeline.
 *
 * - a finite number: ms since the epoch;
 * - a valid `Date`;
 * - an ISO 8601 / RFC 3339 string `YYYY-MM-DD`, optionally followed by `T` or one space and
 *   `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fraction`, optionally followed by `Z` or an offset (`+01:00`,
 *   `+0100`, `+01`). **Without a zone the time is UTC** (RFC 3339 has no local time; reading it as
 *   the machine's zone, as `Date.parse` does for `'2026-11-25 14:00:00'`, would move a record by
 *   hours from one server to the next). Digits past milliseconds are dropped (floored);
 * - any other string only when it names its zone explicitly (`GMT`, `UTC`, `Z`, `+0100`), as in
 *   `Date.prototype.toUTCString()` output, read by `Date.parse`; a zoneless string in any other
 *   shape (`'2026/11/25 14:00:00'`, `'25 Nov 2026 14:00'`) is not a time.
 *
 * The result lies within ±8.64e15 ms (±100,000,000 days, the range of a JavaScript `Date`, which
 * every Parquet reader can convert to microseconds); anything outside is not a time.
 */

/** The largest |ms| a time may have: the range of a JavaScript `Date`. */
export const MAX_TIME_MS = 8.64e15;

/** Longest string read as a time: an ISO string with nanoseconds and an offset is about 35. */
const MAX_TEXT = 64;

const ISO =
  /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;
/** A zone named outright in a non-ISO string. */
const EXPLICIT_ZONE = /(?:\b(?:GMT|UTC|Z)\b|[+-]\d{4}\b)/;

/**
 * `value` as ms since the epoch by the rule above, or `undefined` when it is not a time.
 * Numbers keep their fraction (event times may be fractional); the Parquet encoder floors them.
 */
export function parseTime(value: unknown): number | undefined {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'string' && value.length <= MAX_TEXT) {
    const parsed = parseIso(value);
    if (parsed !== null) ms = parsed;
    else if (EXPLICIT_ZONE.test(value) && !/^[+-]?\d/.test(value)) ms = Date.parse(value);
    else return undefined;
  } else return undefined;
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS ? ms : undefined;
}

/** An ISO 8601 string as ms (NaN when a field is out of range), or null when it is not ISO-shaped. */
function parseIso(text: string): number | null {
  const m = ISO.exec(text);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  // Fraction digits past the millisecond are dropped: 0.9999 s is 999 ms (floored, never rounded up
  // into the next second).
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  // '-000000' is not a year (ISO 8601 extended years forbid it).
  if (m[1] === '-000000') return Number.NaN;
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return Number.NaN;
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  let offset = 0;
  if (m[9] !== undefined) {
    const hours = Number(m[10]);
    const minutes = m[11] === undefined ? 0 : Number(m[11]);
    if (hours > 23 || minutes > 59) return Number.NaN;
    offset = (m[9] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
  date.setUTCFullYear(year);
  return date.getTime() - offset;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
