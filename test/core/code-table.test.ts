import { describe, expect, it } from 'vitest';
import { codeTable } from '../../src/core/code-table.js';

describe('codeTable', () => {
  it('finds its own codes only, never the prototype chain', () => {
    const table = codeTable({ '40001': 'serialization failure' });
    expect(table['40001']).toBe('serialization failure');
    for (const code of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      expect(table[code], code).toBeUndefined();
      expect(code in table, code).toBe(false);
    }
    expect(Object.isFrozen(table)).toBe(true);
  });
});
