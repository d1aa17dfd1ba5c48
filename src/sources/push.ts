import { invalidOptions, MicrobatchError } from '../core/errors.js';
import { parseCount } from '../core/units.js';
import { ChunkAssembler } from './chunks.js';
import type { Envelope, Source, SourceChunk, SourceReader } from './types.js';

/** Options of {@link pushSource}. */
export interface PushSourceOptions {
  /**
   * Records a push source holds before the pipeline takes them. Below it, `push()` resolves at
   * once; above it, `push()` waits until the pipeline has taken records, which it does only while
   * its memory budget has room. @default 1000
   */
  highWaterMark?: number;
  /** Partition of records pushed without one. @default '0' */
  partition?: string;
}

/** Metadata for one pushed record. */
export type PushMeta = Omit<Envelope, 'value'>;

/** A source that producers push records into, with back-pressure. */
export interface PushSource<T> extends Source<T> {
  /**
   * Offers one record. The promise resolves once the record is accepted: at once while fewer than
   * `highWaterMark` records wait for the pipeline, else when the pipeline has taken enough of them. A
   * full pipeline (memory budget reached) stops taking records, so it pushes back on the caller: `for (const r of scraped) await src.push(r)`. Rejects with `MB_CLOSED`
   * after `end()`, or when the pipeline stops before taking the record.
   */
  push(record: T, meta?: PushMeta): Promise<void>;
  /** Offers many records at once; resolves when all are accepted. */
  pushMany(records: Iterable<T>, meta?: PushMeta): Promise<void>;
  /** No more records: the pipeline drains what it has and `run()` resolves. */
  end(): void;
  /** Records pushed and not yet taken by the pipeline. */
  readonly pending: number;
}

interface Waiter {
  until: number; // resolves once `taken` reaches this count
  resolve: () => void;
  reject: (error: unknown) => void;
}

const RESOLVED = Promise.resolve();

/**
 * A source for scrapers and event producers that hand records over one at a time. Offsets count
 * pushes per partition from 0 in each run; it cannot replay, so a pipeline over it is `best-effort` (see `Guarantee`).
 */
export function pushSource<T = unknown>(options: PushSourceOptions = {}): PushSource<T> {
  const highWaterMark = parseCount(options.highWaterMark ?? 1000, 'pushSource({ highWaterMark })');
  const partition = options.partition ?? '0';
  if (typeof partition !== 'string') throw invalidOptions('pushSource({ partition }) must be a string');

  const assembler = new ChunkAssembler<T>(partition, 'pushSource');
  let pushed = 0; // records ever pushed
  let taken = 0; // records ever taken by the pipeline
  let ended = false;
  let closedError: MicrobatchError | undefined;
  const waiters: Waiter[] = [];
  let wakeReader: (() => void) | undefined;

  const closed = (why: string) => new MicrobatchError('MB_CLOSED', `pushSource: ${why}`);

  const accept = (record: T, meta: PushMeta | undefined) => {
    if (meta === undefined) assembler.addValue(record);
    else assembler.addEnvelope({ ...meta, value: record });
    pushed++;
  };

  const settle = (): Promise<void> => {
    wakeReader?.();
    wakeReader = undefined;
    if (pushed - taken <= highWaterMark) return RESOLVED;
    return new Promise<void>((resolve, reject) =>
      waiters.push({ until: pushed - highWaterMark, resolve, reject }),
    );
  };

  const source: PushSource<T> = {
    kind: 'push',
    replayable: false,
    get pending() {
      return pushed - taken;
    },
    push(record, meta) {
      if (closedError) return Promise.reject(closedError);
      if (ended) return Promise.reject(closed('push() after end()'));
      try {
        accept(record, meta);
      } catch (error) {
        return Promise.reject(error);
      }
      return settle();
    },
    pushMany(records, meta) {
      if (closedError) return Promise.reject(closedError);
      if (ended) return Promise.reject(closed('pushMany() after end()'));
      try {
        for (const record of records) accept(record, meta);
      } catch (error) {
        return Promise.reject(error);
      }
      return settle();
    },
    end() {
      ended = true;
      wakeReader?.();
      wakeReader = undefined;
    },
    open(): SourceReader<T> {
      closedError = undefined;
      return {
        async read(): Promise<SourceChunk<T> | null> {
          while (assembler.size === 0) {
            if (ended || closedError) return null;
            await new Promise<void>((resolve) => {
              wakeReader = resolve;
            });
          }
          const chunk = assembler.take();
          if (chunk !== null) {
            taken += chunk.values.length;
            while (waiters.length > 0 && waiters[0]!.until <= taken) waiters.shift()!.resolve();
          }
          return chunk;
        },
        stop() {
          source.end();
        },
        close() {
          // Records still held were never accepted: their pushers learn it from the rejection.
          closedError = closed('the pipeline stopped before taking the record');
          for (const waiter of waiters.splice(0)) waiter.reject(closedError);
          wakeReader?.();
          wakeReader = undefined;
        },
      };
    },
  };
  return source;
}
