import { afterEach, describe, expect, it, vi } from 'vitest';
import { sleep, systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { testClock } from '../../src/testing/clock.js';
import { rejection } from '../support.js';

describe('sleep', () => {
  it('resolves when the clock reaches the delay', async () => {
    const clock = testClock(1_000);
    let done = false;
    void sleep(clock, 500).then(() => {
      done = true;
    });
    await clock.advance(499);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
    expect(clock.now()).toBe(1_500);
  });

  it('rejects with the abort reason and clears its timer', async () => {
    const clock = testClock();
    const controller = new AbortController();
    const slept = sleep(clock, 1_000, controller.signal);
    expect(clock.pendingTimers).toBe(1);
    const reason = new Error('stop');
    controller.abort(reason);
    expect(await rejection(slept)).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const clock = testClock();
    const reason = new Error('already');
    expect(await rejection(sleep(clock, 10, AbortSignal.abort(reason)))).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('looks the globals up at call time, so fake timers drive it', () => {
    vi.useFakeTimers({ now: 5_000 });
    expect(systemClock.now()).toBe(5_000);
    let fired = false;
    systemClock.setTimeout(() => {
      fired = true;
    }, 100);
    vi.advanceTimersByTime(99);
    expect(fired).toBe(false);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(true);
  });

  it('clears a timer', () => {
    vi.useFakeTimers();
    let fired = false;
    const handle = systemClock.setTimeout(() => {
      fired = true;
    }, 10);
    systemClock.clearTimeout(handle);
    vi.advanceTimersByTime(100);
    expect(fired).toBe(false);
  });
});

describe('silentLogger', () => {
  it('has the four pino-shaped methods and logs nothing', () => {
    for (const method of ['debug', 'info', 'warn', 'error'] as const) {
      expect(silentLogger[method]({ a: 1 }, 'message')).toBeUndefined();
    }
  });
});
