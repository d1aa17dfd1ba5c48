import { fc, it } from '@fast-check/vitest';
import * as A from 'apache-arrow';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { arrowField, buildColumn, buildFlatColumns, isFlat } from '../../src/parquet/columns.js';
import { encodeParquet } from '../../src/parquet/encode.js';
import { loadArrowMessage, streamOf } from '../../src/parquet/ipc.js';
import { type ParquetColumn, parquetSchema } from '../../src/parquet/schema.js';
import { readWithHyparquet } from './readers.js';

// The encoder has two ways to build columns: a one-pass builder for flat schemas (typed arrays filled
// straight from the records, buffers reused between batches) and the checked builder (an array of
// values per column, every value checked). Both must give the same bytes; the hand-built IPC stream
// must decode, with apache-arrow, to the data it was built from.

const M = await loadArrowMessage('test');

const text = fc.string({
  unit: fc.oneof(fc.constantFrom('a', 'Z', '\u0000', 'é', '€', '日', '🚀'), fc.string({ maxLength: 1 })),
  maxLength: 80, // past 64 code units the builder uses encodeInto
});

/** Flat column types with values of the kind the one-pass builder takes. */
const leaves: fc.Arbitrary<{ zod: z.ZodType; values: fc.Arbitrary<unknown> }>[] = [
  fc.constant({ zod: z.string(), values: text }),
  fc.constant({ zod: z.number(), values: fc.double() }),
  fc.constant({ zod: z.int32(), values: fc.integer() }),
  fc.constant({ zod: z.int(), values: fc.maxSafeInteger() }),
  fc.constant({ zod: z.boolean(), values: fc.boolean() }),
  fc.constant({ zod: z.date(), values: fc.date({ noInvalidDate: true }) }),
  fc.constant({
    zod: z.date(),
    values: fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }), // ms, fractional ones floored
  }),
  fc.constant({ zod: z.enum(['buy', 'sell']), values: fc.constantFrom('buy', 'sell') }),
];

const flatTable = fc
  .array(
    fc.tuple(fc.oneof(...leaves), fc.boolean()).map(([leaf, nullable]) =>
      nullable
        ? {
            zod: leaf.zod.nullable(),
            values: fc.option(leaf.values, { nil: null, freq: 3 }) as fc.Arbitrary<unknown>,
          }
        : leaf,
    ),
    { minLength: 1, maxLength: 6 },
  )
  .chain((columns) => {
    const schema = z.object(Object.fromEntries(columns.map((c, i) => [`c${i}`, c.zod])));
    const record = fc.record(Object.fromEntries(columns.map((c, i) => [`c${i}`, c.values])));
    return fc.tuple(fc.constant(parquetSchema(schema).columns), fc.array(record, { maxLength: 200 }));
  });

function checked(columns: readonly ParquetColumn[], records: Record<string, unknown>[]): A.Data[] {
  return columns.map((c) =>
    buildColumn(
      A,
      c,
      records.map((r) => r[c.name]),
      { path: c.name, rows: undefined },
    ),
  );
}

const arrowSchema = (columns: readonly ParquetColumn[]) => new A.Schema(columns.map((c) => arrowField(A, c)));

