/**
 * Laws of validate + dedupe + redact over arbitrary streams, through real pipelines: every record is
 * accounted for, exactly the valid first occurrences are written in order, dedupe memory is bounded,
 * and no redacted value survives at any depth. Expected outcomes are computed independently, with
 * zod's own safeParse and a Set.
 */
import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import type { DeadLetter } from '../../src/core/batch.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { testClock } from '../../src/testing/clock.js';
import { dedupe, redact, validate } from '../../src/transforms/index.js';
import { triggers } from '../../src/triggers/index.js';
import { input } from './helpers.js';

const Price = z.object({ sku: z.string().min(1), price: z.number(), at: z.coerce.date() });

/**
 * A record of a partition: valid, or broken in one of many ways. Skus repeat to make duplicates and
 * name their partition, so that "first occurrence" does not depend on how the lanes interleave.
 */
const record = (partition: string) => {
  const sku = fc.constantFrom('a', 'b', 'c', 'd', 'e').map((s) => `${partition}/${s}`);
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.record({ sku, price: fc.double(), at: fc.integer() }) },
      { weight: 1, arbitrary: fc.record({ sku: fc.oneof(sku, fc.constant('')), price: fc.anything() }) },
      { weight: 1, arbitrary: fc.anything() },
      {
        weight: 1,
        arbitrary: fc.record({ sku, price: fc.integer(), at: fc.constantFrom('nope', 1e20, undefined) }),
      },
    )
    .map((value) => ({ partition, value }));
};

const stream = fc.array(fc.oneof(record('p0'), record('p1')), { maxLength: 120 });

async function runStream(
  items: { partition: string; value: unknown }[],
  scope: 'batch' | { ttl: number; maxKeys: number },
  batchRecords: number,
) {
  const clock = testClock();
  const sink = memorySink<z.output<typeof Price>>();
  const dead = memorySink<DeadLetter>();
  const d = dedupe((r: z.output<typeof Price>) => r.sku, { scope });
  const p = pipeline({ name: 'laws', clock })
    .source(fromIterable(items, { envelopes: true }))
    .trigger(triggers.volume({ records: batchRecords }))
    .transform(validate(Price), d)
    .sink(sink)
    .deadLetter(dead)
    .build();
  const report = await clock.runUntil(p.run());
  return { report, sink, dead, d };
}

/** The skus a partition should write: valid records (by zod itself), first occurrence per chunk. */
function expectedSkus(
  items: { partition: string; value: unknown }[],
  partition: string,
  chunk: number,
): string[] {
  const mine = items.filter((i) => i.partition === partition);
  const expected: string[] = [];
  for (let start = 0; start < mine.length; start += chunk) {
    const seen = new Set<string>();
    for (const item of mine.slice(start, start + chunk)) {
      const parsed = Price.safeParse(item.value);
      if (!parsed.success || seen.has(parsed.data.sku)) continue;
      seen.add(parsed.data.sku);
      expected.push(parsed.data.sku);
    }
  }
  return expected;
}

/**
 * What a partition's batches hold, in offset order. Writes of one partition may complete out of order
 * (with concurrency > 1, or while a batch's dead letters are written first); order is in the ranges.
 */
const written = (
  sink: {
    batches: readonly { partition: string; firstOffset: number; records: readonly { sku: string }[] }[];
  },
  partition: string,
) =>
  sink.batches
    .filter((b) => b.partition === partition)
    .sort((a, b) => a.firstOffset - b.firstOffset)
    .flatMap((b) => b.records.map((r) => r.sku));

