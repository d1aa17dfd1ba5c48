import { afterEach, describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { scriptedSource } from '../../src/testing/scripted-source.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, rejection, settle, watchUnhandledRejections } from '../support.js';

let watch: ReturnType<typeof watchUnhandledRejections> | undefined;

afterEach(() => {
  watch?.stop();
  watch = undefined;
});

/** A pipeline over a push source with a one-hour window, so nothing flushes unless told to. */
function hourly(sink = memorySink<number>(), options: { signal?: AbortSignal } = {}) {
  const clock = testClock();
  const source = pushSource<number>();
  const p = pipeline({ name: 'stopper', clock, ...options })
    .source(source)
    .trigger(triggers.time('1h'))
    .sink(sink)
    .build();
  return { clock, source, sink, p };
}

/** A pipeline whose first write hangs until aborted, fed by a push source, batches of 2. */
function hangingPipeline() {
  const clock = testClock();
  const source = pushSource<number>();
  const sink = flakySink<number>({ clock, schedule: [{ fail: 'hang' }] });
  const p = pipeline({ name: 'stopper', clock })
    .source(source)
    .trigger(triggers.volume({ records: 2 }))
    .sink(sink)
    .build();
  return { clock, source, sink, p };
}

describe('pipeline stop()', () => {
  it('drains by default: flushes the lanes, writes and commits, resolves with the report', async () => {
    const { clock, source, sink, p } = hourly();
    const run = p.run();
    await source.pushMany([1, 2, 3]);
    await clock.advance(10);
    const report = await clock.runUntil(p.stop());
    expect(sink.records).toEqual([1, 2, 3]);
    expect(report).toMatchObject({
      status: 'stopped',
      records: { in: 3, written: 3, undelivered: 0 },
      batches: { written: 1, byReason: { drain: 1 } },
      committed: { '0': 2 },
      undelivered: [],
    });
    expect(report.error).toBeUndefined();
    expect(await run).toEqual(report);
    expect(p.status).toBe('stopped');
  });

  it('stop({ drain: false }) reports buffered records as undelivered and writes nothing more', async () => {
    const { clock, source, sink, p } = hourly();
    const run = p.run();
    await source.pushMany([1, 2, 3, 4]);
    await clock.advance(10);
    const report = await clock.runUntil(p.stop({ drain: false }));
    expect(sink.records).toEqual([]);
    expect(report.status).toBe('stopped');
    expect(report.undelivered).toEqual([
      { partition: '0', firstOffset: 0, lastOffset: 3, records: 4, state: 'buffered' },
    ]);
    expect(report.records).toMatchObject({ in: 4, written: 0, undelivered: 4 });
    expect(report.committed).toEqual({});
    expect(report.error).toBeUndefined();
    expect((await run).status).toBe('stopped');
  });

  it('stop({ drain: false }) still lets writes in flight finish and commit', async () => {
    const clock = testClock();
    const source = pushSource<number>();
    const sink = flakySink<number>({ clock, schedule: [{ delay: 1_000 }] });
    const p = pipeline({ name: 'stopper', clock })
      .source(source)
      .trigger(triggers.volume({ records: 2 }))
      .sink(sink)
      .build();
    await p.start();
    await source.pushMany([1, 2, 3]);
    await clock.advance(0);
    const report = await clock.runUntil(p.stop({ drain: false }));
    expect(sink.memory!.records).toEqual([1, 2]);
    expect(report.committed).toEqual({ '0': 1 });
    expect(report.undelivered).toEqual([
      { partition: '0', firstOffset: 2, lastOffset: 2, records: 1, state: 'buffered' },
    ]);
  });

  it('past its deadline, aborts a hanging write and reports it undelivered with MB_CLOSED', async () => {
    watch = watchUnhandledRejections();
    const { clock, source, sink, p } = hangingPipeline();
    await p.start();
    await source.pushMany([1, 2, 3]);
    await clock.advance(0);
    const report = await clock.runUntil(p.stop({ deadline: '5s' }));
    expect(clock.now()).toBe(5_000);
    expect(report.error?.code).toBe('MB_CLOSED');
    expect(report.error?.message).toContain('deadline');
    expect(report.undelivered).toContainEqual(
      expect.objectContaining({ partition: '0', firstOffset: 0, lastOffset: 1, records: 2 }),
    );
    expect(report.records).toMatchObject({ in: 3, written: 1, undelivered: 2 });
    expect(sink.memory!.records).toEqual([3]);
  });

  it('past its deadline, ends as stopped (not failed), with the aborted write reported in-flight', async () => {
    watch = watchUnhandledRejections();
    const { clock, source, p } = hangingPipeline();
    const errors: unknown[] = [];
    p.on('error', (e) => errors.push(e.error));
    const run = p.run().then(
      (report) => ({ report, error: undefined }),
      (error: unknown) => ({ report: undefined, error }),
    );
    await p.start();
    await source.pushMany([1, 2]);
    await clock.advance(0);
    const report = await clock.runUntil(p.stop({ deadline: '5s' }));
    // A stop on request that ran out of time is a stop, not a failure of the pipeline.
    expect(report.status).toBe('stopped');
    expect(report.undelivered).toEqual([
      { partition: '0', firstOffset: 0, lastOffset: 1, records: 2, state: 'in-flight' },
    ]);
    expect(errors).toEqual([]);
    const outcome = await run;
    expect(outcome.report?.error?.code ?? (outcome.error as MicrobatchError | undefined)?.code).toBe(
      'MB_CLOSED',
    );
  });

  it('does not leave an unhandled rejection behind when the pipeline fails during a stop', async () => {
    watch = watchUnhandledRejections();
    const clock = testClock();
    const source = pushSource<number>();
    const sink = flakySink<number>({ clock, schedule: [{ delay: 100, fail: 'fatal' }] });
    const p = pipeline({ name: 'stopper', clock })
      .source(source)
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    await p.start();
    await source.pushMany([1, 2]);
    await clock.advance(0);
    const report = await clock.runUntil(p.stop());
    expect(report.status).toBe('failed');
    expect(report.error?.code).toBe('MB_SINK_FAILED');
    for (let i = 0; i < 5; i++) await settle();
    expect(watch.reasons).toEqual([]);
  });

  it('is idempotent: a second stop() resolves with the same outcome', async () => {
    const { clock, source, p } = hourly();
    await p.start();
    await source.push(1);
    const first = p.stop();
    const second = p.stop({ drain: false });
    const [a, b] = await clock.runUntil(Promise.all([first, second]));
    expect(a.records.written).toBe(1);
    expect(b).toEqual(a);
    expect((await clock.runUntil(p.stop())).status).toBe('stopped');
  });

  it('on a pipeline never started, resolves with an empty stopped report', async () => {
    const { p } = hourly();
    const report = await p.stop();
    expect(report.status).toBe('stopped');
    expect(report.records.in).toBe(0);
    expect(p.status).toBe('stopped');
    expectCode(await rejection(p.start()), 'MB_CLOSED');
  });

  it('rejects a bad deadline with MB_INVALID_OPTIONS naming the pipeline', async () => {
    const { p } = hourly();
    const error = expectCode(await rejection(p.stop({ deadline: 'soon' as never })), 'MB_INVALID_OPTIONS');
    expect(error.message).toContain("pipeline 'stopper'");
    expect(error.message).toContain('deadline');
  });
});

describe('pipeline [Symbol.asyncDispose]', () => {
  it('stops the pipeline, draining', async () => {
    const { clock, source, sink, p } = hourly();
    await p.start();
    await source.pushMany([1, 2]);
    await clock.advance(0);
    await clock.runUntil(p[Symbol.asyncDispose]());
    expect(p.status).toBe('stopped');
    expect(sink.records).toEqual([1, 2]);
  });

  it('works with await using', async () => {
    const clock = testClock();
    const source = pushSource<number>();
    const sink = memorySink<number>();
    const scope = async () => {
      await using p = pipeline({ name: 'scoped', clock })
        .source(source)
        .trigger(triggers.time('1h'))
        .sink(sink)
        .build();
      await p.start();
      await source.push(9);
      await clock.advance(0);
      return p;
    };
    const p = await clock.runUntil(scope());
    expect(p.status).toBe('stopped');
    expect(sink.records).toEqual([9]);
  });
});

describe('pipeline signal option', () => {
  it('aborting the signal stops the pipeline, draining what was read', async () => {
    const controller = new AbortController();
    const { clock, source, sink, p } = hourly(memorySink<number>(), { signal: controller.signal });
    const run = p.run();
    await source.pushMany([1, 2, 3]);
    await clock.advance(0);
    controller.abort();
    const report = await clock.runUntil(run);
    expect(report.status).toBe('stopped');
    expect(sink.records).toEqual([1, 2, 3]);
    expect(p.status).toBe('stopped');
  });

  it('a signal aborted before the run stops it at once instead of being ignored', async () => {
    const controller = new AbortController();
    controller.abort();
    const { clock, source, p } = hourly(memorySink<number>(), { signal: controller.signal });
    void source.push(1);
    // An endless source and a one-hour window: only the aborted signal can end this run.
    let outcome: string | undefined;
    void p.run().then(
      (report) => {
        outcome = report.status;
      },
      (error: unknown) => {
        outcome = MicrobatchError.is(error) ? error.code : 'other';
      },
    );
    for (let i = 0; i < 20; i++) await clock.advance(0);
    expect(p.status).not.toBe('running');
    expect(['stopped', 'MB_ABORTED', 'MB_CLOSED']).toContain(outcome);
    await clock.runUntil(p.stop({ drain: false }));
  });
});

describe('pipeline with an endless scripted source', () => {
  it('keeps flushing on time until stopped', async () => {
    const clock = testClock();
    const source = scriptedSource(
      clock,
      Array.from({ length: 10 }, (_, i) => ({ at: i * 1_000, value: i })),
      { endless: true },
    );
    const sink = memorySink<number>();
    const p = pipeline({ name: 'endless', clock })
      .source(source)
      .trigger(triggers.time('3s'))
      .sink(sink)
      .build();
    await p.start();
    await clock.advance(20_000);
    expect(p.status).toBe('running');
    expect(sink.batches.map((b) => b.records)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    const report = await clock.runUntil(p.stop());
    expect(report.status).toBe('stopped');
    expect(report.records.written).toBe(10);
  });
});
