import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes whole files into one directory so that each appears atomically, complete or not at all. */
export interface AtomicFiles {
  /**
   * Writes `data` to `<dir>/<stem><extension>`: first to `.<stem>.<pid>.<n>.tmp` in the same
   * directory, flushed to disk (`fsync`), then renamed over the final name, then the directory is
   * flushed so the rename itself survives a power loss. A reader sees the old file or the new one,
   * never a partial file. `data` may be a list of strings so that a file can be larger than the
   * longest string V8 can hold, or bytes (a Parquet file). An aborted `signal` stops the write
   * before the rename.
   */
  write(
    stem: string,
    extension: string,
    data: string | Uint8Array | Iterable<string | Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void>;
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
      const final = join(dir, `${stem}${extension}`);
      const temp = join(dir, `.${stem}.${process.pid}.${sequence++}.tmp`);
      const file = await open(temp, 'w');
      try {
        // An aborted attempt (timeout, stop deadline) stops writing; the rename never happens.
        // Each writeFile() continues at the current position (see FileHandle.writeFile in Node's docs).
        for (const piece of typeof data === 'string' || data instanceof Uint8Array ? [data] : data) {
          await file.writeFile(piece, typeof piece === 'string' ? { encoding: 'utf8', signal } : { signal });
        }
        await file.sync();
      } catch (error) {
        await file.close();
        await rm(temp, { force: true });
        throw error;
      }
      await file.close();
      await rename(temp, final);
      await syncDirectory(dir);
    },
  };
}

/**
 * Flushes a directory entry change (the rename) to disk. POSIX needs an fsync of the directory for
 * that (see fsync(2), "Calling fsync() does not necessarily ensure that the entry in the directory
 * containing the file has also reached disk"); Windows cannot open a directory for it and does not
 * need it, so failing to open or sync the directory is not an error.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // EISDIR/EPERM on Windows, EINVAL on file systems without directory fsync.
  } finally {
    await handle?.close().catch(() => {});
  }
}
