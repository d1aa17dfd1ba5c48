/** postgresSink against the real local PostgreSQL: writes, the ledger, rewrites, row errors, faults. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { batchId } from '../../../src/core/batch.js';
import { silentLogger } from '../../../src/core/logger.js';
import { fromJsonLines, pipeline, triggers } from '../../../src/index.js';
import { postgresSink, postgresTableDDL } from '../../../src/postgres/index.js';
import { testClock } from '../../../src/testing/clock.js';
import { expectCode, rejection } from '../../support.js';
import { createTestDatabase, type TestDatabase } from './database.js';

const Price = z.object({ sku: z.string(), price: z.number(), qty: z.int() });
type Price = z.infer<typeof Price>;

const context = (name = 'prices') => ({ pipeline: name, clock: testClock(), logger: silentLogger });
const options = () => ({ signal: new AbortController().signal, attempt: 1 });

function batchOf(records: Price[], firstOffset: number, partition = '0', name = 'prices') {
  const lastOffset = firstOffset + records.length - 1;
  return {
    id: batchId(name, partition, firstOffset, lastOffset),
    partition,
    firstOffset,
    lastOffset,
    records,
    bytes: 0,
    reason: 'records' as const,
    openedAt: 0,
    closedAt: 0,
  };
}

const prices = (from: number, n: number): Price[] =>
  Array.from({ length: n }, (_, i) => ({ sku: `sku-${from + i}`, price: (from + i) / 4, qty: from + i }));

describe('postgresSink', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('sink');
    pool = db.pool({ max: 6 });
  });
  afterAll(async () => {
    await db?.drop();
  });
  beforeEach(async () => {
    await db.query('DROP TABLE IF EXISTS prices, microbatch_ledger, prices_dead_letters');
    await db.query(postgresTableDDL(Price, 'prices', { deadLetterTable: true }));
  });

  const rows = async () =>
    (await db.query('SELECT sku, price, qty::integer AS qty FROM prices ORDER BY qty')).rows as Price[];

  it('writes a batch and its ledger row in one transaction; committed() reads the ledger', async () => {
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    await sink.open(context());
    expect(await sink.committed('0')).toBeUndefined();
    await sink.write(batchOf(prices(0, 3), 0), options());
    await sink.write(batchOf(prices(3, 2), 3), options());
    expect(await rows()).toEqual(prices(0, 5));
    expect(await sink.committed('0')).toBe(4);
    expect(await sink.committed('1')).toBeUndefined();
    const ledger = await db.query(
      'SELECT pipeline, partition, batch_id, first_offset, last_offset, records FROM microbatch_ledger ORDER BY first_offset',
    );
    expect(ledger.rows).toEqual([
      {
        pipeline: 'prices',
        partition: '0',
        batch_id: batchId('prices', '0', 0, 2),
        first_offset: '0',
        last_offset: '2',
        records: 3,
      },
      {
        pipeline: 'prices',
        partition: '0',
        batch_id: batchId('prices', '0', 3, 4),
        first_offset: '3',
        last_offset: '4',
        records: 2,
      },
    ]);
    // Another pipeline's ledger is its own.
    const other = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    await other.open(context('other'));
    expect(await other.committed('0')).toBeUndefined();
  });

  it('skips a batch id already in the ledger without touching the table', async () => {
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    await sink.open(context());
    const batch = batchOf(prices(0, 3), 0);
    await sink.write(batch, options());
    // The rewrite carries other records: if the table were touched they would show.
    await sink.write({ ...batch, records: prices(100, 3) }, options());
    await Promise.all([sink.write(batch, options()), sink.write(batch, options())]);
    expect(await rows()).toEqual(prices(0, 3));
  });

  it('concurrent first writes of one batch id: one effect', async () => {
    const sinks = [0, 1, 2, 3].map(() => postgresSink<Price>({ pool, table: 'prices', schema: Price }));
    for (const s of sinks) await s.open(context());
    const batch = batchOf(prices(0, 500), 0);
    await Promise.all(sinks.map((s) => s.write(batch, options())));
    expect((await rows()).length).toBe(500);
  });

  it('refuses a batch whose range overlaps another batch in the ledger (MB_LEDGER_AHEAD), writing nothing', async () => {
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    await sink.open(context());
    await sink.write(batchOf(prices(0, 10), 0), options());
    const error = expectCode(
      await rejection(sink.write(batchOf(prices(5, 10), 5), options())),
      'MB_LEDGER_AHEAD',
    );
    expect(error.message).toContain(batchId('prices', '0', 0, 9));
    expect(error.retryable).toBe(false);
    expect((await rows()).length).toBe(10);
  });

  it('a constraint violation fails the batch naming the constraint and the offset; nothing of it is written', async () => {
    await db.query('ALTER TABLE prices ADD CONSTRAINT price_positive CHECK (price >= 0)');
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    await sink.open(context());
    const records = prices(0, 5);
    records[3]!.price = -1;
    const error = expectCode(await rejection(sink.write(batchOf(records, 10), options())), 'MB_SINK_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('price_positive');
    expect(error.message).toContain('offset 13');
    expect(error.details).toMatchObject({ constraint: 'price_positive', sqlState: '23514', offset: 13 });
    expect(await rows()).toEqual([]);
    expect(await sink.committed('0')).toBeUndefined();
  });

  it("onRowError: 'dead-letter' keeps refused rows in the dead-letter table and writes the rest, atomically", async () => {
    await db.query('ALTER TABLE prices ADD CONSTRAINT price_positive CHECK (price >= 0)');
    await db.query('ALTER TABLE prices ADD CONSTRAINT sku_unique UNIQUE (sku)');
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price, onRowError: 'dead-letter' });
    await sink.open(context());
    const records = prices(0, 3000);
    records[0]!.price = -1;
    records[1500]!.sku = 'sku-7';
    records[2999]!.price = -2;
    const bad = { sku: 'x', price: 1, qty: 2 ** 40 } as Price; // qty does not fit bigint? it does; make it a float
    bad.qty = 1.5;
    records[42] = bad;
    await sink.write(batchOf(records, 0), options());
    const written = await rows();
    expect(written.length).toBe(2996);
    const letters = await db.query(
      'SELECT "offset", reason, "constraint", message, value FROM prices_dead_letters ORDER BY "offset"',
    );
    expect(letters.rows.map((r) => [Number(r.offset), r.reason, r.constraint])).toEqual([
      [0, 'constraint_violation', 'price_positive'],
      [42, 'invalid_value', null],
      [1500, 'constraint_violation', 'sku_unique'],
      [2999, 'constraint_violation', 'price_positive'],
    ]);
    expect(letters.rows[1].message).toContain('qty');
    expect(letters.rows[0].value).toEqual(records[0]);
    const ledger = await db.query('SELECT records, dead_letters FROM microbatch_ledger');
    expect(ledger.rows).toEqual([{ records: 2996, dead_letters: 4 }]);
    // Nothing lost: every offset is in exactly one of the two tables.
    expect(written.length + letters.rows.length).toBe(records.length);
    // A rewrite of the id changes nothing.
    await sink.write(batchOf(records, 0), options());
    expect((await rows()).length).toBe(2996);
  });

  it('a value that fits no column fails the batch with MB_ENCODE_FAILED naming the column and offset', async () => {
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    await sink.open(context());
    // Past the first COPY chunks: the COPY is already streaming when the value is reached.
    const records = prices(0, 3_000);
    (records[2_500] as { qty: unknown }).qty = 'many';
    const error = expectCode(await rejection(sink.write(batchOf(records, 7), options())), 'MB_ENCODE_FAILED');
    expect(error.message).toContain('column "qty"');
    expect(error.message).toContain('offset 2507');
    expect(await rows()).toEqual([]);
    expect(await sink.committed('0')).toBeUndefined();
    // The COPY was failed cleanly: the pool's connections still work.
    await sink.write(batchOf(prices(0, 3), 0), options());
    expect(await rows()).toEqual(prices(0, 3));
  });

  it('open() fails clearly when the table is missing, and names the fix', async () => {
    const sink = postgresSink<Price>({ pool, table: 'nope', schema: Price });
    const error = expectCode(await rejection(sink.open(context())), 'MB_SINK_FAILED');
    expect(error.message).toContain('"nope"');
    expect(error.message).toContain('postgresTableDDL');
    // createTable: true creates it.
    const created = postgresSink<Price>({
      pool,
      table: { schema: 'public', name: 'made "here"' },
      schema: Price,
      createTable: true,
    });
    await created.open(context());
    await created.write(batchOf(prices(0, 1), 0), options());
    expect((await db.query('SELECT count(*)::int AS n FROM "made ""here"""')).rows[0].n).toBe(1);
  });

  it('write() before open() is MB_CLOSED', async () => {
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    expectCode(await rejection(sink.write(batchOf(prices(0, 1), 0), options())), 'MB_CLOSED');
  });

  it('a lock held past lockTimeout is a retryable error (back-pressure), and the write succeeds once it is gone', async () => {
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price, lockTimeout: '100ms' });
    await sink.open(context());
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE prices IN ACCESS EXCLUSIVE MODE');
      const error = expectCode(
        await rejection(sink.write(batchOf(prices(0, 2), 0), options())),
        'MB_SINK_FAILED',
      );
      expect(error.retryable).toBe(true);
      expect(error.details.sqlState).toBe('55P03');
      await holder.query('COMMIT');
      await sink.write(batchOf(prices(0, 2), 0), options());
      expect((await rows()).length).toBe(2);
    } finally {
      holder.release();
    }
  });

  it('pg_terminate_backend on the sink connection mid-COPY: retryable, rolled back, and the retry writes once', async () => {
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    await sink.open(context());
    // Hold a lock so that the COPY waits inside its transaction, then terminate that backend.
    const holder = await pool.connect();
    await holder.query('BEGIN; LOCK TABLE prices IN ACCESS EXCLUSIVE MODE');
    const batch = batchOf(prices(0, 20_000), 0);
    // Handled from the start: the write fails while the test still awaits pg_terminate_backend's
    // answer, and a rejection nobody listens to yet is reported as unhandled.
    const writing = rejection(sink.write(batch, options()));
    let pid: number | undefined;
    for (let i = 0; i < 200 && pid === undefined; i++) {
      const r = await db.query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%' AND wait_event_type = 'Lock'",
      );
      pid = r.rows[0]?.pid;
      if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(pid).toBeDefined();
    await db.query('SELECT pg_terminate_backend($1)', [pid]);
    const error = expectCode(await writing, 'MB_SINK_FAILED');
    expect(error.retryable).toBe(true);
    await holder.query('COMMIT');
    holder.release();
    expect(await sink.committed('0')).toBeUndefined();
    await sink.write(batch, options());
    expect((await rows()).length).toBe(20_000);
  });

  it('an aborted write settles at once and leaves nothing behind', async () => {
    const sink = postgresSink<Price>({ pool, table: 'prices', schema: Price });
    await sink.open(context());
    const holder = await pool.connect();
    await holder.query('BEGIN; LOCK TABLE prices IN ACCESS EXCLUSIVE MODE');
    const controller = new AbortController();
    const writing = sink.write(batchOf(prices(0, 10), 0), { signal: controller.signal, attempt: 1 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort(new Error('stop'));
    expectCode(await rejection(writing), 'MB_ABORTED');
    await holder.query('COMMIT');
    holder.release();
    // The server rolled the aborted transaction back: the same id writes its rows once.
    await sink.write(batchOf(prices(0, 10), 0), options());
    expect((await rows()).length).toBe(10);
  });

  it('an abort while waiting for a pooled connection settles at once; the connection goes back when it comes', async () => {
    const small = db.pool({ max: 1 });
    const sink = postgresSink<Price>({ pool: small, table: 'prices', schema: Price });
    await sink.open(context());
    const only = await small.connect();
    const controller = new AbortController();
    const writing = sink.write(batchOf(prices(0, 2), 0), { signal: controller.signal, attempt: 1 });
    controller.abort(new Error('stop'));
    expectCode(await rejection(writing), 'MB_ABORTED');
    only.release();
    await sink.write(batchOf(prices(0, 2), 0), options());
    expect(await rows()).toEqual(prices(0, 2));
    expect(small.totalCount).toBe(1);
    expect(small.idleCount).toBe(1);
  });

  it('in a pipeline with a replayable source and no checkpoint store: exactly-once, and a rerun skips everything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mb-pg-'));
    try {
      const input = join(dir, 'in.jsonl');
      await writeFile(
        input,
        `${prices(0, 1000)
          .map((p) => JSON.stringify(p))
          .join('\n')}\n`,
      );
      const run = async () => {
        const p = pipeline({ name: 'prices' })
          .source(fromJsonLines<Price>(input))
          .trigger(triggers.volume({ records: 128 }))
          .sink(postgresSink<Price>({ pool, table: 'prices', schema: Price }))
          .build();
        expect(p.metrics().guarantee).toBe('exactly-once');
        return p.run();
      };
      const first = await run();
      expect(first.guarantee).toBe('exactly-once');
      expect(first.records.written).toBe(1000);
      const second = await run();
      expect(second.records.written).toBe(0);
      expect(second.records.skipped).toBe(1000);
      expect(await rows()).toEqual(prices(0, 1000));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
