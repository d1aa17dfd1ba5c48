import { join } from 'node:path';
import { MicrobatchError } from '../core/errors.js';
import { formatBytes, parseCount, parseSize } from '../core/units.js';
import { type CompactionProgress, type CompactionReport, compactLake } from '../lake/compact.js';
import { COMPRESSIONS, type CompactionCompression } from '../lake/compact-parquet.js';
import { tableRoot } from '../lake/paths.js';
import { parseCommandLine, plural } from './args.js';
import { CORRUPT_REPORT, type CorruptFile, rememberCorrupt } from './corrupt.js';
import { type CliIo, UsageError } from './io.js';
import { packageInfo } from './package-info.js';
import { checkLakeDir, checkPartitions, checkTable, findTables } from './tables.js';

/** The help text of `microbatch compact`. */
export const compactUsage = (): string => `Usage: microbatch compact <dir> [options]

Rewrites the small Parquet files of a lake's closed partitions (those with _SUCCESS) into files
of about --target-file-size, crash-safely (see ${packageInfo().doc('docs/compaction.md')}).
<dir> is the lake: the directory that holds the table directories (<dir>/<table>/dt=…/).

Options:
  --table <name>              compact this table only (default: every table directory under <dir>)
  --target-file-size <size>   output file size to aim at, e.g. 64MB, 1GiB (default: 128MB)
  --min-input-files <n>       leave bins of fewer files alone, n >= 2 (default: 2)
  --partition <path>          only this partition (and those below it), e.g. dt=2026-11-25/hr=14;
                              repeat for several (default: every partition); one that matches
                              no partition is a usage error
  --rewrite                   decode and re-encode every row into large row groups (slower; can change
                              the codec) instead of copying the row groups as they are (the default)
  --compression <codec>       with --rewrite: ${COMPRESSIONS.join(' | ')} (default: zstd)
  --json                      print the reports as JSON on stdout
  --help                      show this help

A data file that cannot be read is left alone, named in the output and remembered in its
partition's ${CORRUPT_REPORT} file, so every later run lists it again until it is removed or replaced.

Progress goes to stderr, the summary to stdout. Exit codes: 0 done; 1 failed (MB_* code) or
corrupt files left alone; 2 usage error (options, a missing directory, no tables).`;

interface CompactArgs {
  dir: string;
  tables: string[] | undefined;
  targetFileBytes: number;
  minInputFiles: number;
  partitions: string[] | undefined;
  rewrite: boolean;
  compression: CompactionCompression;
  json: boolean;
}

function parse(argv: string[]): CompactArgs | 'help' {
  const { values, positionals } = parseCommandLine(argv, {
    table: { type: 'string' },
    'target-file-size': { type: 'string' },
    'min-input-files': { type: 'string' },
    partition: { type: 'string', multiple: true },
    rewrite: { type: 'boolean' },
    compression: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? 'compact needs the lake directory: microbatch compact <dir>'
        : `compact takes one directory; got ${positionals.join(' ')}`,
    );
  }
  const rewrite = values.rewrite ?? false;
  if (values.compression !== undefined && !rewrite) {
    // Copied row groups keep their codec: a codec without --rewrite would be silently ignored.
    throw new UsageError('--compression needs --rewrite (copied row groups keep their codec)');
  }
  const compression = (values.compression ?? 'zstd') as CompactionCompression;
  if (!COMPRESSIONS.includes(compression)) {
    throw new UsageError(
      `--compression must be one of ${COMPRESSIONS.join(', ')}; got '${values.compression}'`,
    );
  }
  return {
    dir: positionals[0]!,
    tables:
      values.table === undefined
        ? undefined
        : [usage(() => tableRoot('.', values.table, '--table') && values.table!)],
    targetFileBytes: usage(() =>
      parseSize(sizeArg(values['target-file-size'] ?? '128MB'), '--target-file-size'),
    ),
    minInputFiles: usage(() =>
      parseCount(
        values['min-input-files'] === undefined ? 2 : Number(values['min-input-files']),
        '--min-input-files',
        { min: 2 },
      ),
    ),
    partitions: values.partition,
    rewrite,
    compression,
    json: values.json ?? false,
  };
}

// A bare number on the command line is bytes, as in the API.
const sizeArg = (text: string): string | number => (/^\d+$/.test(text.trim()) ? Number(text) : text);

/** Runs `check`, turning its MB_INVALID_OPTIONS into a usage error (exit code 2). */
function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (MicrobatchError.is(error, 'MB_INVALID_OPTIONS')) throw new UsageError(error.message);
    throw error;
  }
}

