import { describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { memorySink } from '../../src/sinks/memory.js';
import { testClock } from '../../src/testing/clock.js';
import { type FlakyCall, flakySink } from '../../src/testing/flaky-sink.js';
import { makeBatch } from '../sinks/batches.js';
import { expectCode, rejection, settle } from '../support.js';

const options = (attempt = 1, signal = new AbortController().signal) => ({ signal, attempt });

describe('flakySink', () => {
  it('follows an array schedule call by call, then lets calls through', async () => {
    const clock = testClock();
    const sink = flakySink<number>({
      clock,
      schedule: [{ fail: 'retryable', retryAfter: 750 }, { fail: 'fatal' }, {}],
    });
    expect(sink.kind).toBe('flaky');
    const batch = makeBatch([1, 2]);

    const first = expectCode(
      await rejection(Promise.resolve(sink.write(batch, options()))),
      'MB_SINK_FAILED',
    );
    expect(first.retryable).toBe(true);
    expect(first.retryAfter).toBe(750);
    expect(first.message).toContain('retryable failure on call 1');

    const second = expectCode(
      await rejection(Promise.resolve(sink.write(batch, options(2)))),
      'MB_SINK_FAILED',
    );
    expect(second.retryable).toBe(false);

    await sink.write(batch, options(3));
    await sink.write(makeBatch([3], 2), options());
    expect(sink.calls).toBe(4);
    expect(sink.failures).toBe(2);
    expect(sink.memory!.records).toEqual([1, 2, 3]);
  });

  it('delays a call on the clock', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: [{ delay: 500 }] });
    let done = false;
    void Promise.resolve(sink.write(makeBatch([1]), options())).then(() => {
      done = true;
    });
    await clock.advance(499);
    expect(done).toBe(false);
    expect(sink.inFlight).toBe(1);
    await clock.advance(1);
    expect(done).toBe(true);
    expect(sink.inFlight).toBe(0);
  });

  it('hangs until the write is aborted', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: [{ fail: 'hang' }] });
    const controller = new AbortController();
    const write = Promise.resolve(sink.write(makeBatch([1]), options(1, controller.signal)));
    await clock.advance(1e9);
    expect(sink.inFlight).toBe(1);
    const reason = new Error('gave up');
    controller.abort(reason);
    expect(await rejection(write)).toBe(reason);
    expect(sink.inFlight).toBe(0);
    expect(sink.memory!.records).toEqual([]);
  });

  it('decides per call with a function schedule that sees call, attempt, batch and time', async () => {
    const clock = testClock(100);
    const seen: FlakyCall<number>[] = [];
    const sink = flakySink<number>({
      clock,
      schedule: (call) => {
        seen.push(call);
        return call.attempt === 1 ? { fail: 'retryable' } : undefined;
      },
    });
    const batch = makeBatch([7]);
    const error = await rejection(Promise.resolve(sink.write(batch, options(1))));
    expect(MicrobatchError.is(error, 'MB_SINK_FAILED')).toBe(true);
    await sink.write(batch, options(2));
    expect(seen.map((c) => [c.call, c.attempt, c.batch.id, c.now])).toEqual([
      [1, 1, batch.id, 100],
      [2, 2, batch.id, 100],
    ]);
  });

  it('returns a back-pressure hint with a successful write', async () => {
    const sink = flakySink<number>({ clock: testClock(), schedule: [{ backpressure: 0.8 }] });
    expect(await sink.write(makeBatch([1]), options())).toEqual({ backpressure: 0.8 });
    expect(await sink.write(makeBatch([2], 1), options())).toBeUndefined();
  });

  it('tracks the most writes in flight at once', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: () => ({ delay: 100 }) });
    const writes = [0, 1, 2].map((i) => Promise.resolve(sink.write(makeBatch([i], i), options())));
    await settle();
    expect(sink.inFlight).toBe(3);
    await clock.advance(100);
    await Promise.all(writes);
    expect(sink.maxInFlight).toBe(3);
    expect(sink.inFlight).toBe(0);
  });

  it('forwards successful writes, open and close to an inner sink', async () => {
    const inner = memorySink<number>();
    let opened = 0;
    let closed = 0;
    const wrapped = {
      ...inner,
      write: inner.write,
      open: () => {
        opened++;
      },
      close: () => {
        closed++;
      },
    };
    const sink = flakySink<number>({ clock: testClock(), schedule: [], inner: wrapped });
    expect(sink.memory).toBeUndefined();
    expect(sink.inner).toBe(wrapped);
    await sink.open?.({ pipeline: 'p', clock: testClock(), logger: console });
    await sink.write(makeBatch([5]), options());
    await sink.close?.();
    expect(inner.records).toEqual([5]);
    expect([opened, closed]).toEqual([1, 1]);
  });
});
