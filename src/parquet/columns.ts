import type * as Arrow from 'apache-arrow';
import { MicrobatchError } from '../core/errors.js';
import { show } from '../core/units.js';
import { toTimestamp } from '../event-time/buckets.js';
import type { ParquetColumn } from './schema.js';

// Column builders: JS values → Arrow `Data`, built directly into typed arrays (REFERENCE.md §6:
// apache-arrow's `vectorFromArray` is the bottleneck for strings). Every value is checked against
// its column on the way; a misfit is `MB_ENCODE_FAILED` naming the column path, the row and the value.

/** The apache-arrow module, loaded lazily by the encoder. */
export type ArrowModule = typeof Arrow;

/**
 * A value inside a struct or list that is itself null: its children are written as placeholders
 * (masked by the parent's validity), not checked, since there is nothing there.
 */
const ABSENT: unique symbol = Symbol('absent');

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const TWO_32 = 2 ** 32;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const encoder = new TextEncoder();

/** The Arrow type of a column. */
export function arrowType(A: ArrowModule, column: ParquetColumn): Arrow.DataType {
  switch (column.type) {
    case 'string':
    case 'enum':
      // An enum is written as Utf8 (not Arrow's Dictionary): every reader sees plain strings, and
      // Parquet's own dictionary encoding already stores each distinct value once per page.
      return new A.Utf8();
    case 'float64':
      return new A.Float64();
    case 'int32':
      return new A.Int32();
    case 'int64':
      return new A.Int64();
    case 'boolean':
      return new A.Bool();
    case 'timestamp':
      return new A.TimestampMillisecond('UTC');
    case 'struct':
      return new A.Struct(column.fields!.map((f) => arrowField(A, f)));
    case 'list':
      return new A.List(arrowField(A, column.items!));
  }
}

/** The Arrow field of a column. */
export function arrowField(A: ArrowModule, column: ParquetColumn): Arrow.Field {
  return new A.Field(column.name, arrowType(A, column), column.nullable);
}

/** Where a value is: its column path, and (per value) the record row it came from. */
interface Place {
  readonly path: string;
  /** `rows[i]` is the record row of value `i`; identity when absent (top-level columns). */
  readonly rows: Int32Array | undefined;
}

/** Builds the Arrow data of one column from its values (`values[i]` for row i). */
export function buildColumn(
  A: ArrowModule,
  column: ParquetColumn,
  values: unknown[],
  place: Place,
): Arrow.Data {
  const type = arrowType(A, column);
  const n = values.length;
  const validity = new Validity(n);
  switch (column.type) {
    case 'string':
    case 'enum': {
      const allowed = column.type === 'enum' ? new Set(column.values) : undefined;
      const { data, valueOffsets } = buildUtf8(values, column, place, validity, allowed);
      return A.makeData({ type: type as Arrow.Utf8, length: n, ...validity.parts(), data, valueOffsets });
    }
    case 'float64': {
      const data = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v === 'number') data[i] = v;
        else if (isNothing(v, column, place, i, validity)) data[i] = 0;
        else misfit(column, place, i, 'a number', v);
      }
      return A.makeData({ type: type as Arrow.Float64, length: n, ...validity.parts(), data });
    }
    case 'int32': {
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v === 'number' && (v | 0) === v) data[i] = v;
        else if (isNothing(v, column, place, i, validity)) data[i] = 0;
        else misfit(column, place, i, `an integer in [${INT32_MIN}, ${INT32_MAX}]`, v);
      }
      return A.makeData({ type: type as Arrow.Int32, length: n, ...validity.parts(), data });
    }
    case 'int64':
    case 'timestamp': {
      // Int64 values are written as two 32-bit words into the same buffer: converting every number
      // to a BigInt costs more than the rest of the column. Arrow buffers are little-endian, as is
      // every platform Node runs on.
      const data = new BigInt64Array(n);
      const words = new Int32Array(data.buffer);
      const isTime = column.type === 'timestamp';
      for (let i = 0; i < n; i++) {
        const v = values[i];
        let ms: number | undefined;
        if (isTime) {
          ms = typeof v === 'number' ? (Number.isFinite(v) ? Math.floor(v) : undefined) : toTimestamp(v);
        } else if (typeof v === 'number') {
          ms = Number.isSafeInteger(v) ? v : undefined;
        } else if (typeof v === 'bigint') {
          if (v >= INT64_MIN && v <= INT64_MAX) {
            data[i] = v;
            continue;
          }
        }
        if (ms !== undefined) {
          setInt64(words, i, ms);
        } else if (!isNothing(v, column, place, i, validity)) {
          misfit(
            column,
            place,
            i,
            isTime
              ? 'a Date, an ISO 8601 string or ms since the epoch'
              : 'a safe integer or a bigint in int64 range',
            v,
          );
        }
      }
      return A.makeData({ type: type as Arrow.Int64, length: n, ...validity.parts(), data });
    }
    case 'boolean': {
      const data = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === true) data[i >> 3]! |= 1 << (i & 7);
        else if (v !== false && !isNothing(v, column, place, i, validity))
          misfit(column, place, i, 'a boolean', v);
      }
      return A.makeData({ type: type as Arrow.Bool, length: n, ...validity.parts(), data });
    }
    case 'struct': {
      const fields = column.fields!;
      const children: unknown[][] = fields.map(() => new Array(n));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        const present = typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
        if (!present && !isNothing(v, column, place, i, validity)) misfit(column, place, i, 'an object', v);
        for (let f = 0; f < fields.length; f++) {
          children[f]![i] = present ? (v as Record<string, unknown>)[fields[f]!.name] : ABSENT;
        }
      }
      const data = fields.map((field, f) =>
        buildColumn(A, field, children[f]!, { path: `${place.path}.${field.name}`, rows: place.rows }),
      );
      return A.makeData({ type: type as Arrow.Struct, length: n, ...validity.parts(), children: data });
    }
    case 'list': {
      const valueOffsets = new Int32Array(n + 1);
      const items: unknown[] = [];
      const itemRows: number[] = [];
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (Array.isArray(v)) {
          const row = place.rows === undefined ? i : place.rows[i]!;
          for (const item of v) {
            items.push(item);
            itemRows.push(row);
          }
        } else if (!isNothing(v, column, place, i, validity)) {
          misfit(column, place, i, 'an array', v);
        }
        valueOffsets[i + 1] = items.length;
      }
      const child = buildColumn(A, column.items!, items, {
        path: `${place.path}[]`,
        rows: Int32Array.from(itemRows),
      });
      return A.makeData({ type: type as Arrow.List, length: n, ...validity.parts(), valueOffsets, child });
    }
  }
}

