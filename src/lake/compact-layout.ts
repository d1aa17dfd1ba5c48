/**
 * The lake layout as compaction sees it (the contract shared with the lake sink): table names,
 * partition directories, data files, the `_SUCCESS` marker, and the names of compaction outputs,
 * intents and temporary files.
 */
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MicrobatchError } from '../core/errors.js';
import { SUCCESS_MARKER } from './paths.js';

export { isDataFile } from './paths.js';

const INTENT_RE = /^_compaction-([0-9a-f]{16})\.json$/;

/** The hash part of an intent file name, or `undefined` when `name` is not an intent. */
export function intentHash(name: string): string | undefined {
  return INTENT_RE.exec(name)?.[1];
}

/** `h`: the first 16 hex characters of sha256 over the sorted input names joined by `\n`. */
export function compactionHash(inputs: readonly string[]): string {
  return createHash('sha256')
    .update([...inputs].sort().join('\n'))
    .digest('hex')
    .slice(0, 16);
}

/** The stem of the output file (`compacted-<h>`), without `.parquet`. */
export const outputStem = (hash: string) => `compacted-${hash}`;
/** The stem of the intent file (`_compaction-<h>`), without `.json`. */
export const intentStem = (hash: string) => `_compaction-${hash}`;

/**
 * True for the temporary files of a compaction's output or intent: atomicFiles writes
 * `.<stem>.<pid>.<n>.tmp` next to the final name.
 */
export function isCompactionTemp(name: string, hash?: string): boolean {
  const match = /^\.(compacted|_compaction)-([0-9a-f]{16})\.\d+\.\d+\.tmp$/.exec(name);
  return match !== null && (hash === undefined || match[2] === hash);
}

/** One partition directory found under a table. */
export interface PartitionDir {
  /** The path below the table root, with `/` separators: `dt=2026-11-25/hr=14`. */
  path: string;
  /** The absolute (or as given) directory path. */
  dir: string;
  /** The directory entries that are files. */
  files: string[];
}

// A hive partition directory name: `key=value` (the sink percent-encodes values; keys are identifiers).
const PARTITION_DIR_RE = /^[A-Za-z_][A-Za-z0-9_]*=[^/\\]*$/;

/**
 * Every `k=v` directory below `root`, at any depth, that holds at least one file. Directories whose
 * names are not `k=v` (temporary or hidden folders) are not descended into.
 */
export async function findPartitions(root: string): Promise<PartitionDir[]> {
  const found: PartitionDir[] = [];
  async function walk(dir: string, path: string): Promise<void> {
    const entries = await readdirOrFail(dir);
    const files: string[] = [];
    for (const entry of entries) {
      if (entry.isFile()) files.push(entry.name);
      else if (entry.isDirectory() && PARTITION_DIR_RE.test(entry.name)) {
        await walk(join(dir, entry.name), path === '' ? entry.name : `${path}/${entry.name}`);
      }
    }
    if (path !== '' && files.length > 0) found.push({ path, dir, files: files.sort() });
  }
  await walk(root, '');
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function readdirOrFail(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw ioError('list', dir, error);
  }
}

/** The marker's mtime in nanoseconds, or `undefined` when the partition has no marker (open). */
export async function markerTime(dir: string): Promise<bigint | undefined> {
  const info = await statOrUndefined(join(dir, SUCCESS_MARKER));
  return info?.mtimeNs;
}

/** `stat` with nanosecond times; `undefined` for a missing file; other failures name the file. */
export async function statOrUndefined(file: string): Promise<{ size: number; mtimeNs: bigint } | undefined> {
  try {
    const info = await stat(file, { bigint: true });
    return { size: Number(info.size), mtimeNs: info.mtimeNs };
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw ioError('stat', file, error);
  }
}

/**
 * A file-system failure during compaction, naming the file and the operation. The code is
 * `MB_SINK_FAILED` (compaction writes the lake the way a sink does); retryable when the cause is.
 */
export function ioError(operation: string, file: string, cause: unknown): MicrobatchError {
  if (MicrobatchError.is(cause)) return cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new MicrobatchError(
    'MB_SINK_FAILED',
    `compactLake: cannot ${operation} ${file}: ${cause instanceof Error ? cause.message : String(cause)}`,
    { cause, details: { file, operation, ...(typeof code === 'string' ? { errno: code } : {}) } },
  );
}
