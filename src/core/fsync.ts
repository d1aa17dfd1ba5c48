import { open } from 'node:fs/promises';

const errno = (error: unknown): unknown => (error as { code?: unknown } | undefined)?.code;

/** fsync a directory, so that a rename in it survives a power loss. Not possible on Windows. */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems cannot fsync a directory; the rename is then as durable as they allow.
    if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EBADF'].includes(errno(error) as string)) throw error;
  } finally {
    await handle.close();
  }
}

/** Writes `text` to a new file at `path` and flushes it to disk before closing it. */
export async function writeSynced(path: string, text: string): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}
