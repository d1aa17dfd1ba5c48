/**
 * Compaction benchmark (issue 6): a real pipeline (fromIterable → parquetLakeSink, one file per
 * batch of 1,000 records) ingests records of 5 columns into a few hour partitions, producing ~1,000
 * small files; the lake is copied, and `compactLake` compacts one copy in each mode: the default
 * row-group copy and `rewrite: true`. Measured: the ingest rate (records/s and bytes/s of Parquet
 * written) and each mode's compaction rate (MB/s of input compacted and rows/s), in wall time and in
 * CPU time of this process (process.cpuUsage, user + system: the machine is shared, so wall rates
 * move with other people's load while CPU rates mostly do not).
 *
 * Goal: compaction (default mode) keeps up with ≥ 10× the ingest rate that produced the files,
 * compared in bytes/s of input compacted vs bytes/s ingested. The ingest here runs flat out (no
 * source latency), so it is the pipeline's top rate on this machine: a conservative comparison.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { CompactionReport } from '../../src/lake/compact.js';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { triggers } from '../../src/triggers/index.js';

/** The heading of this benchmark's section in bench/RESULTS.md. */
export const COMPACTION_HEADING = '## Lake compaction: small files';

const Event = z.object({
  id: z.int(),
  takenAt: z.iso.datetime(),
  sku: z.string(),
  price: z.number(),
  qty: z.int(),
});
type Event = z.output<typeof Event>;

const ROWS_PER_FILE = 1_000;
const HOURS = 4;
const START = Date.UTC(2026, 10, 25, 10, 0, 0);

/** One compaction run of {@link CompactionRaw}. */
export interface CompactionRun {
  mode: 'copy' | 'rewrite';
  /** Wall seconds and CPU seconds (user + system) of the run. */
  seconds: number;
  cpuSeconds: number;
  bytesIn: number;
  bytesOut: number;
  filesAfter: number;
  /** Bytes of input per wall second and per CPU second. */
  bytesPerSecond: number;
  bytesPerCpuSecond: number;
  rowsPerSecond: number;
  /** This run's rate / the ingest rate, by wall time and by CPU time. */
  ratio: number;
  cpuRatio: number;
}

/** What {@link compactionBench} measured, for bench/.out/results.json. */
export interface CompactionRaw {
  files: number;
  rows: number;
  partitions: number;
  ingest: {
    seconds: number;
    cpuSeconds: number;
    recordsPerSecond: number;
    bytes: number;
    bytesPerSecond: number;
    bytesPerCpuSecond: number;
  };
  /** The default mode (row-group copy): the goal's row. */
  compaction: CompactionRun;
  /** `rewrite: true` (decode and encode again). */
  rewrite: CompactionRun;
  /** `compaction.ratio`, kept for older readers of results.json. */
  ratio: number;
}

/**
 * Runs compact-child.mjs: compaction of the built package (dist/) in a plain Node process, as the
 * CLI runs it, timed inside it (startup excluded).
 */
