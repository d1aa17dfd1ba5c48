import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FileData } from '../core/durable-fs.js';
import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';
import { atomicFiles, syncDirectory } from '../sinks/atomic-file.js';
import {
  type ByteRange,
  checkKey,
  checkPrefix,
  type IncompleteWrite,
  type ObjectStorage,
  type PutIfAbsentResult,
  type StoredObject,
  storageError,
} from './storage.js';

const what = 'fileStorage';
/** Whole-file and small ranged reads up to this size are done with one synchronous call (see get()). */
const SYNC_READ_BYTES = 256 * 1024;
const STATS_AT_ONCE = 32;
/** Streamed writes gather small pieces into writes of up to this many bytes. */
const WRITE_BYTES = 1024 * 1024;
const DEFAULT_PAGE = 1000;
// atomicFiles writes `<dir>/.<name>.<pid>.<n>.tmp` and renames it over `<dir>/<name>`.
const TEMP_RE = /^\.(.+)\.\d+\.\d+\.tmp$/;

/**
 * An {@link ObjectStorage} on the local file system: the key `a/b/c.parquet` is the file
 * `<dir>/a/b/c.parquet`. Files appear atomically (a temporary file, fsync, rename, directory fsync,
 * through the same code as the other file sinks); directories are created as needed. Key segments
 * must not start with `.` (those names are the temporary files, never listed).
 *
 * `putIfAbsent` checks, then writes: on one machine with one writer per key (the lake's case, where
 * a key belongs to one batch of one pipeline) that is put-if-absent; two processes creating one key
 * with different content at the same moment could both succeed, the last rename winning. An existing
 * file is identical when its bytes are.
 */
