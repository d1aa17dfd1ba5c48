import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parquetSchema } from '../../src/parquet/schema.js';
import { expectInvalid } from '../support.js';

const typesOf = (schema: unknown) =>
  Object.fromEntries(parquetSchema(schema).columns.map((c) => [c.name, `${c.type}${c.nullable ? '?' : ''}`]));

describe('parquetSchema from zod 4', () => {
  it('maps scalar types', () => {
    expect(
      typesOf(
        z.object({
          s: z.string(),
          f: z.number(),
          f64: z.float64(),
          i32: z.int32(),
          bounded: z.number().int().min(0).max(1_000),
          boundedInt: z.int().gte(-5).lte(5),
          safe: z.int(),
          numInt: z.number().int(),
          halfBounded: z.int().min(0),
          u32: z.uint32(),
          big: z.bigint(),
          i64: z.int64(),
          b: z.boolean(),
          d: z.date(),
          iso: z.iso.datetime(),
          strIso: z.string().datetime(),
          e: z.enum(['a', 'b']),
          email: z.email(),
        }),
      ),
    ).toEqual({
      s: 'string',
      f: 'float64',
      f64: 'float64',
      i32: 'int32',
      bounded: 'int32',
      boundedInt: 'int32',
      safe: 'int64',
      numInt: 'int64',
      halfBounded: 'int64',
      u32: 'int64',
      big: 'int64',
      i64: 'int64',
      b: 'boolean',
      d: 'timestamp',
      iso: 'timestamp',
      strIso: 'timestamp',
      e: 'enum',
      email: 'string',
    });
  });

  it('makes optional, nullable and default fields nullable, and unwraps readonly, catch and pipes', () => {
    expect(
      typesOf(
        z.object({
          o: z.string().optional(),
          n: z.number().nullable(),
          d: z.boolean().default(false),
          on: z.int32().nullish(),
          r: z.string().readonly(),
          c: z.number().catch(0),
          p: z.string().pipe(z.email()),
        }),
      ),
    ).toEqual({
      o: 'string?',
      n: 'float64?',
      d: 'boolean?',
      on: 'int32?',
      r: 'string',
      c: 'float64',
      p: 'string',
    });
  });

  it('maps objects to structs and arrays to lists, with enum values', () => {
    const { columns } = parquetSchema(
      z.object({
        items: z.array(z.object({ sku: z.string(), price: z.number().optional() })),
        kind: z.enum({ A: 'a', B: 'b' }),
      }),
    );
    expect(columns).toEqual([
      {
        name: 'items',
        type: 'list',
        nullable: false,
        items: {
          name: 'item',
          type: 'struct',
          nullable: false,
          fields: [
            { name: 'sku', type: 'string', nullable: false },
            { name: 'price', type: 'float64', nullable: true },
          ],
        },
      },
      { name: 'kind', type: 'enum', nullable: false, values: ['a', 'b'] },
    ]);
  });

  it('names the path of an unsupported type and says how to give the column explicitly', () => {
    const error = expectInvalid(
      () =>
        parquetSchema(z.object({ items: z.array(z.object({ price: z.union([z.number(), z.string()]) })) })),
      "'items[].price' is a zod 'union'",
      'give the columns explicitly',
      "parquetSchema([{ name: 'id', type: 'string' }",
    );
    expect(error.details).toEqual({ path: 'items[].price' });
    expectInvalid(
      () => parquetSchema(z.object({ r: z.record(z.string(), z.number()) })),
      "'r' is a zod 'record'",
    );
    expectInvalid(() => parquetSchema(z.object({ a: z.any() })), "'a' is a zod 'any'");
    expectInvalid(
      () => parquetSchema(z.object({ t: z.string().transform((s) => s.length) })),
      "'t' is a transform",
    );
    expectInvalid(
      () => parquetSchema(z.object({ m: z.object({ n: z.literal('x') }) })),
      "'m.n' is a zod 'literal'",
    );
  });

  it('needs an object at the root', () => {
    expectInvalid(() => parquetSchema(z.string()), 'must be a (non-optional) z.object');
    expectInvalid(() => parquetSchema(z.object({ a: z.string() }).optional()), 'an optional value');
    expectInvalid(() => parquetSchema(z.object({})), "'(root)' is an object without fields");
    expectInvalid(() => parquetSchema('nope'), 'expected a zod object schema or an array of columns');
  });
});

describe('parquetSchema from explicit columns', () => {
  it('fills in nullable: false and the list item name, and returns a given schema as it is', () => {
    const schema = parquetSchema([
      { name: 'id', type: 'string' },
      { name: 'tags', type: 'list', nullable: true, items: { type: 'string', nullable: true } },
      { name: 'meta', type: 'struct', fields: [{ name: 'k', type: 'enum', values: ['x'] }] },
    ]);
    expect(schema.columns).toEqual([
      { name: 'id', type: 'string', nullable: false },
      { name: 'tags', type: 'list', nullable: true, items: { name: 'item', type: 'string', nullable: true } },
      {
        name: 'meta',
        type: 'struct',
        nullable: false,
        fields: [{ name: 'k', type: 'enum', nullable: false, values: ['x'] }],
      },
    ]);
    expect(parquetSchema(schema)).toBe(schema);
  });

  it('rejects malformed columns, naming them', () => {
    expectInvalid(() => parquetSchema([]), 'at least one column');
    expectInvalid(
      () => parquetSchema([{ name: 'a', type: 'decimal' }]),
      "column [0] ('a'): type must be one of",
    );
    expectInvalid(() => parquetSchema([{ type: 'string' }]), 'column [0] needs a non-empty name');
    expectInvalid(
      () => parquetSchema([{ name: 's', type: 'struct' }]),
      'a struct needs a non-empty fields array',
    );
    expectInvalid(() => parquetSchema([{ name: 'l', type: 'list' }]), 'a list needs items');
    expectInvalid(() => parquetSchema([{ name: 'e', type: 'enum', values: [] }]), 'an enum needs values');
    expectInvalid(
      () => parquetSchema([{ name: 'n', type: 'string', nullable: 'yes' }]),
      'nullable must be a boolean',
    );
    expectInvalid(
      () =>
        parquetSchema([
          { name: 'a', type: 'string' },
          { name: 'a', type: 'int32' },
        ]),
      "the column name 'a' appears twice",
    );
  });
});
