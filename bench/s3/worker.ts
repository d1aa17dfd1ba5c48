/**
 * One run of the S3 benchmark, in a fresh process (its own peak RSS):
 *   worker.ts <microbatch|hand|compact> <records> <endpoint> <bucket> [targetFileBytes, for compact]
 * Credentials come from MB_S3_ACCESS_KEY_ID / MB_S3_SECRET_ACCESS_KEY.
 *
 * - `microbatch`: `fromIterable` (records generated lazily) → pipeline (the seed's defaults: 60 s or
 *   10,000 records, concurrency 4, a 64MB memory budget) → `parquetLakeSink` on `s3Storage`;
 * - `hand`: the same records cut into batches of 10,000, each encoded with `encodeParquet` (same
 *   schema and codec) and sent with `PutObject`, 4 at a time;
 * - `compact`: `compactLake` (row-group copy, the defaults) over the table a `microbatch` run left in
 *   `bucket`.
 * Each counts the requests its S3 client sends, and samples `process.memoryUsage()` every 100 ms
 * (what holds the memory at the peak: V8 heap, ArrayBuffers, the rest).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { Size } from '../../src/core/units.js';
import { compactLake } from '../../src/lake/compact.js';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { encodeParquet } from '../../src/parquet/encode.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { s3Storage } from '../../src/s3/index.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { triggers } from '../../src/triggers/index.js';
import { emitResult } from '../lib/child.js';

const [variant, recordsArg, endpoint, bucket, target] = process.argv.slice(2);
const RECORDS = Number(recordsArg);
const BATCH = 10_000;
const CONCURRENCY = 4;
const START = Date.UTC(2026, 11, 7, 12, 0, 0);

const Row = z.object({
  id: z.int(),
  sku: z.string(),
  price: z.number(),
  qty: z.int32(),
  at: z.date(),
  note: z.string(),
});
type Row = z.output<typeof Row>;

/** Random bytes behind each record's note: 1,000 bytes, 1,336 characters of base64. */
const NOTE_BYTES = 1_000;
const POOL_RECORDS = 1_000;

/**
 * About 1,430 bytes of JSON per record (1,000,000 records ≈ 1.4 GB of input). The note is base64 of
 * random bytes, so the Parquet files stay large (zstd cannot shrink random bytes, only base64's
 * quarter of slack): a lake of over 1 GB for compaction to read.
 */
function* rows(): Generator<Row> {
  let pool = Buffer.alloc(0);
  for (let i = 0; i < RECORDS; i++) {
    const slot = i % POOL_RECORDS;
    if (slot === 0) pool = randomBytes(NOTE_BYTES * POOL_RECORDS);
    yield {
      id: i,
      sku: `sku-${(i * 7_919) % 1_000_003}-${i % 97}`,
      price: ((i * 37) % 100_000) / 100,
      qty: i % 1_000,
      // 1,000 records an event-time second: 1,000,000 records span 17 minutes (one hour partition).
      at: new Date(START + i),
      note: pool.toString('base64', slot * NOTE_BYTES, (slot + 1) * NOTE_BYTES),
    };
  }
}

/** The largest of each `process.memoryUsage()` figure, sampled every 100 ms. */
const memory = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
const sample = () => {
  const now = process.memoryUsage();
  for (const name of Object.keys(memory) as (keyof typeof memory)[])
    memory[name] = Math.max(memory[name], now[name]);
};
const sampler = setInterval(sample, 100);
/**
 * Run with `--expose-gc` (bench/s3/compaction-memory.ts does, for its profile runs): every 500 ms a
 * full collection, then a sample: the largest *live* figures, without garbage not yet collected.
 */
const gc = (globalThis as { gc?: () => void }).gc;
const live = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const liveSampler =
  gc === undefined
    ? undefined
    : setInterval(() => {
        gc();
        const now = process.memoryUsage();
        for (const name of Object.keys(live) as (keyof typeof live)[])
          live[name] = Math.max(live[name], now[name]);
      }, 500);

const counts: Record<string, number> = {};
const base = new S3Client({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.MB_S3_ACCESS_KEY_ID!,
    secretAccessKey: process.env.MB_S3_SECRET_ACCESS_KEY!,
  },
});
const client = {
  send(command: unknown, options?: { abortSignal?: AbortSignal }) {
    const name = (command as object).constructor.name.replace(/Command$/, '');
    counts[name] = (counts[name] ?? 0) + 1;
    return base.send(command as never, options);
  },
};

const started = performance.now();
let inputBytes = 0;
let compaction: Record<string, number> | undefined;
if (variant === 'microbatch') {
  const report = await pipeline({ name: 'bench', concurrency: CONCURRENCY, maxBufferBytes: '64MB' })
    .source(
      fromIterable(
        (function* () {
          for (const row of rows()) {
            inputBytes += 90 + row.note.length + row.sku.length;
            yield row;
          }
        })(),
      ),
    )
    .eventTime((r) => r.at, { partitionBy: 'hour' })
    .trigger(triggers.any(triggers.time('60s'), triggers.volume({ records: BATCH })))
    .sink(
      parquetLakeSink<Row>({
        storage: s3Storage({ client, bucket: bucket!, prefix: 'mb' }),
        table: 'rows',
        schema: Row,
      }),
    )
    .build()
    .run();
  if (report.records.written !== RECORDS) throw new Error(`wrote ${report.records.written} of ${RECORDS}`);
} else if (variant === 'compact') {
  const report = await compactLake({
    storage: s3Storage({ client, bucket: bucket!, prefix: 'mb' }),
    table: 'rows',
    ...(target === undefined ? {} : { targetFileBytes: target as Size }),
  });
  if (report.outputs === 0 || report.skippedBins.length > 0)
    throw new Error(`compaction did not run as expected: ${JSON.stringify(report)}`);
  inputBytes = report.bytesBefore;
  compaction = {
    filesBefore: report.filesBefore,
    filesAfter: report.filesAfter,
    bytesBefore: report.bytesBefore,
    bytesAfter: report.bytesAfter,
    outputs: report.outputs,
    rows: report.rowsRewritten,
  };
} else {
  const inFlight = new Set<Promise<unknown>>();
  let batch: Row[] = [];
  let n = 0;
  const flush = async (records: Row[]) => {
    const bytes = await encodeParquet(records, Row);
    const key = `hand/rows/part-${String(n++).padStart(6, '0')}.parquet`;
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: bytes.length }),
    );
  };
  for (const row of rows()) {
    inputBytes += 90 + row.note.length + row.sku.length;
    batch.push(row);
    if (batch.length === BATCH) {
      const p = flush(batch).finally(() => inFlight.delete(p));
      inFlight.add(p);
      batch = [];
      if (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
    }
  }
  if (batch.length > 0) await flush(batch);
  await Promise.all(inFlight);
}
const seconds = (performance.now() - started) / 1_000;
const puts = ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'].reduce(
  (sum, name) => sum + (counts[name] ?? 0),
  0,
);
clearInterval(sampler);
if (liveSampler !== undefined) clearInterval(liveSampler);
sample();
emitResult({
  variant,
  records: RECORDS,
  inputBytes,
  seconds,
  recordsPerSecond: RECORDS / seconds,
  peakRss: process.resourceUsage().maxRSS * 1024,
  requests: counts,
  puts,
  memory,
  ...(gc === undefined ? {} : { live }),
  ...(compaction === undefined ? {} : { compaction }),
});
base.destroy();
