/**
 * `tsx bench/kafka/run.ts [--quick]`: runs the Kafka benchmark and prints its section of
 * bench/RESULTS.md (progress and the goal on stderr). It starts its own broker with `startKafka()`
 * unless `MICROBATCH_KAFKA_BROKERS` names one.
 */
import { kafkaBench } from './bench.js';

const quick = process.argv.includes('--quick');
const result = await kafkaBench({ quick });
for (const g of result.goals) process.stderr.write(`  ${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}: ${g.value}\n`);
process.stdout.write(`${result.section.join('\n')}\n`);
