/**
 * `tsx bench/kafka/serve.ts [records]`: starts a broker, produces the benchmark's topic and prints
 * `<brokers> <topic>`, then keeps the broker up until interrupted. For profiling one variant at a
 * time: `node --cpu-prof --import tsx bench/kafka/worker.ts <variant> <brokers> <topic>`.
 */
import { startKafka } from '../../test/infra/kafka/broker.js';
import { createTopic, kafkaFor, produceJson, producerFor } from '../../test/integration/kafka/helpers.js';
import type {} from '../../test/integration/kafka/setup.js';
import { PARTITIONS, price, RECORDS } from './workload.js';

const records = Number(process.argv[2] ?? RECORDS);
const broker = await startKafka();
const kafka = kafkaFor(broker.brokers, 'mb-bench-serve');
const admin = kafka.admin();
await admin.connect();
const topic = await createTopic(admin, 'bench', PARTITIONS);
await admin.disconnect();
const producer = producerFor(kafka);
await producer.connect();
await produceJson(producer, topic, PARTITIONS, records, (i) => price(i));
await producer.disconnect();
process.stdout.write(`${broker.brokers.join(',')} ${topic}\n`);
const stop = () => {
  void broker.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 60_000);
