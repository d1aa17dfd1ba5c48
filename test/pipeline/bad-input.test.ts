/**
 * Bad records through a real pipeline: each is dead-lettered with a clear reason, the pipeline keeps
 * running, and the good records after it are still written.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { testClock } from '../../src/testing/clock.js';
import { dedupe, redact, validate } from '../../src/transforms/index.js';
import { triggers } from '../../src/triggers/index.js';

const Price = z.object({
  sku: z.string(),
  price: z.number(),
  currency: z.string().length(3),
  note: z.string().max(10_000),
  at: z.coerce.date(),
  meta: z.unknown().optional(),
});
type Price = z.output<typeof Price>;

const good = (n: number) => ({
  sku: `SKU-${n}`,
  price: n,
  currency: 'EUR',
  note: `seller ${n}@shop.io`,
  at: n * 1000,
});

function nested(depth: number): unknown {
  let value: unknown = { leaf: true };
  for (let i = 0; i < depth; i++) value = { child: value };
  return value;
}

/** Runs `bad` between good records, one record per batch so that each bad one has a batch to itself too. */
async function run(bad: unknown[], options: { maxRecordBytes?: `${number}MB` } = {}) {
  const clock = testClock();
  const sink = memorySink<Price>();
  const records = [good(0), ...bad.flatMap((b, i) => [b, good(i + 1)])];
  const p = pipeline({ name: 'bad-input', clock, ...options })
    .source(fromIterable(records))
    .trigger(triggers.volume({ records: 2 }))
    .transform(
      validate(Price),
      dedupe((r) => r.sku),
      redact({ note: { detect: ['email'], with: { replace: '<email>' } } }),
    )
    .sink(sink)
    .build();
  const report = await clock.runUntil(p.run());
  expect(report.status).toBe('completed');
  expect(sink.records.map((r) => r.sku)).toEqual(bad.map((_, i) => `SKU-${i}`).concat(`SKU-${bad.length}`));
  expect(sink.records.every((r) => r.note.endsWith('<email>'))).toBe(true);
  expect(report.records).toMatchObject({
    in: records.length,
    written: bad.length + 1,
    deadLettered: bad.length,
  });
  return report;
}

