/**
 * Round trip: arbitrary records of every supported type, written by postgresSink (COPY text) and read
 * back by pg, are equal to what was written (jsonb as JSON reads it: key order aside, -0 as 0).
 */
import { fc, it } from '@fast-check/vitest';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { batchId } from '../../../src/core/batch.js';
import { silentLogger } from '../../../src/core/logger.js';
import { type PostgresColumnInput, postgresSink, postgresTableDDL } from '../../../src/postgres/index.js';
import { testClock } from '../../../src/testing/clock.js';
import { createTestDatabase, type TestDatabase } from './database.js';

const columns: PostgresColumnInput[] = [
  { name: 'id', type: 'integer' },
  { name: 't', type: 'text', nullable: true },
  { name: 'i', type: 'integer', nullable: true },
  { name: 'b', type: 'bigint', nullable: true },
  { name: 'n', type: 'numeric', nullable: true },
  { name: 'd', type: 'double precision', nullable: true },
  { name: 'flag', type: 'boolean', nullable: true },
  { name: 'ts', type: 'timestamptz', nullable: true },
  { name: 'day', type: 'date', nullable: true },
  { name: 'j', type: 'jsonb', nullable: true },
  { name: 'tags', type: 'text[]', nullable: true },
];

const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Text PostgreSQL can hold: no U+0000, no lone surrogate (both are refused with a clear error instead).
const text = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.string({
      unit: fc.constantFrom(
        'a',
        '\\',
        '\t',
        '\n',
        '\r',
        '"',
        "'",
        '{',
        '}',
        ',',
        ' ',
        'NULL',
        '\\N',
        'é',
        '😀',
        '\u2028',
      ),
      maxLength: 20,
    }),
  )
  .filter((s) => !s.includes('\u0000') && !LONE.test(s));
const json = fc
  .jsonValue({ maxDepth: 3 })
  .filter((v) => !/\\u0000|\\ud[89a-f]/i.test(JSON.stringify(v) ?? ''));
const decimal = fc.oneof(
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc
    .tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.nat({ max: 999_999_999 }))
    .map(([i, f]) => `${i}.${String(f).padStart(9, '0')}`),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '0', '0.000000000000000000000001'),
);
const day = fc
  .date({ min: new Date(Date.UTC(1, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const instant = fc.date({
  min: new Date(Date.UTC(1, 0, 1)),
  max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)),
  noInvalidDate: true,
});
const record = fc.record({
  t: fc.option(text),
  i: fc.option(fc.integer()),
  b: fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
  n: fc.option(decimal),
  d: fc.option(
    fc.oneof(
      fc.double(),
      fc.constantFrom(
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        -0,
        5e-324,
        Number.MAX_VALUE,
      ),
    ),
  ),
  flag: fc.option(fc.boolean()),
  ts: fc.option(instant),
  day: fc.option(day),
  j: fc.option(json),
  tags: fc.option(fc.array(fc.option(text), { maxLength: 5 })),
});

describe('postgresSink round trip', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let next = 0;
  beforeAll(async () => {
    db = await createTestDatabase('roundtrip');
    pool = db.pool({ max: 2 });
    await db.query(postgresTableDDL(columns, 'everything'));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it.prop([fc.array(record, { minLength: 1, maxLength: 20 })], { numRuns: 60 })(
    'every supported type reads back as written',
    async (records) => {
      await db.query('TRUNCATE everything');
      const first = next;
      next += records.length;
      const withIds = records.map((r, k) => ({ id: first + k, ...r }));
      const sink = postgresSink({ pool, table: 'everything', columns });
      await sink.open({ pipeline: 'rt', clock: testClock(), logger: silentLogger });
      await sink.write(
        {
          id: batchId('rt', '0', first, next - 1),
          partition: '0',
          firstOffset: first,
          lastOffset: next - 1,
          records: withIds,
          bytes: 0,
          reason: 'records',
          openedAt: 0,
          closedAt: 0,
        },
        { signal: new AbortController().signal, attempt: 1 },
      );
      const result = await db.query(
        'SELECT id, t, i, b::text AS b, n::text AS n, d, flag, ts, day::text AS day, j, tags FROM everything ORDER BY id',
      );
      const back = result.rows.map((row) => ({ ...row, b: row.b === null ? null : BigInt(row.b) }));
      const expected = withIds.map((r) => ({
        ...r,
        n: r.n === null ? null : canonicalNumeric(r.n),
        j: r.j === null ? null : JSON.parse(JSON.stringify(r.j)),
      }));
      expect(back).toEqual(expected);
      // -0 and NaN are told apart by Object.is, which toEqual uses for numbers.
      for (let k = 0; k < back.length; k++) expect(Object.is(back[k]!.d, expected[k]!.d)).toBe(true);
    },
    120_000,
  );
});

/** How PostgreSQL prints a numeric: no leading '+', no superfluous leading zeros; scale kept. */
function canonicalNumeric(text: string): string {
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return text;
  const negative = text.startsWith('-');
  let [int, frac] = text.replace(/^[+-]/, '').split('.') as [string, string | undefined];
  int = int.replace(/^0+(?=\d)/, '');
  const zero = /^0*$/.test(int) && (frac === undefined || /^0*$/.test(frac));
  return `${negative && !zero ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}`;
}
