import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { encodeParquet } from '../../src/parquet/encode.js';
import { parquetSchema } from '../../src/parquet/schema.js';
import { readWithHyparquet } from './readers.js';

/** A generated column: its zod schema and an arbitrary of fitting values. */
interface Generated {
  zod: z.ZodType;
  values: fc.Arbitrary<unknown>;
}

const COLORS = ['red', 'green', 'blue'] as const;

// Any code point, with 1-, 2-, 3- and 4-byte UTF-8 sequences and NUL made common.
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom('a', 'Z', '\u0000', 'é', 'ß', '€', '日', '🚀'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});

const leaves: fc.Arbitrary<Generated>[] = [
  fc.constant({ zod: z.string(), values: text }),
  fc.constant({ zod: z.number(), values: fc.double() }),
  fc.constant({ zod: z.int32(), values: fc.integer() }),
  fc.constant({ zod: z.int(), values: fc.maxSafeInteger() }),
  fc.constant({ zod: z.bigint(), values: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }),
  fc.constant({ zod: z.boolean(), values: fc.boolean() }),
  fc.constant({ zod: z.date(), values: fc.date({ noInvalidDate: true }) }),
  fc.constant({ zod: z.enum(COLORS), values: fc.constantFrom(...COLORS) }),
];

/** A random column type, nested up to `depth` levels of structs and lists, maybe nullable. */
function column(depth: number): fc.Arbitrary<Generated> {
  const options: fc.Arbitrary<Generated>[] = [...leaves];
  if (depth > 0) {
    options.push(
      fc.array(column(depth - 1), { minLength: 1, maxLength: 3 }).map((fields) => ({
        zod: z.object(Object.fromEntries(fields.map((f, i) => [`f${i}`, f.zod]))),
        values: fc.record(Object.fromEntries(fields.map((f, i) => [`f${i}`, f.values]))),
      })),
      column(depth - 1).map((items) => ({
        zod: z.array(items.zod),
        values: fc.array(items.values, { maxLength: 4 }),
      })),
    );
  }
  return fc
    .tuple(fc.oneof(...options), fc.boolean())
    .map(([generated, nullable]) =>
      nullable
        ? { zod: generated.zod.nullable(), values: fc.option(generated.values, { nil: null, freq: 4 }) }
        : generated,
    );
}

/** A random record schema and records that fit it. */
const table = fc.array(column(2), { minLength: 1, maxLength: 6 }).chain((columns) => {
  const schema = z.object(Object.fromEntries(columns.map((c, i) => [`c${i}`, c.zod])));
  const record = fc.record(Object.fromEntries(columns.map((c, i) => [`c${i}`, c.values])));
  return fc.tuple(fc.constant(schema), fc.array(record, { maxLength: 30 }));
});

/** What hyparquet gives back for a value: integers of int64 columns as bigints. */
function expected(value: unknown, zod: z.ZodType): unknown {
  const def = zod.def as {
    type: string;
    innerType?: z.ZodType;
    element?: z.ZodType;
    shape?: Record<string, z.ZodType>;
  };
  if (value === null) return null;
  switch (def.type) {
    case 'nullable':
      return expected(value, def.innerType!);
    case 'number':
      return (zod.def as { format?: string }).format === 'safeint' ? BigInt(value as number) : value;
    case 'array':
      return (value as unknown[]).map((v) => expected(v, def.element!));
    case 'object':
      return Object.fromEntries(
        Object.entries(def.shape!).map(([k, s]) => [k, expected((value as Record<string, unknown>)[k], s)]),
      );
    default:
      return value;
  }
}

describe('encodeParquet (property)', () => {
  it.prop([table], { numRuns: 60 })(
    'random records of a random derived schema read back equal through hyparquet',
    async ([schema, records]) => {
      const rows = await readWithHyparquet(await encodeParquet(records, parquetSchema(schema)));
      expect(rows).toEqual(records.map((r) => expected(r, schema)));
    },
  );
});
