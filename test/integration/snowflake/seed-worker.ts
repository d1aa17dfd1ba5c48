/**
 * A worker process for the seed SIGKILL test: the pipeline of examples/seed-pipeline.ts, as it is,
 * with shorter adaptive windows, staging on S3Proxy and loading into the Snowflake contract double
 * served by the test process. It prints the seed's log, `commit <partition> <offset>` after every
 * commit (so that the test can kill it mid-stream), and `done <report>` once every partition is
 * committed up to the end offsets the topic had when the worker started.
 *
 * Usage: seed-worker.ts <brokers> <topic> <dead-letter topic> <group> <bucket> <double url> <max records>
 * The S3 server and its credentials come from MB_S3_ENDPOINT, MB_S3_ACCESS_KEY_ID,
 * MB_S3_SECRET_ACCESS_KEY (the environment, so they never appear in a process listing).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { seedPipeline } from '../../../examples/seed-pipeline.js';
import { remoteSnowflakeConnection } from '../../support/snowflake/remote.js';

const [brokers, topic, deadLetterTopic, groupId, bucket, url, records] = process.argv.slice(2);
if (records === undefined) {
  process.stderr.write(
    'usage: seed-worker.ts <brokers> <topic> <dead-letter topic> <group> <bucket> <double url> <max records>\n',
  );
  process.exit(2);
}
const kafka = new Kafka({
  clientId: 'mb-seed-worker',
  brokers: brokers!.split(','),
  logLevel: logLevel.ERROR,
});
// The broker's smallest session timeout: a killed member is evicted soon after its last heartbeat.
const consumer = kafka.consumer({ groupId: groupId!, sessionTimeout: 3_000, heartbeatInterval: 500 });
const producer = kafka.producer();
const admin = kafka.admin();
await Promise.all([consumer.connect(), producer.connect(), admin.connect()]);

const ends = new Map<string, number>();
for (const { partition, high } of await admin.fetchTopicOffsets(topic!))
  ends.set(`${topic}-${partition}`, Number(high));
const committed = new Map<string, number>();
for (const { partitions } of await admin.fetchOffsets({ groupId: groupId!, topics: [topic!] })) {
  for (const { partition, offset } of partitions) committed.set(`${topic}-${partition}`, Number(offset));
}
const finished = () => [...ends].every(([partition, end]) => (committed.get(partition) ?? -1) >= end);

const s3 = new S3Client({
  endpoint: process.env.MB_S3_ENDPOINT!,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.MB_S3_ACCESS_KEY_ID!,
    secretAccessKey: process.env.MB_S3_SECRET_ACCESS_KEY!,
  },
});
const p = seedPipeline({
  kafka: { consumer, producer, admin },
  topic: topic!,
  deadLetterTopic: deadLetterTopic!,
  groupId: groupId!,
  s3: { client: s3, bucket: bucket!, prefix: 'stage' },
  connect: () => remoteSnowflakeConnection(url!),
  table: 'DB.SCH.PRICES',
  stage: '@DB.SCH.STG/prices',
  secret: 'seed-test-secret',
  window: { min: '50ms', max: '2s', records: Number(records) },
  createTable: true,
  log: (line) => process.stdout.write(`${line}\n`),
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void p.stop({ drain: true, deadline: '30s' });
};
p.on('commit', ({ partition, offset }) => {
  process.stdout.write(`commit ${partition} ${offset}\n`);
  committed.set(partition, offset + 1);
  if (finished()) stop();
});
const running = p.run();
if (finished()) stop();
const report = await running;
await Promise.all([producer.disconnect(), admin.disconnect()]);
process.stdout.write(`done ${JSON.stringify(report.records)} ${report.guarantee}\n`);
process.exit(0);
