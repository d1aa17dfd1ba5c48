/**
 * The lake layout as compaction sees it (the contract shared with the lake sink): table names,
 * partitions, data files, the `_SUCCESS` marker, and the names of compaction outputs and intents.
 */
import { createHash } from 'node:crypto';
import { MicrobatchError } from '../core/errors.js';
import { listAll, type ObjectStorage, storageError } from './storage.js';

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
 * True for a key that only compaction writes (an output or an intent): an incomplete write of one
 * of them (a crashed run's temporary file or multipart upload) is compaction's to clean up.
 */
export function isCompactionKey(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1);
  return /^(compacted|_compaction)-[0-9a-f]{16}(\.parquet|\.json)?$/.test(name);
}

/** An object of a partition: its name (the last key segment), size and modification time. */
export interface LakeFile {
  name: string;
  size: number;
  /** ms since the epoch (see StoredObject.modified for the resolution). */
  modified: number;
}

/** One partition found under a table. */
export interface PartitionDir {
  /** The path below the table, with `/` separators: `dt=2026-11-25/hr=14`. */
  path: string;
  /** The key prefix of its objects: `<table>/<path>/`. */
  prefix: string;
  /** The objects directly in it, by name. */
  files: LakeFile[];
}

// A hive partition folder name: `key=value` (the sink percent-encodes values; keys are identifiers).
const PARTITION_DIR_RE = /^[A-Za-z_][A-Za-z0-9_]*=[^/\\]*$/;

/**
 * Every partition below `<table>/`, at any depth, that holds at least one object: the folders of a
 * key whose every segment between the table and the name is `k=v`. Keys with other folders
 * (temporary or hidden ones) are ignored.
 */
export async function findPartitions(storage: ObjectStorage, table: string): Promise<PartitionDir[]> {
  const found = new Map<string, PartitionDir>();
  const base = `${table}/`;
  for await (const object of listAll(storage, base)) {
    const relative = object.key.slice(base.length);
    const slash = relative.lastIndexOf('/');
    if (slash < 0) continue;
    const path = relative.slice(0, slash);
    if (!path.split('/').every((segment) => PARTITION_DIR_RE.test(segment))) continue;
    let partition = found.get(path);
    if (partition === undefined)
      found.set(path, (partition = { path, prefix: `${base}${path}/`, files: [] }));
    partition.files.push({ name: relative.slice(slash + 1), size: object.size, modified: object.modified });
  }
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The objects directly in one partition (not in partitions below it), listed afresh. */
export async function partitionFiles(storage: ObjectStorage, prefix: string): Promise<LakeFile[]> {
  const files: LakeFile[] = [];
  for await (const object of listAll(storage, prefix)) {
    const name = object.key.slice(prefix.length);
    if (!name.includes('/')) files.push({ name, size: object.size, modified: object.modified });
  }
  return files;
}

/**
 * A storage failure during compaction, naming the object and the operation. The code is
 * `MB_SINK_FAILED` (compaction writes the lake the way a sink does); retryable when the cause is.
 */
export function ioError(operation: string, where: string, cause: unknown): MicrobatchError {
  if (MicrobatchError.is(cause)) return cause;
  return storageError(operation, where, cause);
}
