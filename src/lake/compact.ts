import { readFileSync } from 'node:fs';
import { open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { parseCount, parseSize, type Size, show } from '../core/units.js';
import { atomicFiles, syncDirectory } from '../sinks/atomic-file.js';
import { packBins, type SizedFile } from './compact-bins.js';
import { reachedStep, SimulatedCrash } from './compact-faults.js';
import {
  compactionHash,
  findPartitions,
  intentHash,
  intentStem,
  ioError,
  isCompactionTemp,
  isDataFile,
  markerTime,
  outputStem,
  type PartitionDir,
  statOrUndefined,
} from './compact-layout.js';
import {
  COMPRESSIONS,
  type CompactionCompression,
  InputError,
  looksComplete,
  mergeParquet,
  prefetch,
  schemaKey,
} from './compact-parquet.js';
import { footerKey, mergeRowGroups } from './compact-rowgroups.js';
import { tableRoot } from './paths.js';

export type { CompactionCompression } from './compact-parquet.js';

/** Options of {@link compactLake}. */
export interface CompactLakeOptions {
  /** The lake's root directory (the sink's `dir`). Must exist. */
  dir: string;
  /** The table: the directory `<dir>/<table>/`. Must exist and be a safe name (see the lake layout). */
  table: string;
  /**
   * The size an output file aims at, in bytes or as a string (`'64MB'`, `'1GiB'`). Only data files
   * smaller than this are compacted, and they are packed so that each bin's inputs add up to at
   * most this many bytes (the output is usually a little smaller: one footer, better compression).
   * @default '128MB' (128,000,000 bytes)
   */
  targetFileBytes?: Size;
  /** A bin with fewer input files than this is left alone (rewriting it would gain little). @default 2 */
  minInputFiles?: number;
  /**
   * Which partitions to compact: partition paths below the table (`'dt=2026-11-25/hr=14'`; a path
   * also selects the partitions below it, so `'dt=2026-11-25'` selects its hours), or a predicate on
   * the path. Intents left by a crash are recovered in every partition regardless.
   * @default every partition
   */
  partitions?: readonly string[] | ((path: string) => boolean);
  /**
   * How a bin becomes one file. `false` (the default): its row groups are copied byte for byte
   * behind one new footer, without decoding a value; the output has as many row groups as its
   * inputs together, each with its own codec, and files are only merged when their Parquet schemas
   * are identical. `true`: every row is decoded and encoded again with `compression` into large row
   * groups (about 5–10× slower; use it to change the codec or to merge many tiny row groups).
   * See docs/compaction.md.
   * @default false
   */
  rewrite?: boolean;
  /** The codec of the output files when `rewrite` is true (copied row groups keep theirs). @default 'zstd' */
  compression?: CompactionCompression;
  /**
   * Stops the run between bins (or during an output write, which is then rolled back); rejects with
   * `MB_ABORTED`. A bin whose output is already in place is finished first.
   */
  signal?: AbortSignal;
  /** Called as the run progresses: once per partition, per recovered intent, per skipped bin. */
  onProgress?: (event: CompactionProgress) => void;
  /** Time source for `createdAt` in intents and for `durationMs`. @default the system clock */
  clock?: Pick<Clock, 'now'>;
  /** Where to log recoveries, outputs and skipped bins. @default silent */
  logger?: Logger;
}

/** One progress event of {@link compactLake}. */
export interface CompactionProgress {
  table: string;
  /** The partition path below the table: `dt=2026-11-25/hr=14`. */
  partition: string;
  /**
   * `compacted`: the partition was processed (possibly with nothing to do, then filesIn = filesOut);
   * `skipped-open`: no `_SUCCESS`, untouched; `recovered`: an intent left by an interrupted run was
   * finished or rolled back; `bin-skipped`: a bin was left alone, see `reason`.
   */
  action: 'compacted' | 'skipped-open' | 'recovered' | 'bin-skipped';
  /** Data files of the partition before → after (for `compacted`), or of the bin / intent. */
  filesIn: number;
  filesOut: number;
  /** Bytes of those files before → after. */
  bytesIn: number;
  bytesOut: number;
  /** Rows rewritten. */
  rows: number;
  /** Why a bin was skipped, naming the file. */
  reason?: string;
}

/** A bin left alone because of a problem (nothing of it was deleted). */
export interface SkippedBin {
  partition: string;
  /** The input files of the bin. */
  files: string[];
  /** The file at fault. */
  file: string;
  /** `corrupt`: a file could not be read as Parquet; `output-exists`: the output name is taken. */
  reason: 'corrupt' | 'output-exists';
  message: string;
}

/** What {@link compactLake} did. Files and bytes count the data files of the closed partitions it scanned. */
export interface CompactionReport {
  table: string;
  /**
   * How bins were merged: `copy` (row groups copied without decoding, the default) or `rewrite`
   * (decoded and encoded again; `rewrite: true`).
   */
  mode: 'copy' | 'rewrite';
  /** Closed partitions (with `_SUCCESS`) selected and examined. */
  partitionsScanned: number;
  /** Partitions in which at least one bin was rewritten. */
  partitionsCompacted: number;
  /** Selected partitions without `_SUCCESS`, left untouched. */
  partitionsSkippedOpen: number;
  /** Data files in the scanned partitions before and after (after recovering intents). */
  filesBefore: number;
  filesAfter: number;
  /** Bytes of those data files before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Rows of the inputs that went into outputs (copied or re-encoded, see `mode`). */
  rowsRewritten: number;
  /** Output files written. */
  outputs: number;
  /** Intents left by an interrupted run and completed or rolled back at the start of this one. */
  recoveredIntents: number;
  /** Bins left alone because of a corrupt input or a taken output name. */
  skippedBins: SkippedBin[];
  /** Wall time of the run, in ms (from `clock`). */
  durationMs: number;
}

/** The JSON content of `_compaction-<h>.json`. */
interface Intent {
  version: 1;
  inputs: string[];
  output: string;
  createdAt: string;
}

/**
 * Rewrites the small Parquet files of a lake table's closed partitions into files of about
 * `targetFileBytes`, crash-safely: 1) an intent file `_compaction-<h>.json` names the inputs and the
 * output, 2) the output `compacted-<h>.parquet` appears atomically, 3) the inputs are deleted,
 * 4) the intent is deleted. Every run first finishes (output present) or rolls back (output absent)
 * the intents an interrupted run left, so no row is ever lost, and a duplicate (output and inputs
 * both present) lasts only until the next run. Only partitions with `_SUCCESS`, and only files not
 * newer than it, are touched. Running it again with nothing new is a no-op.
 *
 * Files are grouped by schema (schema versions are never mixed: identical Parquet schemas for the
 * default row-group copy, identical Arrow schemas with `rewrite: true`), then packed first-fit
 * decreasing (see docs/compaction.md). One bin is in memory at a time.
 *
 * @throws MB_INVALID_OPTIONS for bad options or a missing `dir`/table; MB_SINK_FAILED for file-system
 * failures (naming the file); MB_ABORTED when `signal` aborts; MB_MISSING_PEER without parquet-wasm
 * or apache-arrow when `rewrite` is true (the default row-group copy needs neither).
 */
export async function compactLake(options: CompactLakeOptions): Promise<CompactionReport> {
  const settings = checkOptions(options);
  const { table, root, clock } = settings;
  await checkDirectory(options.dir, 'dir');
  await checkDirectory(root, `table '${table}'`);
  const started = clock.now();
  const report: CompactionReport = {
    table,
    mode: settings.rewrite ? 'rewrite' : 'copy',
    partitionsScanned: 0,
    partitionsCompacted: 0,
    partitionsSkippedOpen: 0,
    filesBefore: 0,
    filesAfter: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    rowsRewritten: 0,
    outputs: 0,
    recoveredIntents: 0,
    skippedBins: [],
    durationMs: 0,
  };
  const partitions = await findPartitions(root);
  for (const partition of partitions) await recoverPartition(partition, settings, report);
  for (const partition of partitions) {
    if (!settings.selects(partition.path)) continue;
    throwIfAborted(settings.signal);
    await compactPartition(partition, settings, report);
  }
  report.durationMs = clock.now() - started;
  return report;
}

interface Settings {
  table: string;
  root: string;
  target: number;
  minInputFiles: number;
  rewrite: boolean;
  compression: CompactionCompression;
  selects: (path: string) => boolean;
  signal: AbortSignal | undefined;
  progress: (event: Omit<CompactionProgress, 'table'>) => void;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
}

function checkOptions(options: CompactLakeOptions): Settings {
  if (typeof options !== 'object' || options === null)
    throw invalidOptions('compactLake(options): options required');
  const root = tableRoot(options.dir, options.table, 'compactLake');
  const table = options.table;
  const compression = options.compression ?? 'zstd';
  if (!COMPRESSIONS.includes(compression)) {
    throw invalidOptions(
      `compactLake: compression must be one of ${COMPRESSIONS.join(', ')}; got ${show(compression)}`,
      {
        option: 'compression',
        value: compression,
      },
    );
  }
  const rewrite = options.rewrite ?? false;
  if (typeof rewrite !== 'boolean') {
    throw invalidOptions(`compactLake: rewrite must be a boolean; got ${show(rewrite)}`, {
      option: 'rewrite',
    });
  }
  if (options.compression !== undefined && !rewrite) {
    // Copied row groups keep their codec: ignoring the option silently would mislead.
    throw invalidOptions(
      `compactLake: compression (${show(options.compression)}) applies only with rewrite: true; copied row groups keep their codec`,
      { option: 'compression' },
    );
  }
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw invalidOptions(`compactLake: onProgress must be a function; got ${show(onProgress)}`);
  }
  return {
    table,
    root,
    target: parseSize(options.targetFileBytes ?? '128MB', 'compactLake: targetFileBytes'),
    minInputFiles: parseCount(options.minInputFiles ?? 2, 'compactLake: minInputFiles', { min: 2 }),
    rewrite,
    compression,
    selects: partitionFilter(options.partitions),
    signal: options.signal,
    progress: (event) => onProgress?.({ table, ...event }),
    clock: options.clock ?? { now: () => Date.now() },
    logger: options.logger ?? silentLogger,
  };
}