/** The validity bitmap, allocated on the first null (a column without nulls needs none). */
class Validity {
  bitmap: Uint8Array | undefined;
  nullCount = 0;
  constructor(readonly length: number) {}

  setNull(i: number): void {
    this.bitmap ??= new Uint8Array((this.length + 7) >> 3).fill(0xff);
    this.bitmap[i >> 3]! &= ~(1 << (i & 7));
    this.nullCount++;
  }

  parts(): { nullCount: number; nullBitmap?: Uint8Array } {
    return this.bitmap === undefined
      ? { nullCount: 0 }
      : { nullCount: this.nullCount, nullBitmap: this.bitmap };
  }
}

/**
 * Stores `ms` (an integer) as value `i` of an Int64 buffer seen as 32-bit `words`: the low word,
 * then the high one (two's complement through the floor division).
 */
function setInt64(words: Int32Array, i: number, ms: number): void {
  const high = Math.floor(ms / TWO_32);
  words[2 * i] = ms - high * TWO_32;
  words[2 * i + 1] = high;
}

/**
 * True when `v` is no value (null, undefined, or inside a null parent), recording a null where the
 * column allows it; throws for a missing value of a non-nullable column. False for any other value.
 */
function isNothing(v: unknown, column: ParquetColumn, place: Place, i: number, validity: Validity): boolean {
  if (v === ABSENT) return true; // a placeholder, masked by the parent's null
  if (v !== null && v !== undefined) return false;
  if (!column.nullable)
    misfit(column, place, i, describeType(column), v, v === undefined ? ' (missing)' : '');
  validity.setNull(i);
  return true;
}

function describeType(column: ParquetColumn): string {
  switch (column.type) {
    case 'string':
      return 'a string';
    case 'enum':
      return `one of ${column.values!.map((v) => `'${v}'`).join(', ')}`;
    case 'float64':
      return 'a number';
    case 'int32':
      return 'an int32';
    case 'int64':
      return 'an int64';
    case 'boolean':
      return 'a boolean';
    case 'timestamp':
      return 'a timestamp';
    case 'struct':
      return 'an object';
    case 'list':
      return 'an array';
  }
}

function misfit(
  column: ParquetColumn,
  place: Place,
  i: number,
  expected: string,
  value: unknown,
  note = '',
): never {
  const row = place.rows === undefined ? i : place.rows[i]!;
  throw new MicrobatchError(
    'MB_ENCODE_FAILED',
    `column '${place.path}' (${column.type}) at row ${row}: expected ${expected}, got ${describeValue(value)}${note}`,
    { details: { column: place.path, type: column.type, row } },
  );
}

