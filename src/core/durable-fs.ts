import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Durable file writes, the one copy every part uses (file sinks, the file checkpoint, lake
 * compaction). A file appears atomically — complete or not at all — and survives a power loss:
 * written to a temporary file in the same directory, flushed (`fsync`), renamed over the final
 * name, then the directory is flushed so the rename itself is on disk.
 */

/** What a file is written from: one string or byte array, or pieces written one after the other. */
export type FileData =
  | string
  | Uint8Array
  | Iterable<string | Uint8Array>
  | AsyncIterable<string | Uint8Array>;

/** Errors of a directory fsync that mean "this file system cannot do it", not "it failed". */
const NO_DIRECTORY_FSYNC = new Set(['EINVAL', 'ENOTSUP', 'EISDIR', 'EBADF']);

/**
 * Flushes a directory entry change (a rename, a create, a delete) to disk. POSIX needs an fsync of
 * the directory for that (fsync(2): "Calling fsync() does not necessarily ensure that the entry in
 * the directory containing the file has also reached disk"). Strict: any failure is thrown, except
 * on Windows, which cannot open a directory for it and does not need it, and on file systems that
 * cannot fsync a directory at all (`EINVAL`, `ENOTSUP`…), where the rename is as durable as they allow.
 */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    if (!NO_DIRECTORY_FSYNC.has(String((error as { code?: unknown } | undefined)?.code))) throw error;
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to a new file at `path` (truncating one that exists) and flushes it to disk before
 * closing it. An aborted `signal` stops between pieces.
 */
export async function writeSynced(path: string, data: FileData, signal?: AbortSignal): Promise<void> {
  const handle = await open(path, 'w');
  try {
    // Each writeFile() continues at the current position (see FileHandle.writeFile in Node's docs).
    // A piece produced asynchronously is written before the next is asked for (streamed writes).
    for await (const piece of typeof data === 'string' || data instanceof Uint8Array ? [data] : data) {
      await handle.writeFile(piece, typeof piece === 'string' ? { encoding: 'utf8', signal } : { signal });
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to `temp`, flushed, and renames it over `final` (both in the same directory). If any
 * step fails, the temporary file is removed and the error thrown: `final` is the old file or the new
 * one, and nothing is left behind. The caller then calls {@link syncDirectory} (or batches several
 * renames under one).
 */
export async function replaceFile(
  temp: string,
  final: string,
  data: FileData,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await writeSynced(temp, data, signal);
    await rename(temp, final);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
}

/** Writes whole files into one directory so that each appears atomically, complete or not at all. */
export interface AtomicFiles {
  /**
   * Writes `data` to `<dir>/<stem><extension>`: first to `.<stem>.<pid>.<n>.tmp` in the same
   * directory, flushed to disk (`fsync`), then renamed over the final name, then the directory is
   * flushed so the rename itself survives a power loss (a failure of that fsync is thrown). A reader
   * sees the old file or the new one, never a partial file, and a failed write leaves no temporary
   * file. `data` may be a list of strings so that a file can be larger than the longest string V8
   * can hold, or bytes (a Parquet file). An aborted `signal` stops the write before the rename.
   */
  write(stem: string, extension: string, data: FileData, signal?: AbortSignal): Promise<void>;
}

// Temporary names must differ between concurrent writes of the same file (a retried attempt may
// overlap the attempt that timed out), in this process and in others writing to the same directory.
let sequence = 0;

/** Atomic whole-file writes into `dir`, which is created (recursively) on the first write. */
export function atomicFiles(dir: string): AtomicFiles {
  let ready: Promise<unknown> | undefined;
  return {
    async write(stem, extension, data, signal) {
      ready ??= mkdir(dir, { recursive: true });
      await ready;
      await replaceFile(
        join(dir, `.${stem}.${process.pid}.${sequence++}.tmp`),
        join(dir, `${stem}${extension}`),
        data,
        signal,
      );
      await syncDirectory(dir);
    },
  };
}
