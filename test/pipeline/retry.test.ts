import { describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { backoffDelay, type RetryContext, type RetryPolicy, withRetry } from '../../src/pipeline/retry.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, rejection } from '../support.js';

const policy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy => ({
  maxAttempts: Number.POSITIVE_INFINITY,
  initialDelay: 100,
  maxDelay: 1_000,
  attemptTimeout: Number.POSITIVE_INFINITY,
  ...overrides,
});

const retryable = () => new MicrobatchError('MB_SINK_FAILED', 'busy', { retryable: true });

function context(overrides: Partial<RetryContext> = {}): RetryContext {
  return {
    clock: testClock(),
    policy: policy(),
    signal: new AbortController().signal,
    failure: 'MB_SINK_FAILED',
    what: "pipeline 'p': sink write",
    ...overrides,
  };
}

describe('backoffDelay', () => {
  it('is full jitter under a doubling ceiling capped by maxDelay', () => {
    const p = policy();
    expect(backoffDelay(1, p, undefined, () => 0)).toBe(0);
    expect(backoffDelay(1, p, undefined, () => 0.999)).toBe(99);
    expect(backoffDelay(2, p, undefined, () => 0.999)).toBe(199);
    expect(backoffDelay(3, p, undefined, () => 0.5)).toBe(200);
    expect(backoffDelay(10, p, undefined, () => 0.999)).toBe(999);
    expect(backoffDelay(1_000, p, undefined, () => 0.999)).toBe(999);
  });

  it('uses the server’s retryAfter as a floor, even above maxDelay', () => {
    const p = policy();
    expect(backoffDelay(1, p, { retryAfter: 500 }, () => 0)).toBe(500);
    expect(backoffDelay(1, p, { retryAfter: 5_000 }, () => 0)).toBe(5_000);
  });
});

describe('withRetry', () => {
  it('returns the result and the attempts on success', async () => {
    expect(await withRetry(context(), () => 42)).toEqual({ result: 42, attempts: 1 });
    expect(await withRetry(context(), async ({ attempt }) => attempt)).toEqual({ result: 1, attempts: 1 });
  });

  it('retries retryable errors after the back-off, reporting each retry', async () => {
    const clock = testClock();
    const retries: [number, number][] = [];
    let calls = 0;
    const done = withRetry(
      context({ clock, random: () => 0.5, onRetry: (attempt, delay) => retries.push([attempt, delay]) }),
      ({ attempt }) => {
        calls++;
        if (attempt < 3) throw retryable();
        return 'ok';
      },
    );
    expect(await clock.runUntil(done)).toEqual({ result: 'ok', attempts: 3 });
    expect(retries).toEqual([
      [1, 50],
      [2, 100],
    ]);
    expect(clock.now()).toBe(150);
    expect(calls).toBe(3);
  });

  it('fails at once on a fatal error, with the failure code and the cause', async () => {
    const bug = new TypeError('x is not a function');
    let calls = 0;
    const error = expectCode(
      await rejection(
        withRetry(context({ failure: 'MB_COMMIT_FAILED' }), () => {
          calls++;
          throw bug;
        }),
      ),
      'MB_COMMIT_FAILED',
    );
    expect(error.cause).toBe(bug);
    expect(error.message).toBe("pipeline 'p': sink write failed: x is not a function");
    expect(calls).toBe(1);
  });

  it('fails after maxAttempts retryable failures', async () => {
    const clock = testClock();
    let calls = 0;
    const done = withRetry(context({ clock, policy: policy({ maxAttempts: 4 }) }), () => {
      calls++;
      throw retryable();
    });
    const error = expectCode(await clock.runUntil(rejection(done)), 'MB_SINK_FAILED');
    expect(error.message).toContain('after 4 attempts: busy');
    expect(calls).toBe(4);
  });

  it('times an attempt out with a retryable MB_TIMEOUT and aborts its signal', async () => {
    const clock = testClock();
    const signals: AbortSignal[] = [];
    const errors: unknown[] = [];
    const done = withRetry(
      context({ clock, policy: policy({ attemptTimeout: 1_000 }), onRetry: (_, __, e) => errors.push(e) }),
      ({ signal, attempt }) => {
        signals.push(signal);
        return attempt === 1 ? new Promise<string>(() => {}) : 'second';
      },
    );
    expect(await clock.runUntil(done)).toEqual({ result: 'second', attempts: 2 });
    expect(signals[0]!.aborted).toBe(true);
    expectCode(signals[0]!.reason, 'MB_TIMEOUT');
    expectCode(errors[0], 'MB_TIMEOUT');
    expect(signals[1]!.aborted).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('stops with MB_ABORTED when the operation is aborted mid-attempt or mid-wait', async () => {
    const clock = testClock();
    const controller = new AbortController();
    const done = withRetry(context({ clock, signal: controller.signal }), () => new Promise<never>(() => {}));
    controller.abort(new Error('shutdown'));
    const error = expectCode(await rejection(done), 'MB_ABORTED');
    expect((error.cause as Error).message).toBe('shutdown');

    const waiting = new AbortController();
    const retrying = withRetry(context({ clock, signal: waiting.signal }), () => {
      throw retryable();
    });
    await clock.advance(0);
    waiting.abort();
    expectCode(await rejection(retrying), 'MB_ABORTED');
  });

  it('passes a MicrobatchError abort reason through unchanged', async () => {
    const reason = new MicrobatchError('MB_CLOSED', 'deadline passed');
    const error = await rejection(withRetry(context({ signal: AbortSignal.abort(reason) }), () => 1));
    expect(error).toBe(reason);
  });
});
