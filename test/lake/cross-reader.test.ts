/**
 * A lake with every supported column type and the edge values of each, read back by two readers we
 * did not write (DuckDB and hyparquet), raw and after both compaction modes (row-group copy and
 * rewrite), compared value by value with the input. Written with lz4 and an all-null column: the
 * combination that once made hyparquet refuse whole files (issue 14), and copy compaction spread it.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactLake } from '../../src/lake/compact.js';
import { parquetLakeSink } from '../../src/lake/sink.js';
import type { ParquetColumnInput } from '../../src/parquet/schema.js';
import { queryDuckDB, readWithHyparquet, sqlString } from '../parquet/readers.js';
import { closePartition, listTree } from './compact-helpers.js';
import { sinkContext, T14, timedBatch, writeOptions } from './helpers.js';

const COLUMNS: ParquetColumnInput[] = [
  { name: 'id', type: 'int32' },
  { name: 's', type: 'string', nullable: true },
  { name: 'color', type: 'enum', values: ['red', 'green', 'blue'], nullable: true },
  { name: 'f', type: 'float64', nullable: true },
  { name: 'i32', type: 'int32', nullable: true },
  { name: 'i64', type: 'int64', nullable: true },
  { name: 'b', type: 'boolean', nullable: true },
  { name: 'ts', type: 'timestamp', nullable: true },
  { name: 'nothing', type: 'string', nullable: true },
  {
    name: 'person',
    type: 'struct',
    nullable: true,
    fields: [
      { name: 'name', type: 'string' },
      {
        name: 'address',
        type: 'struct',
        nullable: true,
        fields: [
          { name: 'city', type: 'string', nullable: true },
          { name: 'zip', type: 'int32', nullable: true },
        ],
      },
    ],
  },
  { name: 'tags', type: 'list', nullable: true, items: { name: 'element', type: 'string', nullable: true } },
  {
    name: 'lines',
    type: 'list',
    nullable: true,
    items: {
      name: 'element',
      type: 'struct',
      fields: [
        { name: 'sku', type: 'string' },
        { name: 'qty', type: 'int64', nullable: true },
      ],
    },
  },
];

const BIG = `${'x'.repeat(3 * 1024 * 1024 - 3)}🚀`; // a multi-megabyte string ending in an emoji
const FLOATS = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  0,
  Number.MIN_VALUE,
  Number.MAX_VALUE,
  -1.5,
];
const INT32 = [-(2 ** 31), 2 ** 31 - 1, 0, -1];
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, BigInt(Number.MAX_SAFE_INTEGER) + 2n];
const STRINGS = ['', 'plain', 'émoji 🚀👩🏽‍💻', 'nul\u0000inside', '日本語', BIG];
const TIMES = [-8.64e15, 8.64e15, 0, T14, T14 + 999];

/** Row `id`: every column cycles through its edge values, with nulls mixed in. */
function row(id: number): Record<string, unknown> {
  const pick = <V>(values: readonly V[]) => values[id % values.length]!;
  const nullEvery = (n: number, v: unknown) => (id % n === n - 1 ? null : v);
  return {
    id,
    s: nullEvery(7, pick(STRINGS)),
    color: nullEvery(4, pick(['red', 'green', 'blue'])),
    f: nullEvery(9, pick(FLOATS)),
    i32: nullEvery(5, pick(INT32)),
    i64: nullEvery(6, pick(INT64)),
    b: nullEvery(3, id % 2 === 0),
    ts: nullEvery(8, new Date(pick(TIMES))),
    nothing: null,
    person: nullEvery(5, {
      name: `p${id}`,
      address: id % 3 === 0 ? null : { city: id % 2 ? 'Zürich' : null, zip: id % 4 ? 8000 + id : null },
    }),
    tags: nullEvery(6, id % 4 === 0 ? [] : ['a', null, pick(STRINGS.slice(0, 5))]),
    lines: nullEvery(
      7,
      Array.from({ length: id % 3 }, (_, k) => ({
        sku: `sku-${id}-${k}`,
        qty: k === 1 ? null : pick(INT64),
      })),
    ),
  };
}

