/** postgresSink keeps the Sink contract: microbatch/testing's sinkConformance against the real server. */
import type pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { postgresSink, postgresTableDDL } from '../../../src/postgres/index.js';
import { sinkConformance } from '../../../src/testing/index.js';
import { createTestDatabase, type TestDatabase } from './database.js';

const columns = [
  { name: 'partition', type: 'text' },
  { name: 'offset', type: 'bigint' },
] as const;

describe('postgresSink conformance', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('conformance');
    pool = db.pool({ max: 12 });
    await db.query(postgresTableDDL(columns, 'positions'));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('passes, with crashes mid-write and concurrent writes', async () => {
    await sinkConformance(() => postgresSink({ pool, table: 'positions', columns }), {
      reset: async () => {
        await db.query('TRUNCATE positions, microbatch_ledger');
      },
      read: async () =>
        (await db.query('SELECT "partition", "offset"::text AS "offset" FROM positions')).rows,
      identify: (row) => ({ partition: String(row.partition), offset: Number(row.offset) }),
      partitions: ['0', '1', 'eu/west "quoted"'],
      numRuns: 40,
    });
  }, 240_000);
});
