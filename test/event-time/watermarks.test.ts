import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { Watermarks } from '../../src/event-time/watermarks.js';

/** One arrival: in which lane, its event time (or none: a late or timeless record), how much later. */
const arrival = fc.record({
  lane: fc.constantFrom('a', 'b', 'c'),
  time: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
  after: fc.integer({ min: 0, max: 400 }),
});

describe('Watermarks', () => {
  test.prop([
    fc.integer({ min: 0, max: 500 }),
    fc.integer({ min: 1, max: 1000 }),
    fc.array(arrival, { maxLength: 80 }),
  ])(
    "never goes backwards, and after a recompute equals the larger of its old value and the slowest active lane's",
    (outOfOrderness, idleTimeout, arrivals) => {
      const w = new Watermarks(outOfOrderness, idleTimeout);
      const newest = new Map<string, number>();
      const lastArrival = new Map<string, number>();
      let now = 0;
      let previous = w.watermark;
      for (const a of arrivals) {
        now += a.after;
        const lane = w.lane(a.lane);
        if (a.time === undefined) w.touch(lane, now);
        else {
          w.observe(lane, a.time, now);
          newest.set(a.lane, Math.max(newest.get(a.lane) ?? Number.NEGATIVE_INFINITY, a.time));
        }
        lastArrival.set(a.lane, now);
        expect(w.watermark).toBeGreaterThanOrEqual(previous);
        // A lane's own watermark is its newest event time less the allowed disorder.
        expect(w.of(lane)).toBe((newest.get(a.lane) ?? Number.NEGATIVE_INFINITY) - outOfOrderness);
        const before = w.watermark;
        const moved = w.recompute(now);
        let slowest = Number.POSITIVE_INFINITY;
        for (const [name, time] of newest) {
          if (now - lastArrival.get(name)! >= idleTimeout) continue; // idle lanes do not hold it back
          slowest = Math.min(slowest, time - outOfOrderness);
        }
        const expected = Number.isFinite(slowest) ? Math.max(before, slowest) : before;
        expect(w.watermark).toBe(expected);
        expect(moved).toBe(expected > before);
        previous = w.watermark;
      }
    },
  );

  it('a lane with no event time yet does not hold the watermark back', () => {
    const w = new Watermarks(0, 1000);
    w.touch(w.lane('empty'), 0);
    w.observe(w.lane('busy'), 500, 0);
    expect(w.watermark).toBe(500);
  });

  it('an idle lane stops holding it back, and one coming back cannot pull it down', () => {
    const w = new Watermarks(0, 100);
    const slow = w.lane('slow');
    const fast = w.lane('fast');
    w.observe(slow, 10, 0);
    w.observe(fast, 50, 0);
    expect(w.watermark).toBe(10);
    w.observe(fast, 60, 150); // slow has been silent for 150 ≥ 100: idle
    expect(w.watermark).toBe(60);
    w.observe(slow, 20, 160); // back, but behind: the watermark stays
    expect(w.watermark).toBe(60);
  });

  it('finish() ends the input once', () => {
    const w = new Watermarks(0, 100);
    expect(w.finish()).toBe(true);
    expect(w.ended).toBe(true);
    expect(w.finish()).toBe(false);
  });
});