const ROWS = Array.from({ length: 48 }, (_, id) => row(id));

/** A value in one comparable form: exact for NaN, −0, bigints and instants. */
function canon(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : Number.isNaN(value) ? 'NaN' : value;
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return { ms: value.getTime() };
  if (Array.isArray(value)) return value.map(canon);
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, canon(v)]),
    );
  }
  return value;
}

const expected = ROWS.map((r) => canon(r));

let root: string;
const TABLE = 'edges';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mb-cross-reader-'));
  const raw = join(root, 'raw');
  const sink = parquetLakeSink({
    dir: raw,
    table: TABLE,
    schema: COLUMNS,
    partitionBy: 'day',
    compression: 'lz4',
  });
  await sink.open?.(sinkContext('day'));
  // Six batches, so that each compaction mode has several files (and row groups) to merge.
  for (let k = 0; k < 6; k++) {
    const records = ROWS.slice(k * 8, k * 8 + 8);
    await sink.write(
      timedBatch(
        records,
        records.map(() => T14),
        k * 8,
      ),
      writeOptions(),
    );
  }
  await closePartition(raw, TABLE, 'dt=2026-11-25');
  for (const mode of ['copy', 'rewrite'] as const) {
    await cp(raw, join(root, mode), { recursive: true, preserveTimestamps: true });
    const report = await compactLake({ dir: join(root, mode), table: TABLE, rewrite: mode === 'rewrite' });
    expect(report.mode).toBe(mode);
  }
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function hyparquetRows(lake: string): Promise<unknown[]> {
  const dir = join(lake, TABLE);
  const out: Record<string, unknown>[] = [];
  for (const path of await listTree(dir)) {
    if (!path.endsWith('.parquet')) continue;
    out.push(...(await readWithHyparquet(new Uint8Array(await readFile(join(dir, path))))));
  }
  return out.sort((a, b) => Number(a.id) - Number(b.id)).map(canon);
}

async function duckdbRows(lake: string): Promise<unknown[]> {
  const glob = sqlString(join(lake, TABLE, '**', '*.parquet'));
  // Instants as epoch ms (DuckDB's own range is wider than a Date's); hive columns left out.
  const rows = await queryDuckDB(
    `SELECT * EXCLUDE ("ts"), epoch_ms("ts") AS "ts" FROM read_parquet(${glob}, hive_partitioning = false) ORDER BY "id"`,
  );
  return rows.map((r) => {
    const { ts, ...rest } = r as Record<string, unknown>;
    return canon({ ...rest, ts: ts === null ? null : new Date(Number(ts)) });
  });
}

/** `expected` with the columns in DuckDB's order (ts last), for a deep comparison. */
const reorder = (rows: unknown[]) =>
  rows.map((r) => {
    const { ts, ...rest } = r as Record<string, unknown>;
    return { ...rest, ts };
  });

describe.each(['raw', 'copy', 'rewrite'] as const)('the %s lake', (lake) => {
  it('hyparquet reads every value as written', async () => {
    const files = (await listTree(join(root, lake, TABLE))).filter((f) => f.endsWith('.parquet'));
    expect(files.length).toBe(lake === 'raw' ? 6 : 1);
    const rows = await hyparquetRows(join(root, lake));
    expect(rows.length).toBe(ROWS.length);
    for (let i = 0; i < ROWS.length; i++) expect(rows[i], `row ${i}`).toEqual(expected[i]);
  });

  it('DuckDB reads every value as written', async () => {
    const rows = await duckdbRows(join(root, lake));
    const want = reorder(expected);
    expect(rows.length).toBe(ROWS.length);
    for (let i = 0; i < ROWS.length; i++) expect(rows[i], `row ${i}`).toEqual(want[i]);
  });
});
