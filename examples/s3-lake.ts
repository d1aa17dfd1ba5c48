/**
 * The Parquet lake on S3: readings partitioned by event-time hour, written once per batch id with
 * `If-None-Match: *`, `_SUCCESS` markers, compaction on S3, and the lake read back.
 *
 * Needs an S3-compatible server: `MICROBATCH_S3_ENDPOINT=http://127.0.0.1:9000
 * MICROBATCH_S3_ACCESS_KEY_ID=… MICROBATCH_S3_SECRET_ACCESS_KEY=… npx tsx examples/s3-lake.ts`
 * (test/integration/s3/example.test.ts runs it against S3Proxy). Without the variables it says so
 * and exits. It creates a bucket with a random name and deletes it at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { compactLake, fromIterable, parquetLakeSink, pipeline, triggers } from 'microbatch';
import { s3Storage } from 'microbatch/s3';
import { z } from 'zod';

const Reading = z.object({ sensor: z.string(), celsius: z.number(), takenAt: z.iso.datetime() });
type Reading = z.output<typeof Reading>;

const endpoint = process.env.MICROBATCH_S3_ENDPOINT;
if (endpoint === undefined || endpoint === '') {
  console.log(
    'examples/s3-lake.ts: set MICROBATCH_S3_ENDPOINT (and credentials) to run it against an S3 server',
  );
} else {
  await main(endpoint);
}

async function main(endpoint: string): Promise<void> {
  const client = new S3Client({
    endpoint,
    region: process.env.MICROBATCH_S3_REGION ?? 'us-east-1',
    // S3-compatible servers: path-style URLs (http://host/bucket/key) …
    forcePathStyle: true,
    // … and, for servers that reject the SDK's default CRC32 checksums, only required ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: {
      accessKeyId: process.env.MICROBATCH_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.MICROBATCH_S3_SECRET_ACCESS_KEY ?? '',
    },
  });
  const bucket = `microbatch-example-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  try {
    const storage = s3Storage({ client, bucket, prefix: 'lake' });
    const start = Date.UTC(2026, 10, 25, 14, 0, 0);
    const readings: Reading[] = Array.from({ length: 2_000 }, (_, i) => ({
      sensor: `s${i % 4}`,
      celsius: 20 + (i % 50) / 10,
      takenAt: new Date(start + i * 3_000).toISOString(), // 2,000 readings over 100 minutes
    }));
    const report = await pipeline({ name: 'readings' })
      .source(fromIterable(readings))
      .eventTime((r) => r.takenAt, { partitionBy: 'hour' })
      .trigger(triggers.volume({ records: 200 }))
      .sink(parquetLakeSink<Reading>({ storage, table: 'readings', schema: Reading }))
      .build()
      .run();
    console.log(`written: ${report.records.written}, guarantee: ${report.guarantee}`);

    const keys = async () => {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'lake/' }));
      return (out.Contents ?? []).map((o) => o.Key!).sort();
    };
    const before = await keys();
    for (const key of before) console.log(`  s3://${bucket}/${key}`);
    assert.ok(before.includes('lake/readings/dt=2026-11-25/hr=14/_SUCCESS'));
    assert.ok(before.includes('lake/readings/dt=2026-11-25/hr=15/_SUCCESS'));

    const compaction = await compactLake({ storage, table: 'readings' });
    console.log(
      `compacted: ${compaction.filesBefore} → ${compaction.filesAfter} files, ${compaction.rowsRewritten} rows`,
    );
    assert.equal(compaction.filesAfter, 2); // one file per hour
    assert.equal(compaction.rowsRewritten, 2_000);
    console.log('all checks passed');
  } finally {
    const out = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    for (const object of out.Contents ?? []) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key! }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    client.destroy();
  }
}
