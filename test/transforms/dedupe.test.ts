import { describe, expect, it } from 'vitest';
import { dedupe } from '../../src/transforms/dedupe.js';
import { expectInvalid } from '../support.js';
import { input, out } from './helpers.js';

interface R {
  id: string | number;
  n: number;
}
const rec = (id: string | number, n: number): R => ({ id, n });

describe('dedupe', () => {
  it("keeps the first occurrence within a batch, counts the others as duplicates ('batch' is the default)", async () => {
    const t = dedupe((r: R) => r.id);
    const records = [rec('a', 1), rec('b', 2), rec('a', 3), rec(1, 4), rec('1', 5), rec(1, 6)];
    const result = await out(t.apply(input(records)));
    expect(result).toEqual({
      records: [records[0], records[1], records[3], records[4]],
      from: [0, 1, 3, 4],
      duplicates: 2,
    });
    expect(t.name).toBe('dedupe');
  });

  it("the 'batch' scope remembers nothing between batches", async () => {
    const t = dedupe((r: R) => r.id, { scope: 'batch' });
    await t.apply(input([rec('a', 1)]));
    expect((await out(t.apply(input([rec('a', 2)])))).records).toEqual([rec('a', 2)]);
    expect(t.remembered).toBe(0);
  });

  it('a window remembers kept keys across batches for ttl, from the batch that kept them', async () => {
    const t = dedupe((r: R) => r.id, { scope: { ttl: '1h', maxKeys: 10 } });
    const hour = 3_600_000;
    expect((await out(t.apply(input([rec('a', 1)], { at: 0 })))).records).toHaveLength(1);
    const later = await out(t.apply(input([rec('a', 2), rec('b', 3)], { at: hour - 1, offsets: [1, 2] })));
    expect(later).toEqual({ records: [rec('b', 3)], from: [1], duplicates: 1 });
    // The duplicate did not renew 'a': it is forgotten an hour after the record that was kept.
    expect((await out(t.apply(input([rec('a', 4)], { at: hour, offsets: [3] })))).records).toEqual([
      rec('a', 4),
    ]);
    expect((await out(t.apply(input([rec('a', 5)], { at: hour + 1, offsets: [4] })))).duplicates).toBe(1);
  });

  it('forgets the oldest keys past maxKeys, so a duplicate of a forgotten key gets through', async () => {
    const t = dedupe((r: R) => r.id, { scope: { ttl: '1d', maxKeys: 2 } });
    await t.apply(input([rec('a', 1), rec('b', 2), rec('c', 3)]));
    expect(t.remembered).toBe(2);
    // 'a' was forgotten when 'c' came, so its duplicate is kept, which forgets 'b', and so on.
    const records = [rec('a', 4), rec('b', 5), rec('c', 6)];
    const result = await out(t.apply(input(records, { offsets: [100, 110, 120] })));
    expect(result).toEqual({ records });
    expect(t.remembered).toBe(2);
  });

  it('expired keys are dropped from memory when a batch comes', async () => {
    const t = dedupe((r: R) => r.id, { scope: { ttl: 1_000 } });
    await t.apply(input([rec('a', 1), rec('b', 2)], { at: 0 }));
    await t.apply(input([rec('c', 3)], { at: 500, offsets: [50] }));
    expect(t.remembered).toBe(3);
    await t.apply(input([], { at: 1_200 }));
    expect(t.remembered).toBe(1);
  });

  it('a record read again at the same partition and offset (a replay) is not its own duplicate', async () => {
    const t = dedupe((r: R) => r.id, { scope: { ttl: '1h' } });
    const batch = input([rec('a', 1), rec('b', 2)], { offsets: [5, 6] });
    await t.apply(batch);
    expect((await out(t.apply(batch))).records).toEqual(batch.records);
    const elsewhere = await out(t.apply(input([rec('a', 1)], { partition: '1', offsets: [5] })));
    expect(elsewhere.duplicates).toBe(1);
  });

  it('a key that throws or is not a string or finite number rejects the record as invalid_key', async () => {
    const t = dedupe((r: { id?: unknown }) => {
      if (r.id === 'boom') throw new Error('no id');
      return r.id as string;
    });
    const result = await out(
      t.apply(input([{ id: 'boom' }, { id: undefined }, { id: Number.NaN }, { id: {} }, { id: 'ok' }])),
    );
    expect(result.records).toEqual([{ id: 'ok' }]);
    expect(result.rejected).toEqual([
      { index: 0, reason: 'invalid_key', details: { error: 'key threw: no id' } },
      {
        index: 1,
        reason: 'invalid_key',
        details: { error: 'key must return a string or a finite number; got undefined' },
      },
      {
        index: 2,
        reason: 'invalid_key',
        details: { error: 'key must return a string or a finite number; got NaN' },
      },
      {
        index: 3,
        reason: 'invalid_key',
        details: { error: 'key must return a string or a finite number; got an object' },
      },
    ]);
  });

  it('checks its options eagerly', () => {
    const key = (r: R) => r.id;
    expectInvalid(() => dedupe('id' as never), 'dedupe(key)', 'function');
    expectInvalid(() => dedupe(key, null as never), 'options must be an object');
    expectInvalid(() => dedupe(key, { scpoe: 'batch' } as never), "unknown option 'scpoe'");
    expectInvalid(
      () => dedupe(key, { scope: 'global' as never }),
      "scope must be 'batch' or { ttl, maxKeys }",
      "'global'",
    );
    expectInvalid(() => dedupe(key, { scope: {} as never }), 'scope.ttl is required');
    expectInvalid(() => dedupe(key, { scope: { ttl: '1 hour' as never } }), 'scope.ttl', "got '1 hour'");
    expectInvalid(
      () => dedupe(key, { scope: { ttl: '1h', maxKeys: 0 } }),
      'scope.maxKeys',
      'integer ≥ 1',
      'got 0',
    );
    expectInvalid(() => dedupe(key, { scope: { ttl: '1h', max: 5 } as never }), "unknown option 'scope.max'");
  });
});
