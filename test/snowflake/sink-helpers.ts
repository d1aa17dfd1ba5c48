/** Shared set-up of the snowflakeSink tests over the contract double (test/support/snowflake). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { type Batch, batchId } from '../../src/core/batch.js';
import { silentLogger } from '../../src/core/logger.js';
import { fileStorage } from '../../src/lake/file-storage.js';
import type { ObjectStorage } from '../../src/lake/storage.js';
import type { SinkContext, WriteOptions } from '../../src/sinks/types.js';
import { snowflakeTableDDL } from '../../src/snowflake/index.js';
import { testClock } from '../../src/testing/clock.js';
import { SnowflakeDouble, type SnowflakeDoubleOptions } from '../support/snowflake/double.js';

export const Event = z.object({ id: z.string(), n: z.int(), price: z.number().optional() });
export type Event = z.output<typeof Event>;

export const TABLE = 'DB.SCH.EVENTS';
export const STAGE = '@DB.SCH.STG';

export interface World {
  double: SnowflakeDouble;
  /** The stage's storage (its root is the stage's URL). */
  storage: ObjectStorage;
  dir: string;
  context: SinkContext;
  close(): Promise<void>;
}

/** A double with database DB, schema SCH, the EVENTS table and the ledger, and a stage on a directory. */
export async function world(
  options: Omit<SnowflakeDoubleOptions, 'stages' | 'schemas'> = {},
): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'snowflake-sink-'));
  const storage = fileStorage(join(dir, 'stage'));
  const double = await SnowflakeDouble.create({
    ...options,
    stages: { [STAGE]: storage },
    schemas: ['DB.SCH'],
  });
  for (const statement of snowflakeTableDDL(Event, TABLE).split(';\n')) {
    if (statement.trim() !== '') await double.query(statement);
  }
  const context: SinkContext = { pipeline: 'p', clock: testClock(1_000), logger: silentLogger };
  return {
    double,
    storage,
    dir,
    context,
    async close() {
      await double.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The batch of `partition` covering `[first, last]`, one record per offset. */
export function batch(partition: string, first: number, last: number, pipeline = 'p'): Batch<Event> {
  const records: Event[] = [];
  for (let o = first; o <= last; o++) records.push({ id: `${partition}-${o}`, n: o, price: o / 2 });
  return {
    id: batchId(pipeline, partition, first, last),
    partition,
    firstOffset: first,
    lastOffset: last,
    records,
    bytes: records.length * 32,
    reason: 'records',
    openedAt: 0,
    closedAt: 0,
  };
}

/** The ids in the table, sorted. */
export async function ids(double: SnowflakeDouble, table = TABLE): Promise<string[]> {
  const rows = await double.query(
    `SELECT "ID" FROM ${table
      .split('.')
      .map((p) => `"${p}"`)
      .join('.')}`,
  );
  return rows.map((r) => String(r.ID ?? r.id)).sort();
}

/** The ledger's rows as `partition:batch id`. */
export async function ledger(double: SnowflakeDouble): Promise<string[]> {
  const rows = await double.query(`SELECT "PARTITION", "BATCH_ID" FROM "DB"."SCH"."MICROBATCH_LEDGER"`);
  return rows.map((r) => `${String(r.PARTITION)}:${String(r.BATCH_ID)}`).sort();
}

export const write: WriteOptions = { signal: new AbortController().signal, attempt: 1 };
