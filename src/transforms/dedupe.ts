import { randomBytes } from 'node:crypto';
import { invalidOptions } from '../core/errors.js';
import { type Duration, parseCount, parseDuration, show } from '../core/units.js';
import { errorMessage, Sorter } from './sort.js';
import type { Transform } from './types.js';

/** A dedupe key: records with the same key (by `Map` equality, so `1` and `'1'` differ) are duplicates. */
export type DedupeKey = string | number;

/** Remember keys across batches, for a while and up to a bound. */
export interface DedupeWindow {
  /** How long a kept record's key is remembered, from the batch that kept it (pipeline clock). */
  ttl: Duration;
  /**
   * Most keys remembered; past it the oldest are forgotten first, so a duplicate of a forgotten key
   * gets through. Memory is about 60 bytes per key plus the key itself.
   * @default 100_000
   */
  maxKeys?: number;
}

/** Options of {@link dedupe}. */
export interface DedupeOptions {
  /**
   * `'batch'`: duplicates within one batch only; nothing is remembered between batches, so the
   * transform holds no state and uses no clock. `{ ttl, maxKeys }`: also duplicates of records kept
   * by earlier batches (of any partition) within `ttl`, see {@link DedupeWindow}.
   * @default 'batch'
   */
  scope?: 'batch' | DedupeWindow;
}

/** The transform {@link dedupe} returns, with a look at its memory. */
export interface DedupeTransform<T> extends Transform<T, T> {
  /** Keys remembered across batches right now (always 0 for the `'batch'` scope); never above `maxKeys`. */
  readonly remembered: number;
}

const DEFAULT_MAX_KEYS = 100_000;

/**
 * Drops records whose `key(record)` was already seen, keeping the first occurrence; they are counted
 * as `duplicates` in the report, not dead-lettered. A `key` that throws or returns something other
 * than a string or a finite number rejects the record as `invalid_key`.
 *
 * With a window (`scope: { ttl, maxKeys }`), the same source record read again (same partition and
 * offset, as after a failed write is replayed) is not its own duplicate: it is kept again.
 */
