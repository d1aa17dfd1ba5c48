import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { validate } from '../../src/transforms/validate.js';
import { expectInvalid } from '../support.js';
import { input, out } from './helpers.js';

const Price = z.object({
  sku: z.string(),
  price: z.number(),
  at: z.date(),
  seller: z.object({ name: z.string() }).optional(),
});

describe('validate(schema)', () => {
  it('keeps the parsed output (unknown keys stripped, coercions applied) and rejects the rest, in order', async () => {
    const Coerced = z.object({ sku: z.string(), price: z.coerce.number() });
    const records = [
      { sku: 'a', price: '1.5', extra: true },
      { sku: 'b', price: 'x' },
      { sku: 'c', price: 2 },
    ];
    const result = await out(validate(Coerced).apply(input(records)));
    const expected = records.flatMap((r, i) => {
      const parsed = Coerced.safeParse(r);
      return parsed.success ? [{ record: parsed.data, i }] : [];
    });
    expect(result.records).toEqual(expected.map((e) => e.record));
    expect(result.from).toEqual(expected.map((e) => e.i));
    expect(result.records[0]).not.toHaveProperty('extra');
    expect(result.rejected?.map((r) => [r.index, r.reason])).toEqual([[1, 'type_mismatch']]);
  });

  it('sends no from[] when every record is kept', async () => {
    const result = await out(validate(z.number()).apply(input([1, 2])));
    expect(result).toEqual({ records: [1, 2] });
  });

  it.each([
    ['a wrong type', { sku: 1, price: 1, at: new Date(0) }, ['sku'], 'string'],
    ['NaN', { sku: 'a', price: Number.NaN, at: new Date(0) }, ['price'], 'number'],
    ['Infinity', { sku: 'a', price: Number.POSITIVE_INFINITY, at: new Date(0) }, ['price'], 'number'],
    ['-Infinity', { sku: 'a', price: Number.NEGATIVE_INFINITY, at: new Date(0) }, ['price'], 'number'],
    ['an invalid date', { sku: 'a', price: 1, at: new Date('not a date') }, ['at'], 'date'],
    ['null for a required field', { sku: null, price: 1, at: new Date(0) }, ['sku'], 'string'],
    [
      'a nested wrong type',
      { sku: 'a', price: 1, at: new Date(0), seller: { name: 5 } },
      ['seller', 'name'],
      'string',
    ],
  ])('%s is a type_mismatch with the issue as details', async (_, record, path, expected) => {
    const result = await out(validate(Price).apply(input([record])));
    expect(result.records).toEqual([]);
    expect(result.rejected).toEqual([
      {
        index: 0,
        reason: 'type_mismatch',
        details: { issues: [{ path, code: 'invalid_type', message: expect.any(String), expected }] },
      },
    ]);
  });

  it.each([
    ['an absent field', { price: 1, at: new Date(0) }, ['sku']],
    ['an undefined field', { sku: undefined, price: 1, at: new Date(0) }, ['sku']],
    ['an absent nested field', { sku: 'a', price: 1, at: new Date(0), seller: {} }, ['seller', 'name']],
  ])('%s is a missing_field', async (_, record, path) => {
    const result = await out(validate(Price).apply(input([record])));
    expect(result.rejected?.[0]?.reason).toBe('missing_field');
    expect((result.rejected![0]!.details as { issues: { path: unknown }[] }).issues[0]!.path).toEqual(path);
  });

  it('a missing field wins over a type mismatch in the same record; every issue is listed', async () => {
    const result = await out(validate(Price).apply(input([{ sku: 5, at: 'x' }])));
    const rejection = result.rejected![0]!;
    expect(rejection.reason).toBe('missing_field');
    expect((rejection.details as { issues: { path: unknown[] }[] }).issues.map((i) => i.path)).toEqual([
      ['sku'],
      ['price'],
      ['at'],
    ]);
  });

  it('a record that is not an object at all is a type_mismatch, even undefined', async () => {
    const result = await out(validate(Price).apply(input([42, undefined, null, 'text'])));
    expect(result.rejected?.map((r) => r.reason)).toEqual(Array(4).fill('type_mismatch'));
  });

  it('a failed refinement (.max()) is a type_mismatch with its code', async () => {
    const result = await out(
      validate(z.object({ note: z.string().max(3) })).apply(input([{ note: 'abcd' }])),
    );
    expect(result.rejected?.[0]).toMatchObject({
      reason: 'type_mismatch',
      details: { issues: [{ path: ['note'], code: 'too_big' }] },
    });
  });

  it('keeps details JSON-safe and bounded: at most 10 issues, short paths and messages', async () => {
    const Wide = z.object(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, z.string()])));
    const result = await out(validate(Wide).apply(input([{}])));
    const details = result.rejected![0]!.details as { issues: unknown[]; omitted: number };
    expect(details.issues).toHaveLength(10);
    expect(details.omitted).toBe(20);
    expect(JSON.parse(JSON.stringify(details))).toEqual(details);

    const long = z.string().refine(() => false, { message: 'x'.repeat(10_000), path: ['k'.repeat(1_000)] });
    const one = await out(validate(long).apply(input(['v'])));
    const issue = (one.rejected![0]!.details as { issues: { path: string[]; message: string }[] }).issues[0]!;
    expect(issue.message.length).toBeLessThanOrEqual(200);
    expect(issue.path[0]!.length).toBeLessThanOrEqual(64);
  });

  it('a schema that throws rejects the record as schema_error; the batch goes on', async () => {
    const Boom = z.object({ n: z.number() }).refine((r) => {
      if (r.n === 2) throw new Error('refinement bug');
      return true;
    });
    const result = await out(validate(Boom).apply(input([{ n: 1 }, { n: 2 }, { n: 3 }])));
    expect(result.records).toEqual([{ n: 1 }, { n: 3 }]);
    expect(result.rejected).toEqual([
      { index: 1, reason: 'schema_error', details: { error: 'the schema threw: refinement bug' } },
    ]);
  });

  it('an async refinement under the sync safeParse is a schema_error, and works through ~standard', async () => {
    const Async = z.string().refine(async (s) => s !== 'bad');
    const sync = await out(validate(Async).apply(input(['ok'])));
    expect(sync.rejected?.[0]?.reason).toBe('schema_error');
    const standard = { '~standard': Async['~standard'] };
    const result = await out(validate(standard).apply(input(['ok', 'bad'])));
    expect(result.records).toEqual(['ok']);
    expect(result.rejected?.map((r) => [r.index, r.reason])).toEqual([[1, 'type_mismatch']]);
  });

  it('accepts any Standard Schema (no safeParse), reading { key } path segments', async () => {
    const evens = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: (v: unknown) =>
          typeof v === 'object' && v !== null && typeof (v as { n?: unknown }).n === 'number'
            ? { value: (v as { n: number }).n * 2 }
            : { issues: [{ message: 'n must be a number', path: [{ key: 'n' }] }] },
      },
    };
    const result = await out(validate(evens).apply(input([{ n: 1 }, {}, { n: 'x' }])));
    expect(result.records).toEqual([2]);
    expect(result.rejected).toEqual([
      {
        index: 1,
        reason: 'missing_field',
        details: { issues: [{ path: ['n'], message: 'n must be a number' }] },
      },
      {
        index: 2,
        reason: 'type_mismatch',
        details: { issues: [{ path: ['n'], message: 'n must be a number' }] },
      },
    ]);
  });

  it('checks its argument', () => {
    expectInvalid(() => validate(42 as never), 'validate(schema)', 'zod schema', 'got 42');
    expectInvalid(() => validate({ parse: () => 1 } as never), 'validate(schema)', 'got an object');
  });
});

