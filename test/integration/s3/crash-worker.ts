/**
 * A worker process for the S3 SIGKILL test: fromJsonLines → parquetLakeSink on S3 (S3Proxy) with a
 * fileCheckpoint, partitioned by event-time hour. Prints `commit <offset>` after every commit so
 * the test can kill it mid-stream, and `done …` at the end.
 *   crash-worker.ts <input.jsonl> <bucket> <checkpoint dir> <records per batch>
 * The server and its credentials come from MB_S3_ENDPOINT, MB_S3_ACCESS_KEY_ID, MB_S3_SECRET_ACCESS_KEY
 * (the environment, so they never appear in a process listing).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { fileCheckpoint, fromJsonLines, parquetLakeSink, pipeline, triggers } from '../../../src/index.js';
import { s3Storage } from '../../../src/s3/index.js';

const [input, bucket, checkpoints, size] = process.argv.slice(2);
if (input === undefined || bucket === undefined || checkpoints === undefined || size === undefined) {
  process.stderr.write('usage: crash-worker.ts <input> <bucket> <checkpoint dir> <records per batch>\n');
  process.exit(2);
}
const client = new S3Client({
  endpoint: process.env.MB_S3_ENDPOINT!,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.MB_S3_ACCESS_KEY_ID!,
    secretAccessKey: process.env.MB_S3_SECRET_ACCESS_KEY!,
  },
});
const Row = z.object({ i: z.number().int(), at: z.iso.datetime(), pad: z.string() });
type Row = z.output<typeof Row>;

const p = pipeline({ name: 'crash', checkpoint: fileCheckpoint({ dir: checkpoints }), concurrency: 3 })
  .source(fromJsonLines<Row>(input))
  .eventTime((r) => r.at, { partitionBy: 'hour' })
  .trigger(triggers.volume({ records: Number(size) }))
  .sink(
    parquetLakeSink<Row>({
      // Objects above 5MiB go up as multipart uploads: a kill can land in the middle of one.
      storage: s3Storage({ client, bucket, prefix: 'lake', multipartThreshold: '5MiB', partSize: '5MiB' }),
      table: 'rows',
      schema: Row,
    }),
  )
  .build();
p.on('commit', ({ offset }) => process.stdout.write(`commit ${offset}\n`));
const report = await p.run();
process.stdout.write(`done ${JSON.stringify(report.records)} ${report.guarantee}\n`);
