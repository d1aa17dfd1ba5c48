/**
 * A worker process for the Kafka SIGKILL test (crash.test.ts): a consumer group member that runs
 * kafkaSource → jsonLinesSink with kafkaCheckpoint (plans and offsets in the group's commit
 * metadata). It prints `joined`, `commit <partition> <offset>` after every commit so that the test
 * can kill it mid-stream, and `done <report>` once every partition is committed up to the end
 * offsets the topic had when the worker started; then it stops the pipeline and exits 0.
 *
 * Usage: crash-worker.ts <brokers> <topic> <group> <out dir> <records per batch> [--at-least-once]
 *
 * Each run gets another batch size, so batch boundaries after a restart differ from the ones
 * planned before the kill, as they would with a time trigger: only the replay of the plans kept in
 * the group keeps the ranges, and so the output files, exact. `--at-least-once` runs without the
 * checkpoint and hides the sink's ledger (`committed()`): the manual check that the test does
 * detect duplicates when exactly-once is off.
 */
import { Kafka, logLevel } from 'kafkajs';
import { jsonLinesSink, pipeline, type Sink, triggers } from '../../../src/index.js';
import { kafkaCheckpoint, kafkaSource } from '../../../src/kafka/index.js';

const [brokers, topic, groupId, out, size, flag] = process.argv.slice(2);
if (
  brokers === undefined ||
  topic === undefined ||
  groupId === undefined ||
  out === undefined ||
  size === undefined ||
  (flag !== undefined && flag !== '--at-least-once')
) {
  process.stderr.write(
    'usage: crash-worker.ts <brokers> <topic> <group> <out dir> <records per batch> [--at-least-once]\n',
  );
  process.exit(2);
}
const exactlyOnce = flag === undefined;

const kafka = new Kafka({
  clientId: 'mb-crash-worker',
  brokers: brokers.split(','),
  logLevel: logLevel.ERROR,
});
// The broker's smallest session timeout: a killed member is evicted 6 s after its last heartbeat,
// and the next worker's join waits for that.
const consumer = kafka.consumer({ groupId, sessionTimeout: 3_000, heartbeatInterval: 500 });
const admin = kafka.admin();
await Promise.all([consumer.connect(), admin.connect()]);

// Where the run ends: every partition committed up to the end offsets of now (the test produced
// everything before starting any worker).
const ends = new Map<string, number>();
for (const { partition, high } of await admin.fetchTopicOffsets(topic))
  ends.set(`${topic}-${partition}`, Number(high));
const committed = new Map<string, number>();
for (const { partitions } of await admin.fetchOffsets({ groupId, topics: [topic] })) {
  for (const { partition, offset } of partitions) committed.set(`${topic}-${partition}`, Number(offset));
}
const finished = () => [...ends].every(([partition, end]) => (committed.get(partition) ?? -1) >= end);

const files = jsonLinesSink({ dir: out });
// Without the ledger, a restarted run cannot tell what was written already: at-least-once.
const sink: Sink<unknown> = exactlyOnce
  ? files
  : { kind: 'json-lines', write: (batch, options) => files.write(batch, options) };
const p = pipeline({
  name: 'crash',
  concurrency: 3,
  ...(exactlyOnce && { checkpoint: kafkaCheckpoint({ consumer, admin, groupId }) }),
})
  .source(kafkaSource({ consumer, topics: [topic], fromBeginning: true }))
  .trigger(triggers.any(triggers.time('20ms'), triggers.volume({ records: Number(size) })))
  .sink(sink)
  .build();

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  // run() below resolves with the report once the stop is done.
  void p.stop({ drain: true, deadline: '30s' });
};
consumer.on(consumer.events.GROUP_JOIN, () => process.stdout.write('joined\n'));
p.on('commit', ({ partition, offset }) => {
  process.stdout.write(`commit ${partition} ${offset}\n`);
  committed.set(partition, offset + 1);
  if (finished()) stop();
});
const running = p.run();
if (finished()) stop();
const report = await running;
await admin.disconnect();
process.stdout.write(`done ${JSON.stringify(report.records)} ${report.guarantee}\n`);
