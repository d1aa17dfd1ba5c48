/** snowflakeTableDDL and the zod → Snowflake type map (no server). */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { snowflakeColumns, snowflakeTableDDL } from '../../src/snowflake/index.js';
import { expectCode, thrown } from '../support.js';

describe('snowflakeColumns', () => {
  it('maps a zod object by the rules shared with Parquet and PostgreSQL', () => {
    const schema = z.object({
      s: z.string(),
      e: z.enum(['a', 'b']),
      f: z.number(),
      i32: z.int32(),
      small: z.int().min(0).max(100),
      big: z.int(),
      bi: z.bigint(),
      flag: z.boolean(),
      at: z.date(),
      iso: z.iso.datetime(),
      day: z.iso.date(),
      tags: z.array(z.string()),
      nested: z.object({ a: z.string(), n: z.number() }),
      opt: z.string().optional(),
      nul: z.number().nullable(),
      userId: z.string(),
      'event time': z.string(),
    });
    expect(snowflakeColumns(schema).map((c) => [c.name, c.field, c.type, c.nullable])).toEqual([
      ['S', 's', 'VARCHAR', false],
      ['E', 'e', 'VARCHAR', false],
      ['F', 'f', 'FLOAT', false],
      ['I32', 'i32', 'NUMBER(38,0)', false],
      ['SMALL', 'small', 'NUMBER(38,0)', false],
      ['BIG', 'big', 'NUMBER(38,0)', false],
      ['BI', 'bi', 'NUMBER(38,0)', false],
      ['FLAG', 'flag', 'BOOLEAN', false],
      ['AT', 'at', 'TIMESTAMP_TZ', false],
      ['ISO', 'iso', 'TIMESTAMP_TZ', false],
      ['DAY', 'day', 'VARCHAR', false],
      ['TAGS', 'tags', 'ARRAY', false],
      ['NESTED', 'nested', 'VARIANT', false],
      ['OPT', 'opt', 'VARCHAR', true],
      ['NUL', 'nul', 'FLOAT', true],
      ['USERID', 'userId', 'VARCHAR', false],
      ['event time', 'event time', 'VARCHAR', false],
    ]);
    expect(
      snowflakeColumns(schema, { timestamps: 'TIMESTAMP_NTZ' }).find((c) => c.field === 'at')?.type,
    ).toBe('TIMESTAMP_NTZ');
  });

  it('refuses fields that differ only in case (COPY matches names case-insensitively)', () => {
    const error = expectCode(
      thrown(() => snowflakeColumns(z.object({ id: z.string(), ID: z.string() }))),
      'MB_INVALID_OPTIONS',
    );
    expect(error.message).toMatch(/'id' and 'ID' differ only in case/);
  });

  it('takes explicit Parquet columns too', () => {
    expect(
      snowflakeColumns([
        { name: 'id', type: 'int64' },
        { name: 'tags', type: 'list', items: { type: 'string' }, nullable: true },
      ]),
    ).toEqual([
      { name: 'ID', field: 'id', type: 'NUMBER(38,0)', nullable: false },
      { name: 'TAGS', field: 'tags', type: 'ARRAY', nullable: true },
    ]);
  });
});

describe('snowflakeTableDDL', () => {
  it('gives the table and the ledger next to it, every identifier quoted', () => {
    const ddl = snowflakeTableDDL(
      z.object({ id: z.string(), price: z.number().optional(), at: z.date() }),
      'analytics.raw.events',
    );
    expect(ddl).toBe(`CREATE TABLE IF NOT EXISTS "ANALYTICS"."RAW"."EVENTS" (
  "ID" VARCHAR NOT NULL,
  "PRICE" FLOAT,
  "AT" TIMESTAMP_TZ NOT NULL
);
CREATE TABLE IF NOT EXISTS "ANALYTICS"."RAW"."MICROBATCH_LEDGER" (
  "PIPELINE" VARCHAR NOT NULL,
  "PARTITION" VARCHAR NOT NULL,
  "BATCH_ID" VARCHAR NOT NULL,
  "FIRST_OFFSET" NUMBER(38,0) NOT NULL,
  "LAST_OFFSET" NUMBER(38,0) NOT NULL,
  "RECORDS" NUMBER(38,0) NOT NULL,
  "WRITTEN_AT" TIMESTAMP_TZ NOT NULL,
  PRIMARY KEY ("PIPELINE", "PARTITION", "BATCH_ID")
);
`);
  });

  it('takes a ledger name, odd names quoted exactly', () => {
    const ddl = snowflakeTableDDL(
      [{ name: 'a"b', type: 'string' }],
      { schema: 'my schema', name: '"events"' },
      {
        ledgerTable: 'OPS.LEDGER',
      },
    );
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS "my schema"."events" (\n  "a""b" VARCHAR NOT NULL\n)');
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS "OPS"."LEDGER" (');
  });

  it('rejects what it cannot map', () => {
    expectCode(
      thrown(() => snowflakeTableDDL(z.object({ u: z.union([z.string(), z.number()]) }), 't')),
      'MB_INVALID_OPTIONS',
    );
    expectCode(
      thrown(() => snowflakeTableDDL(z.object({ id: z.string() }), 'a.b.c.d')),
      'MB_INVALID_OPTIONS',
    );
    expectCode(
      thrown(() => snowflakeTableDDL(z.object({ id: z.string() }), 't', null as never)),
      'MB_INVALID_OPTIONS',
    );
  });
});
