/** The zod → PostgreSQL mapping, the DDL, identifier quoting, the COPY text encoder and option checks (no server). */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { rowEncoder, ValueError } from '../../src/postgres/copy-text.js';
import { postgresColumns, postgresSink, postgresTableDDL } from '../../src/postgres/index.js';
import { expectInvalid, thrown } from '../support.js';

const pool = { connect: async () => Promise.reject(new Error('no server in unit tests')) };

describe('postgresColumns', () => {
  it('maps a zod object to PostgreSQL types', () => {
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
      nums: z.array(z.number()),
      nested: z.object({ a: z.string() }),
      rec: z.record(z.string(), z.number()),
      opt: z.string().optional(),
      nul: z.number().nullable(),
      def: z.boolean().default(false),
    });
    expect(postgresColumns(schema).map((c) => [c.name, c.type, c.nullable])).toEqual([
      ['s', 'text', false],
      ['e', 'text', false],
      ['f', 'double precision', false],
      ['i32', 'integer', false],
      ['small', 'integer', false],
      ['big', 'bigint', false],
      ['bi', 'bigint', false],
      ['flag', 'boolean', false],
      ['at', 'timestamptz', false],
      ['iso', 'timestamptz', false],
      ['day', 'date', false],
      ['tags', 'text[]', false],
      ['nums', 'jsonb', false],
      ['nested', 'jsonb', false],
      ['rec', 'jsonb', false],
      ['opt', 'text', true],
      ['nul', 'double precision', true],
      ['def', 'boolean', true],
    ]);
  });

  it('refuses bad columns with messages that name them', () => {
    expectInvalid(() => postgresColumns([{ name: 'a', type: 'varchar' }]), 'type must be one of');
    expectInvalid(
      () =>
        postgresColumns([
          { name: 'a', type: 'text' },
          { name: 'a', type: 'text' },
        ]),
      "'a' appears twice",
    );
    expectInvalid(() => postgresColumns([{ name: 'x'.repeat(64), type: 'text' }]), 'longer than 63 bytes');
    expectInvalid(() => postgresColumns([{ name: 'a\u0000b', type: 'text' }]), 'NUL');
    expectInvalid(() => postgresColumns('prices'), 'zod object schema');
  });
});

describe('postgresTableDDL', () => {
  it('quotes every identifier and creates the ledger', () => {
    const ddl = postgresTableDDL(
      [
        { name: 'we"ird; DROP TABLE x', type: 'text', nullable: true },
        { name: 'n', type: 'bigint' },
      ],
      {
        schema: 'stg',
        name: 'pri"ces',
      },
      { unlogged: true, deadLetterTable: true },
    );
    expect(ddl).toContain(
      'CREATE UNLOGGED TABLE IF NOT EXISTS "stg"."pri""ces" (\n  "we""ird; DROP TABLE x" text,\n  "n" bigint NOT NULL\n)',
    );
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS "microbatch_ledger"');
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS "stg"."pri""ces_dead_letters"');
  });
});

describe('the COPY text encoder', () => {
  const enc = rowEncoder(
    postgresColumns([
      { name: 't', type: 'text', nullable: true },
      { name: 'd', type: 'double precision', nullable: true },
      { name: 'a', type: 'text[]', nullable: true },
      { name: 'j', type: 'jsonb', nullable: true },
      { name: 'i', type: 'integer', nullable: true },
      { name: 'ts', type: 'timestamptz', nullable: true },
    ]),
  );
  it('escapes the characters COPY gives meaning to, and writes nulls as \\N', () => {
    expect(
      enc.row({ t: 'a\tb\nc\\d\re', d: -0, a: ['x"y', null, '\\'], j: { k: 'v\n' }, i: 7, ts: new Date(0) }),
    ).toBe(
      'a\\tb\\nc\\\\d\\re\t-0\t{"x\\\\"y",NULL,"\\\\\\\\"}\t{"k":"v\\\\n"}\t7\t1970-01-01T00:00:00.000Z\n',
    );
    expect(enc.row({})).toBe('\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n');
    expect(enc.row({ d: Number.NaN })).toContain('\tNaN\t');
  });
  it('refuses values that do not fit, naming the column', () => {
    for (const [record, column] of [
      [{ t: 'a\u0000' }, 't'],
      [{ t: '\uD800' }, 't'],
      [{ t: 5 }, 't'],
      [{ i: 2 ** 31 }, 'i'],
      [{ i: 1.5 }, 'i'],
      [{ ts: new Date(Number.NaN) }, 'ts'],
      [{ ts: new Date(Date.UTC(10_000, 0, 1)) }, 'ts'],
      [{ a: [1] }, 'a'],
      [{ j: { b: 1n } }, 'j'],
    ] as const) {
      const error = thrown(() => enc.row(record));
      expect(error).toBeInstanceOf(ValueError);
      expect((error as ValueError).column).toBe(column);
    }
  });
});

describe('postgresSink options', () => {
  it('are checked when the sink is made', () => {
    const columns = [{ name: 'a', type: 'text' }] as const;
    expectInvalid(() => postgresSink({ pool: {} as never, table: 't', columns }), 'pool must be a pg Pool');
    expectInvalid(() => postgresSink({ pool, table: '', columns }), 'table');
    expectInvalid(() => postgresSink({ pool, table: 't' }), 'exactly one of schema');
    expectInvalid(
      () => postgresSink({ pool, table: 't', columns, onRowError: 'skip' as never }),
      "onRowError must be 'fail' or 'dead-letter'",
    );
    expectInvalid(
      () => postgresSink({ pool, table: 't', columns, lockTimeout: 'soon' as never }),
      'lockTimeout',
    );
    expectInvalid(
      () => postgresSink({ pool, table: 't', columns, tabel: 'x' } as never),
      "unknown option 'tabel'",
    );
    expect(postgresSink({ pool, table: 't', columns }).atomicLedger).toBe(true);
  });
});
