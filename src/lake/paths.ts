import { join } from 'node:path';
import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';

// The lake layout shared by the lake sink and compaction (docs/parquet-lake.md, "Layout"):
// <dir>/<table>/<k=v/…>/part-<batch id>.parquet, markers and temporary files start with `_` or `.`.

/** The completion marker of a partition directory. */
export const SUCCESS_MARKER = '_SUCCESS';

/** The data file a batch writes into each partition it has records for. */
export const dataFileName = (batchId: string): string => `part-${batchId}.parquet`;

/** True for a file name that holds data (not a marker, an intent or a temporary file). */
export const isDataFile = (name: string): boolean =>
  name.endsWith('.parquet') && !name.startsWith('.') && !name.startsWith('_');

const TABLE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const VERBATIM = /^[A-Za-z0-9._-]$/;

/** `<dir>/<table>` after checking that `table` is a safe directory name; `what` names the caller. */
export function tableRoot(dir: unknown, table: unknown, what: string): string {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw invalidOptions(`${what}: dir must be a non-empty path; got ${show(dir)}`, { option: 'dir' });
  }
  return join(dir, checkTable(table, what));
}

/** `table` after checking that it is a safe name for a folder or a key prefix; `what` names the caller. */
export function checkTable(table: unknown, what: string): string {
  if (
    typeof table !== 'string' ||
    table.length > 128 ||
    !TABLE.test(table) ||
    table === '.' ||
    table === '..'
  ) {
    throw invalidOptions(
      `${what}: table must be 1 to 128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-'; got ${show(table)}`,
      { option: 'table' },
    );
  }
  return table;
}

/** The storage key of a partition's object: `<table>/<partition path>/<name>`. */
export const objectKey = (table: string, partition: string, name: string): string =>
  `${table}/${partition}/${name}`;

/**
 * A partition value as a directory name part: every byte outside `[A-Za-z0-9._-]` of its UTF-8 is
 * written `%XX`, so no value can hold a separator, NUL or other control characters; `.` and `..`
 * (which would name the directory itself or its parent) become `%2E` and `%2E%2E`; an empty value
 * becomes `__empty__`.
 */
export function encodePartitionValue(value: string): string {
  if (value === '') return '__empty__';
  if (value === '.') return '%2E';
  if (value === '..') return '%2E%2E';
  let out = '';
  for (const ch of value) {
    if (VERBATIM.test(ch)) out += ch;
    else
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The partition path for the pairs a `partitionBy` function returned: `k=v/k=v` in insertion order.
 * Keys must be identifiers (`^[A-Za-z_][A-Za-z0-9_]*$`); values strings or finite numbers, encoded
 * with {@link encodePartitionValue}. Anything else is `MB_INVALID_OPTIONS`.
 */
export function partitionPath(pairs: unknown, what: string): string {
  if (typeof pairs !== 'object' || pairs === null || Array.isArray(pairs)) {
    throw invalidOptions(`${what}: partitionBy must return an object of key → value; got ${show(pairs)}`);
  }
  const parts: string[] = [];
  for (const [key, value] of Object.entries(pairs)) {
    if (!KEY.test(key)) {
      throw invalidOptions(
        `${what}: partition key ${show(key)} must be letters, digits and '_', not starting with a digit`,
        { key },
      );
    }
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
      throw invalidOptions(
        `${what}: partition '${key}' must be a string or a finite number; got ${show(value)}`,
        {
          key,
        },
      );
    }
    parts.push(`${key}=${encodePartitionValue(String(value))}`);
  }
  if (parts.length === 0) throw invalidOptions(`${what}: partitionBy returned no partition key`);
  return parts.join('/');
}