function partitionFilter(partitions: CompactLakeOptions['partitions']): (path: string) => boolean {
  if (partitions === undefined) return () => true;
  if (typeof partitions === 'function') return (path) => partitions(path) === true;
  if (!Array.isArray(partitions) || partitions.some((p) => typeof p !== 'string' || p.length === 0)) {
    throw invalidOptions(
      `compactLake: partitions must be a list of partition paths (like 'dt=2026-11-25/hr=14') or a predicate; got ${show(partitions)}`,
      { option: 'partitions' },
    );
  }
  const wanted = partitions.map((p) => p.replace(/^\/+|\/+$/g, ''));
  return (path) => wanted.some((p) => path === p || path.startsWith(`${p}/`));
}

async function checkDirectory(path: string, what: string): Promise<void> {
  let isDirectory = false;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw ioError('stat', path, error);
  }
  if (!isDirectory) {
    throw invalidOptions(`compactLake: ${what} does not exist or is not a directory: ${path}`, { path });
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new MicrobatchError('MB_ABORTED', 'compactLake: aborted', { cause: signal.reason });
  }
}

// ---------------------------------------------------------------------------------------------
// Recovery

/**
 * Finishes or rolls back every intent in a partition, then removes the temporary files of
 * interrupted compactions (only one compaction may run on a table at a time: see the docs).
 */
