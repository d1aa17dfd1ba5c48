/** Encoder correctness found by issue 14, each checked against readers we did not write. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { parquetMetadata } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CREATED_BY } from '../../src/core/version.js';
import { findUnencodable, screenRecords } from '../../src/parquet/check.js';
import { encodeParquet } from '../../src/parquet/encode.js';
import type { ParquetColumnInput } from '../../src/parquet/schema.js';
import { parquetSchema } from '../../src/parquet/schema.js';
import { queryDuckDB, readWithHyparquet, sqlString } from './readers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-parquet-correct-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const arrayBuffer = (b: Uint8Array) =>
  b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

describe('Parquet encoder correctness', () => {
  it("created_by is 'microbatch version X.Y.Z (build …)' in the footer", async () => {
    const bytes = await encodeParquet([{ a: 1 }], [{ name: 'a', type: 'int32' }]);
    expect(parquetMetadata(arrayBuffer(bytes)).created_by).toBe(CREATED_BY);
  });

  it('fractional milliseconds are floored (toward −∞), for numbers and strings alike', async () => {
    const bytes = await encodeParquet(
      [{ at: 1.9 }, { at: -1.5 }, { at: '1970-01-01T00:00:00.0019Z' }],
      [{ name: 'at', type: 'timestamp' }],
    );
    expect((await readWithHyparquet(bytes)).map((r) => (r.at as Date).getTime())).toEqual([1, -2, 1]);
  });

  it('the extremes of a Date are stored and read back by DuckDB and hyparquet', async () => {
    const times = [-8.64e15, 8.64e15, 0];
    const bytes = await encodeParquet(
      times.map((at) => ({ at })),
      [{ name: 'at', type: 'timestamp' }],
    );
    expect((await readWithHyparquet(bytes)).map((r) => (r.at as Date).getTime())).toEqual(times);
    const path = join(dir, 'extremes.parquet');
    await writeFile(path, bytes);
    const rows = await queryDuckDB(`SELECT epoch_ms("at") AS ms FROM ${sqlString(path)}`);
    expect(rows.map((r) => Number(r.ms))).toEqual(times);
  });

  describe('all-null columns with lz4: no page hyparquet cannot decompress', () => {
    const columns: ParquetColumnInput[] = [
      { name: 'id', type: 'int32' },
      { name: 'empty', type: 'string', nullable: true },
      {
        name: 's',
        type: 'struct',
        nullable: true,
        fields: [
          { name: 'x', type: 'string', nullable: true },
          { name: 'y', type: 'int32' },
        ],
      },
      { name: 'l', type: 'list', nullable: true, items: { name: 'element', type: 'string', nullable: true } },
    ];
    const records = Array.from({ length: 6 }, (_, id) => ({
      id,
      // Present in the first row group only (rowGroupSize 3), so the second has an all-null chunk.
      empty: id < 3 ? `v${id}` : null,
      s: { x: null, y: id },
      l: [null, null],
    }));

    it.each(['lz4', 'zstd', 'snappy', 'none'] as const)(
      '%s: hyparquet and DuckDB read every row',
      async (compression) => {
        const bytes = await encodeParquet(records, columns, { compression, rowGroupSize: 3 });
        expect(await readWithHyparquet(bytes)).toEqual(records);
        const path = join(dir, `nulls-${compression}.parquet`);
        await writeFile(path, bytes);
        const rows = await queryDuckDB(`SELECT id, empty FROM ${sqlString(path)} ORDER BY id`);
        expect(rows).toEqual(records.map((r) => ({ id: r.id, empty: r.empty })));
      },
    );
  });
});

// Values of every kind, fitting or not, to hold the screen (findUnencodable) and the encoder together.
const anyValue = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.constantFrom(1e20, 2 ** 53, -8.64e15, 8.64e15, 8.64e15 + 1, -0, 2 ** 31, -(2 ** 31) - 1),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
  fc.constantFrom(2n ** 63n - 1n, 2n ** 63n, -(2n ** 63n), 2n ** 64n - 1n),
  fc.date(),
  fc.constantFrom('2026-11-25 14:00:00', '2026/11/25 14:00', 'red', 'purple', '', '+275760-09-13T00:00:00Z'),
  fc.string({ maxLength: 5 }),
  fc.array(fc.oneof(fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.record({ x: fc.oneof(fc.string(), fc.constant(null)), y: fc.integer() }, { requiredKeys: [] }),
);

const SCHEMA = parquetSchema(
  z.object({
    s: z.string(),
    e: z.enum(['red', 'green']).nullable(),
    f: z.number(),
    i32: z.int32().nullable(),
    i64: z.bigint(),
    u64: z.uint64().nullable(),
    b: z.boolean().nullable(),
    t: z.date(),
    st: z.object({ x: z.string().nullable(), y: z.int32() }).nullable(),
    l: z.array(z.int32().nullable()).nullable(),
  }),
).columns;

const FLAT = SCHEMA.filter((c) => c.type !== 'struct' && c.type !== 'list');

describe('the sink screen and the encoder agree', () => {
  test.prop(
    [
      fc.constantFrom(SCHEMA, FLAT),
      fc.array(fc.oneof(fc.record(Object.fromEntries(SCHEMA.map((c) => [c.name, anyValue]))), anyValue), {
        maxLength: 6,
      }),
    ],
    { numRuns: 300 },
  )(
    'screenRecords (the generated flat loop or the generic walk) refuses exactly the unencodable records',
    (columns, records) => {
      const refused = records.flatMap((r, index) =>
        findUnencodable(r, columns) === undefined ? [] : [index],
      );
      expect((screenRecords(records, columns) ?? []).map((r) => r.index)).toEqual(refused);
    },
  );

  test.prop(
    [
      fc.array(fc.record(Object.fromEntries(SCHEMA.map((c) => [c.name, anyValue]))), {
        minLength: 1,
        maxLength: 4,
      }),
    ],
    {
      numRuns: 300,
    },
  )('a batch encodes if and only if no record is unencodable', async (records) => {
    const refused = records.map((r) => findUnencodable(r, SCHEMA));
    let encoded = true;
    try {
      await encodeParquet(records, SCHEMA);
    } catch (error) {
      encoded = false;
      expect((error as { code?: string }).code).toBe('MB_ENCODE_FAILED');
    }
    expect(encoded).toBe(refused.every((r) => r === undefined));
    // And what the screen lets through encodes on its own.
    const fitting = records.filter((_, k) => refused[k] === undefined);
    if (fitting.length > 0) await encodeParquet(fitting, SCHEMA);
  });
});
