/**
 * One run of the PostgreSQL benchmark in its own process:
 *
 *   tsx bench/postgres/worker.ts <variant> <logged|unlogged> <records> <database>
 *
 * Creates the table afresh, loads `records` scraper records (8 columns, ~200 bytes) the variant's way,
 * and prints records/s (first statement → last commit) and peak RSS.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { z } from 'zod';
import { fromIterable, pipeline, triggers } from '../../src/index.js';
import { postgresSink, postgresTableDDL } from '../../src/postgres/index.js';
import { serverSettings } from '../../test/integration/postgres/database.js';
import { emitResult } from '../lib/child.js';

export const PG_VARIANTS = [
  'autocommit',
  'one-txn',
  'multi-row',
  'copy',
  'postgresSink',
  'postgresSink-serial',
] as const;
/** The COPY format comparison: hand-written text vs binary COPY (bench.ts, `formatBench`). */
export type PgVariant = (typeof PG_VARIANTS)[number] | 'copy-binary';

export interface PgRunResult {
  variant: PgVariant;
  table: 'logged' | 'unlogged';
  records: number;
  seconds: number;
  recordsPerSecond: number;
  peakRss: number;
  baselineRss: number;
  guarantee?: string;
}

export const Scraped = z.object({
  sku: z.string(),
  url: z.string(),
  title: z.string(),
  currency: z.string(),
  price: z.number(),
  qty: z.int(),
  in_stock: z.boolean(),
  scraped_at: z.date(),
});
type Scraped = z.infer<typeof Scraped>;
const COLUMNS = ['sku', 'url', 'title', 'currency', 'price', 'qty', 'in_stock', 'scraped_at'] as const;

const T0 = Date.UTC(2026, 11, 7);
/** The i-th record: ~200 bytes as COPY text, deterministic. */
export function scraped(i: number): Scraped {
  return {
    sku: `SKU-${(i % 50_000).toString().padStart(6, '0')}`,
    url: `https://shop.example.com/catalogue/category-${i % 97}/product-${i}?ref=crawler&page=${i % 13}`,
    title: `Product ${i} — stainless steel kettle, 1.7 l, model ${i % 311}`,
    currency: i % 3 === 0 ? 'EUR' : 'USD',
    price: Math.round(((i * 7919) % 100_000) + 99) / 100,
    qty: i % 1_000,
    in_stock: i % 5 !== 0,
    scraped_at: new Date(T0 + i * 37),
  };
}

function* records(n: number): Generator<Scraped> {
  for (let i = 0; i < n; i++) yield scraped(i);
}

const values = (r: Scraped) => [r.sku, r.url, r.title, r.currency, r.price, r.qty, r.in_stock, r.scraped_at];

// The hand-written COPY encoder a user would write for these columns (no escaping needed beyond tabs,
// newlines and backslashes, which these values do not hold; checked anyway).
function copyLine(r: Scraped): string {
  const text = (s: string) =>
    /[\\\n\r\t]/.test(s)
      ? s.replace(/[\\\n\r\t]/g, (c) => `\\${c === '\\' ? '\\' : c === '\n' ? 'n' : c === '\r' ? 'r' : 't'}`)
      : s;
  return `${text(r.sku)}\t${text(r.url)}\t${text(r.title)}\t${r.currency}\t${r.price}\t${r.qty}\t${r.in_stock ? 't' : 'f'}\t${r.scraped_at.toISOString()}\n`;
}

// PostgreSQL's binary COPY: a header, then per row a field count and each field as length + bytes in
// the type's binary send format (float8 and int8 big-endian, bool one byte, timestamptz µs since 2000).
const BINARY_HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
function binaryRows(rows: Scraped[]): Buffer {
  let size = 0;
  for (const r of rows)
    size += 2 + 8 * 4 + 3 * (r.sku.length + r.url.length + r.title.length + r.currency.length) + 25;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const text = (s: string) => {
    const n = out.write(s, at + 4, 'utf8');
    out.writeInt32BE(n, at);
    at += 4 + n;
  };
  for (const r of rows) {
    out.writeInt16BE(8, at);
    at += 2;
    text(r.sku);
    text(r.url);
    text(r.title);
    text(r.currency);
    out.writeInt32BE(8, at);
    out.writeDoubleBE(r.price, at + 4);
    at += 12;
    out.writeInt32BE(8, at);
    out.writeBigInt64BE(BigInt(r.qty), at + 4);
    at += 12;
    out.writeInt32BE(1, at);
    out.writeUInt8(r.in_stock ? 1 : 0, at + 4);
    at += 5;
    out.writeInt32BE(8, at);
    out.writeBigInt64BE(BigInt(r.scraped_at.getTime() - PG_EPOCH_MS) * 1000n, at + 4);
    at += 12;
  }
  return out.subarray(0, at);
}

