import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { acquireLock, describeHolder, releaseLock } from '../core/lock-file.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { parseSize, type Size, show } from '../core/units.js';
import { toEventTime } from '../event-time/buckets.js';
import type { PushMeta } from './push.js';
import { type Durability, type LogReader, SegmentLog } from './spool-log.js';
import type { Source, SourceChunk, SourceReader } from './types.js';

/** Options of {@link spoolSource}. */
export interface SpoolSourceOptions {
  /** Directory of the spool's segment files; created if missing. One process uses it at a time. */
  dir: string;
  /**
   * When `push()` resolves. `'process'`: the record is written to the operating system; it
   * survives a crash of this process (SIGKILL, an exception), not a power loss. `'machine'`: the
   * record is also fsynced (one fsync serves every push waiting for one: group commit); it
   * survives a power loss. @default 'process'
   */
  durability?: Durability;
  /**
   * Disk the spool may use. Past it, `push()` waits until the pipeline has committed records and
   * their segments are deleted (back-pressure); it never drops a record. A `pushMany` larger than
   * what is left is written whole once the spool is below the limit, so the spool can pass it by
   * one call's records. @default '1GB'
   */
  maxBytes?: Size;
  /** Size at which a segment file is closed and a new one started. @default min('16MB', maxBytes / 4) */
  segmentBytes?: Size;
  /** Partition (lane) of the spool's records. @default 'spool' */
  partition?: string;
  /** Records handed to the pipeline at a time. @default 1000 */
  chunkRecords?: number;
}

/** What the spool holds, after it opened. */
export interface SpoolStats {
  /** Offset the next pushed record gets: records ever pushed into this directory. */
  readonly next: number;
  /** Offset of the oldest record still on disk. */
  readonly first: number;
  /** Bytes of the segment files. */
  readonly bytes: number;
  readonly segments: number;
  /** Bytes of a torn last record cut when the spool was opened (a crash mid-write). */
  readonly tornBytes: number;
}

/** A durable push source (see {@link spoolSource}). */
export interface SpoolSource<T> extends Source<T> {
  /**
   * Appends one record to the spool. Resolves once it is on disk as `durability` says: from then
   * on it will be delivered even if the process dies. Waits while the spool is at `maxBytes`.
   * Rejects with `MB_CLOSED` after `end()` or once the pipeline has closed the spool.
   */
  push(record: T, meta?: SpoolMeta): Promise<void>;
  /** Appends many records in one write; resolves when all are on disk. */
  pushMany(records: Iterable<T>, meta?: SpoolMeta): Promise<void>;
  /** No more records in this run: the pipeline drains the spool and `run()` resolves. */
  end(): void;
  /** Records on disk not yet handed to the pipeline (0 before the spool is opened). */
  readonly pending: number;
  /** Opens the spool (if not yet) and says what it holds. */
  stats(): Promise<SpoolStats>;
}

/** Metadata kept with a spooled record. A spool has one partition: give it in the options. */
export type SpoolMeta = Pick<PushMeta, 'eventTime' | 'key' | 'headers'>;

/** A record as stored: the value and the metadata given with it. */
interface Stored {
  v: unknown;
  t?: number;
  k?: string;
  h?: Readonly<Record<string, string>>;
}

/**
 * A push source that keeps what it is given on disk: the scraper's durable intake. Each record is
 * appended to a local segment log (length + checksum framing) before `push()` resolves; the
 * pipeline reads from the log; segments are deleted once everything in them is committed. It is
 * replayable, so with a durable checkpoint (`fileCheckpoint`) the pipeline is `exactly-once`: a
 * SIGKILL at any moment loses no record whose `push()` resolved and writes none twice. After a crash,
 * a record cut mid-write (its `push()` never resolved) is truncated and counted in `tornBytes`.
 *
 * Offsets count records pushed into the directory, from 0, across restarts. The directory is locked
 * (`spool.lock`, like the checkpoint's) by the first `push()` or by the pipeline's `open()`, and
 * released when the pipeline closes the source.
 */
