/** snowflakeSink keeps the Sink contract: microbatch/testing's sinkConformance over the contract double. */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { snowflakeSink } from '../../src/snowflake/index.js';
import { sinkConformance } from '../../src/testing/index.js';
import type { SnowflakeConnectionLike } from '../support/snowflake/double.js';
import { type World, world } from './sink-helpers.js';

const columns = [
  { name: 'partition', type: 'string' },
  { name: 'offset', type: 'int64' },
] as const;

describe('snowflakeSink conformance', () => {
  let w: World;
  let connection: SnowflakeConnectionLike;
  beforeAll(async () => {
    w = await world();
    await w.double.query(
      'CREATE TABLE IF NOT EXISTS "DB"."SCH"."POSITIONS" ("PARTITION" VARCHAR NOT NULL, "OFFSET" NUMBER(38,0) NOT NULL)',
    );
    // One connection for every instance: a "crashed" instance's transaction ends (rolled back or
    // committed) before the fresh instance's starts, as a dropped session's would.
    connection = w.double.connection();
  });
  afterAll(async () => {
    await w?.close();
  });

  it('passes, with crashes mid-write and concurrent writes', async () => {
    let run = 0;
    await sinkConformance(
      () =>
        snowflakeSink({
          connection,
          table: 'DB.SCH.POSITIONS',
          // A fresh stage folder per run: the load history is per table, and reset empties the table.
          stage: { name: `@DB.SCH.STG/run${run}`, storage: w.storage },
          schema: columns,
        }),
      {
        reset: async () => {
          run++;
          await w.double.query('DELETE FROM "DB"."SCH"."POSITIONS"');
          await w.double.query('DELETE FROM "DB"."SCH"."MICROBATCH_LEDGER"');
        },
        read: () => w.double.query('SELECT "PARTITION", "OFFSET" FROM "DB"."SCH"."POSITIONS"'),
        identify: (row) => ({ partition: String(row.PARTITION), offset: Number(row.OFFSET) }),
        partitions: ['0', '1', 'eu/west "quoted"'],
        numRuns: 25,
      },
    );
  }, 300_000);
});