async function main(): Promise<void> {
  const [variant, table, count, database] = process.argv.slice(2) as [
    PgVariant,
    'logged' | 'unlogged',
    string,
    string,
  ];
  if (
    !([...PG_VARIANTS, 'copy-binary'] as string[]).includes(variant) ||
    (table !== 'logged' && table !== 'unlogged') ||
    database === undefined
  ) {
    throw new Error(`usage: worker.ts <${PG_VARIANTS.join('|')}> <logged|unlogged> <records> <database>`);
  }
  const n = Number(count);
  const baselineRss = process.memoryUsage().rss;
  const pool = new pg.Pool({ ...serverSettings(), database, max: 6 });
  const name = `bench_${variant.replace('-', '_')}_${table}`.toLowerCase();
  await pool
    .query(`DROP TABLE IF EXISTS ${name}; DELETE FROM microbatch_ledger WHERE pipeline = '${name}'`)
    .catch(() => pool.query(`DROP TABLE IF EXISTS ${name}`));
  await pool.query(postgresTableDDL(Scraped, name, { unlogged: table === 'unlogged' }));
  const insert1 = `INSERT INTO ${name} (${COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;
  let guarantee: string | undefined;
  const started = performance.now();
  if (variant === 'autocommit' || variant === 'one-txn') {
    const client = await pool.connect();
    if (variant === 'one-txn') await client.query('BEGIN');
    for (const r of records(n)) await client.query(insert1, values(r));
    if (variant === 'one-txn') await client.query('COMMIT');
    client.release();
  } else if (variant === 'multi-row') {
    const client = await pool.connect();
    const rows = 1_000;
    const placeholders = Array.from(
      { length: rows },
      (_, k) => `(${COLUMNS.map((_, c) => `$${k * 8 + c + 1}`).join(', ')})`,
    ).join(', ');
    const full = `INSERT INTO ${name} (${COLUMNS.join(', ')}) VALUES ${placeholders}`;
    let params: unknown[] = [];
    for (const r of records(n)) {
      params.push(...values(r));
      if (params.length === rows * 8) {
        await client.query(full, params);
        params = [];
      }
    }
    if (params.length > 0) {
      const k = params.length / 8;
      await client.query(
        `INSERT INTO ${name} (${COLUMNS.join(', ')}) VALUES ${placeholders.split('), (').slice(0, k).join('), (')}${k < rows ? ')' : ''}`,
        params,
      );
    }
    client.release();
  } else if (variant === 'copy-binary') {
    const client = await pool.connect();
    const stream = client.query(
      copyStreams.from(`COPY ${name} (${COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`),
    );
    const done = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
    });
    stream.write(BINARY_HEADER);
    let batch: Scraped[] = [];
    for (const r of records(n)) {
      batch.push(r);
      if (batch.length === 1_000) {
        if (!stream.write(binaryRows(batch))) await new Promise((resolve) => stream.once('drain', resolve));
        batch = [];
      }
    }
    if (batch.length > 0) stream.write(binaryRows(batch));
    stream.write(Buffer.from([0xff, 0xff]));
    stream.end();
    await done;
    client.release();
  } else if (variant === 'copy') {
    const client = await pool.connect();
    const stream = client.query(copyStreams.from(`COPY ${name} (${COLUMNS.join(', ')}) FROM STDIN`));
    const done = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
    });
    let chunk = '';
    let inChunk = 0;
    for (const r of records(n)) {
      chunk += copyLine(r);
      if (++inChunk === 1_000) {
        if (!stream.write(chunk)) await new Promise((resolve) => stream.once('drain', resolve));
        chunk = '';
        inChunk = 0;
      }
    }
    if (chunk !== '') stream.write(chunk);
    stream.end();
    await done;
    client.release();
  } else {
    // `postgresSink`: the pipeline's default concurrency (4 writes in flight); `-serial`: one write at
    // a time, what a single-partition exactly-once pipeline without a checkpoint store does.
    const report = await pipeline({ name, concurrency: variant === 'postgresSink-serial' ? 1 : 4 })
      .source(fromIterable(records(n)))
      .trigger(triggers.volume({ records: 10_000 }))
      .sink(postgresSink<Scraped>({ pool, table: name, schema: Scraped }))
      .build()
      .run();
    if (report.records.written !== n) throw new Error(`postgresSink wrote ${report.records.written} of ${n}`);
    guarantee = report.guarantee;
  }
  const seconds = (performance.now() - started) / 1000;
  const check = await pool.query(`SELECT count(*)::int AS n FROM ${name}`);
  if (check.rows[0].n !== n) throw new Error(`${variant}: ${check.rows[0].n} rows in ${name}, expected ${n}`);
  await pool.query(`DROP TABLE ${name}`);
  await pool.end();
  emitResult({
    variant,
    table,
    records: n,
    seconds,
    recordsPerSecond: n / seconds,
    peakRss: process.resourceUsage().maxRSS * 1024,
    baselineRss,
    ...(guarantee !== undefined && { guarantee }),
  } satisfies PgRunResult);
}

if (process.argv[1]?.endsWith('worker.ts')) {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