/** `show` for values, but with the kind of object: `a Date`, `an array of 3`. */
function describeValue(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : 'a Date';
  return show(value);
}

/** Utf8 data: every string's UTF-8 bytes in one buffer, with Int32 offsets. */
function buildUtf8(
  values: unknown[],
  column: ParquetColumn,
  place: Place,
  validity: Validity,
  allowed: Set<string> | undefined,
): { data: Uint8Array; valueOffsets: Int32Array } {
  const n = values.length;
  const valueOffsets = new Int32Array(n + 1);
  let bytes: Uint8Array = new Uint8Array(Math.max(1024, n * 16));
  let end = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v === 'string' && (allowed === undefined || allowed.has(v))) {
      if (end + v.length * 3 > bytes.length) bytes = grow(bytes, end + v.length * 3, place);
      end = writeUtf8(v, bytes, end);
    } else if (!isNothing(v, column, place, i, validity)) {
      misfit(column, place, i, describeType(column), v);
    }
    valueOffsets[i + 1] = end;
  }
  return { data: bytes.subarray(0, end), valueOffsets };
}

/**
 * Writes `v` as UTF-8 into `bytes` from `end` and returns the new end. The caller makes room for
 * `3 × v.length` bytes: a UTF-16 code unit takes at most 3 bytes in UTF-8.
 */
function writeUtf8(v: string, bytes: Uint8Array, end: number): number {
  const length = v.length;
  // Short ASCII strings are copied by hand: cheaper than a subarray and a call to encodeInto.
  let j = 0;
  if (length <= 64) {
    for (; j < length; j++) {
      const code = v.charCodeAt(j);
      if (code >= 0x80) break;
      bytes[end + j] = code;
    }
  }
  return end + (j === length ? length : encoder.encodeInto(v, bytes.subarray(end)).written);
}

/** The size a Utf8 data buffer of `size` bytes grows to so that `needed` bytes fit (at most 2 GiB). */
function grownSize(size: number, needed: number): number {
  return Math.min(INT32_MAX, Math.max(needed, size * 2));
}

function grow(bytes: Uint8Array, needed: number, place: Place): Uint8Array {
  // Utf8 offsets are Int32: a column of one batch holds at most 2 GiB of text.
  if (needed > INT32_MAX) {
    throw new MicrobatchError(
      'MB_ENCODE_FAILED',
      `column '${place.path}' (string): more than 2 GiB of text in one batch; cap the batch size (trigger maxBytes)`,
      { details: { column: place.path } },
    );
  }
  const next = new Uint8Array(grownSize(bytes.length, needed));
  next.set(bytes);
  return next;
}

// ── the fast path: flat schemas, one pass over the records ─────────────────────────────────────

/** Column types the one-pass builder writes; a schema with a struct or a list takes the checked path. */
const FLAT_TYPES = new Set(['string', 'enum', 'float64', 'int32', 'int64', 'boolean', 'timestamp']);

/** True when every top-level column is a leaf, so {@link buildFlatColumns} can build them. */
export function isFlat(columns: readonly ParquetColumn[]): boolean {
  return columns.every((c) => FLAT_TYPES.has(c.type));
}

/**
 * One column's builder on the fast path. `put` stores the value of row `i` and returns false for
 * anything it does not take the common way (an ISO string for a timestamp, a bigint, a misfit); the
 * caller then builds the whole batch on the checked path, which converts or names the misfit.
 */
interface FlatBuilder {
  put(v: unknown, i: number): boolean;
  data(A: ArrowModule, type: Arrow.DataType): Arrow.Data;
}

/** The most bytes of column buffers kept from one batch for the next, over all columns. */
const KEEP_AT_MOST = 64 * 1024 * 1024;

/**
 * Column buffers reused from batch to batch. Allocating fresh typed arrays for every batch grows V8's
 * external memory by tens of MB per batch, and that starts a full mark of the heap (which holds the
 * records): measured as most of the encoder's GC time. A buffer is handed out with stale contents;
 * the builders write every byte they hand to Arrow. Buffers are reused only while the batch that
 * took them is being written, synchronously, so no two batches share one.
 */
class Scratch {
  readonly #kept = new Map<number, ArrayBuffer>();
  #keptBytes = 0;

