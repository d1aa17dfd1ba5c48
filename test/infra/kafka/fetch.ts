/**
 * Fetches the Kafka broker's jars into .cache/kafka/libs (a no-op when they are current), so that
 * a fresh machine downloads them in a step of their own: `npm run kafka:fetch`, `.ci/run`.
 */
import { fetchKafkaJars } from './broker.js';

const libs = await fetchKafkaJars();
console.log(`Kafka broker jars ready in ${libs}`);
