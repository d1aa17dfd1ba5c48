import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
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
  /** Most records taken from a synchronous iterable per read, before the runtime gets control back. @default 4096 */
  readSize?: number;
}

type Item<T> = T | Envelope<T>;

/**
 * A source over a sync or async iterable: an array, a generator, a Node stream in object mode.
 * Offsets count from 0 per partition unless envelopes bring their own. It cannot replay after a
 * restart, so a pipeline over it is at-least-once.
 */
export function fromIterable<T>(
  iterable: Iterable<Item<T> | Item<T>[]> | AsyncIterable<Item<T> | Item<T>[]>,
  options: IterableSourceOptions = {},
): Source<T> {
  const sync = typeof (iterable as Iterable<unknown>)?.[Symbol.iterator] === 'function';
  if (!sync && typeof (iterable as AsyncIterable<unknown>)?.[Symbol.asyncIterator] !== 'function') {
    throw invalidOptions('fromIterable(iterable): expected a sync or async iterable');
  }
  const readSize = parseCount(options.readSize ?? 4096, 'fromIterable({ readSize })');
  const envelopes = options.envelopes ?? false;
  const arrays = options.arrays ?? false;
  const partition = options.partition ?? '0';
  if (typeof partition !== 'string') throw invalidOptions('fromIterable({ partition }) must be a string');

  return {
    kind: 'iterable',
    replayable: false,
    open(): SourceReader<T> {
      const assembler = new ChunkAssembler<T>(partition, 'fromIterable');
      const add = (item: unknown) => {
        if (arrays) {
          if (!Array.isArray(item)) {
            throw new MicrobatchError(
              'MB_SOURCE_FAILED',
              'fromIterable({ arrays: true }): every item must be an array of records',
            );
          }
          if (envelopes) for (const one of item) assembler.addEnvelope(one as Envelope<T>);
          else for (const one of item) assembler.addValue(one as T);
        } else if (envelopes) assembler.addEnvelope(item as Envelope<T>);
        else assembler.addValue(item as T);
      };
      let done = false;

      if (sync) {
        const iterator = (iterable as Iterable<unknown>)[Symbol.iterator]();
        return {
          read(): SourceChunk<T> | null {
            if (!done && assembler.size === 0) {
              try {
                while (assembler.size < readSize) {
                  const step = iterator.next();
                  if (step.done) {
                    done = true;
                    break;
                  }
                  add(step.value);
                }
              } catch (error) {
                throw wrap(error);
              }
            }
            return assembler.take();
          },
          stop() {
            if (!done) iterator.return?.();
            done = true;
          },
          close() {
            if (!done) iterator.return?.();
            done = true;
          },
        };
      }

      const iterator = (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      return {
        async read(): Promise<SourceChunk<T> | null> {
          // One item per read: an async iterable may wait arbitrarily long for its next item, and
          // records already received must not wait for it.
          if (!done && assembler.size === 0) {
            try {
              const step = await iterator.next();
              if (step.done) done = true;
              else add(step.value);
            } catch (error) {
              throw wrap(error);
            }
          }
          return assembler.take();
        },
        stop() {
          // Not awaited: a generator waiting for its next item finishes its return() after that.
          if (!done) void Promise.resolve(iterator.return?.()).catch(() => {});
          done = true;
        },
        async close() {
          if (!done) await iterator.return?.();
          done = true;
        },
      };
    },
  };
}

function wrap(error: unknown): unknown {
  if (MicrobatchError.is(error)) return error;
  return new MicrobatchError(
    'MB_SOURCE_FAILED',
    `fromIterable: the iterable threw: ${describeError(error)}`,
    {
      cause: error,
    },
  );
}
