/**
 * Compaction's memory does not grow with the bin (issue 15): one lake of 1,000,000 records (~1 GB
 * of Parquet in 100 files of one 10MB row group each) is written to S3Proxy by the `microbatch`
 * variant of bench/s3/worker.ts, then compacted in fresh processes with growing bins:
 *   1. `targetFileBytes` 128MB (the default): 100 files → 9 outputs of ~113MB;
 *   2. `targetFileBytes` 2GB: those 9 outputs → one object of ~1 GB (one bin of 1 GB).
 * A merge holding its bin would need over a gigabyte for the second; the streamed copy should stay
 * where the first one is. Also measured: the peak RSS of each variant over 1,000 records (the
 * process with everything loaded: its floor).
 *
 *   npx tsx bench/s3/compaction-memory.ts
 *
 * `--live`: the same runs (300,000 records for the ingests) under `--expose-gc`, each worker forcing
 * a full collection every 500 ms before sampling: the largest *live* heap, external and ArrayBuffer
 * figures, which tells what holds the memory from garbage not yet collected.
 */
import os from 'node:os';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { startS3Proxy } from '../../test/infra/s3proxy/server.js';
import { runWorker } from '../lib/child.js';
import { adminClient } from './admin.js';

const LIVE = process.argv.includes('--live');
const FLAGS = LIVE ? ['--expose-gc'] : [];
const INGEST = LIVE ? '300000' : '1000000';

interface Run {
  variant: string;
  seconds: number;
  inputBytes: number;
  recordsPerSecond: number;
  peakRss: number;
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  live?: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  requests: Record<string, number>;
  compaction?: Record<string, number>;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const line = (label: string, r: Run) =>
  `| ${label} | ${(r.inputBytes / 1e9).toFixed(2)} GB | ${r.seconds.toFixed(1)} s | ${mib(r.peakRss)} | ${mib(r.memory.heapUsed)} / ${mib(r.memory.external)} / ${mib(r.memory.arrayBuffers)}${r.live === undefined ? '' : ` (live: ${mib(r.live.heapUsed)} / ${mib(r.live.external)} / ${mib(r.live.arrayBuffers)})`} | ${r.compaction === undefined ? '' : `${r.compaction.filesBefore} → ${r.compaction.filesAfter}`} | ${Object.entries(
    r.requests,
  )
    .map(([n, c]) => `${n} ${c}`)
    .join(', ')} |`;

const loadBefore = os.loadavg();
const server = await startS3Proxy({ backend: 'filesystem' });
const rows: string[] = [];
try {
  const admin = adminClient(server);
  const run = async (args: string[]) => {
    const bucket = args[3]!;
    const result = await runWorker<Run>(
      'bench/s3/worker.ts',
      [...args.slice(0, 2), server.endpoint, bucket, ...args.slice(4)],
      1_800_000,
      FLAGS,
    );
    process.stderr.write(`${args[0]} ${args.slice(4).join(' ')}: ${JSON.stringify(result)}\n`);
    return result;
  };
  const fresh = async () => {
    const bucket = `mem-${Date.now() % 1e8}`;
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    return bucket;
  };
  rows.push(line('hand, 1,000 records (floor)', await run(['hand', '1000', '', await fresh()])));
  rows.push(line('microbatch, 1,000 records (floor)', await run(['microbatch', '1000', '', await fresh()])));
  const lake = await fresh();
  rows.push(
    line(
      `microbatch ingest, ${Number(INGEST).toLocaleString('en-US')} records`,
      await run(['microbatch', INGEST, '', lake]),
    ),
  );
  if (LIVE)
    rows.push(
      line(
        `hand ingest, ${Number(INGEST).toLocaleString('en-US')} records`,
        await run(['hand', INGEST, '', await fresh()]),
      ),
    );
  rows.push(line('compaction, 128MB bins', await run(['compact', '0', '', lake, '128MB'])));
  // The outputs are newer than the partition's _SUCCESS: compaction leaves such files until the
  // partition closes again, so the marker is written again (what a late record's reclose does).
  const listed = await admin.send(new ListObjectsV2Command({ Bucket: lake, Prefix: 'mb/rows/' }));
  for (const { Key } of listed.Contents ?? []) {
    if (!Key?.endsWith('/_SUCCESS')) continue;
    const marker = await admin.send(new GetObjectCommand({ Bucket: lake, Key }));
    const Body = await marker.Body!.transformToByteArray();
    await admin.send(new PutObjectCommand({ Bucket: lake, Key, Body }));
  }
  const all = await run(['compact', '0', '', lake, '2GB']);
  rows.push(line(`compaction, one bin of ${(all.inputBytes / 1e9).toFixed(1)} GB`, all));
  admin.destroy();
} finally {
  await server.stop();
}
const loadAfter = os.loadavg();
process.stdout.write(
  [
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')} · \`npx tsx bench/s3/compaction-memory.ts${LIVE ? ' --live' : ''}\``,
    '',
    '| run | input | time | peak RSS | largest heap used / external / arrayBuffers | files | S3 requests |',
    '| --- | ----: | ---: | -------: | ------------------------------------------- | ----- | ----------- |',
    ...rows,
    '',
  ].join('\n'),
);
