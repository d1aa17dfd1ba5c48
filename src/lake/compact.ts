import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { parseCount, parseDuration, parseSize, show } from '../core/units.js';
import { packBins, type SizedFile } from './compact-bins.js';
import { reachedStep, SimulatedCrash } from './compact-faults.js';
import {
  type BinReader,
  binReader,
  CACHE_BYTES,
  InputCache,
  type Probe,
  probe,
  TAIL_BYTES,
} from './compact-io.js';
import {
  compactionHash,
  findPartitions,
  intentHash,
  intentStem,
  ioError,
  isCompactionKey,
  isDataFile,
  type LakeFile,
  outputStem,
  type PartitionDir,
  partitionFiles,
} from './compact-layout.js';
import {
  COMPRESSIONS,
  type CompactionCompression,
  InputError,
  isCorrupt,
  looksComplete,
  mergeParquet,
  OutputEncodeError,
  prefetch,
  schemaKey,
} from './compact-parquet.js';
import { copyRowGroups, footerKey, footerKeyOf, planRowGroupCopy } from './compact-rowgroups.js';
import { fileStorage } from './file-storage.js';
import { checkTable, SUCCESS_MARKER } from './paths.js';
import { type ObjectStorage, type PutIfAbsentResult, putIfAbsentFrom, storageOption } from './storage.js';

export type {
  CompactionProgress,
  CompactionReport,
  CompactLakeOptions,
  SkippedBin,
} from './compact-options.js';
export type { CompactionCompression } from './compact-parquet.js';

