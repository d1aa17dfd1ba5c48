/**
 * Vitest global setup: provides `kafkaBrokers` (a list of `host:port`) to the Kafka integration
 * tests. With `MICROBATCH_KAFKA_BROKERS=host:port[,host:port…]` those brokers are used as they
 * are; otherwise one single-node broker is started from the jars in .cache/kafka (fetched first
 * when missing) and stopped after the run. The broker is started only when a file under
 * test/integration/kafka/ (or test/integration/snowflake/, whose seed test needs a broker) is part of
 * the run, so unit-only runs pay nothing for it.
 */
import type { TestProject } from 'vitest/node';
import { fetchKafkaJars, startKafka } from '../../infra/kafka/broker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap brokers of the Kafka the integration tests use; empty when the run has no Kafka test. */
    kafkaBrokers: string[];
  }
}

const KAFKA_TESTS = /[\\/]test[\\/]integration[\\/](kafka|snowflake)[\\/]/;

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const configured = process.env.MICROBATCH_KAFKA_BROKERS?.trim();
  if (configured) {
    project.provide(
      'kafkaBrokers',
      configured
        .split(',')
        .map((broker) => broker.trim())
        .filter((broker) => broker !== ''),
    );
    return undefined;
  }
  if (!runsKafkaTests(project)) {
    project.provide('kafkaBrokers', []);
    return undefined;
  }
  await fetchKafkaJars();
  const broker = await startKafka();
  project.provide('kafkaBrokers', broker.brokers);
  return () => broker.stop();
}

/**
 * Whether this run includes a Kafka test file. Vitest 4 records the paths of a run's test files
 * (`state.getPaths()`, an experimental API) before it runs the global setups. When that list is
 * unavailable, no broker is started: a Kafka test then fails with the error of `kafkaBrokers()`
 * rather than every unit-only run paying for a broker.
 */
function runsKafkaTests(project: TestProject): boolean {
  let files: string[];
  try {
    files = project.vitest.state.getPaths();
  } catch {
    return false;
  }
  return files.some((file) => KAFKA_TESTS.test(file));
}
