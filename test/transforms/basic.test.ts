import { describe, expect, it } from 'vitest';
import { filter, map } from '../../src/transforms/basic.js';
import type { TransformInput } from '../../src/transforms/types.js';
import { expectInvalid } from '../support.js';

const input = <T>(records: T[]): TransformInput<T> => ({
  records,
  offsets: records.map((_, i) => i * 10),
  partition: '0',
  batchId: 'b',
  at: 0,
});

describe('map', () => {
  it('changes every record, one to one, with its index', async () => {
    const t = map((n: number, i) => `${i}:${n * 2}`);
    expect(t.name).toBe('map');
    expect(await t.apply(input([1, 2, 3]))).toEqual({ records: ['0:2', '1:4', '2:6'] });
  });

  it('needs a function', () => {
    expectInvalid(() => map(42 as never), 'map(fn)', 'function');
  });
});

describe('filter', () => {
  it('keeps matching records, says where they came from, counts the others', async () => {
    const t = filter((n: number) => n % 2 === 0);
    expect(t.name).toBe('filter');
    expect(await t.apply(input([1, 2, 3, 4, 6]))).toEqual({
      records: [2, 4, 6],
      from: [1, 3, 4],
      filtered: 2,
    });
  });

  it('passes the index to the predicate', async () => {
    const t = filter((_: string, i) => i > 0);
    expect(await t.apply(input(['a', 'b']))).toEqual({ records: ['b'], from: [1], filtered: 1 });
  });

  it('needs a function', () => {
    expectInvalid(() => filter(undefined as never), 'filter(predicate)', 'function');
  });
});
