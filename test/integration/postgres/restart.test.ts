/**
 * The server restarted mid-stream (on a private server, so other users of the shared one are not
 * disturbed): writes in flight fail with admin shutdown or a lost connection, new connections are
 * refused until it is back, all retried; no checkpoint store; every record ends in the table once.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromJsonLines, pipeline, triggers } from '../../../src/index.js';
import { postgresSink, postgresTableDDL } from '../../../src/postgres/index.js';
import { type PrivateServer, startPrivateServer } from './private-server.js';

const Line = z.object({ i: z.int(), text: z.string() });
const RECORDS = 40_000;

describe('postgresSink across a server restart', () => {
  let server: PrivateServer;
  let dir: string;
  beforeAll(async () => {
    server = await startPrivateServer();
    dir = await mkdtemp(join(tmpdir(), 'mb-pg-restart-'));
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('loses and doubles nothing', async () => {
    const pool = new pg.Pool({
      host: server.host,
      port: server.port,
      user: 'postgres',
      database: 'postgres',
      max: 4,
    });
    pool.on('error', () => {}); // idle connections cut by the restart
    try {
      await pool.query(postgresTableDDL(Line, 'lines'));
      await pool.query('ALTER TABLE lines ADD PRIMARY KEY (i)');
      const input = join(dir, 'in.jsonl');
      await writeFile(
        input,
        `${Array.from({ length: RECORDS }, (_, i) => JSON.stringify({ i, text: `line ${i}` })).join('\n')}\n`,
      );
      const p = pipeline({ name: 'restart', retry: { maxAttempts: 1_000, initialDelay: 20, maxDelay: 500 } })
        .source(fromJsonLines<z.infer<typeof Line>>(input))
        .trigger(triggers.any(triggers.time('20ms'), triggers.volume({ records: 500 })))
        .sink(postgresSink({ pool, table: 'lines', schema: Line }))
        .build();
      let restarted: Promise<void> | undefined;
      let commits = 0;
      p.on('commit', () => {
        if (++commits === 5) restarted = server.restart();
      });
      const report = await p.run();
      await restarted;
      expect(restarted).toBeDefined();
      expect(report.status).toBe('completed');
      expect(report.guarantee).toBe('exactly-once');
      const rows = await pool.query(
        'SELECT count(*)::int AS n, min(i)::int AS lo, max(i)::int AS hi FROM lines',
      );
      expect(rows.rows[0]).toEqual({ n: RECORDS, lo: 0, hi: RECORDS - 1 });
      expect(report.records.written).toBe(RECORDS);
      // The restart hit the stream: writes failed (admin shutdown, refused connections) and were retried.
      expect(p.metrics().counts.retries).toBeGreaterThan(0);
    } finally {
      await pool.end();
    }
  }, 180_000);
});