import type {
  CompactionProgress,
  CompactionReport,
  CompactLakeOptions,
  SkippedBin,
} from './compact-options.js';

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
  const { table, storage, clock } = settings;
  if (options.dir !== undefined && options.storage === undefined) {
    // The file shorthand keeps its checks: a misspelled directory is an error, not an empty lake.
    await checkDirectory(options.dir, 'dir');
    await checkDirectory(join(options.dir, table), `table '${table}'`);
  }
  await storage.open?.({ signal: settings.signal });
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
    abortedWrites: 0,
    durationMs: 0,
  };
  // Compaction's own interrupted writes first (any age), then everyone's stale ones.
  const staleBefore = started - settings.abortIncompleteAfter;
  report.abortedWrites = await storage.abortIncomplete(`${table}/`, {
    signal: settings.signal,
    filter: (write) => isCompactionKey(write.key) || write.started < staleBefore,
  });
  const partitions = await findPartitions(storage, table);
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
  storage: ObjectStorage;
  abortIncompleteAfter: number;
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
  const table = checkTable(options.table, 'compactLake');
  const storage = storageOption(options, 'compactLake', fileStorage);
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
  const after = options.abortIncompleteAfter ?? '1d';
  return {
    table,
    storage,
    abortIncompleteAfter:
      after === Infinity
        ? Infinity
        : parseDuration(after, 'compactLake: abortIncompleteAfter', { allowZero: true }),
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

/** Finishes or rolls back every intent in a partition (only one compaction may run on a table at a time: see the docs). */
async function recoverPartition(
  partition: PartitionDir,
  settings: Settings,
  report: CompactionReport,
): Promise<void> {
  const intents = partition.files.filter((file) => intentHash(file.name) !== undefined);
  for (const { name } of intents) {
    const outcome = await recoverIntent(partition, name, settings);
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
}

async function recoverIntent(
  partition: PartitionDir,
  name: string,
  settings: Settings,
): Promise<{ finished: boolean; inputs: number }> {
  const { storage } = settings;
  const key = `${partition.prefix}${name}`;
  const hash = intentHash(name)!;
  let intent: Intent;
  let text: Uint8Array | undefined;
  try {
    text = await storage.get(key, { signal: settings.signal });
  } catch (error) {
    throw ioError('read the intent', storage.url(key), error);
  }
  if (text === undefined) return { finished: false, inputs: 0 }; // removed since the listing
  try {
    intent = parseIntent(Buffer.from(text).toString('utf8'), hash);
  } catch (error) {
    if (MicrobatchError.is(error)) throw error;
    throw invalidIntent(hash, error);
  }
  const output = `${partition.prefix}${intent.output}`;
  if (await isCompleteObject(storage, output)) {
    await finishBin(partition, intent.inputs, hash, settings);
    return { finished: true, inputs: intent.inputs.length };
  }
  const missing: string[] = [];
  for (const input of intent.inputs)
    if ((await storage.head(`${partition.prefix}${input}`)) === undefined) missing.push(input);
  if (missing.length > 0) {
    // Cannot happen with this protocol (inputs are deleted only once the output is in place):
    // something else removed files. Keep everything for a human to look at.
    throw new MicrobatchError(
      'MB_SINK_FAILED',
      `compactLake: intent ${storage.url(key)} has no complete output ${intent.output} and inputs are missing (${missing.join(', ')}); left as is`,
      { details: { url: storage.url(key), missing } },
    );
  }
  // Output absent (or not a whole Parquet file): roll back. The inputs were never touched.
  await storage.delete([output, key]);
  settings.logger.warn({ intent: storage.url(key) }, 'compaction rolled back: output absent');
  return { finished: false, inputs: intent.inputs.length };
}

function invalidIntent(hash: string, cause?: unknown): MicrobatchError {
  return new MicrobatchError(
    'MB_SINK_FAILED',
    `compactLake: intent ${intentStem(hash)}.json is not a valid compaction intent for hash ${hash}; left as is`,
    { cause, details: { hash } },
  );
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
  if (!valid) throw invalidIntent(hash);
  return value as Intent;
}

/** True when `key` exists and has the Parquet magic at both ends. */
async function isCompleteObject(storage: ObjectStorage, key: string): Promise<boolean> {
  try {
    const info = await storage.head(key);
    if (info === undefined || info.size < 12) return false;
    const head = await storage.get(key, { range: { offset: 0, length: 4 } });
    const tail = await storage.get(key, { range: { offset: info.size - 4, length: 4 } });
    return head !== undefined && tail !== undefined && looksComplete(head, tail);
  } catch (error) {
    throw ioError('read', storage.url(key), error);
  }
}

// ---------------------------------------------------------------------------------------------
// Compaction

async function compactPartition(
  partition: PartitionDir,
  settings: Settings,
  report: CompactionReport,
): Promise<void> {
  const { path } = partition;
  // Listed again: recovery may have deleted inputs and intents since the table was listed.
  const listed = await partitionFiles(settings.storage, partition.prefix);
  const marker = listed.find((file) => file.name === SUCCESS_MARKER)?.modified;
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
  const before = listed.filter((file) => isDataFile(file.name));
  const beforeBytes = sum(before);
  // Late files (written after the marker) wait until the partition is closed again.
  const small = before.filter((file) => file.size < settings.target && file.modified <= marker);
  let rows = 0;
  let rewritten = 0;
  // The bytes read for the schemas are kept (up to CACHE_BYTES, and never more than one output's
  // worth) for the merge to use: most candidates are small, and reading each file once instead of
  // twice is much of the run's time.
  const cache = new InputCache(Math.min(settings.target, CACHE_BYTES));
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
  const after =
    rewritten === 0
      ? before
      : (await partitionFiles(settings.storage, partition.prefix)).filter((file) => isDataFile(file.name));
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

const sum = (files: readonly SizedFile[]) => files.reduce((total, file) => total + file.size, 0);

const READ_AHEAD_FILES = 8;
const READ_AHEAD_BYTES = 32 * 1024 * 1024;

/**
 * Splits candidates by schema (see {@link footerKey} and {@link schemaKey}). In the default mode it
 * reads only the end of each file (the whole file when it is at most 64KiB; else the footer, by
 * byte range); with `rewrite` the whole file. What was read is kept in `cache` while it fits. A few
 * reads run ahead (see READ_AHEAD_*). A file that is not readable Parquet is reported and left out.
 */
async function schemaGroups(
  partition: PartitionDir,
  files: readonly LakeFile[],
  settings: Settings,
  report: CompactionReport,
  cache: InputCache,
): Promise<LakeFile[][]> {
  if (files.length < settings.minInputFiles) return [];
  const groups = new Map<string, LakeFile[]>();
  const read = (i: number): Promise<Probe> => probe(settings, partition, files[i]!, settings.rewrite);
  // Reads run ahead of the footer parsing, several at once, bounded in files and bytes.
  const pending: Promise<Probe | undefined>[] = [];
  const weight = (file: LakeFile) => (settings.rewrite ? file.size : Math.min(file.size, TAIL_BYTES));
  let ahead = 0;
  let aheadBytes = 0;
  const fill = () => {
    while (
      ahead < files.length &&
      (pending.length === 0 ||
        (pending.length < READ_AHEAD_FILES && aheadBytes + weight(files[ahead]!) <= READ_AHEAD_BYTES))
    ) {
      aheadBytes += weight(files[ahead]!);
      pending.push(prefetch(read, ahead++, files.length));
    }
  };
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    fill();
    const next = pending.shift()!;
    aheadBytes -= weight(file);
    let probed: Probe;
    let key: string;
    try {
      probed = (await next)!;
      // Copying row groups needs identical Parquet schemas; re-encoding only identical Arrow ones.
      if ('footer' in probed) key = footerKeyOf(probed.footer.raw);
      else key = settings.rewrite ? await schemaKey(probed.whole) : footerKey(probed.whole);
    } catch (error) {
      // Only damage the parsing recognised; an I/O failure, a missing peer or a bug stops the run.
      if (!isCorrupt(error)) throw error;
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
    cache.keep(file.name, probed);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [file]);
    else group.push(file);
  }
  return [...groups.values()];
}

/** The output of a bin, ready to be written: its rows and how to write it. */
interface BinOutput {
  rows: number;
  write(key: string): Promise<PutIfAbsentResult>;
}

/**
 * Prepares a bin's output without writing anything. The rewrite mode decodes and encodes the whole
 * bin here; the row-group copy reads only the inputs' footers and plans the copy, whose ranged
 * reads happen during the write (streamed: see {@link copyRowGroups}). A damaged input found here
 * throws {@link InputError}; one found while the copy streams makes the write fail with it.
 */
async function prepareOutput(reader: BinReader, count: number, settings: Settings): Promise<BinOutput> {
  const { storage, signal } = settings;
  if (settings.rewrite) {
    const merged = await mergeParquet(count, (i) => reader.whole(i), settings.compression);
    return { rows: merged.rows, write: (key) => storage.putIfAbsent(key, merged.bytes, { signal }) };
  }
  const plan = await planRowGroupCopy(count, (i) => reader.footer(i));
  return {
    rows: plan.rows,
    write: (key) =>
      putIfAbsentFrom(
        storage,
        key,
        () => copyRowGroups(plan, (i, offset, length) => reader.range(i, offset, length)),
        {
          size: plan.size,
          ...(signal === undefined ? {} : { signal }),
        },
      ),
  };
}

/** Compacts one bin (inputs sorted by name); returns the rows written, or `undefined` when skipped. */
async function compactBin(
  partition: PartitionDir,
  bin: readonly LakeFile[],
  settings: Settings,
  report: CompactionReport,
  cache: InputCache,
): Promise<number | undefined> {
  const reader = binReader(settings, partition, bin, cache);
  try {
    return await compactBinWith(partition, bin, reader, settings, report);
  } finally {
    reader.done();
  }
}

async function compactBinWith(
  partition: PartitionDir,
  bin: readonly LakeFile[],
  reader: BinReader,
  settings: Settings,
  report: CompactionReport,
): Promise<number | undefined> {
  const { storage } = settings;
  const inputs = bin.map((file) => file.name);
  const hash = compactionHash(inputs);
  const output = `${outputStem(hash)}.parquet`;
  const outputKey = `${partition.prefix}${output}`;
  const intentKey = `${partition.prefix}${intentStem(hash)}.json`;
  if ((await storage.head(outputKey, { signal: settings.signal })) !== undefined) {
    // Same inputs compacted before, and the inputs written again since (a replayed batch): leave
    // both for a human rather than overwrite rows that may not all be in the inputs.
    skip(partition, inputs, output, 'output-exists', `the output ${output} already exists`, settings, report);
    return undefined;
  }
  const skipCorrupt = (error: InputError | OutputEncodeError) => {
    const file = error instanceof InputError ? inputs[error.index]! : output;
    const what = error instanceof InputError ? `cannot read ${file}` : 'cannot write the merged file';
    skip(partition, inputs, file, 'corrupt', `${what}: ${describeError(error)}`, settings, report);
    return undefined;
  };
  // Footers (copy) or the whole bin (rewrite) are checked before any object is written: a corrupt
  // input found there costs nothing to abandon.
  let prepared: BinOutput;
  try {
    prepared = await prepareOutput(reader, inputs.length, settings);
  } catch (error) {
    if (!(error instanceof InputError) && !(error instanceof OutputEncodeError)) throw error;
    return skipCorrupt(error);
  }

  const intent: Intent = {
    version: 1,
    inputs,
    output,
    createdAt: new Date(settings.clock.now()).toISOString(),
  };
  reachedStep('before-intent', storage.url(outputKey));
  try {
    // The intent of these inputs can only be this one (its name is their hash): an existing one is fine.
    await storage.putIfAbsent(intentKey, Buffer.from(`${JSON.stringify(intent)}\n`), {
      signal: settings.signal,
    });
  } catch (error) {
    throwIfAborted(settings.signal);
    throw ioError('write the intent', storage.url(intentKey), error);
  }
  reachedStep('intent-written', storage.url(intentKey));
  let result: PutIfAbsentResult;
  try {
    result = await prepared.write(outputKey);
  } catch (error) {
    if (error instanceof SimulatedCrash) throw error;
    // Roll back: without an output the intent must go (inputs untouched), as recovery would do.
    // The write left no object (a streamed write is abandoned whole, temporary file or upload).
    await storage.delete([intentKey]);
    // A page of an input found damaged while the copy streamed: the bin is skipped as when a
    // footer is damaged, after the rollback.
    if (error instanceof InputError) return skipCorrupt(error);
    throwIfAborted(settings.signal);
    throw ioError('write', storage.url(outputKey), error);
  }
  if (result.outcome === 'exists' && !result.identical) {
    // Created by someone else between the check above and now (a second compaction of the same
    // inputs, which is not supported): not ours, so our intent goes and no input is deleted.
    await storage.delete([intentKey]);
    throw new MicrobatchError(
      'MB_SINK_FAILED',
      `compactLake: ${storage.url(outputKey)} appeared while compacting, with other content; is another compaction running on this table?`,
      { details: { url: storage.url(outputKey) } },
    );
  }
  reachedStep('output-written', storage.url(outputKey));
  await finishBin(partition, inputs, hash, settings);
  report.outputs++;
  settings.logger.info(
    {
      table: settings.table,
      partition: partition.path,
      inputs: inputs.length,
      output,
      rows: prepared.rows,
      mode: settings.rewrite ? 'rewrite' : 'copy',
    },
    'compacted',
  );
  return prepared.rows;
}

/** Steps 3 and 4: deletes the inputs (some may be gone already), then the intent, each made durable. */
async function finishBin(
  partition: PartitionDir,
  inputs: readonly string[],
  hash: string,
  settings: Settings,
): Promise<void> {
  const { storage } = settings;
  const keys = inputs.map((name) => `${partition.prefix}${name}`);
  try {
    await storage.delete(keys, { onDeleted: (key) => reachedStep('input-deleted', storage.url(key)) });
  } catch (error) {
    if (error instanceof SimulatedCrash) throw error;
    throw ioError('delete the inputs of', storage.url(`${partition.prefix}${intentStem(hash)}.json`), error);
  }
  reachedStep('inputs-deleted', storage.url(partition.prefix));
  const intentKey = `${partition.prefix}${intentStem(hash)}.json`;
  try {
    await storage.delete([intentKey]);
  } catch (error) {
    throw ioError('delete', storage.url(intentKey), error);
  }
  reachedStep('intent-deleted', storage.url(partition.prefix));
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