async function recoverPartition(
  partition: PartitionDir,
  settings: Settings,
  report: CompactionReport,
): Promise<void> {
  const intents = partition.files.filter((name) => intentHash(name) !== undefined);
  const temps = partition.files.filter((name) => isCompactionTemp(name));
  for (const name of intents) {
    const outcome = await recoverIntent(partition.dir, name, settings);
    report.recoveredIntents++;
    settings.logger.info(
      { table: settings.table, partition: partition.path, intent: name, ...outcome },
      'compaction intent recovered',
    );
    settings.progress({
      partition: partition.path,
      action: 'recovered',
      filesIn: outcome.inputs,
      filesOut: outcome.finished ? 1 : 0,
      bytesIn: 0,
      bytesOut: 0,
      rows: 0,
      reason: outcome.finished ? 'output present: inputs deleted' : 'output absent: intent rolled back',
    });
  }
  for (const name of temps) await remove(join(partition.dir, name));
  if (intents.length > 0 || temps.length > 0) await syncDirectory(partition.dir);
}

async function recoverIntent(
  dir: string,
  name: string,
  settings: Settings,
): Promise<{ finished: boolean; inputs: number }> {
  const file = join(dir, name);
  const hash = intentHash(name)!;
  let intent: Intent;
  try {
    intent = parseIntent(await readFile(file, 'utf8'), hash);
  } catch (error) {
    if (MicrobatchError.is(error)) throw error;
    throw ioError('read the intent', file, error);
  }
  const output = join(dir, intent.output);
  if (await isCompleteFile(output)) {
    await finishBin(dir, intent.inputs, hash);
    return { finished: true, inputs: intent.inputs.length };
  }
  const missing: string[] = [];
  for (const input of intent.inputs)
    if ((await statOrUndefined(join(dir, input))) === undefined) missing.push(input);
  if (missing.length > 0) {
    // Cannot happen with this protocol (inputs are deleted only once the output is in place):
    // something else removed files. Keep everything for a human to look at.
    throw new MicrobatchError(
      'MB_SINK_FAILED',
      `compactLake: intent ${file} has no complete output ${intent.output} and inputs are missing (${missing.join(', ')}); left as is`,
      { details: { file, missing } },
    );
  }
  // Output absent (or not a whole Parquet file): roll back. The inputs were never touched.
  await remove(output);
  await remove(file);
  await syncDirectory(dir);
  settings.logger.warn({ intent: file }, 'compaction rolled back: output absent');
  return { finished: false, inputs: intent.inputs.length };
}

