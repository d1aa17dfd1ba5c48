import { describe, expect, it } from 'vitest';
import { classify } from '../../src/postgres/errors.js';

describe('postgres error classification', () => {
  const error = (code: string) => Object.assign(new Error('boom'), { code });

  it('retries the known transient states', () => {
    for (const code of ['40001', '40P01', '55P03', '57P01'])
      expect(classify(error(code), 'write').retryable).toBe(true);
  });

  it('never takes a code for a known state through the prototype chain', () => {
    for (const code of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const classified = classify(error(code), 'write');
      expect(classified.retryable, code).toBe(false);
      expect(classified.message, code).not.toMatch(/function|\[native code\]/);
    }
  });
});
