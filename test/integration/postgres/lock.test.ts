/**
 * A lock held on the table for 10 s mid-stream: writes fail with lock_timeout (retryable), the
 * adaptive trigger widens its window (seen in its `window-change` events, not in timings), and once
 * the lock is gone every record is in the table exactly once.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromIterable, pipeline, triggers } from '../../../src/index.js';
import { postgresSink, postgresTableDDL } from '../../../src/postgres/index.js';
import type { WindowChange } from '../../../src/triggers/adaptive.js';
import { createTestDatabase, type TestDatabase } from './database.js';

const Row = z.object({ n: z.int() });
const RECORDS = 3_000;

describe('postgresSink behind a table lock held for 10 s', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('lock');
    pool = db.pool({ max: 6 });
    await db.query(postgresTableDDL(Row, 'rows'));
    await db.query('ALTER TABLE rows ADD PRIMARY KEY (n)');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('widens the adaptive window while the lock is held, then writes everything once', async () => {
    async function* slow() {
      for (let n = 0; n < RECORDS; n++) {
        if (n % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 40));
        yield { n };
      }
    }
    const p = pipeline({ name: 'locked', retry: { maxAttempts: 1_000, initialDelay: 20, maxDelay: 500 } })
      .source(fromIterable(slow()))
      .trigger(triggers.adaptive({ minWindow: '100ms', maxWindow: '30s', maxRecords: 5_000 }))
      .sink(postgresSink({ pool, table: 'rows', schema: Row, lockTimeout: '200ms' }))
      .build();
    const changes: { change: WindowChange; locked: boolean }[] = [];
    let locked = false;
    p.on('window-change', (change) => changes.push({ change, locked }));
    let holder: pg.PoolClient | undefined;
    let released: Promise<void> | undefined;
    p.on('commit', () => {
      if (holder !== undefined || released !== undefined) return;
      released = (async () => {
        holder = await pool.connect();
        await holder.query('BEGIN; LOCK TABLE rows IN ACCESS EXCLUSIVE MODE');
        locked = true;
        await new Promise((resolve) => setTimeout(resolve, 10_000));
        locked = false;
        await holder.query('COMMIT');
        holder.release();
      })();
    });
    const report = await p.run();
    await released;
    expect(released).toBeDefined();
    expect(report.status).toBe('completed');
    expect(report.records.written).toBe(RECORDS);
    const rows = await db.query('SELECT count(*)::int AS n, count(DISTINCT n)::int AS d FROM rows');
    expect(rows.rows[0]).toEqual({ n: RECORDS, d: RECORDS });
    // While locked: the window widened because writes were retried (lock_timeout, SQLSTATE 55P03).
    const widened = changes.filter(
      (c) => c.locked && c.change.to > c.change.from && c.change.reason === 'retry',
    );
    expect(widened.length).toBeGreaterThan(0);
    const widest = Math.max(...changes.map((c) => c.change.to));
    expect(widest).toBeGreaterThan(100);
  }, 120_000);
});
