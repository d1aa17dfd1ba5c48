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
   * once the source is {@link PushSource.closed | closed} (after `end()`, the pipeline's `stop()`, or
   * its failure, which is the error's `cause`), or when the pipeline stops before taking the record.
   */
  push(record: T, meta?: PushMeta): Promise<void>;
  /** Offers many records at once; resolves when all are accepted. */
  pushMany(records: Iterable<T>, meta?: PushMeta): Promise<void>;
  /** No more records: the pipeline drains what it has and `run()` resolves. */
  end(): void;
  /** Records pushed and not yet taken by the pipeline. */
  readonly pending: number;
  /**
   * Aborted once the source takes no more records: after `end()`, when the pipeline stops (its
   * `stop()`, its `signal`) or fails. `closed.reason` is the `MB_CLOSED` error that `push()` would
   * reject with. A producer loop checks it before each push, so that it ends by itself on a stop
   * (the check and the push run in the same turn, so no stop can slip in between):
   * `while (!src.closed.aborted) { const page = await scrape(); if (src.closed.aborted) break; await src.pushMany(page); }`.
   * It can also be handed to `fetch()` and the like to abort the request in progress.
   */
  readonly closed: AbortSignal;
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
  // Why the source stopped taking records, for `closed` and for push()'s rejection.
  let closing = new AbortController();
  let closedBy: { what: string; cause?: unknown } = { what: 'end()' };
  const closed = (why: string, cause?: unknown) =>
    new MicrobatchError('MB_CLOSED', `pushSource: ${why}`, cause === undefined ? undefined : { cause });
  const close = (what: string, cause?: unknown) => {
    if (closing.signal.aborted) return;
    closedBy = { what, cause };
    closing.abort(closed(`takes no more records after ${what}`, cause));
  };
  // push() after the source closed says what closed it, and carries a failure as its `cause`.
  const refused = (call: string) => closed(`${call} after ${closedBy.what}`, closedBy.cause);

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
    get closed() {
      return closing.signal;
    },
    push(record, meta) {
      if (closedError || ended) return Promise.reject(refused('push()'));
      try {
        accept(record, meta);
      } catch (error) {
        return Promise.reject(error);
      }
      return settle();
    },
    pushMany(records, meta) {
      if (closedError || ended) return Promise.reject(refused('pushMany()'));
      try {
        for (const record of records) accept(record, meta);
      } catch (error) {
        return Promise.reject(error);
      }
      return settle();
    },
    end() {
      close('end()');
      ended = true;
      wakeReader?.();
      wakeReader = undefined;
    },
    open(context): SourceReader<T> {
      closedError = undefined;
      if (closing.signal.aborted && !ended) {
        closing = new AbortController();
        closedBy = { what: 'end()' };
      }
      // A failing pipeline aborts the context's signal with its error: the producer learns why.
      const onAbort = () => {
        const failure = context.signal.reason;
        if (MicrobatchError.is(failure)) close(`the pipeline failed (${failure.code})`, failure);
      };
      if (context.signal.aborted) onAbort();
      else context.signal.addEventListener('abort', onAbort, { once: true });
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
          close("the pipeline's stop() (check source.closed before pushing)");
          source.end();
        },
        close() {
          context.signal.removeEventListener('abort', onAbort);
          close('the pipeline closed the source');
          // Records still held were never accepted: their pushers learn it from the rejection.
          closedError = closed('the pipeline stopped before taking the record', closedBy.cause);
          for (const waiter of waiters.splice(0)) waiter.reject(closedError);
          wakeReader?.();
          wakeReader = undefined;
        },
      };
    },
  };
  return source;
}
