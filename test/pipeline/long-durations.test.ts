/**
 * Regressions of issue 13 finding 5: durations longer than Node's timers allow (2^31 − 1 ms, about
 * 24.8 days) fired after 1 ms. The clock here behaves as Node's timers do with such a delay, so
 * the tests fail without the chaining and pass with it; time is virtual.
 */
import { describe, expect, it } from 'vitest';
import { type Clock, longTimers, MAX_TIMER_MS } from '../../src/core/clock.js';
import { parseDuration } from '../../src/core/units.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { pushSource } from '../../src/sources/push.js';
import { type TestClock, testClock } from '../../src/testing/clock.js';
import { triggers } from '../../src/triggers/index.js';
import { expectInvalid } from '../support.js';

const DAY = 86_400_000;

/** A test clock whose setTimeout treats a delay past 2^31 − 1 ms as 1 ms, as Node's does. */
function nodeLike(clock: TestClock): Clock {
  return {
    now: () => clock.now(),
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms > MAX_TIMER_MS ? 1 : ms),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}

describe('durations past 2^31 − 1 ms', () => {
  it("triggers.time('30d') does not cut a batch per record", async () => {
    const clock = testClock();
    const sink = memorySink<number>();
    const source = pushSource<number>();
    const p = pipeline({ name: 'monthly', clock: nodeLike(clock) })
      .source(source)
      .trigger(triggers.time('30d'))
      .sink(sink)
      .build();
    await p.start();
    await source.pushMany([1, 2, 3]);
    await clock.advance(1_000);
    expect(sink.batches).toHaveLength(0);
    await clock.advance(29 * DAY);
    expect(sink.batches).toHaveLength(0);
    await clock.advance(DAY);
    expect(sink.batches.map((b) => b.records)).toEqual([[1, 2, 3]]);
    await clock.runUntil(p.stop());
  });

  it("stop({ deadline: '30d' }) does not abort a slow write after 1 ms", async () => {
    const clock = testClock();
    const written: number[] = [];
    const sink: Sink<number> = {
      async write(batch, { signal }) {
        // A write that takes an hour of (virtual) time, aborted only by the deadline.
        await new Promise<void>((resolve, reject) => {
          const timer = clock.setTimeout(resolve, 3_600_000);
          signal.addEventListener('abort', () => {
            clock.clearTimeout(timer);
            reject(signal.reason);
          });
        });
        written.push(...batch.records);
      },
    };
    const source = pushSource<number>();
    const p = pipeline({ name: 'slow', clock: nodeLike(clock) })
      .source(source)
      .sink(sink)
      .build();
    await p.start();
    await source.pushMany([1, 2]);
    const report = await clock.runUntil(p.stop({ deadline: '30d' }));
    expect(report.error).toBeUndefined();
    expect(written).toEqual([1, 2]);
    expect(report.records).toMatchObject({ in: 2, written: 2, undelivered: 0 });
  });

  it("retry.attemptTimeout: '30d' does not time out every attempt", async () => {
    const clock = testClock();
    let attempts = 0;
    const sink: Sink<number> = {
      async write() {
        attempts++;
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 10));
      },
    };
    const source = pushSource<number>();
    const p = pipeline({ name: 'patient', clock: nodeLike(clock), retry: { attemptTimeout: '30d' } })
      .source(source)
      .sink(sink)
      .build();
    const run = clock.runUntil(p.run());
    await source.push(1);
    source.end();
    const report = await run;
    expect(attempts).toBe(1);
    expect(report.records.written).toBe(1);
  });

  it('a chained timer can be cleared at any link', async () => {
    const clock = testClock();
    const long = longTimers(nodeLike(clock));
    let fired = 0;
    const handle = long.setTimeout(() => fired++, 3 * MAX_TIMER_MS);
    await clock.advance(MAX_TIMER_MS + 5);
    long.clearTimeout(handle);
    await clock.advance(3 * MAX_TIMER_MS);
    expect(fired).toBe(0);
    long.setTimeout(() => fired++, 2 * MAX_TIMER_MS + 7);
    await clock.advance(2 * MAX_TIMER_MS + 6);
    expect(fired).toBe(0);
    await clock.advance(1);
    expect(fired).toBe(1);
  });

  it('a duration past 100,000 days is refused with MB_INVALID_OPTIONS', () => {
    expectInvalid(() => parseDuration(1e300, 'stop({ deadline })'), 'at most');
    expectInvalid(() => parseDuration('100001d', 'trigger.window'), 'at most');
    expect(parseDuration('100000d', 'trigger.window')).toBe(100_000 * DAY);
  });
});
