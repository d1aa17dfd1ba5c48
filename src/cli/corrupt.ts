import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SkippedBin } from '../lake/compact.js';
import { findPartitions } from '../lake/compact-layout.js';
import { fileStorage } from '../lake/file-storage.js';

/**
 * The report `microbatch compact` keeps in a partition directory about its corrupt data files.
 * Compaction leaves a corrupt file alone and reports it once; on the next run the file is often
 * alone in its bin and never read again, so without a memory it would silently stay forever. The
 * name starts with `_`, like `_SUCCESS`: readers of `*.parquet` and compaction ignore it.
 */
export const CORRUPT_REPORT = '_CORRUPT';

/** A data file compaction could not read, as `_CORRUPT` remembers it. */
export interface CorruptFile {
  table: string;
  /** The partition path below the table: `dt=2026-11-25/hr=14`. */
  partition: string;
  /** The file name inside the partition directory. */
  file: string;
  message: string;
  /** When a run first found it (ISO 8601). */
  since: string;
}

interface ReportFile {
  files: { file: string; message: string; since: string }[];
}

/**
 * Merges what this run found corrupt into each partition's `_CORRUPT` report, drops the entries
 * whose file is gone (removed or replaced by the user), deletes reports left empty, and returns
 * every corrupt file still there: found now or by an earlier run.
 */
export async function rememberCorrupt(
  dir: string,
  table: string,
  skipped: readonly SkippedBin[],
  now: Date,
): Promise<CorruptFile[]> {
  const byPartition = new Map<string, Map<string, { message: string; since: string }>>();
  const entry = (partition: string) => {
    let files = byPartition.get(partition);
    if (files === undefined) byPartition.set(partition, (files = new Map()));
    return files;
  };
  const root = join(dir, table);
  for (const partition of await findPartitions(fileStorage(dir), table)) {
    if (!partition.files.some((f) => f.name === CORRUPT_REPORT)) continue;
    const report = await readReport(join(root, partition.path, CORRUPT_REPORT));
    for (const f of report.files) entry(partition.path).set(f.file, { message: f.message, since: f.since });
  }
  for (const bin of skipped) {
    if (bin.reason !== 'corrupt') continue;
    const files = entry(bin.partition);
    const since = files.get(bin.file)?.since ?? now.toISOString();
    files.set(bin.file, { message: bin.message, since });
  }
  const still: CorruptFile[] = [];
  for (const [partition, files] of [...byPartition].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const partitionDir = join(root, ...partition.split('/'));
    const kept: ReportFile['files'] = [];
    for (const [file, { message, since }] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!(await exists(join(partitionDir, file)))) continue;
      kept.push({ file, message, since });
      still.push({ table, partition, file, message, since });
    }
    await writeReport(join(partitionDir, CORRUPT_REPORT), kept);
  }
  return still;
}

async function readReport(path: string): Promise<ReportFile> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<ReportFile>;
    return {
      files: (Array.isArray(parsed.files) ? parsed.files : []).filter(
        (f) =>
          typeof f?.file === 'string' &&
          // Only a plain name inside the partition: the report must not point anywhere else.
          !/[/\\]/.test(f.file) &&
          f.file !== '..' &&
          typeof f.message === 'string' &&
          typeof f.since === 'string',
      ),
    };
  } catch {
    // Unreadable or not ours: start over; files still corrupt are found again when read.
    return { files: [] };
  }
}

async function writeReport(path: string, files: ReportFile['files']): Promise<void> {
  if (files.length === 0) {
    await unlink(path).catch((error: unknown) => {
      if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
    });
    return;
  }
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ files }, null, 2)}\n`);
  await rename(temporary, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