function parseIntent(text: string, hash: string): Intent {
  const value = JSON.parse(text) as Partial<Intent>;
  const inputs = value.inputs;
  const valid =
    value.version === 1 &&
    Array.isArray(inputs) &&
    inputs.length > 0 &&
    inputs.every((input) => typeof input === 'string' && isDataFile(input) && !/[/\\]/.test(input)) &&
    value.output === `${outputStem(hash)}.parquet` &&
    compactionHash(inputs) === hash;
  if (!valid) {
    throw new MicrobatchError(
      'MB_SINK_FAILED',
      `compactLake: intent ${intentStem(hash)}.json is not a valid compaction intent for hash ${hash}; left as is`,
      { details: { hash } },
    );
  }
  return value as Intent;
}

/** True when `file` exists and has the Parquet magic at both ends. */
async function isCompleteFile(file: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return false;
    throw ioError('open', file, error);
  }
  try {
    const { size } = await handle.stat();
    if (size < 12) return false;
    const head = new Uint8Array(4);
    const tail = new Uint8Array(4);
    await handle.read(head, 0, 4, 0);
    await handle.read(tail, 0, 4, size - 4);
    return looksComplete(head, tail);
  } catch (error) {
    throw ioError('read', file, error);
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Compaction

interface Candidate extends SizedFile {
  mtimeNs: bigint;
}

async function compactPartition(
  partition: PartitionDir,
  settings: Settings,
  report: CompactionReport,
): Promise<void> {
  const { dir, path } = partition;
  const marker = await markerTime(dir);
  if (marker === undefined) {
    report.partitionsSkippedOpen++;
    settings.progress({
      partition: path,
      action: 'skipped-open',
      filesIn: 0,
      filesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      rows: 0,
    });
    return;
  }
  report.partitionsScanned++;
  const before = await dataFiles(dir);
  const beforeBytes = sum(before);
  // Late files (written after the marker) wait until the partition is closed again.
  const small = before.filter((file) => file.size < settings.target && file.mtimeNs <= marker);
  let rows = 0;
  let rewritten = 0;
  // The bytes read for the schemas are kept, up to one output's worth, for the merge to use: most
  // candidates are small, and reading each file once instead of twice is much of the run's time.
  const cache: InputCache = { files: new Map(), bytes: 0, budget: settings.target };
  for (const group of await schemaGroups(partition, small, settings, report, cache)) {
    for (const bin of packBins(group, settings.target)) {
      if (bin.length < settings.minInputFiles) continue;
      throwIfAborted(settings.signal);
      const written = await compactBin(partition, bin, settings, report, cache);
      if (written !== undefined) {
        rows += written;
        rewritten++;
      }
    }
  }
  const after = rewritten === 0 ? before : await dataFiles(dir);
  const afterBytes = sum(after);
  report.filesBefore += before.length;
  report.filesAfter += after.length;
  report.bytesBefore += beforeBytes;
  report.bytesAfter += afterBytes;
  report.rowsRewritten += rows;
  if (rewritten > 0) report.partitionsCompacted++;
  settings.progress({
    partition: path,
    action: 'compacted',
    filesIn: before.length,
    filesOut: after.length,
    bytesIn: beforeBytes,
    bytesOut: afterBytes,
    rows,
  });
}

/** The data files of a partition directory with their sizes and nanosecond mtimes, by name. */
async function dataFiles(dir: string): Promise<Candidate[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isDataFile).sort();
  } catch (error) {
    throw ioError('list', dir, error);
  }
  const files: Candidate[] = [];
  // Stats run a few dozen at a time: one after the other, a partition of 1,000 files waits on
  // 1,000 thread-pool round trips.
  for (let from = 0; from < names.length; from += STATS_AT_ONCE) {
    const batch = names.slice(from, from + STATS_AT_ONCE);
    const infos = await Promise.all(batch.map((name) => statOrUndefined(join(dir, name))));
    infos.forEach((info, i) => {
      if (info !== undefined) files.push({ name: batch[i]!, size: info.size, mtimeNs: info.mtimeNs });
    });
  }
  return files;
}