function compactInChild(
  dir: string,
  table: string,
  mode: CompactionRun['mode'],
): Promise<{ seconds: number; cpuSeconds: number; report: CompactionReport }> {
  const child = join(import.meta.dirname, 'compact-child.mjs');
  if (!existsSync(join(import.meta.dirname, '../../dist/index.js'))) {
    throw new Error(
      'the compaction benchmark runs the built package: run `npm run build` first (`npm run bench` does)',
    );
  }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [child, dir, table, mode], (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`compaction child failed: ${stderr || error.message}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!));
    });
  });
}

const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};

/** Runs the benchmark; `quick` uses 100 files instead of 1,000 (for checking the harness). */
export async function compactionBench({ quick }: { quick: boolean }): Promise<{
  section: string[];
  goals: { goal: string; value: string; pass: boolean }[];
  raw: CompactionRaw;
}> {
  const files = quick ? 100 : 1_000;
  const rows = files * ROWS_PER_FILE;
  const dir = await mkdtemp(join(tmpdir(), 'mb-bench-compaction-'));
  try {
    // Records in time order over HOURS hours: each batch of 1,000 lands in one hour (a batch that
    // straddles an hour boundary writes one file in each).
    const stepMs = (HOURS * 3_600_000) / rows;
    const records = function* (): Generator<Event> {
      for (let i = 0; i < rows; i++) {
        yield {
          id: i,
          takenAt: new Date(START + Math.floor(i * stepMs)).toISOString(),
          sku: `sku-${i % 997}`,
          price: (i % 10_000) / 100,
          qty: 1 + (i % 7),
        };
      }
    };
    const ingestStart = performance.now();
    const ingestCpu = process.cpuUsage();
    await pipeline({ name: 'bench' })
      .source(fromIterable(records()))
      .eventTime((r) => r.takenAt, { partitionBy: 'hour' })
      .trigger(triggers.volume({ records: ROWS_PER_FILE }))
      .sink(parquetLakeSink<Event>({ dir, table: 'events', schema: Event }))
      .build()
      .run();
    const ingestSeconds = (performance.now() - ingestStart) / 1000;
    const ingestCpuSeconds = cpuSeconds(ingestCpu);

    // Close every partition the pipeline left open (the end of the stream may not pass the last
    // hour's end): compaction only touches partitions with _SUCCESS.
    const root = join(dir, 'events');
    let bytes = 0;
    let written = 0;
    const partitions: string[] = [];
    for (const day of await readdir(root)) {
      for (const hour of await readdir(join(root, day))) {
        const partition = join(root, day, hour);
        partitions.push(partition);
        for (const name of await readdir(partition)) {
          if (!name.endsWith('.parquet')) continue;
          bytes += (await stat(join(partition, name))).size;
          written++;
        }
        await writeFile(
          join(partition, '_SUCCESS'),
          JSON.stringify({ pipeline: 'bench', completedAt: new Date().toISOString() }),
        );
      }
    }

    // The same small files for both modes: one copy of the lake each.
    const rewriteDir = `${dir}-rewrite`;
    await cp(dir, rewriteDir, { recursive: true, preserveTimestamps: true });
    // The copy is not fsynced (the ingest's files were): flush it now, or its write-back lands in
    // the first compaction's fsyncs and bills the copy's I/O to the compaction.
    execFileSync('sync');
    const ingestRate = bytes / ingestSeconds;
    const ingestCpuRate = bytes / ingestCpuSeconds;
    const measure = async (lake: string, mode: CompactionRun['mode']): Promise<CompactionRun> => {
      const { seconds, cpuSeconds: cpuUsed, report } = await compactInChild(lake, 'events', mode);
      if (report.rowsRewritten !== rows || report.mode !== mode) {
        throw new Error(
          `${mode}: compaction moved ${report.rowsRewritten} rows in mode ${report.mode}, expected ${rows}`,
        );
      }
      return {
        mode,
        seconds,
        cpuSeconds: cpuUsed,
        bytesIn: report.bytesBefore,
        bytesOut: report.bytesAfter,
        filesAfter: report.filesAfter,
        bytesPerSecond: report.bytesBefore / seconds,
        bytesPerCpuSecond: report.bytesBefore / cpuUsed,
        rowsPerSecond: rows / seconds,
        ratio: report.bytesBefore / seconds / ingestRate,
        cpuRatio: report.bytesBefore / cpuUsed / ingestCpuRate,
      };
    };
    let copy: CompactionRun;
    let rewrite: CompactionRun;
    try {
      copy = await measure(dir, 'copy');
      rewrite = await measure(rewriteDir, 'rewrite');
    } finally {
      await rm(rewriteDir, { recursive: true, force: true });
    }

    const raw: CompactionRaw = {
      files: written,
      rows,
      partitions: partitions.length,
      ingest: {
        seconds: ingestSeconds,
        cpuSeconds: ingestCpuSeconds,
        recordsPerSecond: rows / ingestSeconds,
        bytes,
        bytesPerSecond: ingestRate,
        bytesPerCpuSecond: ingestCpuRate,
      },
      compaction: copy,
      rewrite,
      ratio: copy.ratio,
    };
    return { section: section(raw, quick), goals: goals(raw), raw };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

function goals(raw: CompactionRaw): { goal: string; value: string; pass: boolean }[] {
  const c = raw.compaction;
  return [
    {
      goal: 'Compaction (default mode) keeps up with ≥ 10× the ingest rate that produced the files (bytes/s)',
      value:
        `${c.ratio.toFixed(1)}× by wall time (${mb(c.bytesPerSecond)} MB/s compacted vs ${mb(raw.ingest.bytesPerSecond)} MB/s ingested), ` +
        `${c.cpuRatio.toFixed(1)}× by CPU time`,
      pass: c.ratio >= 10,
    },
  ];
}

function section(raw: CompactionRaw, quick: boolean): string[] {
  const row = (label: string, r: CompactionRun) =>
    `| ${label} | ${r.seconds.toFixed(2)} s (${r.cpuSeconds.toFixed(2)} s CPU) | ${int(r.rowsPerSecond)} rows/s, ${mb(r.bytesPerSecond)} MB/s of input (${mb(r.bytesPerCpuSecond)} MB per CPU-s) | ${mb(r.bytesIn)} MB → ${mb(r.bytesOut)} MB in ${r.filesAfter} files | **${r.ratio.toFixed(1)}×** (${r.cpuRatio.toFixed(1)}× CPU) |`;
  return [
    COMPACTION_HEADING,
    '',
    `A pipeline (\`fromIterable\` → \`parquetLakeSink\`, \`triggers.volume({ records: ${ROWS_PER_FILE} })\`, zstd) ingests ` +
      `${int(raw.rows)} records of 5 columns (int, timestamp, string, double, int) over ${raw.partitions} hour partitions: ` +
      `${int(raw.files)} files. Then \`compactLake\` (target 128MB) compacts each closed partition into one file, once ` +
      'in each mode on its own copy of the lake: the default copies row groups without decoding them; `rewrite: true` decodes ' +
      'and encodes every row again (zstd). Each compaction runs the built package (dist/) in a plain Node process of its own, as `npx microbatch compact` does, timed inside it ' +
      '(wall and CPU time of the `compactLake` call; process start-up excluded).' +
      (quick ? ' (--quick: 100 files; not a measurement.)' : ''),
    '',
    '| | time | rate | bytes | rate / ingest rate |',
    '|---|---:|---:|---:|---:|',
    `| ingest (pipeline → lake) | ${raw.ingest.seconds.toFixed(2)} s (${raw.ingest.cpuSeconds.toFixed(2)} s CPU) | ${int(raw.ingest.recordsPerSecond)} records/s, ${mb(raw.ingest.bytesPerSecond)} MB/s (${mb(raw.ingest.bytesPerCpuSecond)} MB per CPU-s) | ${mb(raw.ingest.bytes)} MB in ${int(raw.files)} files | 1× |`,
    row('compaction, row-group copy (default)', raw.compaction),
    row('compaction, `rewrite: true`', raw.rewrite),
    '',
    `Compaction rate / ingest rate (bytes/s), default mode: **${raw.compaction.ratio.toFixed(1)}×** by wall time, ` +
      `${raw.compaction.cpuRatio.toFixed(1)}× by CPU time (goal ≥ 10×); \`rewrite: true\`: ${raw.rewrite.ratio.toFixed(1)}× ` +
      `(${raw.rewrite.cpuRatio.toFixed(1)}× CPU). CPU time counts every thread of the process (user + system).`,
    '',
  ];
}
