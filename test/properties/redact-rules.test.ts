import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Batch } from '../../src/core/batch.js';
import { applyTransforms } from '../../src/transforms/apply.js';
import { redact } from '../../src/transforms/redact.js';

/**
 * Two redact rules the example tests covered once each, as laws: a mask hides everything but the
 * last `keepLast` characters (all of a value that short), counting characters, not UTF-16 units;
 * and `'hash'` rejects an object or array (`unredactable`) instead of writing it.
 */

const batchOf = (records: unknown[]): Batch<unknown> => ({
  id: 'b',
  partition: 'p',
  firstOffset: 0,
  lastOffset: records.length - 1,
  records,
  bytes: 0,
  reason: 'records',
  openedAt: 0,
  closedAt: 0,
});

const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }));

describe('redact laws: mask and hash', () => {
  it.prop([fc.array(text, { minLength: 1, maxLength: 10 }), fc.integer({ min: 0, max: 8 })], {
    numRuns: 200,
  })(
    'a mask keeps only the last keepLast characters, and hides a value that short entirely',
    async (values, keepLast) => {
      const transform = redact({ v: { mask: { keepLast } } });
      const out = await applyTransforms([transform as never], batchOf(values.map((v) => ({ v }))), [], {
        pipeline: 'r',
        at: 0,
      });
      expect(out.deadLetters).toEqual([]);
      const masked = (out.batch.records as { v: string }[]).map((r) => r.v);
      const expected = values.map((v) => {
        const chars = Array.from(v);
        if (chars.length <= keepLast) return '*'.repeat(chars.length);
        return '*'.repeat(chars.length - keepLast) + chars.slice(chars.length - keepLast).join('');
      });
      expect(masked).toEqual(expected);
    },
  );

  it.prop(
    [
      fc.array(
        fc.oneof(
          fc.string(),
          fc.integer(),
          fc.boolean(),
          fc.object({ maxDepth: 2 }),
          fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
        ),
        { minLength: 1, maxLength: 10 },
      ),
    ],
    { numRuns: 200 },
  )('hash writes a scalar as a hash and rejects an object or array as unredactable', async (values) => {
    const transform = redact({ v: 'hash' }, { secret: 'a-property-test-secret-key' });
    const out = await applyTransforms([transform as never], batchOf(values.map((v) => ({ v }))), [], {
      pipeline: 'r',
      at: 0,
    });
    const objects = values.flatMap((v, i) => (typeof v === 'object' && v !== null ? [i] : []));
    expect(out.deadLetters.map((d) => [d.cursor.offset, d.reason])).toEqual(
      objects.map((i) => [i, 'unredactable']),
    );
    const written = out.batch.records as { v: unknown }[];
    expect(written).toHaveLength(values.length - objects.length);
    for (const r of written) expect(r.v).toMatch(/^[0-9a-f]{64}$/);
  });
});
