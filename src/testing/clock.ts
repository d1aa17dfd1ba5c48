import type { Clock, TimerHandle } from '../core/clock.js';

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/** A {@link Clock} that moves only when told to; timers fire in time order, ties in creation order. */
export interface TestClock extends Clock {
  /** Timers scheduled and not yet fired or cleared. */
  readonly pendingTimers: number;
  /** When the next timer fires, or `undefined` when none is scheduled. */
  readonly nextTimerAt: number | undefined;
  /**
   * Moves time forward by `ms`, firing every timer due on the way at its own time, and letting
   * promises settle after each one.
   */
  advance(ms: number): Promise<void>;
  /** Moves time to the next timer and fires it (and any other timer due at the same time). */
  next(): Promise<boolean>;
  /**
   * Drives time until `promise` settles: settles promises, fires the next timer when nothing else
   * can happen, and waits for real I/O when no timer is left. Resolves or rejects like `promise`.
   * Throws after `maxRealMs` of real time without settling (a deadlock in the code under test).
   */
  runUntil<T>(promise: Promise<T>, options?: { maxRealMs?: number }): Promise<T>;
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A manual clock for deterministic tests: nothing depends on wall time.
 * @param start the initial `now()` in ms since the epoch. @default 0
 */
export function testClock(start = 0): TestClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, Timer>();

  const earliest = (): Timer | undefined => {
    let first: Timer | undefined;
    for (const timer of timers.values()) {
      if (first === undefined || timer.at < first.at || (timer.at === first.at && timer.id < first.id))
        first = timer;
    }
    return first;
  };

  const fireDue = async (until: number): Promise<boolean> => {
    let fired = false;
    for (let timer = earliest(); timer !== undefined && timer.at <= until; timer = earliest()) {
      timers.delete(timer.id);
      now = Math.max(now, timer.at);
      timer.callback();
      fired = true;
      await settle();
    }
    return fired;
  };

  const clock: TestClock = {
    now: () => now,
    setTimeout(callback, ms): TimerHandle {
      const id = nextId++;
      timers.set(id, { id, at: now + Math.max(0, ms), callback });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    get pendingTimers() {
      return timers.size;
    },
    get nextTimerAt() {
      return earliest()?.at;
    },
    async advance(ms) {
      await settle();
      const target = now + ms;
      await fireDue(target);
      now = Math.max(now, target);
      await settle();
    },
    async next() {
      await settle();
      const timer = earliest();
      if (timer === undefined) return false;
      await fireDue(timer.at);
      return true;
    },
    async runUntil(promise, options = {}) {
      const maxRealMs = options.maxRealMs ?? 20_000;
      let settled = false;
      promise.then(
        () => {
          settled = true;
        },
        () => {
          settled = true;
        },
      );
      const startedAt = Date.now();
      while (!settled) {
        // Let every promise that can settle do so before time moves.
        for (let i = 0; i < 3 && !settled; i++) await settle();
        if (settled) break;
        if (timers.size > 0) {
          await clock.next();
        } else {
          if (Date.now() - startedAt > maxRealMs) {
            throw new Error(
              `testClock.runUntil: nothing settled after ${maxRealMs}ms of real time and no timer is pending`,
            );
          }
          // Real I/O (a file write) is in progress: give it real time.
          await new Promise((resolve) => globalThis.setTimeout(resolve, 1));
        }
      }
      return promise;
    },
  };
  return clock;
}
