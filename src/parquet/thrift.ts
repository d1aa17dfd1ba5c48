/**
 * A generic Thrift compact-protocol codec, enough to read and rewrite Parquet footers without a
 * generated schema. A struct decodes into a tree that keeps every field id and wire type, and
 * encodes back to the same bytes (for the canonical encodings every writer produces: minimal
 * varints). Callers patch the few fields they know (Parquet's parquet.thrift field ids) and leave
 * the rest, including fields added by newer format versions, untouched.
 *
 * Wire format: https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md
 */

/** Compact-protocol type codes, as they appear on the wire. */
export const ThriftCode = {
  /** A bool field whose value is true (in a field header); the bool element type (in a list). */
  TRUE: 1,
  /** A bool field whose value is false; some writers use it as the bool element type of lists. */
  FALSE: 2,
  I8: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const;

/** A decoded value. Binary values are views into the decoded bytes (copy them to keep them longer). */
export type ThriftValue =
  | { kind: 'bool'; value: boolean }
  | { kind: 'i8' | 'i16' | 'i32' | 'double'; value: number }
  | { kind: 'i64'; value: bigint }
  | { kind: 'binary'; value: Uint8Array }
  | ThriftList
  | ThriftMap
  | ThriftStruct
  | ThriftRaw;

/** A value already encoded: written as `bytes`, with type `code`. Never produced by decoding. */
export interface ThriftRaw {
  kind: 'raw';
  code: number;
  bytes: Uint8Array;
}

/** A list or a set; `element` is the element type code as written (bool lists: 1 or 2). */
export interface ThriftList {
  kind: 'list' | 'set';
  element: number;
  items: ThriftValue[];
  /** The size was written in the long form although it is below 15 (kept for byte identity). */
  longSize?: true;
}

/** A map; key and value type codes as written (absent for an empty map, which has none on the wire). */
export interface ThriftMap {
  kind: 'map';
  key: number;
  value: number;
  entries: [ThriftValue, ThriftValue][];
}

/** A struct: its fields in wire order. */
export interface ThriftStruct {
  kind: 'struct';
  fields: ThriftField[];
}

/** One field of a struct. */
export interface ThriftField {
  id: number;
  value: ThriftValue;
  /** The id was written in the long form although the short (delta) form was possible. */
  longId?: true;
}

/** Bytes that are not a valid compact-protocol struct: `offset` is where decoding stopped. */
export class ThriftError extends Error {
  override readonly name = 'ThriftError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
  }
}

const SMALL_I64 = 2n ** 48n;

// Nesting deeper than this is not a Parquet footer (its depth is about 6) but hostile input.
const MAX_DEPTH = 64;

/**
 * Decodes the struct that starts at `offset` in `bytes`. Returns it and the offset just after its
 * stop byte. Throws {@link ThriftError} on truncated or malformed input.
 */
export function decodeStruct(bytes: Uint8Array, offset = 0): { struct: ThriftStruct; end: number } {
  const reader = new Reader(bytes, offset);
  const struct = reader.struct(0);
  return { struct, end: reader.pos };
}

/** Encodes a struct; `encodeStruct(decodeStruct(b).struct)` gives back `b`'s struct bytes. */
export function encodeStruct(struct: ThriftStruct): Uint8Array {
  const writer = new Writer();
  writer.struct(struct);
  return writer.bytes();
}

/** The value of field `id`, or `undefined`. */
export function getField(struct: ThriftStruct, id: number): ThriftValue | undefined {
  return struct.fields.find((field) => field.id === id)?.value;
}

/**
 * Sets field `id`: replaces its value in place, or inserts it before the first field with a higher
 * id (fields stay in ascending order, as writers emit them).
 */
export function setField(struct: ThriftStruct, id: number, value: ThriftValue): void {
  const existing = struct.fields.find((field) => field.id === id);
  if (existing !== undefined) {
    existing.value = value;
    return;
  }
  const at = struct.fields.findIndex((field) => field.id > id);
  struct.fields.splice(at === -1 ? struct.fields.length : at, 0, { id, value });
}

/** Removes field `id` if present. */
export function removeField(struct: ThriftStruct, id: number): void {
  struct.fields = struct.fields.filter((field) => field.id !== id);
}

/** A deep copy that shares no bytes with the input it was decoded from. */
export function cloneStruct(struct: ThriftStruct): ThriftStruct {
  return decodeStruct(encodeStruct(struct)).struct;
}

/**
 * Walks the struct at `offset` without building a tree (no allocation per field): calls
 * `onField(id, code, start, end)` for each of its own fields, where `start..end` are the bytes of the
 * field's value (empty for a bool field, whose value is in `code`). Returns the offset after the stop
 * byte. For reading a few numbers out of many small structs, such as Parquet page headers.
 */
