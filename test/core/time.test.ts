import { fc, test as prop } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { MAX_TIME_MS, parseTime } from '../../src/core/time.js';

describe('parseTime: one rule for every time in a record', () => {
  it('ISO 8601 with T or one space; zoneless is UTC; offsets and Z applied', () => {
    const t14 = Date.UTC(2026, 10, 25, 14);
    for (const text of [
      '2026-11-25T14:00:00',
      '2026-11-25 14:00:00',
      '2026-11-25t14:00',
      '2026-11-25T14:00:00Z',
      '2026-11-25T15:00:00+01:00',
      '2026-11-25T15:00:00+0100',
      '2026-11-25T15:00:00+01',
      '2026-11-25T09:00:00-05:00',
      '2026-11-25 19:30:00+05:30',
    ]) {
      expect(parseTime(text), text).toBe(t14);
    }
    expect(parseTime('2026-11-25')).toBe(Date.UTC(2026, 10, 25));
    expect(parseTime('0001-01-01T00:00:00Z')).toBe(Date.UTC(2000, 0, 1) - 730_119 * 86_400_000);
    expect(parseTime('+275760-09-13T00:00:00.000Z')).toBe(MAX_TIME_MS);
    expect(parseTime('-271821-04-20T00:00:00.000Z')).toBe(-MAX_TIME_MS);
  });

  it('fractions past the millisecond are floored, never rounded into the next second', () => {
    expect(parseTime('2026-11-25T14:00:00.9999999')).toBe(Date.UTC(2026, 10, 25, 14, 0, 0, 999));
    expect(parseTime('2026-11-25T14:00:00,5')).toBe(Date.UTC(2026, 10, 25, 14, 0, 0, 500));
    expect(parseTime(1.9)).toBe(1.9); // numbers keep their fraction; the Parquet encoder floors
  });

  it('non-ISO strings only with an explicit zone; a zoneless one is not a time', () => {
    expect(parseTime('Wed, 25 Nov 2026 14:00:00 GMT')).toBe(Date.UTC(2026, 10, 25, 14));
    expect(parseTime('Wed Nov 25 2026 15:00:00 +0100')).toBe(Date.UTC(2026, 10, 25, 14));
    for (const bad of [
      '2026/11/25 14:00:00',
      '25 Nov 2026 14:00',
      'Nov 25, 2026',
      '11/25/2026',
      'yesterday',
    ]) {
      expect(parseTime(bad), bad).toBeUndefined();
    }
  });

  it('out-of-range fields and times past ±8.64e15 ms are not times', () => {
    for (const bad of [
      '2026-02-29',
      '2026-13-01',
      '2026-11-31',
      '2026-11-25T24:00:00',
      '2026-11-25T14:60',
      '2026-11-25T14:00:60',
      '2026-11-25T14:00:00+24:00',
      '+275760-09-13T00:00:00.001Z',
      '-000000-01-01',
      1e20,
      2 ** 53,
      -(MAX_TIME_MS + 1),
      Number.NaN,
      Number.POSITIVE_INFINITY,
      new Date(Number.NaN),
      'x'.repeat(65),
      null,
      {},
    ]) {
      expect(parseTime(bad), String(bad)).toBeUndefined();
    }
    expect(parseTime('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    expect(parseTime(MAX_TIME_MS)).toBe(MAX_TIME_MS);
  });

  prop.prop([fc.date({ noInvalidDate: true })])(
    'any Date reads back from its ISO string, zoneless or not',
    (d) => {
      const iso = d.toISOString();
      expect(parseTime(iso)).toBe(d.getTime());
      expect(parseTime(d)).toBe(d.getTime());
      if (/^\d{4}-/.test(iso)) {
        expect(parseTime(iso.slice(0, -1))).toBe(d.getTime());
        expect(parseTime(iso.slice(0, -1).replace('T', ' '))).toBe(d.getTime());
      }
    },
  );
});
