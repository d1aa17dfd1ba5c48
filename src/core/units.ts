import { invalidOptions } from './errors.js';

/** A duration: milliseconds as a number, or a string such as `'250ms'`, `'15s'`, `'5m'`, `'1h'`, `'1d'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/** A size: bytes as a number, or a string such as `'512KB'`, `'8MB'`, `'1GiB'`. */
export type Size = number | `${number}${'B' | 'KB' | 'MB' | 'GB' | 'KiB' | 'MiB' | 'GiB'}`;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
// Decimal units for KB/MB/GB as the SI defines them, binary for KiB/MiB/GiB: a user writing
// '8MB' gets 8,000,000 bytes, the same figure Snowflake and S3 documentation use.
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/**
 * The longest duration any option takes: 100,000 days (about 273 years), so that `now + duration`
 * stays a valid time. Timers longer than Node's 2^31 − 1 ms are chained (see `longTimers` in
 * `clock.ts`), never fired early.
 */
export const MAX_DURATION_MS = 8.64e12;

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)\s*$/i;

/**
 * Parses a {@link Duration} into whole milliseconds.
 * @param what names the option in the error message, e.g. `pipeline 'prices': trigger.window`.
 */
export function parseDuration(value: unknown, what: string, { allowZero = false } = {}): number {
  let ms: number | undefined;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const match = DURATION_RE.exec(value);
    if (match) ms = Number(match[1]) * DURATION_UNITS[match[2]!]!;
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || (!allowZero && ms === 0)) {
    throw invalidOptions(
      `${what} must be a ${allowZero ? 'non-negative' : 'positive'} duration (a number of ms, or a string like '250ms', '15s', '5m'); got ${show(value)}`,
      { option: what, value },
    );
  }
  if (ms > MAX_DURATION_MS) {
    // Past this, `now + duration` leaves the range of a Date: no timer or deadline can honour it.
    throw invalidOptions(
      `${what} must be at most ${MAX_DURATION_MS}ms (100,000 days); got ${show(value)}. For "never", leave the option out`,
      { option: what, value },
    );
  }
  return Math.round(ms);
}

/** Parses a {@link Size} into whole bytes. */
export function parseSize(value: unknown, what: string): number {
  let bytes: number | undefined;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    const match = SIZE_RE.exec(value);
    if (match) bytes = Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
  }
  if (bytes === undefined || !Number.isFinite(bytes) || bytes <= 0) {
    throw invalidOptions(
      `${what} must be a positive size (a number of bytes, or a string like '512KB', '8MB', '1GiB'); got ${show(value)}`,
      { option: what, value },
    );
  }
  return Math.floor(bytes);
}

/** Checks a positive integer option (counts). */
export function parseCount(value: unknown, what: string, { min = 1, allowInfinity = false } = {}): number {
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalidOptions(
      `${what} must be an integer ≥ ${min}${allowInfinity ? ' (or Infinity)' : ''}; got ${show(value)}`,
      { option: what, value },
    );
  }
  return value;
}

/** Formats milliseconds compactly for messages and traces: `850ms`, `15s`, `5m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  if (ms < 1_000 || ms % 1_000 !== 0) return `${ms}ms`;
  if (ms < 60_000 || ms % 60_000 !== 0) return `${ms / 1_000}s`;
  if (ms < 3_600_000 || ms % 3_600_000 !== 0) return `${ms / 60_000}m`;
  return `${ms / 3_600_000}h`;
}

/** Formats bytes compactly: `512B`, `8.0MB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '∞';
  if (bytes < 1e3) return `${bytes}B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)}KB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)}MB`;
  return `${(bytes / 1e9).toFixed(2)}GB`;
}

/** Renders a bad value for an error message without dumping huge objects. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return 'an object';
}
