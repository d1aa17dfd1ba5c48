import { MAX_TIME_MS, parseTime } from '../core/time.js';
import type { SinkRejection } from '../sinks/types.js';
import type { ParquetColumn } from './schema.js';

/**
 * Why one record cannot be encoded: the column path (`'address.zip'`, `'items[].price'`), its type
 * and what it takes. No value: this goes into dead letters and logs, where a record's data must
 * not travel outside the redacted `value` field.
 */
export interface Unencodable {
  column: string;
  type: ParquetColumn['type'];
  expected: string;
  /** The kind of value found: `'a string'`, `'an integer'`, `'missing'`. */
  got: string;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The first value of `record` that the encoder would refuse, or `undefined` when the record fits
 * `columns`. The same rules as the column builders (`columns.ts`); a property test holds the two
 * together (`test/parquet/check.property.test.ts`): a batch of records this accepts always encodes.
 */
export function findUnencodable(record: unknown, columns: readonly ParquetColumn[]): Unencodable | undefined {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { column: '', type: 'struct', expected: 'an object (a record)', got: kind(record) };
  }
  for (const column of columns) {
    const found = checkValue((record as Record<string, unknown>)[column.name], column, column.name);
    if (found !== undefined) return found;
  }
  return undefined;
}

function checkValue(v: unknown, column: ParquetColumn, path: string): Unencodable | undefined {
  if (v === null || v === undefined) {
    return column.nullable ? undefined : misfit(column, path, v === undefined ? 'missing' : 'null');
  }
  switch (column.type) {
    case 'string':
      return typeof v === 'string' ? undefined : misfit(column, path, kind(v));
    case 'enum':
      return typeof v === 'string' && column.values!.includes(v) ? undefined : misfit(column, path, kind(v));
    case 'float64':
      return typeof v === 'number' ? undefined : misfit(column, path, kind(v));
    case 'int32':
      return typeof v === 'number' && (v | 0) === v ? undefined : misfit(column, path, kind(v));
    case 'int64':
      if (typeof v === 'number') return Number.isSafeInteger(v) ? undefined : misfit(column, path, kind(v));
      if (typeof v === 'bigint')
        return v >= INT64_MIN && v <= INT64_MAX ? undefined : misfit(column, path, kind(v));
      return misfit(column, path, kind(v));
    case 'boolean':
      return typeof v === 'boolean' ? undefined : misfit(column, path, kind(v));
    case 'timestamp':
      return parseTime(v) !== undefined ? undefined : misfit(column, path, kind(v));
    case 'struct': {
      if (typeof v !== 'object' || Array.isArray(v) || v instanceof Date)
        return misfit(column, path, kind(v));
      for (const field of column.fields!) {
        const found = checkValue((v as Record<string, unknown>)[field.name], field, `${path}.${field.name}`);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    case 'list': {
      if (!Array.isArray(v)) return misfit(column, path, kind(v));
      for (const item of v) {
        const found = checkValue(item, column.items!, `${path}[]`);
        if (found !== undefined) return found;
      }
      return undefined;
    }
  }
}

function misfit(column: ParquetColumn, path: string, got: string): Unencodable {
  return { column: path, type: column.type, expected: expected(column), got };
}

function expected(column: ParquetColumn): string {
  switch (column.type) {
    case 'string':
      return 'a string';
    case 'enum':
      return `one of ${column.values!.length} values`;
    case 'float64':
      return 'a number';
    case 'int32':
      return 'an integer in int32 range';
    case 'int64':
      return 'a safe integer or a bigint in int64 range';
    case 'boolean':
      return 'a boolean';
    case 'timestamp':
      return `a Date, an ISO 8601 string or ms since the epoch within ±${MAX_TIME_MS} ms`;
    case 'struct':
      return 'an object';
    case 'list':
      return 'an array';
  }
}

/** The kind of a value, never the value itself. */
function kind(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'an invalid Date' : 'a Date';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'number':
      if (Number.isNaN(v)) return 'NaN';
      if (!Number.isFinite(v)) return 'an infinite number';
      if (!Number.isInteger(v)) return 'a fractional number';
      return Number.isSafeInteger(v) ? 'an integer' : 'an integer beyond ±2^53';
    case 'bigint':
      return 'a bigint';
    case 'string':
      return 'a string';
    case 'object':
      return 'an object';
    default:
      return `a ${typeof v}`;
  }
}

/**
 * The records the encoder would refuse, as sink rejections (`unencodable`, with the column): the
 * lake sink's `screen`, so that one bad value is one dead letter and the batch goes on.
 */
export function screenRecords(
  records: readonly unknown[],
  columns: readonly ParquetColumn[],
): SinkRejection[] | undefined {
  let out: SinkRejection[] | undefined;
  const reject = (i: number) => {
    const found = findUnencodable(records[i], columns);
    if (found !== undefined) (out ??= []).push({ index: i, reason: 'unencodable', details: found });
  };
  const fast = flatScreen(columns);
  if (fast === undefined) {
    for (let i = 0; i < records.length; i++) reject(i);
    return out;
  }
  // The generated loop skips the records that fit; each one it stops at is looked at in detail.
  for (let i = fast(records, 0); i !== -1; i = fast(records, i + 1)) reject(i);
  return out;
}

/** Returns the index of the first record from `from` that may not fit, or -1. */
type FlatScreen = (records: readonly unknown[], from: number) => number;
const screens = new WeakMap<readonly ParquetColumn[], FlatScreen | null>();

/**
 * For a schema of top-level leaf columns, a loop generated for the schema: each field read by name
 * with its check inline (`typeof v === 'number'`), so that screening a batch costs a fraction of
 * encoding it (bench/parquet/screen.ts) rather than a function call per value.
 */
function flatScreen(columns: readonly ParquetColumn[]): FlatScreen | undefined {
  const cached = screens.get(columns);
  if (cached !== undefined) return cached ?? undefined;
  if (columns.some((c) => c.type === 'struct' || c.type === 'list')) {
    screens.set(columns, null);
    return undefined;
  }
  const sets = columns.map((c) => (c.type === 'enum' ? new Set(c.values) : undefined));
  const checks = columns.map((c, k) => {
    const fits = fitsExpression(c.type, k);
    return `v = r[${JSON.stringify(c.name)}]; if (!(${c.nullable ? `v === null || v === undefined || ` : ''}${fits})) return i;`;
  });
  const screen = new Function(
    'sets',
    'parseTime',
    'MAX_TIME',
    'INT64_MIN',
    'INT64_MAX',
    `return function (records, from) {
       for (let i = from, n = records.length; i < n; i++) {
         const r = records[i];
         if (typeof r !== 'object' || r === null || Array.isArray(r)) return i;
         let v;
         ${checks.join('\n         ')}
       }
       return -1;
     };`,
  )(sets, parseTime, MAX_TIME_MS, INT64_MIN, INT64_MAX) as FlatScreen;
  screens.set(columns, screen);
  return screen;
}

/** The inline check of a leaf value `v` (the same rules as {@link checkValue}). */
function fitsExpression(type: ParquetColumn['type'], k: number): string {
  switch (type) {
    case 'string':
      return `typeof v === 'string'`;
    case 'enum':
      return `typeof v === 'string' && sets[${k}].has(v)`;
    case 'float64':
      return `typeof v === 'number'`;
    case 'int32':
      return `typeof v === 'number' && (v | 0) === v`;
    case 'int64':
      return `(typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX)`;
    case 'boolean':
      return `typeof v === 'boolean'`;
    case 'timestamp':
      return `(v instanceof Date && v.getTime() === v.getTime()) || (typeof v === 'number' && v <= MAX_TIME && v >= -MAX_TIME) || (typeof v === 'string' && parseTime(v) !== undefined)`;
    default:
      throw new Error(`not a leaf column type: ${type}`);
  }
}
