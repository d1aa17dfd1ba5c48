import { randomUUID } from 'node:crypto';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { writeSynced } from './durable-fs.js';

/**
 * One process at a time: an exclusive lock file holding the owner's pid and host. The checkpoint
 * store and the spool both take one. A lock whose process is dead (same host) is taken over.
 */

/** What a lock file holds. */
export interface LockInfo {
  pid: number;
  hostname: string;
  /** What the owner says about itself (`pipeline`, `spool`). */
  [key: string]: unknown;
  token: string;
  since: string;
}

/** What {@link acquireLock} needs. */
export interface LockOptions {
  /** Fields naming the owner, stored in the lock file (`{ pipeline }`, `{ spool }`). */
  owner: Record<string, string>;
  /** Now, in ms since the epoch (the pipeline's clock). */
  now: number;
  /** The error to throw when an I/O step fails (`doing`: what was being done). */
  fail: (doing: string, cause: unknown) => Error;
  /** Called before a stale lock (its process is dead) is taken over. */
  onStale: (holder: LockInfo) => void;
}

const errno = (error: unknown): unknown => (error as { code?: unknown } | undefined)?.code;

/**
 * Takes the lock file: `{ text }` (what it holds, for {@link releaseLock}) once it is ours, or
 * `{ held, text }` when a live process (or this one, through another owner) holds it.
 */
export async function acquireLock(
  lockFile: string,
  options: LockOptions,
): Promise<{ text: string } | { held: LockInfo | undefined; text: string }> {
  const info: LockInfo = {
    pid: process.pid,
    hostname: hostname(),
    ...options.owner,
    token: randomUUID(),
    since: new Date(options.now).toISOString(),
  };
  const text = `${JSON.stringify(info)}\n`;
  // Two rounds: the second follows a stale lock's takeover (or a lock that vanished meanwhile).
  for (let round = 0; round < 2; round++) {
    try {
      if (await createExclusive(lockFile, text)) return { text };
    } catch (error) {
      throw options.fail('create the lock file', error);
    }
    let held: string;
    try {
      held = await readFile(lockFile, 'utf8');
    } catch (error) {
      if (errno(error) === 'ENOENT') continue;
      throw options.fail('read the lock file', error);
    }
    const holder = parseLock(held);
    const stale =
      holder !== undefined &&
      holder.hostname === info.hostname &&
      holder.pid !== process.pid &&
      !alive(holder.pid);
    if (!stale) return { held: holder, text: held };
    options.onStale(holder);
    await takeOver(lockFile, held).catch((error: unknown) => {
      throw options.fail('take over the stale lock file', error);
    });
  }
  return { held: undefined, text: '' };
}

/** Removes the lock file if it still holds `text`: after a takeover it belongs to someone else. */
export async function releaseLock(lockFile: string, text: string): Promise<void> {
  try {
    if ((await readFile(lockFile, 'utf8')) === text) await rm(lockFile, { force: true });
  } catch (error) {
    if (errno(error) !== 'ENOENT') throw error;
  }
}

/** Who holds a lock, for an error message. */
export function describeHolder(holder: LockInfo | undefined, text: string): string {
  if (holder !== undefined) return `pid ${holder.pid} on ${holder.hostname} since ${String(holder.since)}`;
  return text === ''
    ? 'another process (it took the lock while this one was taking over a stale lock)'
    : `an unreadable lock (${JSON.stringify(text.slice(0, 80))})`;
}

/** Whether a process with this pid is running on this host. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return errno(error) === 'EPERM';
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const info = JSON.parse(text) as Partial<LockInfo>;
    return Number.isSafeInteger(info.pid) && typeof info.hostname === 'string'
      ? (info as LockInfo)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates `path` with `text` only if it does not exist, atomically with its content: written to a
 * temporary file, fsynced and hard-linked (a link fails when the target exists). A crash can thus
 * never leave an empty lock file, which no one could prove stale. Falls back to `O_EXCL` where the
 * file system has no hard links.
 */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const temp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeSynced(temp, text);
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    // ENOENT: the holder of the lock cleaned up our temporary file as a leftover; it is held.
    if (errno(error) === 'EEXIST' || errno(error) === 'ENOENT') return false;
    if (!['EPERM', 'ENOTSUP', 'ENOSYS', 'EOPNOTSUPP'].includes(errno(error) as string)) throw error;
    try {
      await writeFile(path, text, { flag: 'wx' });
      return true;
    } catch (fallback) {
      if (errno(fallback) === 'EEXIST') return false;
      throw fallback;
    }
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Removes a stale lock, but only if it still is the one we judged stale: it is renamed aside first
 * (only one of two racing restarts can rename it), checked, then deleted; a lock taken meanwhile
 * by a live process is put back.
 */
async function takeOver(lockFile: string, staleText: string): Promise<void> {
  const aside = `${lockFile}.${process.pid}.${randomUUID()}.stale`;
  try {
    await rename(lockFile, aside);
  } catch (error) {
    if (errno(error) === 'ENOENT') return; // someone else took it over first
    throw error;
  }
  if ((await readFile(aside, 'utf8')) !== staleText) {
    await link(aside, lockFile).catch(() => {});
  }
  await rm(aside, { force: true });
}