export function scanStruct(
  bytes: Uint8Array,
  offset: number,
  onField?: (id: number, code: number, start: number, end: number) => void,
): number {
  const reader = new Reader(bytes, offset);
  let last = 0;
  for (;;) {
    const header = reader.next();
    if (header === 0) return reader.pos;
    const code = header & 0x0f;
    const id = header >> 4 === 0 ? reader.zigzag32() : last + (header >> 4);
    const start = reader.pos;
    if (code !== ThriftCode.TRUE && code !== ThriftCode.FALSE) reader.skip(code, 1);
    onField?.(id, code, start, reader.pos);
    last = id;
  }
}

/**
 * Walks the list (or set) whose header is at `offset` without decoding it: calls
 * `onItem(code, start, end)` with the element type and the bytes of each element. Returns the offset
 * after the list.
 */
export function scanList(
  bytes: Uint8Array,
  offset: number,
  onItem: (code: number, start: number, end: number) => void,
): number {
  const reader = new Reader(bytes, offset);
  const header = reader.next();
  const code = header & 0x0f;
  const count = header >> 4 === 15 ? reader.length() : header >> 4;
  for (let i = 0; i < count; i++) {
    const start = reader.pos;
    reader.skip(code, 1);
    onItem(code, start, reader.pos);
  }
  return reader.pos;
}

/** The zigzag varint integer at `offset` (an i16, i32 or i64 value; i64 beyond 2^53 loses precision). */
export function readInteger(bytes: Uint8Array, offset: number): number {
  let n = 0;
  for (let shift = 0, at = offset; at < bytes.length && shift < 64; shift += 7, at++) {
    n += (bytes[at]! & 0x7f) * 2 ** shift;
    if ((bytes[at]! & 0x80) === 0) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }
  throw new ThriftError('unterminated varint', offset);
}

/**
 * Writes a struct field by field, for rewriting a struct while walking it with {@link scanStruct}:
 * fields copied as they were written (`copy`) or given as values (`set`), in ascending id order.
 * Much cheaper than decoding a struct into a tree and encoding it again when most of it is kept.
 */
export class StructWriter {
  #writer = new Writer();
  #last = 0;

  /** Adds field `id` whose value bytes (`start..end` of `bytes`, as scanStruct reports them) are kept. */
  copy(id: number, code: number, bytes: Uint8Array, start: number, end: number): this {
    this.#writer.fieldHeader(id, code, this.#last);
    this.#writer.raw(bytes.subarray(start, end));
    this.#last = id;
    return this;
  }

  /** Adds field `id` with a new value. */
  set(id: number, value: ThriftValue): this {
    const code = value.kind === 'bool' ? (value.value ? ThriftCode.TRUE : ThriftCode.FALSE) : codeOf(value);
    this.#writer.fieldHeader(id, code, this.#last);
    if (value.kind !== 'bool') this.#writer.value(value);
    this.#last = id;
    return this;
  }

  /** The struct's bytes, stop byte included. */
  finish(): Uint8Array {
    this.#writer.stop();
    return this.#writer.bytes();
  }
}

/** The bytes of a list of already-encoded items of type `code` (a {@link ThriftRaw} value). */
export function encodeList(code: number, items: readonly Uint8Array[]): ThriftRaw {
  const writer = new Writer();
  writer.listHeader(code, items.length);
  for (const item of items) writer.raw(item);
  return { kind: 'raw', code: ThriftCode.LIST, bytes: writer.bytes() };
}

class Reader {
  constructor(
    private readonly buf: Uint8Array,
    public pos: number,
  ) {}

  private byte(): number {
    if (this.pos >= this.buf.length) throw new ThriftError('unexpected end of input', this.pos);
    return this.buf[this.pos++]!;
  }

  next(): number {
    return this.byte();
  }

  length(): number {
    return this.size();
  }