export function spoolSource<T = unknown>(options: SpoolSourceOptions): SpoolSource<T> {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`spoolSource(options): expected { dir }; got ${show(options)}`);
  }
  const known = ['dir', 'durability', 'maxBytes', 'segmentBytes', 'partition', 'chunkRecords'];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw invalidOptions(`spoolSource: unknown option '${key}' (known: ${known.join(', ')})`, {
        option: key,
      });
    }
  }
  if (typeof options.dir !== 'string' || options.dir.length === 0) {
    throw invalidOptions(`spoolSource({ dir }): dir must be a non-empty path; got ${show(options.dir)}`);
  }
  const durability = options.durability ?? 'process';
  if (durability !== 'process' && durability !== 'machine') {
    throw invalidOptions(
      `spoolSource({ durability }): must be 'process' or 'machine'; got ${show(durability)}`,
    );
  }
  const maxBytes = parseSize(options.maxBytes ?? 1e9, 'spoolSource({ maxBytes })');
  const segmentBytes = parseSize(
    options.segmentBytes ?? Math.min(16e6, Math.floor(maxBytes / 4)),
    'spoolSource({ segmentBytes })',
  );
  if (segmentBytes > maxBytes / 2) {
    // A full spool frees room only by deleting whole segments the active one is not among.
    throw invalidOptions(
      `spoolSource: segmentBytes (${segmentBytes}) must be at most half of maxBytes (${maxBytes}), or a full spool could not free room`,
    );
  }
  const partition = options.partition ?? 'spool';
  if (typeof partition !== 'string' || partition.length === 0) {
    throw invalidOptions(`spoolSource({ partition }): must be a non-empty string; got ${show(partition)}`);
  }
  const chunkRecords = options.chunkRecords ?? 1000;
  if (!Number.isSafeInteger(chunkRecords) || chunkRecords < 1) {
    throw invalidOptions(`spoolSource({ chunkRecords }): must be an integer ≥ 1; got ${show(chunkRecords)}`);
  }
  const dir = options.dir;
  const lockFile = join(dir, 'spool.lock');

  let opening: Promise<{ log: SegmentLog; tornBytes: number }> | undefined;
  let log: SegmentLog | undefined;
  let lockText: string | undefined;
  let tornBytes = 0;
  let logger: Logger = silentLogger;
  let ended = false;
  let closed: MicrobatchError | undefined;
  let reader: LogReader | undefined;
  /** Pushes waiting for room (maxBytes). */
  const roomWaiters: (() => void)[] = [];
  let wakeReader: (() => void) | undefined;

  const closedError = (why: string) => new MicrobatchError('MB_CLOSED', `spoolSource: ${why}`);

  const openLog = (now: number) => {
    opening ??= (async () => {
      await mkdir(dir, { recursive: true });
      const outcome = await acquireLock(lockFile, {
        owner: { spool: dir },
        now,
        fail: (doing, cause) =>
          new MicrobatchError(
            'MB_SOURCE_FAILED',
            `spoolSource: ${dir}: cannot ${doing}: ${describeError(cause)}`,
            {
              cause,
            },
          ),
        onStale: (holder) =>
          logger.warn({ spool: dir, pid: holder.pid }, 'taking over a stale spool lock: its process is dead'),
      });
      if ('held' in outcome) {
        throw new MicrobatchError(
          'MB_SOURCE_FAILED',
          `spoolSource: ${dir} is locked by ${describeHolder(outcome.held, outcome.text)}; one process uses a spool at a time (delete ${lockFile} only if you are sure no process uses it)`,
          { retryable: false, details: { reason: 'locked', dir } },
        );
      }
      lockText = outcome.text;
      try {
        const opened = await SegmentLog.open(dir, durability, segmentBytes);
        log = opened.log;
        log.onChange = () => {
          wakeReader?.();
          wakeReader = undefined;
          if (log!.bytes < maxBytes) for (const resolve of roomWaiters.splice(0)) resolve();
        };
        tornBytes = opened.recovery.tornBytes;
        if (tornBytes > 0) {
          logger.warn(
            { spool: dir, tornBytes },
            'spoolSource: cut a torn last record (a crash mid-write; its push() had not resolved)',
          );
        }
        return { log, tornBytes };
      } catch (error) {
        await releaseLock(lockFile, outcome.text).catch(() => {});
        lockText = undefined;
        throw error;
      }
    })();
    return opening;
  };

  const encode = (record: T, meta: SpoolMeta | undefined): Buffer => {
    const stored: Stored = { v: record };
    if (meta !== undefined) {
      if ('partition' in meta || 'offset' in meta) {
        throw invalidOptions(
          'spoolSource: push(record, meta): a spool has one partition and numbers records itself; meta takes eventTime, key and headers',
        );
      }
      if (meta.eventTime !== undefined) {
        const t = toEventTime(meta.eventTime);
        if (t !== undefined) stored.t = t;
      }
      if (meta.key !== undefined) stored.k = meta.key;
      if (meta.headers !== undefined) stored.h = meta.headers;
    }
    const text = JSON.stringify(stored);
    if (text === undefined)
      throw invalidOptions(`spoolSource: push(): the record is not JSON-serialisable (${show(record)})`);
    return Buffer.from(text, 'utf8');
  };

  const append = async (records: Iterable<T>, meta: SpoolMeta | undefined): Promise<void> => {
    if (closed) throw closed;
    if (ended) throw closedError('push() after end()');
    const payloads: Buffer[] = [];
    for (const record of records) payloads.push(encode(record, meta));
    if (payloads.length === 0) return;
    const { log } = await openLog(Date.now());
    while (log.bytes >= maxBytes) {
      if (closed) throw closed;
      await new Promise<void>((resolve) => roomWaiters.push(resolve));
    }
    if (closed) throw closed;
    await log.append(payloads);
  };

  const source: SpoolSource<T> = {
    kind: 'spool',
    replayable: true,
    get pending() {
      if (log === undefined) return 0;
      return log.acked - (reader?.offset ?? log.first);
    },
    push(record, meta) {
      return append([record], meta);
    },
    pushMany(records, meta) {
      return append(records, meta);
    },
    end() {
      ended = true;
      wakeReader?.();
      wakeReader = undefined;
    },
    async stats() {
      const { log } = await openLog(Date.now());
      return { next: log.next, first: log.first, bytes: log.bytes, segments: log.segments, tornBytes };
    },
    async open(context): Promise<SourceReader<T>> {
      logger = context.logger;
      const { log } = await openLog(context.clock.now());
      closed = undefined;
      // The checkpoint's committed offset is durable: what is at or below it is gone for good.
      const committed = await context.resumeAfter?.(partition);
      if (committed !== undefined) log.deleteThrough(committed);
      const start = committed === undefined ? log.first : committed + 1;
      if (start > log.next) {
        throw new MicrobatchError(
          'MB_LEDGER_AHEAD',
          `spoolSource: the checkpoint committed record ${committed} of partition '${partition}', but the spool in ${dir} ${log.next === 0 ? 'is empty' : `holds records only up to ${log.next - 1}`}: the spool directory was replaced or cleaned`,
          { details: { partition, committed, next: log.next } },
        );
      }
      reader = log.reader(start);
      /** Committed offsets whose checkpoint save has completed (see commit()). */
      let durable = committed ?? -1;
      let previous: number | undefined;
      return {
        async read(): Promise<SourceChunk<T> | null> {
          for (;;) {
            if (closed) return null;
            const first = reader!.offset;
            const payloads = reader!.read(chunkRecords);
            if (payloads.length > 0) {
              const values: T[] = new Array(payloads.length);
              const bytes: number[] = new Array(payloads.length);
              let eventTimes: (number | undefined)[] | undefined;
              let keys: (string | undefined)[] | undefined;
              let headers: (Readonly<Record<string, string>> | undefined)[] | undefined;
              for (let i = 0; i < payloads.length; i++) {
                const payload = payloads[i]!;
                const stored = JSON.parse(payload.toString('utf8')) as Stored;
                values[i] = stored.v as T;
                bytes[i] = payload.length;
                if (stored.t !== undefined)
                  (eventTimes ??= new Array(payloads.length).fill(undefined))[i] = stored.t;
                if (stored.k !== undefined)
                  (keys ??= new Array(payloads.length).fill(undefined))[i] = stored.k;
                if (stored.h !== undefined)
                  (headers ??= new Array(payloads.length).fill(undefined))[i] = stored.h;
              }
              return {
                partition,
                values,
                owned: true,
                firstOffset: first,
                bytes,
                ...(eventTimes && { eventTimes }),
                ...(keys && { keys }),
                ...(headers && { headers }),
              };
            }
            if (ended && reader!.offset >= log.next) return null;
            await new Promise<void>((resolve) => {
              wakeReader = resolve;
            });
            // Caught up, then woken by an append: let the producer append more before reading, or
            // a producer awaiting each push() would hand the pipeline one record per chunk.
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        },
        commit(cursor) {
          // The pipeline saves its checkpoint after this call and before the next one: the
          // previous commit is durable now, so its segments can go (a crash replays from there).
          if (previous !== undefined) durable = Math.max(durable, previous);
          previous = cursor.offset;
          log.deleteThrough(durable);
        },
        stop() {
          source.end();
        },
        async close() {
          closed = closedError('the pipeline closed the spool');
          wakeReader?.();
          wakeReader = undefined;
          for (const resolve of roomWaiters.splice(0)) resolve();
          reader?.close();
          // The last commit's save may have failed: its segments go at the next open, once the
          // checkpoint says it is committed.
          await log.close();
          if (lockText !== undefined) await releaseLock(lockFile, lockText).catch(() => {});
          lockText = undefined;
        },
      };
    },
  };
  return source;
}