const sum = (files: readonly SizedFile[]) => files.reduce((total, file) => total + file.size, 0);

const STATS_AT_ONCE = 32;
const SYNC_READ_BYTES = 256 * 1024;
const READ_AHEAD_FILES = 8;
const READ_AHEAD_BYTES = 32 * 1024 * 1024;

/** Input bytes read while grouping, kept for {@link compactBin} while they add up to at most `budget`. */
interface InputCache {
  files: Map<string, Uint8Array>;
  bytes: number;
  budget: number;
}

/**
 * Splits candidates by schema (see {@link footerKey} and {@link schemaKey}). Reads each file once
 * (a few read ahead, see READ_AHEAD_*) for its footer, keeping the bytes in `cache` while they fit;
 * a file that is not readable Parquet is reported and left out.
 */
async function schemaGroups(
  partition: PartitionDir,
  files: readonly Candidate[],
  settings: Settings,
  report: CompactionReport,
  cache: InputCache,
): Promise<Candidate[][]> {
  if (files.length < settings.minInputFiles) return [];
  const groups = new Map<string, Candidate[]>();
  const read = (i: number) => readInput(join(partition.dir, files[i]!.name), files[i]!.size);
  // Reads run ahead of the footer parsing, several at once (the thread pool overlaps their opens
  // and reads), bounded in files and bytes.
  const pending: Promise<Uint8Array | undefined>[] = [];
  let ahead = 0;
  let aheadBytes = 0;
  const fill = () => {
    while (
      ahead < files.length &&
      (pending.length === 0 ||
        (pending.length < READ_AHEAD_FILES && aheadBytes + files[ahead]!.size <= READ_AHEAD_BYTES))
    ) {
      aheadBytes += files[ahead]!.size;
      pending.push(prefetch(read, ahead++, files.length));
    }
  };
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    fill();
    const bytes = (await pending.shift()!)!;
    aheadBytes -= file.size;
    let key: string;
    try {
      // Copying row groups needs identical Parquet schemas; re-encoding only identical Arrow ones.
      key = settings.rewrite ? await schemaKey(bytes) : footerKey(bytes);
    } catch (error) {
      if (MicrobatchError.is(error, 'MB_MISSING_PEER')) throw error;
      skip(
        partition,
        [file.name],
        file.name,
        'corrupt',
        `cannot read the Parquet schema: ${describeError(error)}`,
        settings,
        report,
      );
      continue;
    }
    if (cache.bytes + bytes.length <= cache.budget) {
      cache.files.set(file.name, bytes);
      cache.bytes += bytes.length;
    }
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [file]);
    else group.push(file);
  }
  return [...groups.values()];
}

/**
 * A whole file, whose size `stat` gave as `size`: one open, one read, one close (fs.readFile makes
 * more round trips to the thread pool, which shows with thousands of small files). A file that
 * grew since is read again whole.
 */
async function readInput(path: string, size: number): Promise<Uint8Array> {
  try {
    // Small files are read synchronously: one system call each way instead of three thread-pool
    // round trips with their promises, which is most of the time spent on a partition of
    // thousands of batch files; the event loop is held for well under a millisecond per file.
    if (size <= SYNC_READ_BYTES) return readFileSync(path);
    const handle = await open(path, 'r');
    let length = 0;
    const buffer = Buffer.allocUnsafe(size + 1);
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        length += bytesRead;
        if (bytesRead === 0 || length === buffer.length) break;
      }
    } finally {
      await handle.close();
    }
    return length <= size ? buffer.subarray(0, length) : await readFile(path);
  } catch (error) {
    throw ioError('read', path, error);
  }
}