describe('bad input through a real pipeline', () => {
  it('wrong types, missing fields, NaN, ±Infinity and invalid dates are dead-lettered with their reason', async () => {
    const bad = [
      { ...good(0), price: '12.50' },
      { ...good(0), sku: 42 },
      { price: 1, currency: 'EUR', note: '', at: 0 },
      { ...good(0), sku: undefined },
      { ...good(0), price: Number.NaN },
      { ...good(0), price: Number.POSITIVE_INFINITY },
      { ...good(0), price: Number.NEGATIVE_INFINITY },
      { ...good(0), at: 'not a date' },
      { ...good(0), at: new Date(Number.NaN) },
      null,
      'a string',
      [1, 2, 3],
    ];
    const report = await run(bad);
    expect(report.deadLetters!.map((d) => d.reason)).toEqual([
      'type_mismatch',
      'type_mismatch',
      'missing_field',
      'missing_field',
      'type_mismatch',
      'type_mismatch',
      'type_mismatch',
      'type_mismatch',
      'type_mismatch',
      'type_mismatch',
      'type_mismatch',
      'type_mismatch',
    ]);
    // The original value (after the pipeline's redact rules: dead letters follow them) and its
    // cursor, with the issue naming the field.
    expect(report.deadLetters![0]).toMatchObject({
      value: { ...(bad[0] as object), note: 'seller <email>' },
      cursor: { partition: '0', offset: 1 },
      details: { issues: [{ path: ['price'], code: 'invalid_type', expected: 'number' }] },
    });
    expect(report.deadLetters![7]!.details).toMatchObject({ issues: [{ path: ['at'], expected: 'date' }] });
    expect(report.rejected).toEqual({ type_mismatch: 10, missing_field: 2 });
  });

  it("a 10 MB string is a type_mismatch under the schema's .max() (too_big issue)", async () => {
    const report = await run([{ ...good(0), note: 'x'.repeat(10_000_000) }], { maxRecordBytes: '64MB' });
    expect(report.deadLetters![0]).toMatchObject({
      reason: 'type_mismatch',
      details: { issues: [{ path: ['note'], code: 'too_big' }] },
    });
  });

  it('a 10 MB string is too_large under the default maxRecordBytes when the record is sized', async () => {
    // In-memory records are sized one by one only when maxRecordBytes is set explicitly.
    const report = await run([{ ...good(0), note: 'x'.repeat(10_000_000) }], { maxRecordBytes: '1MB' });
    expect(report.deadLetters![0]).toMatchObject({ reason: 'too_large', details: { limit: 1_000_000 } });
  });

  it('a 10,000-level nested object in a field the schema does not constrain passes; under a checked field it is rejected', async () => {
    const deep = nested(10_000);
    const clock = testClock();
    const sink = memorySink<Price>();
    const p = pipeline({ name: 'deep', clock })
      .source(fromIterable([{ ...good(0), meta: deep }, { ...good(1), sku: deep }, good(2)]))
      .transform(validate(Price))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records.map((r) => r.sku)).toEqual(['SKU-0', 'SKU-2']);
    expect(report.deadLetters!.map((d) => d.reason)).toEqual(['type_mismatch']);
  });

  it('a recursive schema: 10,000 levels overflow its stack (schema_error), 100 levels give a bounded path', async () => {
    type Tree = { child?: Tree; leaf?: boolean };
    const Tree: z.ZodType<Tree> = z.lazy(() =>
      z.object({ child: Tree.optional(), leaf: z.boolean().optional() }),
    );
    const withBadLeaf = (depth: number) => {
      const root = nested(depth) as { child?: unknown; leaf?: unknown };
      let tip = root;
      while (tip.child !== undefined) tip = tip.child as typeof tip;
      tip.leaf = 'not a boolean';
      return root;
    };
    const clock = testClock();
    const sink = memorySink<Tree>();
    const p = pipeline({ name: 'tree', clock })
      .source(fromIterable([withBadLeaf(10_000), withBadLeaf(100), { leaf: true }]))
      .transform(validate(Tree))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual([{ leaf: true }]);
    const [deep, shallow] = report.deadLetters!;
    expect(deep).toMatchObject({
      reason: 'schema_error',
      details: { error: expect.stringContaining('call stack') },
    });
    expect(shallow!.reason).toBe('type_mismatch');
    const issue = (shallow!.details as { issues: { path: unknown[] }[] }).issues[0]!;
    expect(issue.path).toHaveLength(21);
    expect(issue.path[20]).toBe('…81 more');
  });

  it('__proto__ and constructor keys from JSON pollute nothing, through validate, dedupe and redact', async () => {
    const Loose = z.looseObject({ sku: z.string(), email: z.string().optional() });
    const hostile = [
      '{"sku":"a","__proto__":{"polluted":"yes"},"email":"a@b.io"}',
      '{"sku":"b","constructor":{"prototype":{"polluted":"yes"}}}',
      '{"sku":"__proto__"}',
      '{"sku":"constructor"}',
      '{"sku":"c","__proto__":{"sku":"x"}}',
    ].map((line) => JSON.parse(line));
    const clock = testClock();
    const sink = memorySink<unknown>();
    const p = pipeline({ name: 'proto', clock })
      .source(fromIterable(hostile))
      .transform(
        validate(Loose),
        dedupe((r) => r.sku, { scope: { ttl: '1h' } }),
        redact({ email: 'drop', '__proto__.polluted': { replace: 'x' }, 'constructor.prototype': 'drop' }),
      )
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(report.records).toMatchObject({ in: 5, written: 5 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect((sink.records as { sku: string }[]).map((r) => r.sku)).toEqual([
      'a',
      'b',
      '__proto__',
      'constructor',
      'c',
    ]);
  });

  it('with no dead-letter sink, rejected records are kept in report.deadLetters', async () => {
    const report = await run([{ ...good(0), price: 'x' }]);
    expect(report.deadLetters).toHaveLength(1);
  });
});