export function fileStorage(dir: string): ObjectStorage {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw invalidOptions(`${what}(dir): dir must be a non-empty path; got ${show(dir)}`, { option: 'dir' });
  }
  const root = resolve(dir);
  const pathOf = (key: string): string => {
    checkKey(key, what);
    if (key.split('/').some((segment) => segment.startsWith('.'))) {
      throw invalidOptions(
        `${what}: the key ${show(key)} has a segment starting with '.', reserved for temporary files`,
        {
          key,
        },
      );
    }
    return join(root, ...key.split('/'));
  };
  const url = (key: string) => pathToFileURL(join(root, ...key.split('/'))).href;
  const fail = (operation: string, key: string, error: unknown) => storageError(operation, url(key), error);
  /** Temp file, fsync, rename, fsync of the directory (core/durable-fs via atomicFiles). */
  const writeAtomically = async (key: string, path: string, body: FileData, signal?: AbortSignal) => {
    try {
      await atomicFiles(dirname(path)).write(path.slice(dirname(path).length + 1), '', body, signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw fail('write', key, error);
    }
  };

  async function hashFile(key: string, path: string): Promise<string | undefined> {
    const hash = createHash('sha256');
    try {
      for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw fail('read', key, error);
    }
    return hash.digest('hex');
  }

  async function head(key: string): Promise<StoredObject | undefined> {
    const path = pathOf(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { key, size: info.size, modified: info.mtimeMs } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw fail('stat', key, error);
    }
  }

  async function get(key: string, range?: ByteRange): Promise<Uint8Array | undefined> {
    const path = pathOf(key);
    if (range !== undefined) checkRange(range);
    try {
      // Small reads are synchronous: one system call each way instead of three thread-pool round
      // trips, which is most of a compaction's time over a partition of thousands of small batch
      // files; the event loop is held for well under a millisecond per file.
      if (range !== undefined && range.length <= SYNC_READ_BYTES) return readSyncRange(path, range);
      if (range === undefined) {
        const whole = readSyncRange(path, undefined, SYNC_READ_BYTES);
        if (whole !== undefined) return whole;
      }
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        const offset = Math.min(range?.offset ?? 0, size);
        const length = Math.min(range?.length ?? size, size - offset);
        const buffer = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return buffer.subarray(0, done);
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw fail('read', key, error);
    }
  }

  /** Every file (or temporary file, with `temps`) below `prefix`, as keys, sorted. */
  async function walk(prefix: string, temps: boolean): Promise<{ key: string; path: string }[]> {
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    const found: { key: string; path: string }[] = [];
    async function visit(path: string, key: string): Promise<void> {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(path, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw storageError('list', pathToFileURL(path).href, error);
      }
      for (const entry of entries) {
        const child = key === '' ? entry.name : `${key}/${entry.name}`;
        if (entry.isDirectory()) {
          if (entry.name.startsWith('.')) continue;
          // Only folders that can hold keys under the prefix are entered.
          if (prefix.startsWith(`${child}/`) || child.startsWith(prefix) || `${child}/`.startsWith(prefix))
            await visit(join(path, entry.name), child);
        } else if (entry.isFile()) {
          const hidden = entry.name.startsWith('.');
          if (hidden === temps && (temps || child.startsWith(prefix)))
            found.push({ key: child, path: join(path, entry.name) });
        }
      }
    }
    await visit(base === '' ? root : join(root, ...base.split('/')), base);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  return {
    kind: 'file',
    url,
    async putIfAbsent(key, body, options = {}): Promise<PutIfAbsentResult> {
      const path = pathOf(key);
      const existing = await head(key);
      if (existing !== undefined) {
        const bytes = await get(key);
        return {
          outcome: 'exists',
          identical:
            bytes !== undefined && Buffer.from(body.buffer, body.byteOffset, body.byteLength).equals(bytes),
          existing,
        };
      }
      await writeAtomically(key, path, body, options.signal);
      return { outcome: 'created' };
    },
    async putIfAbsentStream(key, body, options = {}): Promise<PutIfAbsentResult> {
      const path = pathOf(key);
      const existing = await head(key);
      if (existing !== undefined) {
        // Rare (a replay of a write that completed): both sides are hashed a piece at a time.
        const ours = createHash('sha256');
        let size = 0;
        for await (const piece of body()) {
          ours.update(piece);
          size += piece.length;
        }
        const theirs = size === existing.size ? await hashFile(key, path) : undefined;
        return { outcome: 'exists', identical: theirs === ours.digest('hex'), existing };
      }
      // The producer's failure (a damaged compaction input) is thrown as it is, not as a write failure.
      let failed: { error: unknown } | undefined;
      const pieces = async function* () {
        try {
          yield* coalesce(body(), WRITE_BYTES);
        } catch (error) {
          failed = { error };
          throw error;
        }
      };
      try {
        await writeAtomically(key, path, pieces(), options.signal);
      } catch (error) {
        if (failed !== undefined) throw failed.error;
        throw error;
      }
      return { outcome: 'created' };
    },
    async put(key, body, options = {}) {
      await writeAtomically(key, pathOf(key), body, options.signal);
    },
    get: (key, options = {}) => get(key, options.range),
    head: (key) => head(key),
    async list(prefix, options = {}) {
      checkPrefix(prefix, what);
      const limit = options.limit ?? DEFAULT_PAGE;
      const after = options.after;
      const keys = (await walk(prefix, false)).filter((entry) => after === undefined || entry.key > after);
      const page = keys.slice(0, limit);
      const objects: StoredObject[] = [];
      // Stats run a few dozen at a time: one after the other, a folder of 1,000 files waits on
      // 1,000 thread-pool round trips.
      for (let from = 0; from < page.length; from += STATS_AT_ONCE) {
        const infos = await Promise.all(
          page.slice(from, from + STATS_AT_ONCE).map(async ({ key, path }) => {
            try {
              const info = await stat(path);
              return { key, size: info.size, modified: info.mtimeMs };
            } catch (error) {
              if (isMissing(error)) return undefined; // deleted since the listing
              throw fail('stat', key, error);
            }
          }),
        );
        for (const info of infos) if (info !== undefined) objects.push(info);
      }
      return keys.length > limit ? { objects, next: page[page.length - 1]!.key } : { objects };
    },
    async delete(keys, options = {}) {
      const dirs = new Set<string>();
      for (const key of keys) {
        const path = pathOf(key);
        try {
          await unlink(path);
          dirs.add(dirname(path));
        } catch (error) {
          if (!isMissing(error)) throw fail('delete', key, error);
        }
        options.onDeleted?.(key);
      }
      // One directory flush per folder makes the deletions durable together.
      for (const folder of dirs) await syncDirectory(folder);
    },
    async abortIncomplete(prefix, options = {}) {
      checkPrefix(prefix, what);
      let removed = 0;
      const dirs = new Set<string>();
      for (const { key, path } of await walk(prefix, true)) {
        const slash = key.lastIndexOf('/');
        const name = TEMP_RE.exec(key.slice(slash + 1))?.[1];
        if (name === undefined) continue;
        const target = slash < 0 ? name : `${key.slice(0, slash)}/${name}`;
        if (!target.startsWith(prefix)) continue;
        let started: number;
        try {
          started = (await stat(path)).mtimeMs;
        } catch (error) {
          if (isMissing(error)) continue;
          throw fail('stat', key, error);
        }
        const write: IncompleteWrite = { key: target, started };
        if (options.filter !== undefined && !options.filter(write)) continue;
        try {
          await unlink(path);
          removed++;
          dirs.add(dirname(path));
        } catch (error) {
          if (!isMissing(error)) throw fail('delete', key, error);
        }
      }
      for (const folder of dirs) await syncDirectory(folder);
      return removed;
    },
  };
}

/**
 * Small pieces gathered into writes of up to `size` bytes (a piece that large goes as it is): a
 * compaction output is one piece per column chunk, and one write each would be thousands of
 * thread-pool round trips for a bin of small files.
 */
async function* coalesce(pieces: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  for await (const piece of pieces) {
    if (filled > 0 && filled + piece.length > size) {
      yield buffer.subarray(0, filled);
      buffer = Buffer.allocUnsafe(size);
      filled = 0;
    }
    if (piece.length >= size) yield piece;
    else {
      buffer.set(piece, filled);
      filled += piece.length;
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}

function checkRange(range: ByteRange): void {
  if (
    !Number.isSafeInteger(range.offset) ||
    range.offset < 0 ||
    !Number.isSafeInteger(range.length) ||
    range.length < 0
  ) {
    throw invalidOptions(
      `${what}: a byte range needs a non-negative integer offset and length; got ${show(range)}`,
    );
  }
}

/**
 * Reads `range` (clipped to the file) or, without one, the whole file when it is at most `maxWhole`
 * bytes (else `undefined`, for the asynchronous path), with synchronous calls.
 */
function readSyncRange(
  path: string,
  range: ByteRange | undefined,
  maxWhole = Infinity,
): Uint8Array | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (range === undefined && size > maxWhole) return undefined;
    const offset = Math.min(range?.offset ?? 0, size);
    const length = Math.min(range?.length ?? size, size - offset);
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const read = readSync(fd, buffer, done, length - done, offset + done);
      if (read === 0) break;
      done += read;
    }
    return buffer.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}
