import { describe, expect, it } from 'vitest';
import { batchId, safeName } from '../../src/core/batch.js';

describe('batchId', () => {
  it('is deterministic from pipeline, partition and range, with padded offsets', () => {
    const id = batchId('prices', '0', 0, 41);
    expect(id).toBe('prices.0.0000000000000000-0000000000000041');
    expect(batchId('prices', '0', 0, 41)).toBe(id);
  });

  it('sorts in offset order as a string', () => {
    const ids = [batchId('p', '0', 100, 199), batchId('p', '0', 9, 99), batchId('p', '0', 0, 8)];
    expect([...ids].sort()).toEqual([ids[2], ids[1], ids[0]]);
  });

  it('differs when any part differs', () => {
    const ids = new Set([
      batchId('p', '0', 0, 1),
      batchId('q', '0', 0, 1),
      batchId('p', '1', 0, 1),
      batchId('p', '0', 1, 1),
      batchId('p', '0', 0, 2),
    ]);
    expect(ids.size).toBe(5);
  });

  it('never contains a path separator, even for hostile names', () => {
    const id = batchId('../etc', 'topic/3', 0, 1);
    expect(id).not.toMatch(/[/\\]/);
    expect(id.startsWith('~2e~2e~2fetc.topic~2f3.')).toBe(true);
  });
});

describe('safeName', () => {
  it('keeps plain names readable', () => {
    expect(safeName('raw_prices-v2')).toBe('raw_prices-v2');
  });

  it('escapes other characters as UTF-8 bytes, injectively', () => {
    expect(safeName('a.b')).toBe('a~2eb');
    expect(safeName('é')).toBe('~c3~a9');
    expect(safeName('~')).toBe('~7e');
    expect(safeName('a.b')).not.toBe(safeName('a~2eb'));
  });

  it('never returns an empty name', () => {
    expect(safeName('')).toBe('~');
  });
});
