/**
 * JSON lines → micro-batches → PostgreSQL with COPY, exactly once with no checkpoint store: each
 * batch's rows and its ledger row are committed in one transaction, and a second run skips what the
 * ledger holds.
 *
 * Runs against the local server (`PGHOST`/`PGPORT`/`PGUSER`, else the Unix socket as `postgres`):
 * `npx tsx examples/postgres.ts`. It creates a database with a random name and drops it at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromJsonLines, pipeline, triggers } from 'microbatch';
import { postgresSink, postgresTableDDL } from 'microbatch/postgres';
import pg from 'pg';
import { z } from 'zod';

const Price = z.object({
  sku: z.string(),
  price: z.number(),
  currency: z.enum(['EUR', 'USD']),
  tags: z.array(z.string()),
  scrapedAt: z.iso.datetime(),
});
type Price = z.infer<typeof Price>;

const server = {
  host: process.env.PGHOST ?? '/var/run/postgresql',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
};
const database = `mb_example_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ ...server, database: 'postgres' });
await admin.connect();
await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
const pool = new pg.Pool({ ...server, database, max: 5 });
// pg emits errors of idle pooled connections (a server restart) on the pool: handle them, or Node exits.
let closing = false;
pool.on('error', (error) => {
  if (!closing) console.error(`idle PostgreSQL connection lost: ${error.message}`);
});
const dir = await mkdtemp(join(tmpdir(), 'mb-example-pg-'));
try {
  // The table and the ledger, from the zod schema.
  await pool.query(postgresTableDDL(Price, 'prices'));

  const input = join(dir, 'prices.jsonl');
  const lines = Array.from({ length: 5_000 }, (_, i) =>
    JSON.stringify({
      sku: `sku-${i}`,
      price: (i % 1_000) / 10,
      currency: i % 2 === 0 ? 'EUR' : 'USD',
      tags: ['kettle', `batch-${i % 7}`],
      scrapedAt: new Date(Date.UTC(2026, 11, 7, 9) + i * 1_000).toISOString(),
    }),
  );
  await writeFile(input, `${lines.join('\n')}\n`);

  const run = () =>
    pipeline({ name: 'prices' })
      .source(fromJsonLines<Price>(input))
      .trigger(triggers.any(triggers.time('1s'), triggers.volume({ records: 1_000 })))
      .sink(postgresSink<Price>({ pool, table: 'prices', schema: Price }))
      .build()
      .run();

  const first = await run();
  console.log(`first run: ${first.records.written} written, guarantee ${first.guarantee}`);
  const again = await run();
  console.log(
    `second run: ${again.records.written} written, ${again.records.skipped} skipped (the ledger holds them)`,
  );

  const { rows } = await pool.query(
    'SELECT count(*)::int AS n, count(DISTINCT sku)::int AS skus FROM prices',
  );
  console.log(`prices: ${rows[0].n} rows, ${rows[0].skus} distinct skus`);
  const ledger = await pool.query(
    'SELECT count(*)::int AS batches, max(last_offset)::text AS last FROM microbatch_ledger WHERE pipeline = $1',
    ['prices'],
  );
  console.log(`ledger: ${ledger.rows[0].batches} batches, up to byte offset ${ledger.rows[0].last}`);
  if (rows[0].n !== 5_000 || first.guarantee !== 'exactly-once' || again.records.written !== 0) {
    throw new Error('expected 5,000 rows written once, exactly-once');
  }
} finally {
  closing = true;
  await pool.end();
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  await admin.end();
  await rm(dir, { recursive: true, force: true });
}
