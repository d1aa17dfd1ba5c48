import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { encodeParquet } from '../../src/parquet/encode.js';
import { parquetSchema } from '../../src/parquet/schema.js';
import { type GeneratedColumn, nestedColumn } from './arbitraries.js';
import { readWithHyparquet } from './readers.js';

const COLORS = ['red', 'green', 'blue'] as const;

// Any code point, with 1-, 2-, 3- and 4-byte UTF-8 sequences and NUL made common.
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom('a', 'Z', '\u0000', 'é', 'ß', '€', '日', '🚀'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});

const leaves: fc.Arbitrary<GeneratedColumn>[] = [
  fc.constant({ zod: z.string(), values: text }),
  fc.constant({ zod: z.number(), values: fc.double() }),
  fc.constant({ zod: z.int32(), values: fc.integer() }),
  fc.constant({ zod: z.int(), values: fc.maxSafeInteger() }),
  fc.constant({ zod: z.bigint(), values: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }),
  fc.constant({ zod: z.boolean(), values: fc.boolean() }),
  fc.constant({ zod: z.date(), values: fc.date({ noInvalidDate: true }) }),
  fc.constant({ zod: z.enum(COLORS), values: fc.constantFrom(...COLORS) }),
];

/** A random record schema and records that fit it. */
const table = fc
  .array(nestedColumn(leaves, 2, { maxItems: 4, nullFreq: 4 }), { minLength: 1, maxLength: 6 })
  .chain((columns) => {
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