export function dedupe<T>(key: (record: T) => DedupeKey, options: DedupeOptions = {}): DedupeTransform<T> {
  if (typeof key !== 'function')
    throw invalidOptions('dedupe(key): key must be a function returning a string or a number');
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`dedupe(key, options): options must be an object; got ${show(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (name !== 'scope')
      throw invalidOptions(`dedupe(key, options): unknown option '${name}'`, { option: name });
  }
  const scope = options.scope ?? 'batch';
  let ttl = 0;
  let maxKeys = 0;
  if (scope !== 'batch') {
    if (typeof scope !== 'object' || scope === null) {
      throw invalidOptions(
        `dedupe({ scope }): scope must be 'batch' or { ttl, maxKeys }; got ${show(scope)}`,
      );
    }
    for (const name of Object.keys(scope)) {
      if (name !== 'ttl' && name !== 'maxKeys') {
        throw invalidOptions(`dedupe({ scope }): unknown option 'scope.${name}'`, {
          option: `scope.${name}`,
        });
      }
    }
    if (scope.ttl === undefined)
      throw invalidOptions("dedupe({ scope }): scope.ttl is required, e.g. { ttl: '1h' }");
    ttl = parseDuration(scope.ttl, 'dedupe({ scope }): scope.ttl');
    maxKeys = parseCount(scope.maxKeys ?? DEFAULT_MAX_KEYS, 'dedupe({ scope }): scope.maxKeys');
  }
  const memory = new KeyMemory(maxKeys);

  return {
    name: 'dedupe',
    get remembered() {
      return memory.size;
    },
    apply({ records, offsets, partition, at }) {
      const sorter = new Sorter<T>();
      if (scope !== 'batch') memory.expire(at - ttl);
      // In a window, keys kept by this batch are in memory too; the batch's own set is needed only
      // when the batch could push its own keys out.
      const batch = scope === 'batch' || records.length > maxKeys ? new Set<DedupeKey>() : undefined;
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!;
        let k: unknown;
        try {
          k = key(record);
        } catch (error) {
          sorter.reject(i, 'invalid_key', { error: `key threw: ${errorMessage(error)}` });
          continue;
        }
        if (typeof k !== 'string' && !(typeof k === 'number' && Number.isFinite(k))) {
          sorter.reject(i, 'invalid_key', {
            error: `key must return a string or a finite number; got ${show(k)}`,
          });
          continue;
        }
        if (batch !== undefined) {
          if (batch.has(k)) {
            sorter.duplicates++;
            continue;
          }
          batch.add(k);
        }
        if (scope !== 'batch') {
          const hash = memory.hash(k);
          const slot = memory.find(k, hash);
          const offset = offsets[i]!;
          if (slot !== -1 && at - memory.at[slot]! < ttl && !memory.is(slot, partition, offset)) {
            sorter.duplicates++;
            continue;
          }
          memory.keep(k, hash, slot, at, partition, offset);
        }
        sorter.keep(record, i);
      }
      return sorter.output(records.length);
    },
  };
}

/**
 * The keys a window remembers, in the order they were kept: a ring of slots (parallel arrays, grown
 * by doubling up to `capacity`) and an open-addressing hash table from a key to its slot.
 *
 * Why not a `Map<key, slot>`: a new key cost a `get`, a `set` and, once full, a `delete` of the
 * oldest key, three probes of a 100,000-entry table whose entries and key strings are scattered in
 * the heap, plus the garbage of its rehash every few tens of thousands of keys: ≈220 ns per new key
 * with 100,000 keys remembered. Here a new key costs one probe of a flat `Int32Array`, which also
 * gives the place to insert it, and forgetting a key compares slot numbers, never strings: ≈70 ns.
 * In bench/transforms.ts dedupe's step went from ≈330 to ≈140 ns per record. (The order cannot be
 * a Map's own either: deleting a Map's first key one at a time is quadratic in V8, as
 * `keys().next()` walks every deleted entry until a rehash.) Memory at `capacity`: 36 bytes per
 * slot in the ring and 16 to 32 in the table, about 60 bytes per key as documented.
 *
 * The hash is computed here, over every character, seeded at random per instance so that keys that
 * collide cannot be prepared in advance (V8 seeds its own string hash for the same reason);
 * colliding keys would only make probes longer, never wrong. A slot whose key
 * was kept again since (a replay, or after its ttl) is released: its key is cleared, the table
 * points at the newer slot, and forgetting the old slot touches nothing else.
 */
class KeyMemory {
  keys: (DedupeKey | undefined)[] = [];
  hashes = new Int32Array(0);
  at = new Float64Array(0);
  offsets = new Float64Array(0);
  partitions: (string | undefined)[] = [];
  #head = 0;
  #count = 0;
  #size = 0;
  // Pairs (hash, slot + 1), 0 marking an empty place; the places are a power of two, at least
  // twice the ring's length, so that a probe rarely goes past the second place.
  #table = new Int32Array(4);
  #mask = 1;
  // Where the last `find` stopped: the key's place, or the empty place where it would go.
  #place = 0;
  readonly #seed = randomBytes(4).readInt32LE(0);

  constructor(readonly capacity: number) {}

  /** Keys remembered. */
  get size(): number {
    return this.#size;
  }

  /** A 32-bit hash of `key`, the same for equal keys (`0` and `-0` included). */
  hash(key: DedupeKey): number {
    let h: number;
    if (typeof key === 'string') {
      h = this.#seed ^ key.length;
      for (let i = 0; i < key.length; i++) {
        h = Math.imul(h ^ key.charCodeAt(i), 0x5bd1e995);
        h ^= h >>> 15;
      }
    } else if ((key | 0) === key) {
      // Integers, and -0 as 0: they are the same key.
      h = this.#seed ^ key;
    } else {
      FLOAT[0] = key;
      h = Math.imul(this.#seed ^ WORDS[0]!, 0x5bd1e995) ^ WORDS[1]!;
    }
    // MurmurHash3's finaliser: the low bits, which pick the place, depend on every bit.
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** The slot remembering `key` (whose {@link hash} is `hash`), or -1. */
  find(key: DedupeKey, hash: number): number {
    const table = this.#table;
    const mask = this.#mask;
    let place = hash & mask;
    for (;;) {
      const slot = table[2 * place + 1]! - 1;
      if (slot === -1) break;
      if (table[2 * place] === hash && this.keys[slot] === key) {
        this.#place = place;
        return slot;
      }
      place = (place + 1) & mask;
    }
    this.#place = place;
    return -1;
  }

  /** The slot holds the record at `partition`/`offset`: the same record read again, not a duplicate. */
  is(slot: number, partition: string, offset: number): boolean {
    return this.offsets[slot] === offset && this.partitions[slot] === partition;
  }

  /**
   * Remembers `key` in the next slot, forgetting the oldest key when the ring is full. `found` and
   * the place are what {@link find} just returned for it.
   */
  keep(key: DedupeKey, hash: number, found: number, at: number, partition: string, offset: number): void {
    let length = this.keys.length;
    if (this.#count === length) {
      if (length < this.capacity) this.#grow();
      else this.#forgetHead();
      // Either moved table entries (and growing renumbers the slots): look again.
      found = this.find(key, hash);
      length = this.keys.length;
    }
    // A key kept again: its older slot no longer speaks for it.
    if (found !== -1) this.keys[found] = undefined;
    else this.#size++;
    let slot = this.#head + this.#count;
    if (slot >= length) slot -= length;
    this.#count++;
    this.keys[slot] = key;
    this.hashes[slot] = hash;
    this.at[slot] = at;
    this.partitions[slot] = partition;
    this.offsets[slot] = offset;
    this.#table[2 * this.#place] = hash;
    this.#table[2 * this.#place + 1] = slot + 1;
  }

  /** Forgets the keys kept at or before `cutoff`, oldest first. */
  expire(cutoff: number): void {
    while (this.#count > 0 && this.at[this.#head]! <= cutoff) this.#forgetHead();
  }

  #forgetHead(): void {
    const head = this.#head;
    if (this.keys[head] !== undefined) {
      this.#remove(this.hashes[head]!, head);
      this.keys[head] = undefined;
    }
    this.#head = head + 1 === this.keys.length ? 0 : head + 1;
    this.#count--;
  }

  /** Removes the table entry of `slot`, closing the gap so that no probe stops short of a later entry. */
  #remove(hash: number, slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let hole = hash & mask;
    while (table[2 * hole + 1] !== slot + 1) hole = (hole + 1) & mask;
    // Backward-shift deletion (Knuth, TAOCP vol. 3, §6.4, algorithm R): an entry further along the
    // run moves into the hole unless its own place lies cyclically between the hole and it.
    for (let next = (hole + 1) & mask; table[2 * next + 1] !== 0; next = (next + 1) & mask) {
      const home = table[2 * next]! & mask;
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        table[2 * hole] = table[2 * next]!;
        table[2 * hole + 1] = table[2 * next + 1]!;
        hole = next;
      }
    }
    table[2 * hole] = 0;
    table[2 * hole + 1] = 0;
    this.#size--;
  }

  /** Doubles the ring (up to `capacity`), oldest slot first, and rebuilds the table for it. */
  #grow(): void {
    const old = this.keys.length;
    const length = Math.min(this.capacity, Math.max(16, old * 2));
    const keys: (DedupeKey | undefined)[] = new Array(length).fill(undefined);
    const hashes = new Int32Array(length);
    const at = new Float64Array(length);
    const offsets = new Float64Array(length);
    const partitions: (string | undefined)[] = new Array(length).fill(undefined);
    let places = 4;
    while (places < 2 * length) places *= 2;
    const table = new Int32Array(2 * places);
    const mask = places - 1;
    for (let i = 0; i < this.#count; i++) {
      let from = this.#head + i;
      if (from >= old) from -= old;
      keys[i] = this.keys[from];
      hashes[i] = this.hashes[from]!;
      at[i] = this.at[from]!;
      offsets[i] = this.offsets[from]!;
      partitions[i] = this.partitions[from];
      if (keys[i] === undefined) continue;
      let place = hashes[i]! & mask;
      while (table[2 * place + 1] !== 0) place = (place + 1) & mask;
      table[2 * place] = hashes[i]!;
      table[2 * place + 1] = i + 1;
    }
    this.keys = keys;
    this.hashes = hashes;
    this.at = at;
    this.offsets = offsets;
    this.partitions = partitions;
    this.#table = table;
    this.#mask = mask;
    this.#head = 0;
  }
}

// A number's bits, for hashing a key that is not an integer.
const FLOAT = new Float64Array(1);
const WORDS = new Int32Array(FLOAT.buffer);
