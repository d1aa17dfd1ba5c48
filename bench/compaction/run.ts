/**
 * Runs the compaction benchmark alone and prints its section and goals:
 *   tsx bench/compaction/run.ts [--quick]
 */
import { compactionBench } from './bench.js';

const quick = process.argv.includes('--quick');
const { section, goals, raw } = await compactionBench({ quick });
console.log(section.join('\n'));
for (const goal of goals) console.log(`${goal.pass ? 'PASS' : 'FAIL'}  ${goal.goal}: ${goal.value}`);
if (process.argv.includes('--json')) console.log(JSON.stringify(raw, null, 2));
