/**
 * Small helpers shared by the unit tests: catching errors, checking their codes, a source context
 * and a watch on unhandled rejections. Nothing here reads the wall clock.
 */
import { expect } from 'vitest';
import type { Clock } from '../src/core/clock.js';
import { type ErrorCode, MicrobatchError } from '../src/core/errors.js';
import { silentLogger } from '../src/core/logger.js';
import type { SourceChunk, SourceContext } from '../src/sources/types.js';
import { testClock } from '../src/testing/clock.js';

/** The value `fn` throws; fails the test when it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, it returned');
}

/** The reason `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, it resolved');
}

/** Asserts `error` is a MicrobatchError with `code` and returns it typed. */
export function expectCode(error: unknown, code: ErrorCode): MicrobatchError {
  expect(MicrobatchError.is(error), `expected a MicrobatchError ${code}, got ${String(error)}`).toBe(true);
  expect((error as MicrobatchError).code).toBe(code);
  return error as MicrobatchError;
}

/** Asserts `fn` throws MB_INVALID_OPTIONS whose message contains every fragment. */
export function expectInvalid(fn: () => unknown, ...fragments: string[]): MicrobatchError {
  const error = expectCode(thrown(fn), 'MB_INVALID_OPTIONS');
  for (const fragment of fragments) expect(error.message).toContain(fragment);
  return error;
}

/** A context for opening a source directly, outside a pipeline. */
export function sourceContext(
  clock: Clock = testClock(),
  signal: AbortSignal = new AbortController().signal,
): SourceContext {
  return { pipeline: 'unit', clock, logger: silentLogger, signal };
}

/** Collects unhandled rejections while a test runs; `stop()` removes the listener. */
export function watchUnhandledRejections(): { readonly reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', listener);
  return {
    reasons,
    stop: () => {
      process.off('unhandledRejection', listener);
    },
  };
}

/** Lets pending promise callbacks and immediates run (no time passes on any clock). */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A chunk in one canonical shape, for comparisons: offsets always listed (sources may give
 * `firstOffset` instead for consecutive offsets), without the `owned` hint.
 */
export function listed<T>(chunk: SourceChunk<T> | null): SourceChunk<T> | null {
  if (chunk === null) return null;
  const { firstOffset, owned: _owned, ...rest } = chunk;
  const offsets = chunk.offsets ?? chunk.values.map((_, i) => firstOffset! + i);
  return { ...rest, offsets };
}

/**
 * Matches the id of a batch of a run that cannot replay: `<prefix><run epoch>.<range>` (see
 * src/pipeline/run-epoch.ts), whatever the epoch.
 */
export function bestEffortId(prefix: string, range: string): unknown {
  const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return expect.stringMatching(new RegExp(`^${quote(prefix)}r[0-9a-z]{9}-[0-9a-f]{8}\\.${quote(range)}$`));
}