function progressLine(event: CompactionProgress): string | undefined {
  const where = `${event.table} ${event.partition}`;
  switch (event.action) {
    case 'compacted':
      return event.filesIn === event.filesOut
        ? `${where}: nothing to compact (${plural(event.filesIn, 'file')})`
        : `${where}: ${plural(event.filesIn, 'file')} → ${event.filesOut}, ${formatBytes(event.bytesIn)} → ${formatBytes(event.bytesOut)}`;
    case 'skipped-open':
      return `${where}: open (no _SUCCESS), skipped`;
    case 'recovered':
      return `${where}: recovered an interrupted compaction (${event.reason})`;
    case 'bin-skipped':
      return `${where}: ${plural(event.filesIn, 'file')} left alone: ${event.reason}`;
  }
}

function summaryLine(name: string, r: Pick<CompactionReport, 'mode' | NumericKey | 'skippedBins'>): string {
  return (
    `${name}: ${plural(r.filesBefore, 'file')} → ${r.filesAfter}, ${formatBytes(r.bytesBefore)} → ${formatBytes(r.bytesAfter)}, ` +
    `${plural(r.rowsRewritten, 'row')} ${r.mode === 'copy' ? 'copied (row groups, not decoded)' : 'rewritten (decoded and re-encoded)'}; ${plural(r.partitionsScanned, 'closed partition')}, ${r.partitionsSkippedOpen} open skipped` +
    (r.recoveredIntents > 0 ? `, ${plural(r.recoveredIntents, 'interrupted compaction')} recovered` : '') +
    (r.skippedBins.length > 0 ? `, ${plural(r.skippedBins.length, 'bin')} left alone (see above)` : '')
  );
}

/** `microbatch compact …`; resolves with the exit code. */
export async function compactCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parse(argv);
  if (args === 'help') {
    io.stdout(`${compactUsage()}\n`);
    return 0;
  }
  await checkLakeDir(args.dir);
  if (args.tables !== undefined) for (const table of args.tables) await checkTable(args.dir, table);
  const tables = args.tables ?? (await findTables(args.dir));
  if (args.partitions !== undefined) await checkPartitions(args.dir, tables, args.partitions);
  const reports: CompactionReport[] = [];
  for (const table of tables) {
    reports.push(
      await compactLake({
        dir: args.dir,
        table,
        targetFileBytes: args.targetFileBytes,
        minInputFiles: args.minInputFiles,
        ...(args.partitions === undefined ? {} : { partitions: args.partitions }),
        rewrite: args.rewrite,
        ...(args.rewrite ? { compression: args.compression } : {}),
        signal: io.signal,
        onProgress: (event) => {
          const line = progressLine(event);
          if (line !== undefined) io.stderr(`${line}\n`);
        },
      }),
    );
  }
  const total = {
    mode: args.rewrite ? ('rewrite' as const) : ('copy' as const),
    filesBefore: sum(reports, 'filesBefore'),
    filesAfter: sum(reports, 'filesAfter'),
    bytesBefore: sum(reports, 'bytesBefore'),
    bytesAfter: sum(reports, 'bytesAfter'),
    rowsRewritten: sum(reports, 'rowsRewritten'),
    partitionsScanned: sum(reports, 'partitionsScanned'),
    partitionsSkippedOpen: sum(reports, 'partitionsSkippedOpen'),
    recoveredIntents: sum(reports, 'recoveredIntents'),
    skippedBins: reports.flatMap((r) => r.skippedBins),
  };
  const corrupt: CorruptFile[] = [];
  const now = new Date();
  for (const report of reports) {
    corrupt.push(...(await rememberCorrupt(args.dir, report.table, report.skippedBins, now)));
  }
  if (args.json) io.stdout(`${JSON.stringify({ tables: reports, total, corrupt }, null, 2)}\n`);
  else {
    for (const report of reports) io.stdout(`${summaryLine(report.table, report)}\n`);
    if (reports.length > 1) io.stdout(`${summaryLine('total', total)}\n`);
    for (const file of corrupt) io.stdout(`${corruptLine(args.dir, file)}\n`);
  }
  return corrupt.length > 0 ? 1 : 0;
}

function corruptLine(dir: string, f: CorruptFile): string {
  return `corrupt, left alone: ${join(dir, f.table, ...f.partition.split('/'), f.file)} (since ${f.since}): ${f.message}; remove or replace it (listed in ${CORRUPT_REPORT})`;
}

type NumericKey =
  | 'filesBefore'
  | 'filesAfter'
  | 'bytesBefore'
  | 'bytesAfter'
  | 'rowsRewritten'
  | 'partitionsScanned'
  | 'partitionsSkippedOpen'
  | 'recoveredIntents';
const sum = (reports: readonly CompactionReport[], key: NumericKey) =>
  reports.reduce((t, r) => t + r[key], 0);
