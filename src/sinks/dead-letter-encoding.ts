import type { DeadLetter } from '../core/batch.js';

/**
 * A dead letter as `jsonLinesDeadLetter` stores it, one JSON object per line:
 * `{ reason, details, value, cursor, pipeline, batchId, at }` in that order, `at` in ms since epoch
 * (as in {@link DeadLetter}, so a line parses back to the letter it came from), plus `fallbacks`
 * when a field could not be written exactly.
 */
export interface StoredDeadLetter<T = unknown> extends DeadLetter<T> {
  /**
   * Present only when a field (`value`, `details`, …) could not be written as JSON exactly: the
   * field's name → what was written instead, in words (`'bigint written as a decimal string'`).
   */
  fallbacks?: Partial<Record<keyof DeadLetter, string[]>>;
}

/** Options of {@link encodeDeadLetter}. */
export interface DeadLetterEncodingOptions {
  /**
   * Longest JSON text kept for one field (`value` or `details`), in UTF-16 characters; a longer one
   * is replaced by its first `maxFieldChars` characters as a string, and the envelope says so.
   * @default 16_000_000
   */
  maxFieldChars?: number;
}

/** The envelope fields, in the order they are written. */
const FIELDS = ['reason', 'details', 'value', 'cursor', 'pipeline', 'batchId', 'at'] as const;

/** A line is written in pieces no longer than this, so it never has to fit in one string. */
const PIECE = 1 << 20;

/**
 * Encodes a dead letter as one JSON line (with its `\n`), in pieces to be written one after the
 * other: a field's JSON can be longer than anything else in the line, and a whole line may be
 * longer than the longest string V8 can build. Never throws: what JSON cannot hold (a bigint, a
 * cycle, bytes, a throwing getter, a value nested too deep or too long) is written in a safe form
 * and named in `fallbacks`.
 */
export function encodeDeadLetter(letter: DeadLetter, options: DeadLetterEncodingOptions = {}): string[] {
  const maxChars = options.maxFieldChars ?? 16e6;
  const pieces: string[] = [];
  const fallbacks: Record<string, string[]> = {};
  let head = '{';
  let first = true;
  for (const field of FIELDS) {
    const { json, notes } = encodeField(read(letter, field), maxChars);
    if (notes.length > 0) fallbacks[field] = notes;
    // An undefined field is left out, as JSON.stringify does, so it reads back as undefined.
    if (json === undefined) continue;
    head += `${first ? '' : ','}${JSON.stringify(field)}:`;
    first = false;
    if (json.length > PIECE) {
      pieces.push(head, json);
      head = '';
    } else head += json;
  }
  if (Object.keys(fallbacks).length > 0)
    head += `${first ? '' : ','}"fallbacks":${JSON.stringify(fallbacks)}`;
  pieces.push(`${head}}\n`);
  return pieces;
}

/** Joins pieces of many lines into writes of about {@link PIECE} characters. */
export function* joinPieces(lines: Iterable<string[]>): Generator<string> {
  let pending = '';
  for (const pieces of lines) {
    for (const piece of pieces) {
      if (pending.length + piece.length <= PIECE) pending += piece;
      else {
        if (pending.length > 0) yield pending;
        pending = piece;
      }
    }
  }
  if (pending.length > 0) yield pending;
}

interface Encoded {
  /** The field's JSON text; `undefined` to leave the field out. */
  json: string | undefined;
  /** What was written differently from the value, in words; empty when exact. */
  notes: string[];
}

/** A property read that cannot throw (a getter, a Proxy). */
function read(object: object, key: PropertyKey): unknown {
  try {
    return (object as Record<PropertyKey, unknown>)[key];
  } catch (error) {
    return new Unreadable(error);
  }
}

/** The result of a property read that threw. */
class Unreadable {
  constructor(readonly error: unknown) {}
}

/** JSON text of one field, exact when JSON can hold it (the common case: one JSON.stringify). */
function encodeField(value: unknown, maxChars: number): Encoded {
  if (value === undefined) return { json: undefined, notes: [] };
  const notes = new Set<string>();
  let json: string | undefined;
  try {
    json = JSON.stringify(value, replacer(notes));
  } catch (error) {
    // A cycle, a bigint inside a toJSON result, a throwing getter or toJSON, nesting deeper than
    // the stack (RangeError), a text longer than V8's longest string (RangeError).
    return safeCopy(value, maxChars, `JSON.stringify failed (${describe(error)})`);
  }
  if (json === undefined) {
    // A function or a symbol.
    return {
      json: JSON.stringify(`[${typeof value}]`),
      notes: [`a ${typeof value} cannot be written as JSON; written as '[${typeof value}]'`],
    };
  }
  if (json.length > maxChars) {
    notes.add(
      `JSON of ${json.length} characters is longer than ${maxChars}; its first ${maxChars} characters are kept as a string`,
    );
    json = JSON.stringify(json.slice(0, maxChars));
  }
  return { json, notes: [...notes] };
}

/**
 * Replaces what JSON.stringify would throw on or silently mangle, and notes it. Sees the raw value
 * through `this[key]` (JSON.stringify passes the `toJSON()` result as the second argument).
 */
