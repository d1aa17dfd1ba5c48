/**
 * S3 benchmark (issue 15): `parquetLakeSink` on `s3Storage` against a hand-written loop that
 * encodes the same batches with `encodeParquet` and calls `PutObject` at the same concurrency, both
 * against S3Proxy on loopback (filesystem backend, started here), each run in a fresh process,
 * interleaved, medians reported. 1,000,000 records of ~1.4 KB (1.4 GB of input), 3 rounds;
 * `--quick`: 100,000 records, one round. After each `microbatch` run, `compactLake` (row-group copy)
 * runs over the lake it left (over 1 GB of Parquet), in its own process: peak RSS and speed.
 *
 * Goals: ≥ 0.9× the hand loop's throughput; peak RSS ≤ the memory budget (64MB) + 64MB, reported as
 * measured. Also: PUT requests per million records at the seed's defaults (60 s / 10,000 records).
 */
import os from 'node:os';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { startS3Proxy } from '../../test/infra/s3proxy/server.js';
import { runWorker } from '../lib/child.js';
import { median } from '../lib/stats.js';
import { adminClient } from './admin.js';

/** The heading of this benchmark's section in bench/RESULTS.md. */
export const S3_HEADING = '## S3: the lake on S3Proxy vs a hand-written PutObject loop';
export const S3_GOAL = 0.9;

interface S3Run {
  variant: 'microbatch' | 'hand' | 'compact';
  records: number;
  inputBytes: number;
  seconds: number;
  recordsPerSecond: number;
  peakRss: number;
  requests: Record<string, number>;
  puts: number;
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  compaction?: {
    filesBefore: number;
    filesAfter: number;
    bytesBefore: number;
    bytesAfter: number;
    outputs: number;
    rows: number;
  };
}

const VARIANTS = ['hand', 'microbatch'] as const;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
/** The run whose peak RSS is the median. */
const medianRun = (list: readonly S3Run[]) =>
  [...list].sort((a, b) => a.peakRss - b.peakRss)[Math.floor((list.length - 1) / 2)]!;
const memoryLine = (run: S3Run) =>
  `rss ${mib(run.memory.rss)} heap ${mib(run.memory.heapUsed)}/${mib(run.memory.heapTotal)} external ${mib(run.memory.external)} arrayBuffers ${mib(run.memory.arrayBuffers)} MiB`;

/** Deletes a run's objects and its bucket (each run writes over a gigabyte to the server's disk). */
async function dropBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).map((o) => o.Key!);
    if (keys.length === 0) break;
    for (const Key of keys) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

