/**
 * Kafka → micro-batches → JSON-lines files, exactly once, with dead letters to a Kafka topic.
 *
 * Needs a broker: `MICROBATCH_KAFKA_BROKERS=127.0.0.1:9092 npx tsx examples/kafka.ts`. Without
 * that variable the example says so and exits (the examples test runs every example, and has no
 * broker). It creates two topics with random names, produces 1,000 prices and one broken message,
 * and loads them with a consumer group.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { jsonLinesSink, pipeline, triggers } from 'microbatch';
import { kafkaCheckpoint, kafkaDeadLetter, kafkaSource } from 'microbatch/kafka';

interface Price {
  sku: string;
  price: number;
}

const brokers = process.env.MICROBATCH_KAFKA_BROKERS?.split(',').filter(Boolean);
if (brokers === undefined || brokers.length === 0) {
  console.log('examples/kafka.ts: set MICROBATCH_KAFKA_BROKERS=host:port to run it against a broker');
} else {
  await main(brokers);
}

async function main(brokers: string[]): Promise<void> {
  const kafka = new Kafka({ clientId: 'microbatch-example', brokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await Promise.all([admin.connect(), producer.connect()]);
  const suffix = randomBytes(4).toString('hex');
  const topic = `example-prices-${suffix}`;
  const dlq = `${topic}.dlq`;
  await admin.createTopics({
    topics: [
      { topic, numPartitions: 3 },
      { topic: dlq, numPartitions: 1 },
    ],
    waitForLeaders: true,
  });
  await producer.send({
    topic,
    messages: [
      ...Array.from({ length: 1000 }, (_, i) => ({
        key: `sku-${i % 50}`,
        value: JSON.stringify({ sku: `sku-${i % 50}`, price: i }),
      })),
      { key: 'sku-broken', value: '{"sku": "sku-broken", "price": ' },
    ],
  });

  const groupId = `example-loader-${suffix}`;
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  const dir = await mkdtemp(join(tmpdir(), 'microbatch-kafka-example-'));
  const source = kafkaSource<Price>({ consumer, topics: [topic], fromBeginning: true });
  const p = pipeline({ name: 'prices', checkpoint: kafkaCheckpoint({ consumer, admin, groupId }) })
    .source(source)
    .trigger(triggers.any(triggers.time('1s'), triggers.volume({ records: 200 })))
    .sink(jsonLinesSink({ dir }))
    .deadLetter(kafkaDeadLetter({ producer, topic: dlq }))
    .build();
  console.log('guarantee:', p.metrics().guarantee); // exactly-once
  await p.start();

  // Wait until all 1,001 messages are read and committed, then stop (a service would run on).
  const deadline = Date.now() + 60_000;
  while (p.metrics().counts.in < 1001 || p.metrics().inFlight.batches > 0 || p.metrics().buffer.records > 0) {
    if (Date.now() > deadline) throw new Error('the example did not finish within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const report = await p.stop({ drain: true, deadline: '30s' });
  console.log('records:', report.records); // in: 1001, written: 1000, deadLettered: 1, …
  console.log('committed:', report.committed); // { 'example-prices-…-0': …, … }
  console.log('files:', (await readdir(dir)).length, 'in', dir);
  console.log('assigned partitions were:', source.metrics().assigned);

  await admin.deleteTopics({ topics: [topic, dlq] });
  await Promise.all([admin.disconnect(), producer.disconnect()]); // the source disconnected the consumer
}
