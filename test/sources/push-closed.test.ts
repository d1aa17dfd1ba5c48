/**
 * pushSource's `closed` signal and what push() says once the source is closed: a producer loop
 * that checks the signal ends by itself on stop() (the graceful stop of docs/shutdown.md), and a
 * push after a failure carries the failure as its cause.
 */
import { describe, expect, it } from 'vitest';
import type { MicrobatchError } from '../../src/core/errors.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, rejection, settle, sourceContext, watchUnhandledRejections } from '../support.js';

describe('pushSource: closed', () => {
  it('is aborted by end(), with the MB_CLOSED error push() rejects with', async () => {
    const source = pushSource<number>();
    expect(source.closed.aborted).toBe(false);
    source.end();
    expect(source.closed.aborted).toBe(true);
    expectCode(source.closed.reason, 'MB_CLOSED');
    const error = expectCode(await rejection(source.push(1)), 'MB_CLOSED');
    expect(error.message).toBe('pushSource: push() after end()');
    expect(error.cause).toBeUndefined();
  });

  it("is aborted by the pipeline's stop(), and a push after it names stop(), not end()", async () => {
    const clock = testClock();
    const source = pushSource<number>();
    const p = pipeline({ name: 'push', clock }).source(source).sink(memorySink()).build();
    await p.start();
    await source.push(1);
    const stopping = p.stop();
    await settle();
    expect(source.closed.aborted).toBe(true);
    const error = expectCode(await rejection(source.push(2)), 'MB_CLOSED');
    expect(error.message).toContain("push() after the pipeline's stop()");
    expect(error.message).not.toContain('end()');
    expect((await clock.runUntil(stopping)).records).toMatchObject({ in: 1, written: 1 });
  });

  it('lets a scraper loop end by itself on stop(), with everything it pushed delivered', async () => {
    const unhandled = watchUnhandledRejections();
    try {
      const clock = testClock();
      const source = pushSource<number>({ highWaterMark: 4 });
      const sink = memorySink<number>();
      const p = pipeline({ name: 'scraper', clock })
        .source(source)
        .trigger(triggers.volume({ records: 5 }))
        .sink(sink)
        .build();
      await p.start();
      let pushed = 0;
      // The loop of docs/shutdown.md: scrape (slow, on the clock), check, push.
      const scraper = (async () => {
        while (!source.closed.aborted) {
          const page = await new Promise<number[]>((resolve) =>
            clock.setTimeout(() => resolve([pushed, pushed + 1, pushed + 2]), 100),
          );
          if (source.closed.aborted) break;
          await source.pushMany(page);
          pushed += page.length;
        }
        return 'ended';
      })();
      await clock.advance(1_050); // ten pages scraped; the eleventh is in progress
      const report = await clock.runUntil(p.stop({ deadline: '30s' }));
      expect(await clock.runUntil(scraper)).toBe('ended');
      expect(pushed).toBe(30);
      expect(report.status).toBe('stopped');
      expect(report.records).toMatchObject({ in: 30, written: 30, undelivered: 0 });
      expect(sink.records).toEqual(Array.from({ length: 30 }, (_, i) => i));
      await settle();
      expect(unhandled.reasons).toEqual([]);
    } finally {
      unhandled.stop();
    }
  });

  it('carries the failure as the cause of push() after the pipeline failed, and of a waiting push', async () => {
    const clock = testClock();
    const source = pushSource<string>({ highWaterMark: 1 });
    const sink = flakySink<string>({ clock, schedule: [{ delay: 1_000, fail: 'fatal' }] });
    const p = pipeline({ name: 'push', clock, maxBufferBytes: 100, maxRecordBytes: 100 })
      .source(source)
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    const run = p.run();
    await p.start();
    const waiting = (async () => {
      for (;;) {
        try {
          await source.push('r'.repeat(40));
        } catch (error) {
          return error;
        }
      }
    })();
    const failure = expectCode(await clock.runUntil(rejection(run)), 'MB_SINK_FAILED');
    const waited = expectCode(await waiting, 'MB_CLOSED');
    expect(waited.cause).toBe(failure);
    expect(source.closed.aborted).toBe(true);
    expect((source.closed.reason as MicrobatchError).cause).toBe(failure);
    const after = expectCode(await rejection(source.push('late')), 'MB_CLOSED');
    expect(after.message).toBe('pushSource: push() after the pipeline failed (MB_SINK_FAILED)');
    expect(after.cause).toBe(failure);
  });

  it('opens again with a fresh signal after the pipeline closed it without end()', async () => {
    const source = pushSource<number>();
    const reader = await source.open(sourceContext());
    await reader.close();
    expect(source.closed.aborted).toBe(true);
    await rejection(source.push(1));
    await source.open(sourceContext());
    expect(source.closed.aborted).toBe(false);
    await source.push(2);
    expect(source.pending).toBe(1);
  });
});