  /** Moves past a value of type `code` without decoding it. */
  skip(code: number, depth: number): void {
    if (depth > MAX_DEPTH) throw new ThriftError('nesting too deep', this.pos);
    switch (code) {
      case ThriftCode.TRUE:
      case ThriftCode.FALSE:
      case ThriftCode.I8:
        this.byte();
        return;
      case ThriftCode.I16:
      case ThriftCode.I32:
      case ThriftCode.I64:
        while (this.byte() & 0x80);
        return;
      case ThriftCode.DOUBLE:
        if (this.pos + 8 > this.buf.length) throw new ThriftError('unexpected end of input', this.pos);
        this.pos += 8;
        return;
      case ThriftCode.BINARY: {
        const length = this.size(); // read first: `pos += size()` would add to the old pos
        this.pos += length;
        return;
      }
      case ThriftCode.LIST:
      case ThriftCode.SET: {
        const header = this.byte();
        const count = header >> 4 === 15 ? this.size() : header >> 4;
        for (let i = 0; i < count; i++) this.skip(header & 0x0f, depth + 1);
        return;
      }
      case ThriftCode.MAP: {
        const count = this.size();
        if (count === 0) return;
        const types = this.byte();
        for (let i = 0; i < count; i++) {
          this.skip(types >> 4, depth + 1);
          this.skip(types & 0x0f, depth + 1);
        }
        return;
      }
      case ThriftCode.STRUCT:
        for (;;) {
          const header = this.byte();
          if (header === 0) return;
          if (header >> 4 === 0) this.zigzag32();
          const inner = header & 0x0f;
          if (inner !== ThriftCode.TRUE && inner !== ThriftCode.FALSE) this.skip(inner, depth + 1);
        }
      default:
        throw new ThriftError(`unknown type code ${code}`, this.pos - 1);
    }
  }

  private varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new ThriftError('varint longer than 10 bytes', this.pos);
    }
  }

  /** A zigzag i64. Footers hold thousands of small ones (offsets, sizes): numbers first, bigint past 2^49. */
  private i64(): bigint {
    const start = this.pos;
    let n = 0;
    for (let shift = 0; shift < 49; shift += 7) {
      const b = this.byte();
      n += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return BigInt(n % 2 === 0 ? n / 2 : -(n + 1) / 2);
    }
    this.pos = start;
    const z = this.varint();
    return (z >> 1n) ^ -(z & 1n);
  }

  private smallVarint(): number {
    // Sizes, lengths, i16/i32: at most 5 bytes; the number form is much faster than bigint.
    let result = 0;
    for (let shift = 0; shift <= 28; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new ThriftError('varint longer than 5 bytes', this.pos);
  }

  zigzag32(): number {
    const n = this.smallVarint();
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  private size(): number {
    const n = this.smallVarint();
    if (n > this.buf.length - this.pos) throw new ThriftError(`size ${n} beyond the end of input`, this.pos);
    return n;
  }

  struct(depth: number): ThriftStruct {
    if (depth > MAX_DEPTH) throw new ThriftError('nesting too deep', this.pos);
    const fields: ThriftField[] = [];
    let last = 0;
    for (;;) {
      const header = this.byte();
      if (header === 0) return { kind: 'struct', fields };
      const code = header & 0x0f;
      const delta = header >> 4;
      let id: number;
      let longId = false;
      if (delta === 0) {
        id = this.zigzag32();
        longId = id > last && id - last <= 15;
      } else id = last + delta;
      const value =
        code === ThriftCode.TRUE || code === ThriftCode.FALSE
          ? ({ kind: 'bool', value: code === ThriftCode.TRUE } as const)
          : this.value(code, depth + 1);
      fields.push(longId ? { id, value, longId: true } : { id, value });
      last = id;
    }
  }

  private value(code: number, depth: number): ThriftValue {
    switch (code) {
      case ThriftCode.TRUE:
      case ThriftCode.FALSE: {
        // Only reached for list elements: one byte, 1 = true (0 or 2 = false).
        return { kind: 'bool', value: this.byte() === 1 };
      }
      case ThriftCode.I8: {
        const b = this.byte();
        return { kind: 'i8', value: b > 127 ? b - 256 : b };
      }
      case ThriftCode.I16:
        return { kind: 'i16', value: this.zigzag32() };
      case ThriftCode.I32:
        return { kind: 'i32', value: this.zigzag32() };
      case ThriftCode.I64:
        return { kind: 'i64', value: this.i64() };
      case ThriftCode.DOUBLE: {
        if (this.pos + 8 > this.buf.length) throw new ThriftError('unexpected end of input', this.pos);
        const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8);
        this.pos += 8;
        return { kind: 'double', value: view.getFloat64(0, true) };
      }
      case ThriftCode.BINARY: {
        const length = this.size();
        const value = this.buf.subarray(this.pos, this.pos + length);
        this.pos += length;
        return { kind: 'binary', value };
      }
      case ThriftCode.LIST:
      case ThriftCode.SET: {
        if (depth > MAX_DEPTH) throw new ThriftError('nesting too deep', this.pos);
        const header = this.byte();
        const element = header & 0x0f;
        let count = header >> 4;
        let longSize = false;
        if (count === 15) {
          count = this.size();
          longSize = count < 15;
        }
        const items: ThriftValue[] = [];
        for (let i = 0; i < count; i++) items.push(this.value(element, depth + 1));
        const list: ThriftList = { kind: code === ThriftCode.LIST ? 'list' : 'set', element, items };
        if (longSize) list.longSize = true;
        return list;
      }
      case ThriftCode.MAP: {
        if (depth > MAX_DEPTH) throw new ThriftError('nesting too deep', this.pos);
        const count = this.size();
        if (count === 0) return { kind: 'map', key: 0, value: 0, entries: [] };
        const types = this.byte();
        const key = types >> 4;
        const value = types & 0x0f;
        const entries: [ThriftValue, ThriftValue][] = [];
        for (let i = 0; i < count; i++)
          entries.push([this.value(key, depth + 1), this.value(value, depth + 1)]);
        return { kind: 'map', key, value, entries };
      }
      case ThriftCode.STRUCT:
        return this.struct(depth);
      default:
        throw new ThriftError(`unknown type code ${code}`, this.pos - 1);
    }
  }
}

