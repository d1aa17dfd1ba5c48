import { show } from '../core/units.js';
import type { PostgresColumn, PostgresType } from './columns.js';

/**
 * Rows in PostgreSQL's COPY text format: columns separated by tabs, rows by newlines, `\N` for null,
 * backslash, tab, newline and carriage return escaped with a backslash. Measured against the binary
 * format (bench/postgres): as fast or faster from JavaScript, and simpler to get exact (see
 * docs/postgres.md#copy-format).
 */

/** A value that does not fit its column; the sink turns it into a row error naming the column. */
export class ValueError extends Error {
  constructor(
    readonly column: string,
    message: string,
  ) {
    super(message);
  }
}

type Encode = (value: unknown) => string;

const NULL = '\\N';
const SPECIAL_ALL = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeChar = (c: string) => ESCAPES[c]!;
/** NUL (PostgreSQL text cannot hold it) or a UTF-16 surrogate (checked further: a lone one would not survive UTF-8). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what is looked for.
const NEEDS_WORK = /[\\\n\r\t\u0000\uD800-\uDFFF]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what is looked for.
const SUSPECT = /[\u0000\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** timestamptz and date in ISO form: years 1 to 9999 (PostgreSQL reads other years in other forms). */
const MIN_TIME = Date.UTC(1, 0, 1) - 0;
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * A text value as COPY text: checked (no U+0000, no lone surrogate) and escaped. One scan finds
 * whether anything needs a closer look, so the common plain string costs a single regex test.
 */
function encodeText(text: string, column: string): string {
  if (!NEEDS_WORK.test(text)) return text;
  if (SUSPECT.test(text)) {
    if (text.includes('\u0000')) throw new ValueError(column, 'text cannot hold the character U+0000');
    if (LONE_SURROGATE.test(text)) {
      throw new ValueError(column, 'the string holds a lone UTF-16 surrogate, which has no UTF-8 form');
    }
  }
  return text.replace(SPECIAL_ALL, escapeChar);
}

/** Escapes text already known to be valid (JSON output, array literals). */
function escapeText(text: string): string {
  return text.replace(SPECIAL_ALL, escapeChar);
}

function fail(column: string, type: PostgresType, value: unknown, expected: string): never {
  throw new ValueError(column, `${show(value)} does not fit ${type}: expected ${expected}`);
}

function isoTime(ms: number, column: string, type: PostgresType, value: unknown): string {
  if (!(ms >= MIN_TIME && ms <= MAX_TIME)) {
    fail(column, type, value, 'a valid date between the years 1 and 9999');
  }
  return value instanceof Date ? value.toISOString() : new Date(ms).toISOString();
}

/** An array item: checked like text; escaped later with the whole literal. */
function checkArrayItem(text: string, column: string): string {
  if (SUSPECT.test(text)) encodeText(text, column);
  return text;
}

function encoderFor(column: PostgresColumn): Encode {
  const { name, type } = column;
  switch (type) {
    case 'text':
      return (v) => (typeof v === 'string' ? encodeText(v, name) : fail(name, type, v, 'a string'));
    case 'integer':
      return (v) => {
        if (typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX)
          return String(v);
        if (typeof v === 'bigint' && v >= INT32_MIN && v <= INT32_MAX) return String(v);
        return fail(name, type, v, 'an integer between -2^31 and 2^31-1');
      };
    case 'bigint':
      return (v) => {
        if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
        if (typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX) return String(v);
        return fail(name, type, v, 'a safe integer or a bigint between -2^63 and 2^63-1');
      };
    case 'numeric':
      return (v) => {
        if (
          typeof v === 'string' &&
          (NUMERIC.test(v) || v === 'NaN' || v === 'Infinity' || v === '-Infinity')
        ) {
          return v;
        }
        if (typeof v === 'number') return Object.is(v, -0) ? '0' : String(v);
        if (typeof v === 'bigint') return String(v);
        return fail(name, type, v, 'a decimal string, a number or a bigint');
      };
    case 'double precision':
      // String(x) is the shortest text that reads back as x (ECMAScript Number::toString), and
      // PostgreSQL ≥ 12 prints float8 the same way: every double, NaN and ±Infinity round-trip.
      return (v) =>
        typeof v === 'number' ? (Object.is(v, -0) ? '-0' : String(v)) : fail(name, type, v, 'a number');
    case 'boolean':
      return (v) => (v === true ? 't' : v === false ? 'f' : fail(name, type, v, 'a boolean'));
    case 'timestamptz':
      return (v) => {
        if (v instanceof Date) return isoTime(v.getTime(), name, type, v);
        if (typeof v === 'number') return isoTime(v, name, type, v);
        if (typeof v === 'string') return encodeText(v, name);
        return fail(name, type, v, 'a Date, ms since the epoch or an ISO 8601 string');
      };
    case 'date':
      return (v) => {
        if (v instanceof Date) return isoTime(v.getTime(), name, type, v).slice(0, 10);
        if (typeof v === 'string') return encodeText(v, name);
        return fail(name, type, v, "a Date (its UTC day) or a 'YYYY-MM-DD' string");
      };
    case 'jsonb':
      return (v) => {
        let json: string | undefined;
        try {
          json = JSON.stringify(v);
        } catch (error) {
          throw new ValueError(name, `the value cannot be written as JSON: ${(error as Error).message}`);
        }
        // undefined, a function or a symbol at the top: no JSON text, written as JSON null.
        return escapeText(json ?? 'null');
      };
    case 'text[]':
      return (v) => {
        if (!Array.isArray(v)) return fail(name, type, v, 'an array of strings');
        let literal = '{';
        for (let i = 0; i < v.length; i++) {
          const item: unknown = v[i];
          if (i > 0) literal += ',';
          if (item === null || item === undefined) literal += 'NULL';
          else if (typeof item === 'string')
            literal += `"${checkArrayItem(item, name).replace(/["\\]/g, '\\$&')}"`;
          else fail(name, type, v, 'an array of strings (or nulls)');
        }
        return escapeText(`${literal}}`);
      };
  }
}

/** Encodes records as COPY text rows for `columns`. */
export interface RowEncoder {
  /** The row of `record`, ending in a newline; throws a {@link ValueError} for a value that does not fit. */
  row(record: unknown): string;
}

export function rowEncoder(columns: readonly PostgresColumn[]): RowEncoder {
  const encoders = columns.map(encoderFor);
  const fields = columns.map((c) => c.field);
  const n = columns.length;
  return {
    row(record) {
      if (typeof record !== 'object' || record === null) {
        throw new ValueError('(record)', `a record must be an object; got ${show(record)}`);
      }
      const r = record as Record<string, unknown>;
      let line = '';
      for (let i = 0; i < n; i++) {
        const value = r[fields[i]!];
        if (i > 0) line += '\t';
        line += value === null || value === undefined ? NULL : encoders[i]!(value);
      }
      return `${line}\n`;
    },
  };
}
