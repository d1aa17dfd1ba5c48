/**
 * A worker for the PostgreSQL SIGKILL test: fromJsonLines → postgresSink, with no checkpoint store:
 * the sink's ledger is the only record of what was delivered. Prints `commit <offset>` after every
 * commit and `done <records> <guarantee>` at the end.
 * Usage: crash-worker.ts <input.jsonl> <database> <records per batch>
 */
import pg from 'pg';
import { z } from 'zod';
import { fromJsonLines, pipeline, triggers } from '../../../src/index.js';
import { postgresSink } from '../../../src/postgres/index.js';
import { serverSettings } from './database.js';

const [input, database, size] = process.argv.slice(2);
if (input === undefined || database === undefined || size === undefined) {
  process.stderr.write('usage: crash-worker.ts <input> <database> <records per batch>\n');
  process.exit(2);
}
const Line = z.object({ i: z.int(), sku: z.string(), price: z.number() });
const pool = new pg.Pool({ ...serverSettings(), database, max: 4 });
pool.on('error', () => {});
const p = pipeline({ name: 'crash', concurrency: 3 })
  .source(fromJsonLines(input))
  .trigger(triggers.any(triggers.time('20ms'), triggers.volume({ records: Number(size) })))
  .sink(postgresSink({ pool, table: 'lines', schema: Line }))
  .build();
p.on('commit', ({ offset }) => process.stdout.write(`commit ${offset}\n`));
const report = await p.run();
await pool.end();
process.stdout.write(`done ${JSON.stringify(report.records)} ${report.guarantee}\n`);
