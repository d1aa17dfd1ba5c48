/** A handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * The source of time for a pipeline. Inject one in tests (see `microbatch/testing`'s `testClock()`);
 * the default reads the globals at call time, so `vi.useFakeTimers()` also works.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The wall clock: `Date.now` and the global timers, looked up on every call. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => {
    const handle = globalThis.setTimeout(callback, ms);
    return handle;
  },
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/** Resolves after `ms` on `clock`; rejects with the signal's reason when aborted. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The longest delay Node's timers honour: 2^31 − 1 ms (about 24.8 days). A longer one fires after
 * 1 ms with a `TimeoutOverflowWarning` — `stop({ deadline: '30d' })` aborted writes at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const LONG = Symbol.for('microbatch.longTimers');

/** The handle of a chained timer: the link armed now. */
interface Chain {
  handle: TimerHandle;
}
const chains = new WeakSet<Chain>();

/**
 * `clock` with timers of any length: a delay past {@link MAX_TIMER_MS} is waited for as a chain of
 * shorter timers, each re-armed for what is left, so it never fires early on Node's timers nor on
 * a user's clock built on them. Shorter delays go straight to `clock`.
 */
export function longTimers(clock: Clock): Clock {
  if ((clock as { [LONG]?: true })[LONG]) return clock;
  return {
    [LONG]: true,
    now: () => clock.now(),
    setTimeout(callback, ms) {
      if (!(ms > MAX_TIMER_MS)) return clock.setTimeout(callback, ms);
      const chain: Chain = { handle: undefined };
      const arm = (left: number) => {
        chain.handle = clock.setTimeout(
          () => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : callback()),
          Math.min(left, MAX_TIMER_MS),
        );
      };
      arm(ms);
      chains.add(chain);
      return chain;
    },
    clearTimeout(handle) {
      if (typeof handle === 'object' && handle !== null && chains.has(handle as Chain)) {
        clock.clearTimeout((handle as Chain).handle);
      } else clock.clearTimeout(handle);
    },
  } as Clock;
}
