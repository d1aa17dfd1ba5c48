/**
 * Child process of compact-sigkill.test.ts: compacts `<dir>/<table>` with `targetFileBytes`, printing
 * one line per bin and per partition so that the parent can kill it at a random moment.
 *   node --import tsx test/lake/compact-worker.ts <dir> <table> <targetFileBytes> [copy|rewrite]
 */
import { compactLake } from '../../src/lake/compact.js';
import { setCompactionFaultHook } from '../../src/lake/compact-faults.js';

const [dir, table, target, mode] = process.argv.slice(2);
// The hook only reports progress here (it never throws): the parent kills the process for real.
setCompactionFaultHook((step) => {
  if (step === 'output-written') process.stdout.write('step output-written\n');
});
process.stdout.write('start\n');
const report = await compactLake({
  dir: dir!,
  table: table!,
  targetFileBytes: Number(target),
  rewrite: mode === 'rewrite',
  onProgress: (event) => process.stdout.write(`progress ${event.partition} ${event.action}\n`),
});
process.stdout.write(`done ${JSON.stringify(report)}\n`);
