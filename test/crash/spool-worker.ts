/**
 * A worker process for the spool SIGKILL test: a producer pushing into a spoolSource while a
 * pipeline reads it into jsonLinesSink with a fileCheckpoint, in one process (the scraper's shape).
 * Record values are their spool offsets (`{ i }`): on start the producer goes on from the spool's
 * next offset, so each value is pushed once over all runs. Prints `start <next>` (the spool's next
 * offset after recovery), `acked <n>` (every record below n was acknowledged by push()), `commit
 * <offset>`, and `done` at the end.
 * Usage: spool-worker.ts <spool dir> <out dir> <checkpoint dir> <records> <durability> <batch> <seed>
 */
import { fileCheckpoint, jsonLinesSink, pipeline, spoolSource, triggers } from '../../src/index.js';
import { seededRandom } from '../../src/testing/index.js';

const args = process.argv.slice(2);
const [spool, out, checkpoints, total, durability, size, seed] = args as (string | undefined)[];
if (spool === undefined || out === undefined || checkpoints === undefined || seed === undefined) {
  process.stderr.write(
    'usage: spool-worker.ts <spool> <out> <checkpoints> <records> <durability> <batch> <seed>\n',
  );
  process.exit(2);
}
const records = Number(total);
const next = seededRandom(Number(seed));
const source = spoolSource<{ i: number; pad: string }>({
  dir: spool,
  durability: durability as 'process' | 'machine',
  maxBytes: '64MB',
  segmentBytes: '1MB',
});
const p = pipeline({ name: 'spool-crash', checkpoint: fileCheckpoint({ dir: checkpoints }), concurrency: 3 })
  .source(source)
  .trigger(triggers.any(triggers.time('20ms'), triggers.volume({ records: Number(size) })))
  .sink(jsonLinesSink({ dir: out }))
  .build();
p.on('commit', ({ offset }) => process.stdout.write(`commit ${offset}\n`));

const stats = await source.stats();
process.stdout.write(`start ${stats.next} torn ${stats.tornBytes}\n`);
const run = p.run();
const pad = 'x'.repeat(170);
let i = stats.next;
while (i < records) {
  if (next() < 0.3) {
    await source.push({ i, pad });
    i++;
  } else {
    const n = Math.min(records - i, 1 + Math.floor(next() * 500));
    await source.pushMany(Array.from({ length: n }, (_, k) => ({ i: i + k, pad })));
    i += n;
  }
  process.stdout.write(`acked ${i}\n`);
}
source.end();
const report = await run;
process.stdout.write(`done ${JSON.stringify(report.records)} ${report.guarantee}\n`);
