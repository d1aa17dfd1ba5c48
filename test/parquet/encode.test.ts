import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { encodeParquet } from '../../src/parquet/encode.js';
import { parquetSchema } from '../../src/parquet/schema.js';
import { expectCode, rejection } from '../support.js';
import { queryDuckDB, readWithHyparquet, sqlString } from './readers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-parquet-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const Order = z.object({
  id: z.string(),
  price: z.number().nullable(),
  qty: z.int32(),
  big: z.int(),
  huge: z.bigint(),
  ok: z.boolean(),
  at: z.date(),
  iso: z.iso.datetime(),
  kind: z.enum(['buy', 'sell']),
  note: z.string().optional(),
  meta: z.object({ source: z.string(), weight: z.number().optional() }).nullable(),
  tags: z.array(z.string()),
  lines: z.array(z.object({ sku: z.string(), n: z.int32() })),
});
type Order = z.output<typeof Order>;

const LARGE = 'x'.repeat(70_000) + 'é'.repeat(40_000); // longer than the ASCII fast path, multi-byte
const orders: Order[] = [
  {
    id: 'o-1',
    price: 12.5,
    qty: 3,
    big: 2 ** 40 + 1,
    huge: -(2n ** 62n),
    ok: true,
    at: new Date(Date.UTC(2026, 10, 25, 14, 3, 7, 250)),
    iso: '2026-11-25T14:00:00.000Z',
    kind: 'buy',
    note: 'first',
    meta: { source: 'web', weight: 0.25 },
    tags: ['a', 'b'],
    lines: [
      { sku: 'S1', n: 1 },
      { sku: 'S2', n: -2_147_483_648 },
    ],
  },
  {
    id: '',
    price: null,
    qty: -2_147_483_648,
    big: -(2 ** 53 - 1),
    huge: 2n ** 63n - 1n,
    ok: false,
    at: new Date(-1),
    iso: '1999-12-31T23:59:59.999Z',
    kind: 'sell',
    meta: null,
    tags: [],
    lines: [],
  },
  {
    id: 'Grüße 日本語 🚀 \u0000 "quoted"',
    price: -0.1,
    qty: 2_147_483_647,
    big: 0,
    huge: 0n,
    ok: true,
    at: new Date(0),
    iso: '2026-01-01T00:00:00Z',
    kind: 'buy',
    note: LARGE,
    meta: { source: 'café ☕' },
    tags: ['', 'ünï', LARGE],
    lines: [{ sku: '🚀', n: 0 }],
  },
];

/**
 * The row `o` reads back as, whatever the reader: `times` holds its two timestamps the way that
 * reader gives them (Dates, or ms since the epoch under other names).
 */
function readBack(o: Order, times: Record<string, unknown>): Record<string, unknown> {
  return {
    id: o.id,
    price: o.price,
    qty: o.qty,
    big: BigInt(o.big),
    huge: o.huge,
    ok: o.ok,
    ...times,
    kind: o.kind,
    note: o.note ?? null,
    meta: o.meta === null ? null : { source: o.meta.source, weight: o.meta.weight ?? null },
    tags: o.tags,
    lines: o.lines,
  };
}

