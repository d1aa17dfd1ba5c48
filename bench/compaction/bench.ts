/**
 * Compaction benchmark (issue 6): a real pipeline (fromIterable → parquetLakeSink, one file per
 * batch of 1,000 records) ingests records of 5 columns into a few hour partitions, producing ~1,000
 * small files; then `compactLake` rewrites them. Measured: the ingest rate (records/s and bytes/s of
 * Parquet written) and the compaction rate (MB/s of input compacted and rows/s).
 *
 * Goal: compaction keeps up with ≥ 10× the ingest rate that produced the files, compared in bytes/s of
 * input compacted vs bytes/s ingested. The ingest here runs flat out (no source latency), so it is
 * the pipeline's top rate on this machine: a conservative comparison.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { compactLake } from '../../src/lake/compact.js';
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

/** What {@link compactionBench} measured, for bench/.out/results.json. */
export interface CompactionRaw {
  files: number;
  rows: number;
  partitions: number;
  ingest: { seconds: number; recordsPerSecond: number; bytes: number; bytesPerSecond: number };
  compaction: {
    seconds: number;
    bytesIn: number;
    bytesOut: number;
    filesAfter: number;
    bytesPerSecond: number;
    rowsPerSecond: number;
  };
  ratio: number;
}

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
    await pipeline({ name: 'bench' })
      .source(fromIterable(records()))
      .eventTime((r) => r.takenAt, { partitionBy: 'hour' })
      .trigger(triggers.volume({ records: ROWS_PER_FILE }))
      .sink(parquetLakeSink<Event>({ dir, table: 'events', schema: Event }))
      .build()
      .run();
    const ingestSeconds = (performance.now() - ingestStart) / 1000;

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

    const compactStart = performance.now();
    const report = await compactLake({ dir, table: 'events' });
    const compactSeconds = (performance.now() - compactStart) / 1000;
    if (report.rowsRewritten !== rows) {
      throw new Error(`compaction rewrote ${report.rowsRewritten} rows, expected ${rows}`);
    }

    const raw: CompactionRaw = {
      files: written,
      rows,
      partitions: partitions.length,
      ingest: {
        seconds: ingestSeconds,
        recordsPerSecond: rows / ingestSeconds,
        bytes,
        bytesPerSecond: bytes / ingestSeconds,
      },
      compaction: {
        seconds: compactSeconds,
        bytesIn: report.bytesBefore,
        bytesOut: report.bytesAfter,
        filesAfter: report.filesAfter,
        bytesPerSecond: report.bytesBefore / compactSeconds,
        rowsPerSecond: rows / compactSeconds,
      },
      ratio: report.bytesBefore / compactSeconds / (bytes / ingestSeconds),
    };
    return { section: section(raw, quick), goals: goals(raw), raw };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

function goals(raw: CompactionRaw): { goal: string; value: string; pass: boolean }[] {
  return [
    {
      goal: 'Compaction keeps up with ≥ 10× the ingest rate that produced the files (bytes/s)',
      value: `${raw.ratio.toFixed(1)}× (${mb(raw.compaction.bytesPerSecond)} MB/s compacted vs ${mb(raw.ingest.bytesPerSecond)} MB/s ingested)`,
      pass: raw.ratio >= 10,
    },
  ];
}

function section(raw: CompactionRaw, quick: boolean): string[] {
  return [
    COMPACTION_HEADING,
    '',
    `A pipeline (\`fromIterable\` → \`parquetLakeSink\`, \`triggers.volume({ records: ${ROWS_PER_FILE} })\`, zstd) ingests ` +
      `${int(raw.rows)} records of 5 columns (int, timestamp, string, double, int) over ${raw.partitions} hour partitions: ` +
      `${int(raw.files)} files. Then \`compactLake\` (target 128MB, zstd) rewrites each closed partition into one file.` +
      (quick ? ' (--quick: 100 files; not a measurement.)' : ''),
    '',
    '| | time | rate | bytes |',
    '|---|---:|---:|---:|',
    `| ingest (pipeline → lake) | ${raw.ingest.seconds.toFixed(2)} s | ${int(raw.ingest.recordsPerSecond)} records/s, ${mb(raw.ingest.bytesPerSecond)} MB/s | ${mb(raw.ingest.bytes)} MB in ${int(raw.files)} files |`,
    `| compaction | ${raw.compaction.seconds.toFixed(2)} s | ${int(raw.compaction.rowsPerSecond)} rows/s, ${mb(raw.compaction.bytesPerSecond)} MB/s of input | ${mb(raw.compaction.bytesIn)} MB → ${mb(raw.compaction.bytesOut)} MB in ${raw.compaction.filesAfter} files |`,
    '',
    `Compaction rate / ingest rate (bytes/s): **${raw.ratio.toFixed(1)}×** (goal ≥ 10×).`,
    '',
  ];
}