  /** A buffer of at least `bytes` for `slot` (a column's buffer), with stale contents. */
  take(slot: number, bytes: number): ArrayBuffer {
    const have = this.#kept.get(slot);
    if (have !== undefined && have.byteLength >= bytes) return have;
    const fresh = new ArrayBuffer(bytes);
    const freed = have?.byteLength ?? 0;
    if (this.#keptBytes - freed + bytes <= KEEP_AT_MOST) {
      this.#kept.set(slot, fresh);
      this.#keptBytes += bytes - freed;
    }
    return fresh;
  }
}

const scratch = new Scratch();

/** The validity bitmap of a fast builder: a null where the column does not allow one is refused. */
class FlatNulls extends Validity {
  constructor(
    length: number,
    readonly nullable: boolean,
  ) {
    super(length);
  }
  /** Records a null at row `i`; false when the column does not allow one. */
  set(i: number): boolean {
    if (!this.nullable) return false;
    this.setNull(i);
    return true;
  }
}

class Utf8Builder implements FlatBuilder {
  readonly nulls: FlatNulls;
  readonly offsets: Int32Array;
  bytes: Uint8Array;
  end = 0;
  constructor(
    readonly length: number,
    nullable: boolean,
    readonly allowed: ReadonlySet<string> | undefined,
    readonly slot: number,
  ) {
    this.nulls = new FlatNulls(length, nullable);
    this.offsets = new Int32Array(scratch.take(slot, 4 * (length + 1)), 0, length + 1);
    this.offsets[0] = 0;
    const bytes = Math.max(1024, length * 16);
    this.bytes = new Uint8Array(scratch.take(slot + 1, bytes), 0, bytes);
  }
  put(v: unknown, i: number): boolean {
    if (typeof v === 'string') {
      if (this.allowed !== undefined && !this.allowed.has(v)) return false;
      const end = this.end;
      const needed = end + v.length * 3;
      if (needed > this.bytes.length) {
        if (needed > INT32_MAX) return false; // past 2 GiB the checked path explains
        const size = grownSize(this.bytes.length, needed);
        const next = new Uint8Array(scratch.take(this.slot + 1, size), 0, size);
        next.set(this.bytes.subarray(0, end));
        this.bytes = next;
      }
      this.end = writeUtf8(v, this.bytes, end);
    } else if (v === null || v === undefined) {
      if (!this.nulls.set(i)) return false;
    } else return false;
    this.offsets[i + 1] = this.end;
    return true;
  }
  data(A: ArrowModule, type: Arrow.DataType): Arrow.Data {
    return A.makeData({
      type: type as Arrow.Utf8,
      length: this.length,
      ...this.nulls.parts(),
      data: this.bytes.subarray(0, this.end),
      valueOffsets: this.offsets,
    });
  }
}

/**
 * A builder whose values sit in one fixed-width buffer (`values`), with nulls in a bitmap. Each
 * kind of value is its own subclass, so a generated fill loop's call site sees one class.
 */
abstract class FixedWidthBuilder<Values extends ArrayBufferView> implements FlatBuilder {
  readonly nulls: FlatNulls;
  constructor(
    readonly length: number,
    nullable: boolean,
    readonly values: Values,
  ) {
    this.nulls = new FlatNulls(length, nullable);
  }
  abstract put(v: unknown, i: number): boolean;
  data(A: ArrowModule, type: Arrow.DataType): Arrow.Data {
    // Not a fresh literal: makeData takes `data` for every fixed-width type, and `type` picks which.
    const props = { type, length: this.length, ...this.nulls.parts(), data: this.values };
    return A.makeData(props);
  }
}

class Float64Builder extends FixedWidthBuilder<Float64Array> {
  constructor(length: number, nullable: boolean, slot: number) {
    super(length, nullable, new Float64Array(scratch.take(slot, 8 * length), 0, length));
  }
  put(v: unknown, i: number): boolean {
    if (typeof v === 'number') this.values[i] = v;
    else if (v === null || v === undefined) {
      this.values[i] = 0;
      return this.nulls.set(i);
    } else return false;
    return true;
  }
}

class Int32Builder extends FixedWidthBuilder<Int32Array> {
  constructor(length: number, nullable: boolean, slot: number) {
    super(length, nullable, new Int32Array(scratch.take(slot, 4 * length), 0, length));
  }
  put(v: unknown, i: number): boolean {
    if (typeof v === 'number' && (v | 0) === v) this.values[i] = v;
    else if (v === null || v === undefined) {
      this.values[i] = 0;
      return this.nulls.set(i);
    } else return false;
    return true;
  }
}

