import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { MemoryBudget } from '../../../src/pipeline/runtime/memory-budget.js';

describe('MemoryBudget', () => {
  test.prop([
    fc.integer({ min: 1, max: 1e6 }),
    fc.array(fc.tuple(fc.boolean(), fc.double({ min: 0, max: 1e5, noNaN: true })), { maxLength: 60 }),
  ])('held bytes follow reserve and release and never go below 0', (limit, steps) => {
    const budget = new MemoryBudget(limit);
    const reserved: number[] = [];
    let expected = 0;
    for (const [reserve, bytes] of steps) {
      if (reserve || reserved.length === 0) {
        budget.reserve(bytes);
        reserved.push(bytes);
        expected += bytes;
      } else {
        // Releases give back what was reserved, in any order (float sums drift; the budget snaps to 0).
        const back = reserved.splice(Math.floor(bytes) % reserved.length, 1)[0]!;
        budget.release(back);
        expected -= back;
      }
      expect(budget.held).toBeGreaterThanOrEqual(0);
      expect(budget.held).toBeCloseTo(Math.max(0, expected), 3);
      // Anything fits when nothing is held (no estimate may wedge the pipeline); else only what fits.
      expect(budget.fits(limit * 10)).toBe(budget.held <= 0);
      expect(budget.fits(0)).toBe(budget.held <= limit || budget.held <= 0);
    }
  });

  it('wakes every waiter on a release, and on wakeAll', async () => {
    const budget = new MemoryBudget(10);
    budget.reserve(10);
    let woken = 0;
    const waits = [budget.waitForRoom(), budget.waitForRoom()].map((w) => w.then(() => woken++));
    await Promise.resolve();
    expect(woken).toBe(0);
    budget.release(5);
    await Promise.all(waits);
    expect(woken).toBe(2);
    const late = budget.waitForRoom().then(() => woken++);
    budget.wakeAll();
    await late;
    expect(woken).toBe(3);
  });

  it('snaps float drift to 0', () => {
    const budget = new MemoryBudget(1);
    budget.reserve(0.1);
    budget.reserve(0.2);
    budget.release(0.1 + 0.2);
    expect(budget.held).toBe(0);
  });
});
