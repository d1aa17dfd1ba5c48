/**
 * Exactly-once with the sink's ledger alone: a worker runs fromJsonLines → postgresSink with no
 * checkpoint store and is killed with SIGKILL at random moments, 12 times, then runs to the end.
 * The table must hold every input line exactly once and the ledger must end at the source's end.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { postgresTableDDL } from '../../../src/postgres/index.js';
import { seededRandom } from '../../../src/testing/index.js';
import { killAfterCommits, killRunningWorkers, startWorker } from '../../support/processes.js';
import { createTestDatabase, type TestDatabase } from './database.js';

const RECORDS = 60_000;
const KILLS = 12;
const worker = join(import.meta.dirname, 'crash-worker.ts');
const Line = z.object({ i: z.int(), sku: z.string(), price: z.number() });

describe('postgresSink in a real process killed with SIGKILL, no checkpoint store', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase('sigkill');
    dir = await mkdtemp(join(tmpdir(), 'mb-pg-sigkill-'));
  });
  afterAll(async () => {
    killRunningWorkers();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it(`ends with each of ${RECORDS} records exactly once after ${KILLS} kills`, async () => {
    const seed = Number(process.env.MICROBATCH_CRASH_SEED ?? Date.now() % 2 ** 31);
    const next = seededRandom(seed);
    await db.query(postgresTableDDL(Line, 'lines'));
    const input = join(dir, 'input.jsonl');
    const lines = Array.from({ length: RECORDS }, (_, i) => ({
      i,
      sku: `sku-${i % 977}\t"x"`,
      price: (i % 10_000) / 100,
    }));
    await writeFile(input, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);

    let kills = 0;
    while (kills < KILLS) {
      const run = startWorker(worker, [input, db.name, String(200 + Math.floor(next() * 500))]);
      const killed = await killAfterCommits(run, 1 + Math.floor(next() * 6), Math.floor(next() * 15));
      const code = await run.exited;
      if (killed && code === null) kills++;
      else {
        expect(run.output(), `seed ${seed}`).toContain('done');
        break;
      }
    }
    const last = startWorker(worker, [input, db.name, '333']);
    expect(await last.exited, `seed ${seed}: ${last.output()}`).toBe(0);
    expect(last.output()).toContain('exactly-once');

    const rows = (await db.query('SELECT i::int AS i, sku, price FROM lines ORDER BY i')).rows;
    expect(rows.length, `seed ${seed}`).toBe(RECORDS);
    expect(rows, `seed ${seed}`).toEqual(lines);
    const ledger = await db.query(
      `SELECT max(last_offset)::text AS last, count(*)::int AS batches FROM microbatch_ledger WHERE pipeline = 'crash'`,
    );
    // fromJsonLines offsets are byte offsets: the last line starts at the input's length minus its own.
    const lastLine = `${JSON.stringify(lines.at(-1))}\n`;
    const size = Buffer.byteLength(`${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    expect(Number(ledger.rows[0].last)).toBe(size - Buffer.byteLength(lastLine));
    // The ledger's batches do not overlap.
    const ranges = (
      await db.query(
        `SELECT first_offset::text AS f, last_offset::text AS l FROM microbatch_ledger ORDER BY first_offset`,
      )
    ).rows;
    for (let k = 1; k < ranges.length; k++)
      expect(Number(ranges[k].f)).toBeGreaterThan(Number(ranges[k - 1].l));
    expect(kills, `seed ${seed}: the worker finished before ${KILLS} kills`).toBe(KILLS);
  }, 300_000);
});
