import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { appendAligned, offsetAt, rangeFrom, restOf } from '../../../src/pipeline/runtime/chunks.js';
import type { SourceChunk } from '../../../src/sources/types.js';

/** A chunk of values at increasing offsets (implicit or listed) with rejects between them. */
const chunkArb = fc
  .record({
    slots: fc.array(fc.boolean(), { maxLength: 40 }), // true: a value, false: a reject
    start: fc.nat(1000),
    listed: fc.boolean(),
    meta: fc.boolean(),
  })
  .map(({ slots, start, listed, meta }) => {
    const values: number[] = [];
    const offsets: number[] = [];
    const rejected: SourceChunk<number>['rejected'] = [];
    slots.forEach((isValue, k) => {
      const offset = start + k * (listed ? 2 : 1);
      if (isValue) {
        values.push(offset);
        offsets.push(offset);
      } else rejected.push({ offset, reason: 'malformed', details: {}, value: offset });
    });
    // Implicit offsets need consecutive values: only when there is no reject and no gap.
    const implicit = !listed && rejected.length === 0;
    const chunk: SourceChunk<number> = {
      partition: 'p',
      values,
      ...(implicit ? { firstOffset: start } : { offsets }),
      ...(rejected.length > 0 && { rejected }),
      ...(meta && { keys: values.map((v) => `k${v}`), bytes: values.map(() => 1) }),
    };
    return chunk;
  });

/**
 * A position the runtime can stop at: values and rejects are taken in offset order, so (i, r) is a
 * prefix of the merged sequence; `cut` picks its length.
 */
function position(chunk: SourceChunk<number>, cut: number): { i: number; r: number } {
  const rejects = chunk.rejected ?? [];
  const total = chunk.values.length + rejects.length;
  const k = total === 0 ? 0 : cut % (total + 1);
  let i = 0;
  let r = 0;
  while (i + r < k) {
    const value = i < chunk.values.length ? offsetAt(chunk, i) : Number.POSITIVE_INFINITY;
    if (r < rejects.length && rejects[r]!.offset < value) r++;
    else i++;
  }
  return { i, r };
}

describe('runtime chunk helpers', () => {
  test.prop([chunkArb, fc.nat()])(
    'restOf(i, r) holds exactly the values from i and the rejects from r, metadata aligned',
    (chunk, cut) => {
      const { i, r } = position(chunk, cut);
      const rejects = chunk.rejected ?? [];
      const rest = restOf(chunk, i, r);
      expect(rest.values).toEqual(chunk.values.slice(i));
      expect(rest.values.map((_, k) => offsetAt(rest, k))).toEqual(
        chunk.values.slice(i).map((_, k) => offsetAt(chunk, i + k)),
      );
      expect(rest.rejected ?? []).toEqual(rejects.slice(r));
      if (chunk.keys !== undefined) expect(rest.keys).toEqual(chunk.keys.slice(i));
      if (chunk.bytes !== undefined) expect(rest.bytes).toEqual(chunk.bytes.slice(i));
    },
  );

  test.prop([chunkArb, fc.nat()])(
    'rangeFrom(i, r) spans exactly what is left after taking a prefix in offset order, and counts it',
    (chunk, cut) => {
      const { i, r } = position(chunk, cut);
      const rejects = chunk.rejected ?? [];
      const left = [
        ...chunk.values.slice(i).map((_, k) => offsetAt(chunk, i + k)),
        ...rejects.slice(r).map((x) => x.offset),
      ];
      const range = rangeFrom(chunk, i, r);
      if (left.length === 0) expect(range).toBeUndefined();
      else
        expect(range).toEqual({
          firstOffset: Math.min(...left),
          lastOffset: Math.max(...left),
          records: left.length,
        });
    },
  );

  test.prop([fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.boolean()), { maxLength: 20 })])(
    'appendAligned keeps metadata as long as the values, in order, once any record brings some',
    (pieces) => {
      let target: (string | undefined)[] | undefined;
      const expected: (string | undefined)[] = [];
      let length = 0;
      for (const [n, withMeta] of pieces) {
        const source = withMeta ? Array.from({ length: n }, (_, k) => `${length + k}`) : undefined;
        if (source !== undefined || target !== undefined) {
          target = appendAligned(target, source, 0, n, length + n);
        }
        for (let k = 0; k < n; k++) expected.push(source?.[k]);
        length += n;
        if (target !== undefined) expect(target).toHaveLength(length);
      }
      if (target !== undefined) expect(target).toEqual(expected);
    },
  );

  it('offsetAt reads implicit and listed offsets', () => {
    expect(offsetAt({ partition: 'p', values: [1, 2], firstOffset: 7 }, 1)).toBe(8);
    expect(offsetAt({ partition: 'p', values: [1, 2], offsets: [3, 9] }, 1)).toBe(9);
  });
});
