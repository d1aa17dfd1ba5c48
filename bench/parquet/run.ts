/**
 * `tsx bench/parquet/run.ts [--quick]`: runs the Parquet benchmark and prints its section of
 * bench/RESULTS.md (progress and the goals on stderr).
 */
import { parquetBench } from './bench.js';

const quick = process.argv.includes('--quick');
const result = await parquetBench({ quick });
for (const g of result.goals) process.stderr.write(`  ${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}: ${g.value}\n`);
process.stdout.write(`${result.section.join('\n')}\n`);