describe('validate + dedupe laws', () => {
  it.prop([stream, fc.integer({ min: 10, max: 200 })], { numRuns: 150 })(
    'cross-batch window: records in = written + dead-lettered + duplicates; written = valid first occurrences, in order per partition',
    async (items, maxKeys) => {
      const { report, sink, dead, d } = await runStream(items, { ttl: 3_600_000, maxKeys }, 7);
      expect(report.records.in).toBe(items.length);
      expect(report.records.written + report.records.deadLettered + report.records.duplicates).toBe(
        items.length,
      );
      expect(dead.records).toHaveLength(report.records.deadLettered);
      expect(d.remembered).toBeLessThanOrEqual(maxKeys);
      for (const partition of ['p0', 'p1']) {
        expect(written(sink, partition)).toEqual(expectedSkus(items, partition, Number.POSITIVE_INFINITY));
        // Dead letters: exactly the records zod refuses (offsets count from 0 per partition), with a schema reason.
        const invalid = items
          .filter((i) => i.partition === partition)
          .flatMap((item, offset) => (Price.safeParse(item.value).success ? [] : [offset]));
        const letters = dead.records.filter((l) => l.cursor.partition === partition);
        expect(letters.map((l) => l.cursor.offset)).toEqual(invalid);
        for (const l of letters) expect(['type_mismatch', 'missing_field']).toContain(l.reason);
      }
    },
  );

  it.prop([stream, fc.integer({ min: 1, max: 10 })], { numRuns: 150 })(
    "'batch' scope: duplicates only within a batch (batches cut every N records of a partition)",
    async (items, n) => {
      const { report, sink } = await runStream(items, 'batch', n);
      expect(report.records.written + report.records.deadLettered + report.records.duplicates).toBe(
        items.length,
      );
      for (const partition of ['p0', 'p1'])
        expect(written(sink, partition)).toEqual(expectedSkus(items, partition, n));
    },
  );

  it.prop(
    [
      fc.array(
        fc.record({
          keys: fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 40 }),
          gap: fc.integer({ min: 0, max: 2_000 }),
        }),
        {
          maxLength: 30,
        },
      ),
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 1, max: 3_000 }),
    ],
    { numRuns: 200 },
  )('dedupe memory never exceeds maxKeys, whatever the keys and times', async (batches, maxKeys, ttl) => {
    const t = dedupe((k: number) => k, { scope: { ttl, maxKeys } });
    let at = 0;
    let offset = 0;
    for (const { keys, gap } of batches) {
      at += gap;
      const offsets = keys.map(() => offset++);
      const result = await t.apply(input(keys, { at, offsets }));
      expect(result.records.length + (result.duplicates ?? 0)).toBe(keys.length);
      expect(t.remembered).toBeLessThanOrEqual(maxKeys);
    }
  });
});

describe('redact laws', () => {
  // Secret values carry a marker that no other generated text has, and are long enough that a mask
  // keeping the last 2 characters hides most of them.
  const secret = fc.string({ minLength: 6, maxLength: 30 }).map((s) => `§${s}§SECRET`);
  const emailSecret = fc
    .tuple(fc.stringMatching(/^[a-z0-9]{3,12}$/), fc.stringMatching(/^[a-z]{2,10}$/))
    .map(([local, domain]) => `${local}§@${domain}.com`.replace('§', 'x'));
  const junk = fc.anything({ maxDepth: 3, withObjectString: true, withNullPrototype: true });
  const contact = fc.record(
    { email: secret, inner: fc.record({ pin: secret, other: junk }), keep: junk },
    { requiredKeys: [] },
  );
  const rec = fc.record(
    {
      user: fc.record(
        { email: secret, name: fc.string(), __proto__: fc.record({ token: secret }) },
        { requiredKeys: [] },
      ),
      contacts: fc.array(fc.oneof(contact, fc.constant(null)), { maxLength: 5 }),
      matrix: fc.array(fc.array(secret, { maxLength: 4 }), { maxLength: 4 }),
      note: fc.tuple(fc.string(), emailSecret, fc.string()),
      extra: junk,
    },
    { requiredKeys: ['note'] },
  );
  const rules = {
    'user.email': 'hash',
    'user.__proto__.token': 'drop',
    'contacts[].email': { mask: { keepLast: 2 } },
    'contacts[].inner.pin': 'hash',
    'matrix[][]': { replace: '∅' },
    note: { detect: ['email'], with: 'hash' },
  } as const;

  it.prop([fc.array(rec, { maxLength: 20 })], { numRuns: 150 })(
    'no redacted value survives at any depth, and the input records are not changed',
    async (generated) => {
      const records = generated.map((r) => ({ ...r, note: `${r.note[0]} ${r.note[1]} ${r.note[2]}` }));
      const secrets: string[] = [];
      for (const g of generated) {
        if (g.user?.email !== undefined) secrets.push(g.user.email);
        if (g.user !== undefined && Object.hasOwn(g.user, '__proto__'))
          secrets.push(Object.getOwnPropertyDescriptor(g.user, '__proto__')?.value.token);
        for (const c of g.contacts ?? []) {
          if (c?.email !== undefined) secrets.push(c.email);
          if (c?.inner?.pin !== undefined) secrets.push(c.inner.pin);
        }
        for (const row of g.matrix ?? []) secrets.push(...row);
        secrets.push(g.note[1]);
      }
      const before = structuredClone(records);
      const clock = testClock();
      const sink = memorySink<unknown>();
      const p = pipeline({ name: 'redact-laws', clock })
        .source(fromIterable(records))
        .transform(redact(rules, { secret: 'a-property-test-secret-key' }))
        .sink(sink)
        .build();
      const report = await clock.runUntil(p.run());
      expect(report.records).toMatchObject({ in: records.length, written: records.length });
      const written = JSON.stringify(sink.records, (_, v) => (typeof v === 'bigint' ? String(v) : v));
      for (const s of secrets) expect(written).not.toContain(JSON.stringify(s).slice(1, -1));
      expect(records).toEqual(before);
      expect(({} as Record<string, unknown>).token).toBeUndefined();
    },
  );
});
