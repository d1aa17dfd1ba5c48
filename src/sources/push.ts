import { invalidOptions, MicrobatchError } from '../core/errors.js';
import { estimateBytes } from '../core/size.js';
import { parseCount, parseSize, type Size } from '../core/units.js';
import { ChunkAssembler, splitChunk } from './chunks.js';
import type { Envelope, Source, SourceChunk, SourceReader } from './types.js';

/** Options of {@link pushSource}. */
export interface PushSourceOptions {
  /**
   * Records a push source holds before the pipeline takes them. Below it, `push()` resolves at
   * once; above it, `push()` waits until the pipeline has taken records, which it does only while
   * its memory budget has room. @default 1000
   */
  highWaterMark?: number;
  /**
   * Bytes of records (estimated JSON size) the source holds before the pipeline takes them; past
   * it, `push()` waits like past `highWaterMark`. Without it, records of 500 KB and a count of 1,000
   * let a pipeline with a 4 MB budget hold 500 MB in its source.
   * @default a quarter of the pipeline's `maxBufferBytes` once the pipeline opened the source
   * (16 MB before)
   */
  highWaterMarkBytes?: Size;
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
  /** ...and the bytes waiting in the source are at most this. */
  bytes: number;
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
  const bytesGiven =
    options.highWaterMarkBytes === undefined
      ? undefined
      : parseSize(options.highWaterMarkBytes, 'pushSource({ highWaterMarkBytes })');
  let highWaterMarkBytes = bytesGiven ?? 16e6;
  const partition = options.partition ?? '0';
  if (typeof partition !== 'string') throw invalidOptions('pushSource({ partition }) must be a string');

  const assembler = new ChunkAssembler<T>(partition, 'pushSource');
  let pushed = 0; // records ever pushed
  let taken = 0; // records ever taken by the pipeline
  let waitingBytes = 0; // estimated bytes of the records pushed and not taken
  /** Estimated bytes of each record not yet taken, oldest first (a ring would do; chunks are small). */
  let sizes: number[] = [];
  let sizesStart = 0;
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
    // Capped: a record far past the mark costs no more to size than one at it.
    const size = estimateBytes(record, highWaterMarkBytes + 1);
    sizes.push(size);
    waitingBytes += size;
  };

  const full = () =>
    pushed - taken > highWaterMark || (waitingBytes > highWaterMarkBytes && pushed - taken > 1);

  const settle = (): Promise<void> => {
    wakeReader?.();
    wakeReader = undefined;
    if (!full()) return RESOLVED;
    return new Promise<void>((resolve, reject) =>
      waiters.push({ until: pushed - highWaterMark, bytes: highWaterMarkBytes, resolve, reject }),
    );
  };

  /** The pipeline took `count` records: release their bytes and the pushers that now fit. */
  const took = (count: number) => {
    taken += count;
    for (let i = 0; i < count; i++) waitingBytes -= sizes[sizesStart + i]!;
    sizesStart += count;
    if (sizesStart > 4096 && sizesStart * 2 > sizes.length) {
      sizes = sizes.slice(sizesStart);
      sizesStart = 0;
    }
    // A pusher waits for both marks; the oldest first, so a later one never overtakes it.
    while (
      waiters.length > 0 &&
      waiters[0]!.until <= taken &&
      (waitingBytes <= waiters[0]!.bytes || pushed - taken <= 1)
    ) {
      waiters.shift()!.resolve();
    }
  };

  /** The part of a chunk not handed over yet (see handOver). */
  let rest: SourceChunk<T> | undefined;

  /**
   * Hands over records of `chunk` up to an eighth of `highWaterMarkBytes` (one at least) and keeps
   * the rest for the next `read()`. The pipeline reads only while its budget has room, but holds a
   * chunk it took whole: one chunk of everything pushed meanwhile made the budget moot.
   */
  const handOver = (chunk: SourceChunk<T>): SourceChunk<T> => {
    const limit = highWaterMarkBytes / 8;
    let n = 0;
    let bytes = 0;
    while (n < chunk.values.length && (n === 0 || bytes + sizes[sizesStart + n]! <= limit)) {
      bytes += sizes[sizesStart + n]!;
      n++;
    }
    let out = chunk;
    rest = undefined;
    if (n < chunk.values.length) [out, rest] = splitChunk(chunk, n);
    took(out.values.length);
    return out;
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
      const budget = context?.memoryBudget;
      if (bytesGiven === undefined && budget !== undefined)
        highWaterMarkBytes = Math.max(1, Math.floor(budget / 4));
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
          if (rest !== undefined) return handOver(rest);
          while (assembler.size === 0) {
            if (ended || closedError) return null;
            await new Promise<void>((resolve) => {
              wakeReader = resolve;
            });
          }
          const chunk = assembler.take();
          return chunk === null ? null : handOver(chunk);
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