describe('validate({ versions, pick })', () => {
  const V3 = z.object({ schemaVersion: z.literal(3), price: z.string() });
  const V4 = z.object({ schemaVersion: z.literal(4), price: z.number() });
  const registry = () => validate({ versions: { '3': V3, '4': V4 }, pick: (r) => r.schemaVersion });

  it('checks each record against the version it names (numbers as their text)', async () => {
    const records = [
      { schemaVersion: 3, price: '1,50' },
      { schemaVersion: 4, price: 2 },
      { schemaVersion: 4, price: '3' },
    ];
    const result = await out(registry().apply(input(records)));
    expect(result.records).toEqual([records[0], records[1]]);
    expect(result.rejected).toEqual([
      {
        index: 2,
        reason: 'type_mismatch',
        details: { version: '4', issues: [expect.objectContaining({ path: ['price'] })] },
      },
    ]);
  });

  it('an unknown version, a non-key version or a pick that throws is unknown_schema', async () => {
    const records = [
      { schemaVersion: 5 },
      { schemaVersion: 'constructor' },
      { schemaVersion: '__proto__' },
      {},
      null,
    ];
    const result = await out(registry().apply(input(records)));
    expect(result.records).toEqual([]);
    expect(result.rejected!.map((r) => r.reason)).toEqual(Array(5).fill('unknown_schema'));
    expect(result.rejected![0]!.details).toEqual({ version: '5', known: ['3', '4'] });
    expect(result.rejected![3]!.details).toEqual({ version: 'undefined', known: ['3', '4'] });
    expect((result.rejected![4]!.details as { error: string }).error).toMatch(/^pick threw: /);
  });

  it('checks its options eagerly', () => {
    expectInvalid(() => validate({ versions: {}, pick: () => 1 }), 'at least one schema');
    expectInvalid(() => validate({ versions: { v1: 5 as never }, pick: () => 1 }), 'versions.v1', 'got 5');
    expectInvalid(() => validate({ versions: { v1: V3 }, pick: 'v' as never }), 'pick must be a function');
    expectInvalid(() => validate({ versions: [] as never, pick: () => 1 }), 'versions must be an object');
    expectInvalid(
      () => validate({ versions: { v1: V3 }, pick: () => 1, pik: 1 } as never),
      "unknown option 'pik'",
    );
  });
});
