import { MicrobatchError } from '../core/errors.js';
import { show } from '../core/units.js';
import { toEventTime } from '../event-time/buckets.js';
import type { Envelope, SourceChunk } from './types.js';

/**
 * Collects records into per-partition chunks, assigning offsets (next = previous + 1 unless the
 * record brings its own) and checking that offsets strictly increase per partition.
 */
export class ChunkAssembler<T> {
  readonly #next = new Map<string, number>();
  readonly #open = new Map<string, SourceChunk<T>>();
  readonly #defaultPartition: string;
  readonly #what: string;
  #count = 0;

  constructor(defaultPartition: string, what: string) {
    this.#defaultPartition = defaultPartition;
    this.#what = what;
  }

  /** Records assembled and not yet taken. */
  get size(): number {
    return this.#count;
  }

  /** Adds a plain value to the default partition. */
  addValue(value: T): void {
    const partition = this.#defaultPartition;
    const offset = this.#next.get(partition) ?? 0;
    this.#next.set(partition, offset + 1);
    const chunk = this.#chunk(partition, offset);
    chunk.values.push(value);
    chunk.offsets?.push(offset);
    if (chunk.eventTimes) chunk.eventTimes.push(undefined);
    if (chunk.keys) chunk.keys.push(undefined);
    if (chunk.headers) chunk.headers.push(undefined);
    this.#count++;
  }

  /** Adds an envelope; throws `MB_SOURCE_FAILED` when it is not one or its offset goes backwards. */
  addEnvelope(envelope: Envelope<T>): void {
    if (typeof envelope !== 'object' || envelope === null || !('value' in envelope)) {
      throw new MicrobatchError(
        'MB_SOURCE_FAILED',
        `${this.#what}: expected an envelope { value, partition?, offset?, eventTime?, key?, headers? }; got ${show(envelope)}`,
      );
    }
    const partition = envelope.partition === undefined ? this.#defaultPartition : String(envelope.partition);
    const expected = this.#next.get(partition) ?? 0;
    let offset = expected;
    if (envelope.offset !== undefined) {
      offset = envelope.offset;
      if (!Number.isSafeInteger(offset) || offset < expected) {
        throw new MicrobatchError(
          'MB_SOURCE_FAILED',
          `${this.#what}: offsets must be strictly increasing integers per partition; partition '${partition}' got offset ${show(offset)} after ${expected - 1}`,
          { details: { partition, offset } },
        );
      }
    }
    this.#next.set(partition, offset + 1);
    const chunk = this.#chunk(partition, offset);
    const index = chunk.values.length;
    if (chunk.offsets === undefined && offset !== chunk.firstOffset! + index) {
      // A gap: from here on the chunk lists its offsets.
      chunk.offsets = Array.from({ length: index }, (_, i) => chunk.firstOffset! + i);
      chunk.firstOffset = undefined;
    }
    chunk.values.push(envelope.value);
    chunk.offsets?.push(offset);
    const eventTime = toEventTime(envelope.eventTime);
    if (eventTime !== undefined || chunk.eventTimes) (chunk.eventTimes ??= fill(index)).push(eventTime);
    if (envelope.key !== undefined || chunk.keys) (chunk.keys ??= fill(index)).push(envelope.key);
    if (envelope.headers !== undefined || chunk.headers)
      (chunk.headers ??= fill(index)).push(envelope.headers);
    this.#count++;
  }

  /** Takes one assembled chunk (the oldest partition first), or `null` when empty. */
  take(): SourceChunk<T> | null {
    for (const [partition, chunk] of this.#open) {
      this.#open.delete(partition);
      this.#count -= chunk.values.length;
      return chunk;
    }
    return null;
  }

  #chunk(partition: string, firstOffset: number): SourceChunk<T> {
    let chunk = this.#open.get(partition);
    if (chunk === undefined) {
      chunk = { partition, values: [], firstOffset };
      this.#open.set(partition, chunk);
    }
    return chunk;
  }
}

function fill<V>(length: number): (V | undefined)[] {
  return new Array<V | undefined>(length).fill(undefined);
}

/**
 * Splits `chunk` after its first `n` records: returns the head and leaves the rest in a new chunk
 * (`[head, rest]`). Offsets, event times, keys and headers follow their records.
 */
export function splitChunk<T>(chunk: SourceChunk<T>, n: number): [SourceChunk<T>, SourceChunk<T>] {
  const cut = <V>(values: V[] | undefined): [V[] | undefined, V[] | undefined] =>
    values === undefined ? [undefined, undefined] : [values.slice(0, n), values.slice(n)];
  const [values, restValues] = cut(chunk.values);
  const [offsets, restOffsets] = cut(chunk.offsets);
  const [eventTimes, restTimes] = cut(chunk.eventTimes);
  const [keys, restKeys] = cut(chunk.keys);
  const [headers, restHeaders] = cut(chunk.headers);
  const [bytes, restBytes] = cut(chunk.bytes);
  const part = (
    v: T[],
    o: number[] | undefined,
    first: number | undefined,
    t: typeof eventTimes,
    k: typeof keys,
    h: typeof headers,
    b: typeof bytes,
  ): SourceChunk<T> => ({
    partition: chunk.partition,
    values: v,
    ...(o !== undefined ? { offsets: o } : { firstOffset: first }),
    ...(t && { eventTimes: t }),
    ...(k && { keys: k }),
    ...(h && { headers: h }),
    ...(b && { bytes: b }),
  });
  const first = chunk.firstOffset;
  return [
    part(values!, offsets, first, eventTimes, keys, headers, bytes),
    part(
      restValues!,
      restOffsets,
      first === undefined ? undefined : first + n,
      restTimes,
      restKeys,
      restHeaders,
      restBytes,
    ),
  ];
}