/** int64 and timestamp: safe-integer numbers (and valid `Date`s for a timestamp) as two 32-bit words. */
class Int64Builder extends FixedWidthBuilder<BigInt64Array> {
  readonly words: Int32Array;
  constructor(
    length: number,
    nullable: boolean,
    readonly isTime: boolean,
    slot: number,
  ) {
    const buffer = scratch.take(slot, 8 * length);
    super(length, nullable, new BigInt64Array(buffer, 0, length));
    this.words = new Int32Array(buffer, 0, 2 * length);
  }
  put(v: unknown, i: number): boolean {
    let ms: number;
    if (this.isTime && v instanceof Date) {
      ms = v.getTime();
      if (Number.isNaN(ms)) return false; // an invalid Date: the checked path names it
    } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
      ms = v;
    } else if (this.isTime && typeof v === 'number' && Number.isFinite(v)) {
      ms = Math.floor(v);
    } else if (v === null || v === undefined) {
      this.values[i] = 0n;
      return this.nulls.set(i);
    } else return false;
    setInt64(this.words, i, ms);
    return true;
  }
}

class BoolBuilder extends FixedWidthBuilder<Uint8Array> {
  constructor(length: number, nullable: boolean, slot: number) {
    const bytes = (length + 7) >> 3;
    super(length, nullable, new Uint8Array(scratch.take(slot, bytes), 0, bytes).fill(0));
  }
  put(v: unknown, i: number): boolean {
    if (v === true) this.values[i >> 3]! |= 1 << (i & 7);
    else if (v !== false) return (v === null || v === undefined) && this.nulls.set(i);
    return true;
  }
}

/** The builder of top-level column number `c`; its buffers are scratch slots `2c` and `2c + 1`. */
function flatBuilder(column: ParquetColumn, n: number, c: number): FlatBuilder {
  const slot = 2 * c;
  switch (column.type) {
    case 'string':
      return new Utf8Builder(n, column.nullable, undefined, slot);
    case 'enum':
      return new Utf8Builder(n, column.nullable, new Set(column.values), slot);
    case 'float64':
      return new Float64Builder(n, column.nullable, slot);
    case 'int32':
      return new Int32Builder(n, column.nullable, slot);
    case 'int64':
    case 'timestamp':
      return new Int64Builder(n, column.nullable, column.type === 'timestamp', slot);
    case 'boolean':
      return new BoolBuilder(n, column.nullable, slot);
    default:
      throw new Error(`not a flat column type: ${column.type}`);
  }
}

/** Fills the builders from the records, row by row; returns the first row it could not take, or -1. */
type FlatFill = (records: readonly unknown[], builders: readonly FlatBuilder[]) => number;
const fills = new Map<string, FlatFill>();

/**
 * The loop is generated per schema so that each field is a named property access (`r["sku"]`) with
 * its own inline cache, and each builder call site sees one builder class: reading `record[name]`
 * with a variable name, or calling builders through one polymorphic site, is several times slower.
 */
function fillFor(columns: readonly ParquetColumn[]): FlatFill {
  const key = columns.map((c) => `${c.name}\u0000${c.type}`).join('\u0001');
  let fill = fills.get(key);
  if (fill === undefined) {
    const init = columns.map((_, c) => `const b${c} = builders[${c}];`).join(' ');
    const puts = columns
      .map((c, k) => `if (!b${k}.put(r[${JSON.stringify(c.name)}], i)) return i;`)
      .join(' ');
    fill = new Function(
      'records',
      'builders',
      `${init}
       for (let i = 0, n = records.length; i < n; i++) {
         const r = records[i];
         if (typeof r !== 'object' || r === null) return i;
         ${puts}
       }
       return -1;`,
    ) as FlatFill;
    if (fills.size >= 64) fills.clear();
    fills.set(key, fill);
  }
  return fill;
}

/**
 * Builds the Arrow data of flat columns ({@link isFlat}) in one pass over the records, without an
 * array of values per column. Returns `undefined` when a value is not of the common kind (a null in a
 * non-nullable column, a misfit, an ISO string timestamp, a bigint, a record that is not an object):
 * the caller then builds the batch on the checked path, which converts it or throws
 * `MB_ENCODE_FAILED` naming the column, the row and the value. The data's buffers are reused by the
 * next call: write them (parquet-wasm copies them) before anything else runs.
 */
export function buildFlatColumns(
  A: ArrowModule,
  columns: readonly ParquetColumn[],
  records: readonly unknown[],
): Arrow.Data[] | undefined {
  const builders = columns.map((c, k) => flatBuilder(c, records.length, k));
  if (fillFor(columns)(records, builders) !== -1) return undefined;
  return builders.map((b, c) => b.data(A, arrowType(A, columns[c]!)));
}