export async function s3Bench({ quick }: { quick: boolean }): Promise<{
  section: string[];
  goals: { goal: string; value: string; pass: boolean }[];
  raw: unknown;
}> {
  // 1,000,000 records of ~1.4 KB (1.4 GB of input): at the ~15,000 of them per second the encoder
  // manages on the shared 2-core machine, about a minute per run.
  const records = quick ? 100_000 : 1_000_000;
  const rounds = quick ? 1 : 3;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const loadBefore = os.loadavg();
  const date = new Date();
  log('  s3: starting S3Proxy (filesystem backend)…');
  const server = await startS3Proxy({ backend: 'filesystem' });
  const runs: Record<(typeof VARIANTS)[number], S3Run[]> = { hand: [], microbatch: [] };
  const compactions: S3Run[] = [];
  try {
    const admin = adminClient(server);
    for (let round = 1; round <= rounds; round++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const variant = VARIANTS[(round - 1 + k) % VARIANTS.length]!;
        // A fresh bucket per run: every key is new, as in production.
        const bucket = `bench-${variant}-${round}-${Date.now() % 1e6}`;
        await admin.send(new CreateBucketCommand({ Bucket: bucket }));
        const result = await runWorker<S3Run>(
          'bench/s3/worker.ts',
          [variant, String(records), server.endpoint, bucket],
          900_000,
        );
        runs[variant].push(result);
        log(
          `  s3 ${round}/${rounds} ${variant.padEnd(10)} ${int(result.recordsPerSecond).padStart(9)} records/s  ` +
            `peak RSS ${mib(result.peakRss)} MiB  ${result.puts} PUTs  ${JSON.stringify(result.requests)}  ` +
            `memory ${memoryLine(result)}`,
        );
        if (variant === 'microbatch') {
          // Compaction (row-group copy) over the lake this run left, in its own process.
          const compacted = await runWorker<S3Run>(
            'bench/s3/worker.ts',
            ['compact', String(records), server.endpoint, bucket],
            900_000,
          );
          compactions.push(compacted);
          log(
            `  s3 ${round}/${rounds} compaction ${(compacted.inputBytes / 1e9).toFixed(2)} GB in ${compacted.seconds.toFixed(1)} s  ` +
              `peak RSS ${mib(compacted.peakRss)} MiB  ${JSON.stringify(compacted.compaction)}  ${JSON.stringify(compacted.requests)}  ` +
              `memory ${memoryLine(compacted)}`,
          );
        }
        await dropBucket(admin, bucket);
      }
    }
    admin.destroy();
  } finally {
    await server.stop();
  }
  const loadAfter = os.loadavg();
  const med = (v: keyof typeof runs) => median(runs[v].map((r) => r.recordsPerSecond));
  const ratio = med('microbatch') / med('hand');
  const mbRss = median(runs.microbatch.map((r) => r.peakRss));
  const handRss = median(runs.hand.map((r) => r.peakRss));
  const mbPuts = runs.microbatch[0]!.puts;
  const putsPerMillion = (mbPuts * 1_000_000) / records;
  const inputGb = runs.microbatch[0]!.inputBytes / 1e9;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const section = [
    S3_HEADING,
    '',
    `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB · Node ${process.version} · load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')} · \`npm run bench -- --only s3\`${quick ? ' --quick' : ''}`,
    '',
    `${int(records)} records of ~${(runs.microbatch[0]!.inputBytes / records / 1000).toFixed(2)} KB (${inputGb.toFixed(2)} GB of input as JSON; 6 columns: an id, a SKU, a price, a quantity, a timestamp and a note of 1,336 base64 characters of random bytes, which zstd cannot shrink much, so the lake holds about 1 GB of Parquet; 1,000 records per event-time second, so one hour partition) written to S3Proxy 4.0.0 on loopback (filesystem backend, its own JVM on the same 2 cores), each variant in a fresh process, ${rounds} interleaved round(s), median shown. **microbatch**: \`fromIterable\` → pipeline (\`any(time('60s'), volume({ records: 10_000 }))\`, concurrency 4, \`maxBufferBytes: '64MB'\`) → \`parquetLakeSink\` on \`s3Storage\` (put-if-absent with \`If-None-Match: *\`, SHA-256 metadata, \`_SUCCESS\` markers). **hand**: batches of 10,000 encoded with the same \`encodeParquet\` and sent with \`PutObject\`, 4 at a time, no conditions, no markers. Peak RSS is the child's \`maxRSS\`.`,
    '',
    '| variant | records/s (median) | runs | peak RSS (median) | S3 requests per run | ratio |',
    '| ------- | -----------------: | ---- | ----------------: | ------------------- | ----: |',
    ...VARIANTS.map(
      (v) =>
        `| ${v === 'hand' ? 'hand-written `PutObject` loop' : '`parquetLakeSink` on `s3Storage`'} | **${int(med(v))}** | ${runs[v].map((r) => int(r.recordsPerSecond)).join(', ')} | ${mib(median(runs[v].map((r) => r.peakRss)))} MiB | ${Object.entries(
          runs[v][0]!.requests,
        )
          .map(([name, n]) => `${name} ${n}`)
          .join(', ')} | ${(med(v) / med('hand')).toFixed(2)}× |`,
    ),
    '',
    `PUT-class requests (PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload) at the seed's defaults: **${int(putsPerMillion)} per million records** (${mbPuts} for ${int(records)} records: one object per 10,000-record batch and hour partition it spans, plus one \`_SUCCESS\` per hour). The sink's other requests per run: one HeadBucket (open), one DeleteObject per partition (the marker check of its first write), one ListObjectsV2 per marker.`,
    '',
    `Peak RSS: microbatch ${mib(mbRss)} MiB vs the hand loop ${mib(handRss)} MiB (${mbRss >= handRss ? '+' : '−'}${mib(Math.abs(mbRss - handRss))} MiB); the goal is the memory budget (64 MB) + 64 MB. Largest \`process.memoryUsage()\` figures (sampled every 100 ms, median run): microbatch ${memoryLine(medianRun(runs.microbatch))}; hand ${memoryLine(medianRun(runs.hand))}.`,
    '',
    '**Compaction on S3** (`compactLake`, row-group copy, defaults: 128MB bins, 8MiB parts, 4 in flight), in its own process over the lake each microbatch run left:',
    '',
    '| run | input | files before → after | outputs | seconds | MB/s | peak RSS | largest heap / arrayBuffers | S3 requests |',
    '| --- | ----: | -------------------- | ------: | ------: | ---: | -------: | --------------------------- | ----------- |',
    ...compactions.map(
      (c, i) =>
        `| ${i + 1} | ${(c.inputBytes / 1e9).toFixed(2)} GB | ${c.compaction!.filesBefore} → ${c.compaction!.filesAfter} | ${c.compaction!.outputs} | ${c.seconds.toFixed(1)} | ${(c.inputBytes / 1e6 / c.seconds).toFixed(1)} | ${mib(c.peakRss)} MiB | ${mib(c.memory.heapUsed)} / ${mib(c.memory.arrayBuffers)} MiB | ${Object.entries(
          c.requests,
        )
          .map(([name, n]) => `${name} ${n}`)
          .join(', ')} |`,
    ),
  ];
  const goals = [
    {
      goal: `S3 lake ≥ ${S3_GOAL}× a hand-written PutObject loop`,
      value: `${ratio.toFixed(2)}×`,
      pass: ratio >= S3_GOAL,
    },
    {
      goal: 'S3 lake peak RSS ≤ 64 MB budget + 64 MB',
      value: `${mib(mbRss)} MiB`,
      pass: mbRss <= 128 * 1024 * 1024,
    },
  ];
  const compactRss = median(compactions.map((c) => c.peakRss));
  goals.push({
    goal: 'S3 compaction (copy) of ≥ 1 GB: peak RSS (reported; bounded by reads and parts, not the bin)',
    value: `${mib(compactRss)} MiB over ${(median(compactions.map((c) => c.inputBytes)) / 1e9).toFixed(2)} GB`,
    pass: compactions.every((c) => c.inputBytes >= (quick ? 0 : 1e9)),
  });
  return { section, goals, raw: { records, rounds, runs, compactions } };
}