describe('encodeParquet round trips', () => {
  it('every type reads back equal through hyparquet (zstd)', async () => {
    const rows = await readWithHyparquet(await encodeParquet(orders, Order));
    expect(rows).toHaveLength(orders.length);
    rows.forEach((row, i) => {
      const o = orders[i]!;
      expect(row).toEqual(readBack(o, { at: o.at, iso: new Date(o.iso) }));
    });
  });

  it('every type reads back equal through DuckDB, with the expected column types', async () => {
    const file = join(dir, 'orders.parquet');
    await writeFile(file, await encodeParquet(orders, Order, { compression: 'snappy' }));
    const types = await queryDuckDB(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.column_type]))).toEqual({
      id: 'VARCHAR',
      price: 'DOUBLE',
      qty: 'INTEGER',
      big: 'BIGINT',
      huge: 'BIGINT',
      ok: 'BOOLEAN',
      at: 'TIMESTAMP WITH TIME ZONE',
      iso: 'TIMESTAMP WITH TIME ZONE',
      kind: 'VARCHAR',
      note: 'VARCHAR',
      meta: 'STRUCT("source" VARCHAR, weight DOUBLE)',
      tags: 'VARCHAR[]',
      lines: 'STRUCT(sku VARCHAR, n INTEGER)[]',
    });
    const rows = await queryDuckDB(
      `SELECT id, price, qty, big, huge, ok, epoch_ms("at") AS at_ms, epoch_ms(iso) AS iso_ms, kind, note, meta, tags, lines FROM read_parquet(${sqlString(file)})`,
    );
    expect(rows).toHaveLength(orders.length);
    rows.forEach((row, i) => {
      const o = orders[i]!;
      expect(row).toEqual(readBack(o, { at_ms: BigInt(o.at.getTime()), iso_ms: BigInt(Date.parse(o.iso)) }));
    });
  });

  it.each(['zstd', 'snappy', 'gzip', 'lz4', 'brotli', 'none'] as const)(
    "compression '%s' is readable",
    async (compression) => {
      const bytes = await encodeParquet(orders, Order, { compression });
      const rows = await readWithHyparquet(bytes);
      expect(rows.map((r) => r.id)).toEqual(orders.map((o) => o.id));
      const file = join(dir, `c-${compression}.parquet`);
      await writeFile(file, bytes);
      const [meta] = await queryDuckDB(
        `SELECT DISTINCT compression FROM parquet_metadata(${sqlString(file)}) WHERE path_in_schema = 'id'`,
      );
      const expected = {
        zstd: 'ZSTD',
        snappy: 'SNAPPY',
        gzip: 'GZIP',
        lz4: 'LZ4_RAW',
        brotli: 'BROTLI',
        none: 'UNCOMPRESSED',
      };
      expect(meta?.compression).toBe(expected[compression]);
    },
  );

  it('splits row groups at rowGroupSize rows', async () => {
    const records = Array.from({ length: 25 }, (_, i) => ({ n: i }));
    const file = join(dir, 'groups.parquet');
    await writeFile(file, await encodeParquet(records, [{ name: 'n', type: 'int32' }], { rowGroupSize: 10 }));
    const groups = await queryDuckDB(
      `SELECT row_group_num_rows AS n FROM parquet_metadata(${sqlString(file)}) ORDER BY row_group_id`,
    );
    expect(groups.map((g) => Number(g.n))).toEqual([10, 10, 5]);
    const [sum] = await queryDuckDB(`SELECT sum(n) AS s FROM read_parquet(${sqlString(file)})`);
    expect(Number(sum?.s)).toBe(300);
  });

  it('writes 0 rows as a valid file with the schema', async () => {
    const bytes = await encodeParquet([], Order);
    expect(await readWithHyparquet(bytes)).toEqual([]);
    const file = join(dir, 'empty.parquet');
    await writeFile(file, bytes);
    const types = await queryDuckDB(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
    expect(types.map((t) => t.column_name)).toEqual(Object.keys(Order.shape));
    const [count] = await queryDuckDB(`SELECT count(*) AS n FROM read_parquet(${sqlString(file)})`);
    expect(count?.n).toBe(0n);
  });

  it('accepts ISO strings and ms numbers in timestamp columns, bigints and safe numbers in int64', async () => {
    const schema = parquetSchema([
      { name: 't', type: 'timestamp' },
      { name: 'i', type: 'int64' },
    ]);
    const records = [
      { t: '2026-11-25T14:00:00', i: 5n }, // a date-time without a zone is UTC
      { t: 1_700_000_000_123, i: -7 },
      { t: new Date(Date.UTC(1969, 0, 1)), i: Number.MAX_SAFE_INTEGER },
    ];
    const rows = await readWithHyparquet(await encodeParquet(records, schema));
    expect(rows).toEqual([
      { t: new Date(Date.UTC(2026, 10, 25, 14)), i: 5n },
      { t: new Date(1_700_000_000_123), i: -7n },
      { t: new Date(Date.UTC(1969, 0, 1)), i: BigInt(Number.MAX_SAFE_INTEGER) },
    ]);
  });

  it('turns dictionary encoding off for mostly distinct columns, keeps it for repeated values', async () => {
    const records = Array.from({ length: 5_000 }, (_, i) => ({
      id: `order-${i}`,
      currency: ['EUR', 'USD', 'GBP'][i % 3]!,
      price: i / 7,
      tier: i % 4,
    }));
    const file = join(dir, 'dictionary.parquet');
    await writeFile(
      file,
      await encodeParquet(records, [
        { name: 'id', type: 'string' },
        { name: 'currency', type: 'string' },
        { name: 'price', type: 'float64' },
        { name: 'tier', type: 'int32' },
      ]),
    );
    const chunks = await queryDuckDB(
      `SELECT path_in_schema AS col, encodings FROM parquet_metadata(${sqlString(file)}) ORDER BY column_id`,
    );
    const dictionary = Object.fromEntries(
      chunks.map((c) => [c.col, String(c.encodings).includes('DICTIONARY')]),
    );
    expect(dictionary).toEqual({ id: false, currency: true, price: false, tier: true });
    const rows = await readWithHyparquet(await readFile(file));
    expect(rows).toEqual(records);
  });

  it('ignores fields that are not in the schema', async () => {
    const rows = await readWithHyparquet(
      await encodeParquet([{ a: 'x', extra: { deep: 1 } }], [{ name: 'a', type: 'string' }]),
    );
    expect(rows).toEqual([{ a: 'x' }]);
  });

  it('rejects bad options and inputs with MB_INVALID_OPTIONS', async () => {
    expectCode(
      await rejection(encodeParquet(orders, Order, { compression: 'lzo' as never })),
      'MB_INVALID_OPTIONS',
    );
    expectCode(await rejection(encodeParquet(orders, Order, { rowGroupSize: 0 })), 'MB_INVALID_OPTIONS');
    expectCode(await rejection(encodeParquet({} as never, Order)), 'MB_INVALID_OPTIONS');
    expectCode(await rejection(encodeParquet(orders, { not: 'a schema' })), 'MB_INVALID_OPTIONS');
  });
});
