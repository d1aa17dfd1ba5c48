import { describe, expect, it } from 'vitest';
import { testClock } from '../../src/testing/clock.js';
import { rejection } from '../support.js';

describe('testClock', () => {
  it('starts at the given time and stands still', () => {
    const clock = testClock(1_000);
    expect(clock.now()).toBe(1_000);
    expect(clock.now()).toBe(1_000);
    expect(testClock().now()).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(clock.nextTimerAt).toBeUndefined();
  });

  it('fires timers in time order, ties in creation order, each at its own time', async () => {
    const clock = testClock();
    const fired: string[] = [];
    const at = (name: string) => () => fired.push(`${name}@${clock.now()}`);
    clock.setTimeout(at('c'), 300);
    clock.setTimeout(at('a1'), 100);
    clock.setTimeout(at('b'), 200);
    clock.setTimeout(at('a2'), 100);
    expect(clock.pendingTimers).toBe(4);
    expect(clock.nextTimerAt).toBe(100);
    await clock.advance(1_000);
    expect(fired).toEqual(['a1@100', 'a2@100', 'b@200', 'c@300']);
    expect(clock.now()).toBe(1_000);
    expect(clock.pendingTimers).toBe(0);
  });

  it('advance() fires only timers due within the step', async () => {
    const clock = testClock();
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 100);
    clock.setTimeout(() => fired.push(clock.now()), 101);
    await clock.advance(100);
    expect(fired).toEqual([100]);
    await clock.advance(0);
    expect(fired).toEqual([100]);
    await clock.advance(1);
    expect(fired).toEqual([100, 101]);
  });

  it('fires timers scheduled by timers during the same advance', async () => {
    const clock = testClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 50);
    }, 100);
    await clock.advance(200);
    expect(fired).toEqual([100, 150]);
  });

  it('lets promises settle between timers', async () => {
    const clock = testClock();
    const log: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve().then(() => log.push(`then@${clock.now()}`));
      log.push(`t1@${clock.now()}`);
    }, 10);
    clock.setTimeout(() => log.push(`t2@${clock.now()}`), 20);
    await clock.advance(20);
    expect(log).toEqual(['t1@10', 'then@10', 't2@20']);
  });

  it('clearTimeout() removes a timer; negative delays fire now', async () => {
    const clock = testClock();
    let fired = 0;
    const handle = clock.setTimeout(() => fired++, 10);
    clock.clearTimeout(handle);
    clock.setTimeout(() => fired++, -5);
    expect(clock.nextTimerAt).toBe(0);
    await clock.advance(100);
    expect(fired).toBe(1);
  });

  it('next() jumps to the next timer, and answers false when none is left', async () => {
    const clock = testClock();
    let fired = 0;
    clock.setTimeout(() => fired++, 500);
    clock.setTimeout(() => fired++, 500);
    expect(await clock.next()).toBe(true);
    expect(clock.now()).toBe(500);
    expect(fired).toBe(2);
    expect(await clock.next()).toBe(false);
    expect(clock.now()).toBe(500);
  });

  describe('runUntil', () => {
    it('drives timers until the promise settles and resolves with its value', async () => {
      const clock = testClock();
      const value = new Promise<string>((resolve) => {
        clock.setTimeout(() => clock.setTimeout(() => resolve('done'), 5_000), 60_000);
      });
      expect(await clock.runUntil(value)).toBe('done');
      expect(clock.now()).toBe(65_000);
    });

    it('does not move time when the promise settles without timers', async () => {
      const clock = testClock();
      clock.setTimeout(() => {}, 1_000);
      expect(await clock.runUntil(Promise.resolve(1))).toBe(1);
      expect(clock.now()).toBe(0);
      expect(clock.pendingTimers).toBe(1);
    });

    it('rejects like the promise', async () => {
      const clock = testClock();
      const boom = new Error('boom');
      const failing = new Promise((_, reject) => clock.setTimeout(() => reject(boom), 10));
      expect(await rejection(clock.runUntil(failing))).toBe(boom);
    });

    it('waits for real I/O when no timer is pending', async () => {
      const clock = testClock();
      const io = new Promise<string>((resolve) => setTimeout(() => resolve('io'), 5));
      expect(await clock.runUntil(io)).toBe('io');
      expect(clock.now()).toBe(0);
    });

    it('reports a deadlock: nothing pending and nothing settling', async () => {
      const clock = testClock();
      const error = await rejection(clock.runUntil(new Promise(() => {}), { maxRealMs: 20 }));
      expect(String(error)).toContain('nothing settled');
    });
  });
});
