import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/testing/index.js';

describe('seededRandom', () => {
  it('gives the same sequence for the same seed, another for another seed, always in [0, 1)', () => {
    const draw = (seed: number) => {
      const next = seededRandom(seed);
      return Array.from({ length: 1_000 }, () => next());
    };
    const a = draw(42);
    expect(draw(42)).toEqual(a);
    expect(draw(43)).not.toEqual(a);
    for (const x of a) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    // Spread over the interval, not stuck in a corner.
    expect(Math.min(...a)).toBeLessThan(0.01);
    expect(Math.max(...a)).toBeGreaterThan(0.99);
  });
});
