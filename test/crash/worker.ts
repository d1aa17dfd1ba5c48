/**
 * A worker process for the SIGKILL test: fromJsonLines → jsonLinesSink with a fileCheckpoint.
 * Prints `commit <offset>` after every commit so the test can kill it mid-stream, and `done` at
 * the end. Usage: worker.ts <input.jsonl> <out dir> <checkpoint dir> <records per batch>
 * Each run gets another batch size, so batch boundaries after a restart differ from the ones
 * planned before the crash, as they would with a time trigger: only the replay of plans keeps the
 * ranges, and so the output files, exact.
 */
import { fileCheckpoint, fromJsonLines, jsonLinesSink, pipeline, triggers } from '../../src/index.js';

const [input, out, checkpoints, size] = process.argv.slice(2);
if (input === undefined || out === undefined || checkpoints === undefined || size === undefined) {
  process.stderr.write('usage: worker.ts <input> <out dir> <checkpoint dir> <records per batch>\n');
  process.exit(2);
}

const p = pipeline({ name: 'crash', checkpoint: fileCheckpoint({ dir: checkpoints }), concurrency: 3 })
  .source(fromJsonLines(input))
  .trigger(triggers.any(triggers.time('20ms'), triggers.volume({ records: Number(size) })))
  .sink(jsonLinesSink({ dir: out }))
  .build();
p.on('commit', ({ offset }) => process.stdout.write(`commit ${offset}\n`));
const report = await p.run();
process.stdout.write(`done ${JSON.stringify(report.records)} ${report.guarantee}\n`);