function replacer(notes: Set<string>) {
  return function (this: unknown, key: string, converted: unknown): unknown {
    const raw = (this as Record<string, unknown>)[key];
    if (typeof converted === 'bigint') {
      notes.add('bigint written as a decimal string');
      return converted.toString();
    }
    if (ArrayBuffer.isView(raw) || raw instanceof ArrayBuffer) {
      notes.add('bytes written as { base64 }');
      return { base64: base64(raw) };
    }
    if (raw instanceof Map || raw instanceof Set) {
      notes.add(raw instanceof Map ? 'Map written as [key, value] entries' : 'Set written as an array');
      return [...raw];
    }
    if (typeof converted === 'number' && !Number.isFinite(converted)) {
      notes.add(`${converted} written as null`);
    } else if (typeof converted === 'function' || typeof converted === 'symbol') {
      notes.add(`${typeof converted} left out (or null in an array)`);
    }
    return converted;
  };
}

function base64(bytes: ArrayBufferView | ArrayBuffer): string {
  return ArrayBuffer.isView(bytes)
    ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
    : Buffer.from(bytes).toString('base64');
}

/** Limits of the safe copy: small enough that the copy itself cannot fail or blow up. */
const COPY_DEPTH = 64;
const COPY_NODES = 100_000;
const COPY_STRING = 1 << 20;

/**
 * Encodes a JSON-safe copy of a value JSON.stringify could not take: cycles become '[circular]',
 * nesting past {@link COPY_DEPTH} levels '[too deep]', long strings are cut, throwing reads become
 * '[unreadable: …]'. Recursion is bounded by COPY_DEPTH, so the copy cannot overflow the stack.
 */
function safeCopy(value: unknown, maxChars: number, why: string): Encoded {
  const notes = new Set<string>([why, 'written as a safe copy']);
  const ancestors = new Set<object>();
  let nodes = 0;
  const stringLimit = Math.min(maxChars, COPY_STRING);

  const copy = (v: unknown, depth: number): unknown => {
    if (++nodes > COPY_NODES) {
      notes.add(`cut after ${COPY_NODES} values`);
      return '[…]';
    }
    if (v instanceof Unreadable) {
      notes.add('a property getter threw; written as [unreadable: …]');
      return `[unreadable: ${describe(v.error)}]`;
    }
    switch (typeof v) {
      case 'string':
        if (v.length <= stringLimit) return v;
        notes.add(`a string of ${v.length} characters cut to ${stringLimit}`);
        return v.slice(0, stringLimit);
      case 'number':
        if (!Number.isFinite(v)) notes.add(`${v} written as null`);
        return Number.isFinite(v) ? v : null;
      case 'boolean':
        return v;
      case 'bigint':
        notes.add('bigint written as a decimal string');
        return v.toString();
      case 'undefined':
        return undefined;
      case 'function':
      case 'symbol':
        notes.add(`${typeof v} written as '[${typeof v}]'`);
        return `[${typeof v}]`;
    }
    if (v === null) return null;
    const object = v as object;
    if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
      notes.add('bytes written as { base64 }');
      const text = base64(object);
      return { base64: text.length <= stringLimit ? text : text.slice(0, stringLimit) };
    }
    if (object instanceof Date) {
      const time = object.getTime();
      return Number.isFinite(time) ? object.toISOString() : null;
    }
    if (ancestors.has(object)) {
      notes.add("cycle written as '[circular]'");
      return '[circular]';
    }
    if (depth >= COPY_DEPTH) {
      notes.add(`nesting past ${COPY_DEPTH} levels written as '[too deep]'`);
      return '[too deep]';
    }
    ancestors.add(object);
    try {
      if (Array.isArray(object) || object instanceof Set) {
        const out: unknown[] = [];
        for (const item of object instanceof Set ? object : arrayItems(object)) {
          const c = copy(item, depth + 1);
          out.push(c === undefined ? null : c);
        }
        return out;
      }
      if (object instanceof Map) return copy([...object], depth);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(object)) {
        const c = copy(read(object, key), depth + 1);
        if (c !== undefined) out[key] = c;
      }
      return out;
    } catch (error) {
      // A Proxy whose traps throw, an iterator that throws.
      notes.add('an object could not be read; written as [unreadable: …]');
      return `[unreadable: ${describe(error)}]`;
    } finally {
      ancestors.delete(object);
    }
  };

  let json: string | undefined;
  try {
    json = JSON.stringify(copy(value, 0));
  } catch (error) {
    // Not expected (the copy is plain JSON), but this path must not throw either.
    notes.add(`the safe copy failed too (${describe(error)}); written as a description`);
    json = undefined;
  }
  if (json === undefined || json.length > maxChars) {
    if (json !== undefined) notes.add(`the safe copy is longer than ${maxChars} characters; cut`);
    json = JSON.stringify(json === undefined ? `[${typeof value}]` : json.slice(0, maxChars));
  }
  return { json, notes: [...notes] };
}

function* arrayItems(array: unknown[]): Generator<unknown> {
  for (let i = 0; i < array.length; i++) yield read(array, i);
}

/** An error's message, never throwing (a throwing `message` getter, a `toString` that throws). */
function describe(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return String(error);
  } catch {
    return 'an error that cannot be described';
  }
}
