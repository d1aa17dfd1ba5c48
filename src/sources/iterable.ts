import { invalidOptions, MicrobatchError } from '../core/errors.js';
import { parseCount } from '../core/units.js';
import { ChunkAssembler } from './chunks.js';
import type { Envelope, Source, SourceChunk, SourceReader } from './types.js';

/** Options of {@link fromIterable}. */
export interface IterableSourceOptions {
  /** Items are {@link Envelope}s (`{ value, partition?, offset?, eventTime?, key?, headers? }`), not plain values. @default false */
  envelopes?: boolean;
  /** Each item is an array of records (as Kafka delivers them), appended in bulk. @default false */
  arrays?: boolean;
  /** Partition of records without one. @default '0' */
  partition?: string;
  /** Most records taken from a synchronous iterable per read, before the runtime gets control back. @default 1024 */
  readSize?: number;
}

type Item<T> = T | Envelope<T>;

/**
 * A source over a sync or async iterable: an array, a generator, a Node stream in object mode.
 * Offsets count from 0 per partition unless envelopes bring their own. It cannot replay after a
 * restart, so a pipeline over it is `best-effort` (see `Guarantee`).
 *
 * If the iterable throws, the records it yielded before are still delivered; then the pipeline
 * fails with `MB_SOURCE_FAILED`.
 */
export function fromIterable<T>(
  iterable: Iterable<Item<T> | Item<T>[]> | AsyncIterable<Item<T> | Item<T>[]>,
  options: IterableSourceOptions = {},
): Source<T> {
  const sync = typeof (iterable as Iterable<unknown>)?.[Symbol.iterator] === 'function';
  if (!sync && typeof (iterable as AsyncIterable<unknown>)?.[Symbol.asyncIterator] !== 'function') {
    throw invalidOptions('fromIterable(iterable): expected a sync or async iterable');
  }
  const readSize = parseCount(options.readSize ?? 1024, 'fromIterable({ readSize })');
  if (!Number.isFinite(readSize)) throw invalidOptions('fromIterable({ readSize }) must be finite');
  const envelopes = options.envelopes ?? false;
  const arrays = options.arrays ?? false;
  const partition = options.partition ?? '0';
  if (typeof partition !== 'string') throw invalidOptions('fromIterable({ partition }) must be a string');

  return {
    kind: 'iterable',
    replayable: false,
    open(): SourceReader<T> {
      if (sync) {
        const iterator = (iterable as Iterable<unknown>)[Symbol.iterator]();
        return envelopes
          ? syncEnvelopeReader(iterator, partition, arrays, readSize)
          : syncValueReader(iterator, partition, arrays, readSize);
      }
      return asyncReader(
        (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator](),
        partition,
        arrays,
        envelopes,
      );
    },
  };
}

/** Shared end-of-input state: `done`, and an error to raise once what was read is handed over. */
class Ending {
  done = false;
  error: unknown;

  /** Remembers a failure of the iterable; reading stops. */
  fail(error: unknown): void {
    this.error = wrap(error);
    this.done = true;
  }

  /** Throws the remembered failure, once nothing read before it is left. */
  rethrow(): void {
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined;
      throw error;
    }
  }
}

/** The hot path: plain values need no per-record bookkeeping, just consecutive offsets. */
function syncValueReader<T>(
  iterator: Iterator<unknown>,
  partition: string,
  arrays: boolean,
  readSize: number,
): SourceReader<T> {
  const end = new Ending();
  let next = 0; // offset of the next value
  const finish = () => {
    if (!end.done) iterator.return?.();
    end.done = true;
  };
  return {
    read(): SourceChunk<T> | null {
      if (end.done) {
        end.rethrow();
        return null;
      }
      let values: T[] = [];
      try {
        if (arrays) {
          const step = iterator.next();
          if (step.done) end.done = true;
          else if (!Array.isArray(step.value)) end.fail(notArray());
          else values = step.value as T[];
        } else {
          while (values.length < readSize) {
            const step = iterator.next();
            if (step.done) {
              end.done = true;
              break;
            }
            values.push(step.value as T);
          }
        }
      } catch (error) {
        end.fail(error);
      }
      if (values.length === 0) {
        end.rethrow();
        return end.done ? null : { partition, values, firstOffset: next };
      }
      const firstOffset = next;
      next += values.length;
      // Arrays we built ourselves are given away; the caller's arrays are copied by the runtime.
      return { partition, values, firstOffset, owned: !arrays };
    },
    stop: finish,
    close: finish,
  };
}

function syncEnvelopeReader<T>(
  iterator: Iterator<unknown>,
  partition: string,
  arrays: boolean,
  readSize: number,
): SourceReader<T> {
  const assembler = new ChunkAssembler<T>(partition, 'fromIterable');
  const end = new Ending();
  const finish = () => {
    if (!end.done) iterator.return?.();
    end.done = true;
  };
  return {
    read(): SourceChunk<T> | null {
      if (!end.done && assembler.size === 0) {
        try {
          while (assembler.size < readSize) {
            const step = iterator.next();
            if (step.done) {
              end.done = true;
              break;
            }
            addEnvelopes(assembler, step.value, arrays);
          }
        } catch (error) {
          end.fail(error);
        }
      }
      const chunk = assembler.take();
      if (chunk === null) end.rethrow();
      return chunk;
    },
    stop: finish,
    close: finish,
  };
}

function asyncReader<T>(
  iterator: AsyncIterator<unknown>,
  partition: string,
  arrays: boolean,
  envelopes: boolean,
): SourceReader<T> {
  const assembler = new ChunkAssembler<T>(partition, 'fromIterable');
  const end = new Ending();
  return {
    async read(): Promise<SourceChunk<T> | null> {
      // One item per read: an async iterable may wait arbitrarily long for its next item, and
      // records already received must not wait for it.
      if (!end.done && assembler.size === 0) {
        try {
          const step = await iterator.next();
          if (step.done) end.done = true;
          else if (envelopes) addEnvelopes(assembler, step.value, arrays);
          else if (!arrays) assembler.addValue(step.value as T);
          else if (!Array.isArray(step.value)) end.fail(notArray());
          else for (const value of step.value) assembler.addValue(value as T);
        } catch (error) {
          end.fail(error);
        }
      }
      const chunk = assembler.take();
      if (chunk === null) end.rethrow();
      return chunk;
    },
    stop() {
      // Not awaited: a generator waiting for its next item finishes its return() after that.
      if (!end.done) void Promise.resolve(iterator.return?.()).catch(() => {});
      end.done = true;
    },
    async close() {
      if (!end.done) await iterator.return?.();
      end.done = true;
    },
  };
}

function addEnvelopes<T>(assembler: ChunkAssembler<T>, item: unknown, arrays: boolean): void {
  if (!arrays) {
    assembler.addEnvelope(item as Envelope<T>);
    return;
  }
  if (!Array.isArray(item)) throw notArray();
  for (const one of item) assembler.addEnvelope(one as Envelope<T>);
}

function notArray(): MicrobatchError {
  return new MicrobatchError(
    'MB_SOURCE_FAILED',
    'fromIterable({ arrays: true }): every item must be an array of records',
  );
}

function wrap(error: unknown): unknown {
  return MicrobatchError.wrap(error, 'MB_SOURCE_FAILED', 'fromIterable: the iterable threw');
}
