import { createHmac } from 'node:crypto';
import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { Hmac } from '../../src/transforms/hmac.js';

const reference = (key: Uint8Array, text: string, encoding: 'hex' | 'base64url') =>
  createHmac('sha256', key).update(text, 'utf8').digest(encoding);

describe('Hmac', () => {
  // Lengths around the block boundaries (55/56, 64, 119/120) and both code paths (JS and createHmac).
  const text = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.integer({ min: 0, max: 200 }).map((n) => 'a'.repeat(n)),
  );
  const key = fc.oneof(
    fc.uint8Array({ minLength: 16, maxLength: 64 }),
    fc.uint8Array({ minLength: 65, maxLength: 200 }),
  );

  it.prop([key, text, fc.constantFrom('hex' as const, 'base64url' as const)], { numRuns: 500 })(
    'equals crypto.createHmac for any key, text and encoding',
    (k, t, encoding) => {
      expect(new Hmac(k, encoding).digest(t)).toBe(reference(k, t, encoding));
    },
  );

  it('gives the same digest when reused (no state left over from a longer value)', () => {
    const k = new Uint8Array(32).fill(7);
    const h = new Hmac(k, 'hex');
    for (const t of ['x'.repeat(119), 'short', 'é'.repeat(60), '', 'short'])
      expect(h.digest(t)).toBe(reference(k, t, 'hex'));
  });
});