/** Compacts one bin (inputs sorted by name); returns the rows written, or `undefined` when skipped. */
async function compactBin(
  partition: PartitionDir,
  bin: readonly Candidate[],
  settings: Settings,
  report: CompactionReport,
  cache: InputCache,
): Promise<number | undefined> {
  const { dir } = partition;
  const inputs = bin.map((file) => file.name);
  const hash = compactionHash(inputs);
  const output = `${outputStem(hash)}.parquet`;
  if ((await statOrUndefined(join(dir, output))) !== undefined) {
    // Same inputs compacted before, and the inputs written again since (a replayed batch): leave
    // both for a human rather than overwrite rows that may not all be in the inputs.
    skip(partition, inputs, output, 'output-exists', `the output ${output} already exists`, settings, report);
    return undefined;
  }
  // Decode and encode before any file is written: a corrupt input costs nothing to abandon.
  let merged: Awaited<ReturnType<typeof mergeParquet>>;
  const read = async (i: number) => {
    const cached = cache.files.get(inputs[i]!);
    if (cached === undefined) return readInput(join(dir, inputs[i]!), bin[i]!.size);
    cache.files.delete(inputs[i]!);
    cache.bytes -= cached.length;
    return cached;
  };
  try {
    merged = settings.rewrite
      ? await mergeParquet(inputs.length, read, settings.compression)
      : await mergeRowGroups(inputs.length, read);
  } catch (error) {
    if (!(error instanceof InputError) && !isEncodeFailure(error)) throw error;
    const file = error instanceof InputError ? inputs[error.index]! : output;
    const what = error instanceof InputError ? `cannot read ${file}` : 'cannot write the merged file';
    skip(partition, inputs, file, 'corrupt', `${what}: ${describeError(error)}`, settings, report);
    return undefined;
  }

  const files = atomicFiles(dir);
  const intent: Intent = {
    version: 1,
    inputs,
    output,
    createdAt: new Date(settings.clock.now()).toISOString(),
  };
  reachedStep('before-intent', join(dir, output));
  try {
    await files.write(intentStem(hash), '.json', `${JSON.stringify(intent)}\n`);
  } catch (error) {
    throw ioError('write the intent', join(dir, `${intentStem(hash)}.json`), error);
  }
  reachedStep('intent-written', join(dir, `${intentStem(hash)}.json`));
  try {
    await files.write(outputStem(hash), '.parquet', merged.bytes, settings.signal);
  } catch (error) {
    if (error instanceof SimulatedCrash) throw error;
    // Roll back: without an output the intent must go (inputs untouched), as recovery would do.
    await remove(join(dir, `${intentStem(hash)}.json`));
    await syncDirectory(dir);
    throwIfAborted(settings.signal);
    throw ioError('write', join(dir, output), error);
  }
  reachedStep('output-written', join(dir, output));
  await finishBin(dir, inputs, hash);
  report.outputs++;
  settings.logger.info(
    {
      table: settings.table,
      partition: partition.path,
      inputs: inputs.length,
      output,
      rows: merged.rows,
      mode: settings.rewrite ? 'rewrite' : 'copy',
    },
    'compacted',
  );
  return merged.rows;
}

/** Steps 3 and 4: deletes the inputs (some may be gone already), then the intent, each made durable. */
async function finishBin(dir: string, inputs: readonly string[], hash: string): Promise<void> {
  for (const name of inputs) {
    await remove(join(dir, name));
    reachedStep('input-deleted', join(dir, name));
  }
  await syncDirectory(dir);
  reachedStep('inputs-deleted', dir);
  await remove(join(dir, `${intentStem(hash)}.json`));
  await syncDirectory(dir);
  reachedStep('intent-deleted', dir);
}

// An I/O failure (named by readInput) or a missing peer stops the run; anything else while encoding
// (a value parquet-wasm cannot write) only skips the bin.
function isEncodeFailure(error: unknown): boolean {
  return !MicrobatchError.is(error);
}

/** Deletes a file; one already gone is fine (unlink: half the cost of rm's checks, per input file). */
async function remove(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return;
    throw ioError('delete', file, error);
  }
}

function skip(
  partition: PartitionDir,
  files: string[],
  file: string,
  reason: SkippedBin['reason'],
  message: string,
  settings: Settings,
  report: CompactionReport,
): void {
  report.skippedBins.push({ partition: partition.path, files, file, reason, message });
  settings.logger.warn({ table: settings.table, partition: partition.path, file, reason }, message);
  settings.progress({
    partition: partition.path,
    action: 'bin-skipped',
    filesIn: files.length,
    filesOut: files.length,
    bytesIn: 0,
    bytesOut: 0,
    rows: 0,
    reason: `${reason}: ${message}`,
  });
}
