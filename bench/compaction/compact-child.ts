/**
 * Child process of bench.ts: compacts one lake table and prints its measurements as one JSON line.
 * Compaction runs in a process of its own, as `microbatch compact` does (docs/compaction.md), so
 * that the ingest's heap and garbage do not bill their collection to it.
 *   node --import tsx bench/compaction/compact-child.ts <dir> <table> <copy|rewrite>
 */
import { performance } from 'node:perf_hooks';
import { compactLake } from '../../src/lake/compact.js';

const [dir, table, mode] = process.argv.slice(2);
const start = performance.now();
const cpu = process.cpuUsage();
const report = await compactLake({ dir: dir!, table: table!, rewrite: mode === 'rewrite' });
const used = process.cpuUsage(cpu);
process.stdout.write(
  `${JSON.stringify({
    seconds: (performance.now() - start) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    report,
  })}\n`,
);