class Writer {
  private buf = new Uint8Array(256);
  private pos = 0;

  bytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b & 0xff;
  }

  private varint(n: bigint): void {
    this.ensure(10);
    while (n >= 0x80n) {
      this.buf[this.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
  }

  /** A non-negative integer below 2^53 as a varint (`& 0x7f` keeps the low bits right past 2^32). */
  private smallVarint(n: number): void {
    this.ensure(8);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  private zigzag32(n: number): void {
    this.smallVarint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  struct(struct: ThriftStruct): void {
    let last = 0;
    for (const field of struct.fields) {
      const code =
        field.value.kind === 'bool'
          ? field.value.value
            ? ThriftCode.TRUE
            : ThriftCode.FALSE
          : codeOf(field.value);
      this.fieldHeader(field.id, code, last, field.longId === true);
      if (field.value.kind !== 'bool') this.value(field.value);
      last = field.id;
    }
    this.byte(0);
  }

  fieldHeader(id: number, code: number, last: number, long = false): void {
    const delta = id - last;
    if (!long && delta > 0 && delta <= 15) this.byte((delta << 4) | code);
    else {
      this.byte(code);
      this.zigzag32(id);
    }
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  stop(): void {
    this.byte(0);
  }

  listHeader(code: number, count: number): void {
    if (count < 15) this.byte((count << 4) | code);
    else {
      this.byte(0xf0 | code);
      this.smallVarint(count);
    }
  }

  value(value: ThriftValue): void {
    switch (value.kind) {
      case 'raw':
        this.raw(value.bytes);
        return;
      case 'bool':
        this.byte(value.value ? 1 : 2);
        return;
      case 'i8':
        this.byte(value.value);
        return;
      case 'i16':
      case 'i32':
        this.zigzag32(value.value);
        return;
      case 'i64': {
        const v = value.value;
        // The number path covers every offset and size a file can have; bigint only beyond ±2^48.
        if (v > -SMALL_I64 && v < SMALL_I64) {
          const n = Number(v);
          this.smallVarint(n >= 0 ? n * 2 : -n * 2 - 1);
        } else this.varint(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
        return;
      }
      case 'double': {
        this.ensure(8);
        new DataView(this.buf.buffer, this.pos, 8).setFloat64(0, value.value, true);
        this.pos += 8;
        return;
      }
      case 'binary':
        this.smallVarint(value.value.length);
        this.ensure(value.value.length);
        this.buf.set(value.value, this.pos);
        this.pos += value.value.length;
        return;
      case 'list':
      case 'set': {
        const count = value.items.length;
        if (count < 15 && !value.longSize) this.byte((count << 4) | value.element);
        else {
          this.byte(0xf0 | value.element);
          this.smallVarint(count);
        }
        for (const item of value.items) this.value(item);
        return;
      }
      case 'map':
        this.smallVarint(value.entries.length);
        if (value.entries.length === 0) return;
        this.byte((value.key << 4) | value.value);
        for (const [k, v] of value.entries) {
          this.value(k);
          this.value(v);
        }
        return;
      case 'struct':
        this.struct(value);
        return;
    }
  }
}

function codeOf(value: Exclude<ThriftValue, { kind: 'bool' }>): number {
  switch (value.kind) {
    case 'raw':
      return value.code;
    case 'i8':
      return ThriftCode.I8;
    case 'i16':
      return ThriftCode.I16;
    case 'i32':
      return ThriftCode.I32;
    case 'i64':
      return ThriftCode.I64;
    case 'double':
      return ThriftCode.DOUBLE;
    case 'binary':
      return ThriftCode.BINARY;
    case 'list':
      return ThriftCode.LIST;
    case 'set':
      return ThriftCode.SET;
    case 'map':
      return ThriftCode.MAP;
    case 'struct':
      return ThriftCode.STRUCT;
  }
}
