/**
 * Child process of bench.ts: compacts one lake table and prints its measurements as one JSON line.
 * It runs the built package (dist/, which `npm run bench` builds first) in a plain Node process, as
 * `npx microbatch compact` does: no tsx loader thread, and no ingest heap whose garbage collection
 * would be billed to the compaction.
 *   node bench/compaction/compact-child.mjs <dir> <table> <copy|rewrite>
 */
import { performance } from 'node:perf_hooks';
import { compactLake } from '../../dist/index.js';

const [dir, table, mode] = process.argv.slice(2);
const start = performance.now();
const cpu = process.cpuUsage();
const report = await compactLake({ dir, table, rewrite: mode === 'rewrite' });
const used = process.cpuUsage(cpu);
process.stdout.write(
  `${JSON.stringify({
    seconds: (performance.now() - start) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    report,
  })}\n`,
);