describe('the one-pass builder (property)', () => {
  it.prop([flatTable], { numRuns: 80 })(
    'gives the same IPC stream as the checked builder for flat records',
    ([columns, records]) => {
      expect(isFlat(columns)).toBe(true);
      const schema = arrowSchema(columns);
      const fast = buildFlatColumns(A, columns, records);
      expect(fast).toBeDefined(); // every generated value is of the common kind
      const fastStream = streamOf(M, schema, fast!, records.length).slice();
      const checkedStream = streamOf(M, schema, checked(columns, records), records.length).slice();
      expect(fastStream).toEqual(checkedStream);
    },
  );

  it.prop([flatTable, flatTable], { numRuns: 40 })(
    'reuses its buffers without leaking one batch into the next',
    async ([columnsA, recordsA], [columnsB, recordsB]) => {
      const schemaA = parquetSchema(columnsA);
      const schemaB = parquetSchema(columnsB);
      const first = await encodeParquet(recordsB, schemaB);
      await encodeParquet(recordsA, schemaA);
      expect(await encodeParquet(recordsB, schemaB)).toEqual(first);
    },
  );

  it('gives the batch back for values it does not take the common way, and the file is still right', async () => {
    const columns = parquetSchema([
      { name: 'at', type: 'timestamp' },
      { name: 'n', type: 'int64' },
    ]).columns;
    const iso = [{ at: '2026-11-25T14:00:00', n: 1 }];
    const big = [{ at: 0, n: 2n ** 62n }];
    expect(buildFlatColumns(A, columns, iso)).toBeUndefined();
    expect(buildFlatColumns(A, columns, big)).toBeUndefined();
    expect(buildFlatColumns(A, columns, [{ at: 0, n: 1 }])).toBeDefined();
    expect(await readWithHyparquet(await encodeParquet([...iso, ...big], columns))).toEqual([
      { at: new Date(Date.UTC(2026, 10, 25, 14)), n: 1n },
      { at: new Date(0), n: 2n ** 62n },
    ]);
  });

  it('names the column, the row and the value of a misfit found past the first rows', async () => {
    const records = Array.from({ length: 1_000 }, (_, i) => ({ id: `r${i}`, qty: i }));
    records[731] = { id: 'r731', qty: 1.5 };
    await expect(encodeParquet(records, z.object({ id: z.string(), qty: z.int32() }))).rejects.toThrow(
      "column 'qty' (int32) at row 731: expected an integer in [-2147483648, 2147483647], got 1.5",
    );
  });
});

/** A random (possibly nested) schema's records, built by the checked builder. */
const nested = fc
  .array(
    fc.oneof(
      fc.constant({
        zod: z.string().nullable(),
        values: fc.option(text, { nil: null }) as fc.Arbitrary<unknown>,
      }),
      fc.constant({
        zod: z.object({ a: z.int32(), b: z.array(z.string()) }).nullable(),
        values: fc.option(fc.record({ a: fc.integer(), b: fc.array(text, { maxLength: 3 }) }), {
          nil: null,
        }) as fc.Arbitrary<unknown>,
      }),
      fc.constant({
        zod: z.array(z.boolean().nullable()),
        values: fc.array(fc.option(fc.boolean(), { nil: null }), { maxLength: 4 }) as fc.Arbitrary<unknown>,
      }),
      fc.constant({ zod: z.date(), values: fc.date({ noInvalidDate: true }) as fc.Arbitrary<unknown> }),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .chain((columns) => {
    const schema = z.object(Object.fromEntries(columns.map((c, i) => [`c${i}`, c.zod])));
    const record = fc.record(Object.fromEntries(columns.map((c, i) => [`c${i}`, c.values])));
    return fc.tuple(fc.constant(parquetSchema(schema).columns), fc.array(record, { maxLength: 40 }));
  });

/** A decoded Arrow value as plain JS (rows and lists are views over their buffers). */
function plain(value: unknown): unknown {
  if (value instanceof A.Vector) return [...value].map(plain);
  if (typeof (value as { toJSON?: unknown } | null)?.toJSON === 'function') {
    const json = (value as { toJSON(): Record<string, unknown> }).toJSON();
    return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

describe('the hand-built IPC stream (property)', () => {
  it.prop([nested], { numRuns: 60 })(
    "decodes with apache-arrow to the data it was built from, like tableToIPC's",
    ([columns, records]) => {
      const schema = arrowSchema(columns);
      const data = checked(columns, records);
      const ours = A.tableFromIPC(streamOf(M, schema, data, records.length).slice());
      const batch = new A.RecordBatch(
        schema,
        A.makeData({
          type: new A.Struct(schema.fields),
          length: records.length,
          nullCount: 0,
          children: data,
        }),
      );
      const theirs = A.tableFromIPC(A.tableToIPC(new A.Table(schema, [batch]), 'stream'));
      expect(ours.numRows).toBe(records.length);
      expect(ours.toArray().map(plain)).toEqual(theirs.toArray().map(plain));
      expect(ours.schema.fields.map(String)).toEqual(theirs.schema.fields.map(String));
    },
  );
});
