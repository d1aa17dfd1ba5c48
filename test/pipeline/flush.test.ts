/**
 * `flush()` (cut every lane now, resolve once committed), `onIdle()` (resolve when nothing is left
 * to do) and `start()` after `stop()` (MB_CLOSED), on the injected clock.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, rejection, settle } from '../support.js';

/** A push pipeline whose time window (1 h) never cuts by itself during a test. */
function hourly(options: { writeMs?: number } = {}) {
  const clock = testClock();
  const source = pushSource<number>({ highWaterMark: 1_000 });
  const sink = flakySink<number>({ clock, schedule: () => ({ delay: options.writeMs ?? 0 }) });
  const p = pipeline({ name: 'hourly', clock })
    .source(source)
    .trigger(triggers.time('1h'))
    .sink(sink)
    .build();
  const committed: number[] = [];
  p.on('commit', (e) => committed.push(e.offset));
  return { clock, source, sink, p, committed };
}

describe('flush()', () => {
  it('cuts every lane now, with reason flush, and resolves once the batch is committed', async () => {
    const { clock, source, sink, p, committed } = hourly({ writeMs: 500 });
    await p.start();
    await source.pushMany([1, 2, 3]);
    let flushed = false;
    const cut = new Promise<number>((resolve) => p.on('flush', () => resolve(clock.now())));
    const flushing = p.flush().then(() => {
      flushed = true;
    });
    const cutAt = await clock.runUntil(cut);
    // The write takes 500 ms: not committed before that.
    await clock.advance(499);
    expect(flushed).toBe(false);
    await clock.runUntil(flushing);
    expect(clock.now()).toBe(cutAt + 500);
    expect(sink.memory!.batches.map((b) => [b.reason, b.records])).toEqual([['flush', [1, 2, 3]]]);
    expect(committed).toEqual([2]);
    // Nothing buffered: a second flush has nothing to cut and resolves at once.
    await clock.runUntil(p.flush());
    expect(sink.memory!.batches).toHaveLength(1);
    await source.push(4);
    await clock.runUntil(p.flush());
    expect(sink.memory!.batches.map((b) => b.records)).toEqual([[1, 2, 3], [4]]);
    const report = await clock.runUntil(p.stop());
    expect(report.batches.byReason).toEqual({ flush: 2 });
  });

  it('rejects before start(), and with the failure as the cause when the write fails', async () => {
    const clock = testClock();
    const source = pushSource<number>();
    const sink = flakySink<number>({ clock, schedule: [{ fail: 'fatal' }] });
    const p = pipeline({ name: 'failing', clock })
      .source(source)
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    expectCode(await rejection(p.flush()), 'MB_CLOSED');
    expectCode(await rejection(p.onIdle()), 'MB_CLOSED');
    const run = rejection(p.run());
    await p.start();
    await source.push(1);
    const error = expectCode(await clock.runUntil(rejection(p.flush())), 'MB_CLOSED');
    const failure = expectCode(await clock.runUntil(run), 'MB_SINK_FAILED');
    expect(error.cause).toBe(failure);
    expectCode(error.cause, 'MB_SINK_FAILED');
  });

  test.prop([fc.array(fc.array(fc.integer(), { maxLength: 20 }), { minLength: 1, maxLength: 8 })], {
    numRuns: 50,
  })('after each flush(), everything pushed so far is committed, in order, nothing twice', async (rounds) => {
    const { clock, source, sink, p } = hourly({ writeMs: 7 });
    await p.start();
    const pushed: number[] = [];
    for (const round of rounds) {
      await source.pushMany(round);
      pushed.push(...round);
      await clock.runUntil(p.flush());
      expect(sink.memory!.records).toEqual(pushed);
    }
    const report = await clock.runUntil(p.stop());
    expect(report.records).toMatchObject({ in: pushed.length, written: pushed.length, undelivered: 0 });
  });
});

describe('onIdle()', () => {
  it('waits for the window to cut (it cuts nothing itself), then for the commit', async () => {
    const { clock, source, p, committed } = hourly({ writeMs: 10 });
    await p.start();
    await source.pushMany([1, 2]);
    let idle = false;
    const waiting = p.onIdle().then(() => {
      idle = true;
    });
    await clock.advance(3_600_000 - 1);
    expect(idle).toBe(false);
    expect(committed).toEqual([]);
    await clock.runUntil(waiting);
    expect(committed).toEqual([1]);
    expect(clock.now()).toBe(3_600_000 + 10);
    expect(p.metrics().inFlight.batches).toBe(0);
    await clock.runUntil(p.stop());
  });

  it('resolves at once on an idle running pipeline, and once the pipeline has completed', async () => {
    const { clock, p } = hourly();
    await p.start();
    await clock.runUntil(p.onIdle());
    const finite = pipeline({ name: 'finite', clock })
      .source(fromIterable([1, 2, 3]))
      .sink(memorySink())
      .build();
    const report = await clock.runUntil(finite.run());
    expect(report.status).toBe('completed');
    await finite.onIdle();
    await clock.runUntil(p.stop());
  });
});

describe('start() after stop()', () => {
  it('rejects with MB_CLOSED once the pipeline was stopped or has completed; run() keeps its outcome', async () => {
    const { clock, source, p } = hourly();
    await p.start();
    await source.push(1);
    const report = await clock.runUntil(p.stop());
    const error = expectCode(await rejection(p.start()), 'MB_CLOSED');
    expect(error.message).toBe("pipeline 'hourly' was already stopped; build a new one to run again");
    expect(await p.run()).toBe(report);
    const finite = pipeline({ name: 'finite', clock })
      .source(fromIterable([1]))
      .sink(memorySink())
      .build();
    await clock.runUntil(finite.run());
    expectCode(await rejection(finite.start()), 'MB_CLOSED');
    await settle();
  });
});
