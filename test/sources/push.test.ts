import { describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, expectInvalid, listed, rejection, settle, sourceContext } from '../support.js';

/** Tracks whether a promise settled, without awaiting it. */
function track(promise: Promise<unknown>) {
  const state = { settled: false, error: undefined as unknown };
  promise.then(
    () => {
      state.settled = true;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

/** A push source (high-water mark 1) into a 100-byte budget and a sink that takes 1 s per write. */
function budgetedPipeline() {
  const clock = testClock();
  const source = pushSource<string>({ highWaterMark: 1 });
  const sink = flakySink<string>({ clock, schedule: () => ({ delay: 1_000 }) });
  const p = pipeline({ name: 'push', clock, maxBufferBytes: 100, maxRecordBytes: 100 })
    .source(source)
    .trigger(triggers.time('1h'))
    .sink(sink)
    .build();
  return { clock, source, sink, p };
}

describe('pushSource: back-pressure', () => {
  it('resolves push() at once up to the high-water mark', async () => {
    const source = pushSource<number>({ highWaterMark: 3 });
    const pushes = [1, 2, 3].map((n) => track(source.push(n)));
    await settle();
    expect(pushes.every((p) => p.settled && p.error === undefined)).toBe(true);
    expect(source.pending).toBe(3);
  });

  it('makes push() wait above the high-water mark until the pipeline takes records', async () => {
    const source = pushSource<number>({ highWaterMark: 2 });
    void source.push(1);
    void source.push(2);
    const third = track(source.push(3));
    const fourth = track(source.push(4));
    await settle();
    expect(third.settled).toBe(false);
    expect(fourth.settled).toBe(false);
    expect(source.pending).toBe(4);

    const reader = await source.open(sourceContext());
    const chunk = listed(await reader.read());
    expect(chunk).toEqual({ partition: '0', values: [1, 2, 3, 4], offsets: [0, 1, 2, 3] });
    await settle();
    expect(third).toEqual({ settled: true, error: undefined });
    expect(fourth).toEqual({ settled: true, error: undefined });
    expect(source.pending).toBe(0);
  });

  it('pushMany() resolves once all its records fit under the mark', async () => {
    const source = pushSource<string>({ highWaterMark: 2 });
    const many = track(source.pushMany(['a', 'b', 'c']));
    await settle();
    expect(many.settled).toBe(false);
    const reader = await source.open(sourceContext());
    expect((await reader.read())?.values).toEqual(['a', 'b', 'c']);
    await settle();
    expect(many.settled).toBe(true);
  });

  it('accepts metadata: partition, offset, event time, key', async () => {
    const source = pushSource<string>();
    void source.push('a', { partition: 'p', offset: 7, eventTime: 1_000, key: 'k' });
    void source.push('b', { partition: 'p' });
    const reader = await source.open(sourceContext());
    expect(listed(await reader.read())).toEqual({
      partition: 'p',
      values: ['a', 'b'],
      offsets: [7, 8],
      eventTimes: [1_000, undefined],
      keys: ['k', undefined],
    });
  });

  it('rejects a push whose offset goes backwards with MB_SOURCE_FAILED', async () => {
    const source = pushSource<string>();
    await source.push('a', { offset: 5 });
    expectCode(await rejection(source.push('b', { offset: 5 })), 'MB_SOURCE_FAILED');
    expectCode(await rejection(source.pushMany(['c'], { offset: 1 })), 'MB_SOURCE_FAILED');
  });

  it('a read waits for the next push', async () => {
    const source = pushSource<number>();
    const reader = await source.open(sourceContext());
    const read = reader.read() as Promise<unknown>;
    const state = track(read);
    await settle();
    expect(state.settled).toBe(false);
    await source.push(1);
    expect(await read).toMatchObject({ values: [1] });
  });
});

describe('pushSource: ending and closing', () => {
  it('rejects push() and pushMany() after end() with MB_CLOSED', async () => {
    const source = pushSource<number>();
    source.end();
    const error = expectCode(await rejection(source.push(1)), 'MB_CLOSED');
    expect(error.message).toContain('after end()');
    expectCode(await rejection(source.pushMany([1, 2])), 'MB_CLOSED');
  });

  it('reads what was pushed before end(), then null', async () => {
    const source = pushSource<number>();
    void source.push(1);
    source.end();
    const reader = await source.open(sourceContext());
    expect((await reader.read())?.values).toEqual([1]);
    expect(await reader.read()).toBeNull();
  });

  it('close() rejects waiting pushes with MB_CLOSED and later pushes too', async () => {
    const source = pushSource<number>({ highWaterMark: 1 });
    const reader = await source.open(sourceContext());
    void source.push(1);
    const waiting = track(source.push(2));
    await settle();
    expect(waiting.settled).toBe(false);
    await reader.close();
    await settle();
    expect(MicrobatchError.is(waiting.error, 'MB_CLOSED')).toBe(true);
    expectCode(await rejection(source.push(3)), 'MB_CLOSED');
  });

  it('rejects bad options', () => {
    expectInvalid(() => pushSource({ highWaterMark: 0 }), 'pushSource({ highWaterMark })', 'got 0');
    expectInvalid(() => pushSource({ highWaterMark: 2.5 }), 'pushSource({ highWaterMark })');
    expectInvalid(() => pushSource({ partition: 1 as never }), 'pushSource({ partition })');
  });
});

describe('pushSource in a pipeline', () => {
  it('stop({ drain: true }) delivers everything already pushed', async () => {
    const clock = testClock();
    const source = pushSource<number>({ highWaterMark: 100 });
    const sink = memorySink<number>();
    const p = pipeline({ name: 'push', clock })
      .source(source)
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    await p.start();
    for (let i = 0; i < 10; i++) void source.push(i);
    const report = await clock.runUntil(p.stop({ drain: true }));
    expect(sink.records).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(report.status).toBe('stopped');
    expect(report.records).toMatchObject({ in: 10, written: 10, undelivered: 0 });
    expect(report.batches.byReason).toEqual({ drain: 1 });
    expectCode(await rejection(source.push(99)), 'MB_CLOSED');
  });

  it('run() resolves once end() is called and everything is written', async () => {
    const clock = testClock();
    const source = pushSource<string>();
    const sink = memorySink<string>();
    const p = pipeline({ name: 'push', clock }).source(source).sink(sink).build();
    const run = p.run();
    await source.pushMany(['a', 'b']);
    await source.push('c');
    source.end();
    const report = await clock.runUntil(run);
    expect(report.status).toBe('completed');
    expect(sink.records).toEqual(['a', 'b', 'c']);
  });

  it('holds a producer back while the pipeline is paused by its memory budget', async () => {
    const { clock, source, sink, p } = budgetedPipeline();
    const paused: number[] = [];
    p.on('pause', () => paused.push(clock.now()));
    await p.start();
    const record = 'r'.repeat(40); // 42 bytes: two fit the budget of 100
    let accepted = 0;
    const producer = (async () => {
      for (let i = 0; i < 10; i++) {
        await source.push(record);
        accepted++;
      }
      source.end();
    })();
    for (let i = 0; i < 10; i++) await settle();
    expect(paused).toEqual([0]);
    expect(p.metrics().paused).toBe(true);
    const heldBack = accepted;
    expect(heldBack).toBeLessThan(10);
    for (let i = 0; i < 10; i++) await settle();
    expect(accepted).toBe(heldBack); // no time passed, no write finished: still held back
    const report = await clock.runUntil(Promise.all([producer, p.run()]).then(([, r]) => r));
    expect(accepted).toBe(10);
    expect(sink.memory!.records).toHaveLength(10);
    expect(report.records).toMatchObject({ in: 10, written: 10 });
  });

  it('on stop({ drain: false }), every push either rejects with MB_CLOSED or is accounted for in the report', async () => {
    const { clock, source, p } = budgetedPipeline();
    await p.start();
    const record = 'r'.repeat(40);
    const outcomes: ('accepted' | 'closed' | 'other')[] = [];
    const producer = (async () => {
      for (let i = 0; i < 10; i++) {
        try {
          await source.push(record);
          outcomes.push('accepted');
        } catch (error) {
          outcomes.push(MicrobatchError.is(error, 'MB_CLOSED') ? 'closed' : 'other');
          return;
        }
      }
    })();
    for (let i = 0; i < 10; i++) await settle();
    expect(p.metrics().paused).toBe(true);
    const report = await clock.runUntil(p.stop({ drain: false }));
    await producer;
    expect(report.status).toBe('stopped');
    // The producer was waiting on a push when the pipeline stopped: it learns so.
    expect(outcomes.at(-1)).toBe('closed');
    expect(outcomes).not.toContain('other');
    // A push that resolved handed its record over: it must be written or reported, never lost silently.
    const accepted = outcomes.filter((o) => o === 'accepted').length;
    expect(report.records.written + report.records.undelivered).toBe(report.records.in);
    expect(report.records.in).toBe(accepted);
  });

  // A push waiting above the high-water mark when the pipeline fails rejects with MB_CLOSED, the
  // failure as its cause: push-closed.test.ts ('carries the failure as the cause…').
});
