import { describe, expect, it } from 'vitest';
import { estimateBytes, utf8Bytes } from '../../src/core/size.js';

describe('estimateBytes', () => {
  it('is exact for ASCII scalars', () => {
    for (const value of ['hello', '', null]) expect(estimateBytes(value)).toBe(JSON.stringify(value).length);
  });

  it('stays within a byte of the JSON size of flat ASCII containers', () => {
    // One separator per member is counted, the JSON has one fewer: an estimate, never an undercount.
    for (const value of [{ a: 'b' }, ['x', 'y'], { sku: 'A-1', url: 'https://x' }]) {
      const json = JSON.stringify(value).length;
      expect(estimateBytes(value)).toBeGreaterThanOrEqual(json);
      expect(estimateBytes(value)).toBeLessThanOrEqual(json + 1);
    }
  });

  it('grows with the record', () => {
    expect(estimateBytes({ a: 'x'.repeat(1000) })).toBeGreaterThan(estimateBytes({ a: 'x' }));
  });

  it('counts numbers, booleans, dates, bigints and byte arrays', () => {
    expect(estimateBytes(1)).toBe(8);
    expect(estimateBytes(true)).toBe(5);
    expect(estimateBytes(new Date(0))).toBe(26);
    expect(estimateBytes(10n)).toBe(20);
    expect(estimateBytes(new Uint8Array(100))).toBe(100);
    expect(estimateBytes(undefined)).toBe(0);
  });

  it('stops walking past the limit, so cyclic records terminate', () => {
    const cyclic: Record<string, unknown> = { a: 'x' };
    cyclic.self = cyclic;
    expect(estimateBytes(cyclic, 1000)).toBeGreaterThan(1000);
    const cyclicArray: unknown[] = [];
    cyclicArray.push(cyclicArray);
    expect(estimateBytes(cyclicArray, 100)).toBeGreaterThan(100);
  });
});

describe('utf8Bytes', () => {
  it('counts UTF-8 bytes', () => {
    expect(utf8Bytes('abc')).toBe(3);
    expect(utf8Bytes('é')).toBe(2);
    expect(utf8Bytes('日本')).toBe(6);
    expect(utf8Bytes('😀')).toBe(4);
  });
});
