import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { MicrobatchError } from '../../src/core/errors.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { DeliveryReport } from '../../src/pipeline/report.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { scriptedSource } from '../../src/testing/scripted-source.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, rejection } from '../support.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const reportOf = (error: MicrobatchError) => error.details.report as DeliveryReport;

describe('pipeline: a fatal sink error', () => {
  it('makes run() reject with MB_SINK_FAILED carrying the cause and a report of what was not delivered', async () => {
    const clock = testClock();
    const sink = flakySink<number>({
      clock,
      schedule: ({ batch }) => (batch.firstOffset === 3 ? { fail: 'fatal' } : undefined),
    });
    const p = pipeline({ name: 'fatal', clock, concurrency: 1 })
      .source(fromIterable(range(9)))
      .trigger(triggers.volume({ records: 3 }))
      .sink(sink)
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_SINK_FAILED');
    expect(error.message).toContain("pipeline 'fatal'");
    expect(error.message).toMatch(/fatal\.0\.r[0-9a-z]{9}-[0-9a-f]{8}\.0000000000000003-0000000000000005/);
    expect(MicrobatchError.is(error.cause, 'MB_SINK_FAILED')).toBe(true);
    expect((error.cause as MicrobatchError).message).toContain('scripted fatal failure');
    expect(sink.calls).toBe(2); // a fatal error is not retried; later batches are not attempted

    const report = reportOf(error);
    expect(report.status).toBe('failed');
    expect(report.error).toEqual({ code: 'MB_SINK_FAILED', message: error.message });
    expect(report.committed).toEqual({ '0': 2 });
    expect(report.undelivered).toContainEqual({
      partition: '0',
      firstOffset: 3,
      lastOffset: 5,
      records: 3,
      state: 'failed',
    });
    expect(report.records.written).toBe(3);
    expect(report.records.undelivered).toBe(6);
    expect(report.records.in).toBe(9);
    expect(p.status).toBe('failed');
  });

  it('treats a plain thrown TypeError as fatal', async () => {
    const clock = testClock();
    const bug = new TypeError("Cannot read properties of undefined (reading 'id')");
    let calls = 0;
    const p = pipeline({ name: 'bug', clock })
      .source(fromIterable([1]))
      .sink({
        write() {
          calls++;
          throw bug;
        },
      })
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_SINK_FAILED');
    expect(error.cause).toBe(bug);
    expect(calls).toBe(1);
  });
});

describe('pipeline: retries', () => {
  it('retries retryable failures and then delivers', async () => {
    const clock = testClock();
    const sink = flakySink<number>({
      clock,
      schedule: [{ fail: 'retryable' }, { fail: 'retryable' }, { fail: 'retryable' }],
    });
    const p = pipeline({ name: 'retry', clock, retry: { initialDelay: '100ms', maxDelay: '1s' } })
      .source(fromIterable(range(3)))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.calls).toBe(4);
    expect(sink.failures).toBe(3);
    expect(sink.memory!.records).toEqual([0, 1, 2]);
    expect(report.status).toBe('completed');
    expect(p.metrics().counts.retries).toBe(3);
  });

  it('retries network errors (ECONNRESET) and HTTP 503 from a plain sink', async () => {
    const clock = testClock();
    const failures = [
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      Object.assign(new Error('Service Unavailable'), { statusCode: 503 }),
    ];
    const written: number[] = [];
    const p = pipeline({ name: 'retry', clock, retry: { initialDelay: 1, maxDelay: 10 } })
      .source(fromIterable([7]))
      .sink({
        write(batch) {
          const failure = failures.shift();
          if (failure) throw failure;
          written.push(...(batch.records as number[]));
        },
      })
      .build();
    await clock.runUntil(p.run());
    expect(written).toEqual([7]);
  });

  it('waits between attempts on the pipeline clock, within the back-off ceiling', async () => {
    const clock = testClock();
    const attemptsAt: number[] = [];
    const sink = flakySink<number>({
      clock,
      schedule: ({ now, attempt }) => {
        attemptsAt.push(now);
        return attempt < 4 ? { fail: 'retryable' } : undefined;
      },
    });
    const p = pipeline({ name: 'retry', clock, retry: { initialDelay: 100, maxDelay: 250 } })
      .source(fromIterable([1]))
      .sink(sink)
      .build();
    await clock.runUntil(p.run());
    const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
    // Full jitter: uniform in [0, min(maxDelay, initialDelay · 2^(n-1))].
    expect(gaps[0]).toBeLessThanOrEqual(100);
    expect(gaps[1]).toBeLessThanOrEqual(200);
    expect(gaps[2]).toBeLessThanOrEqual(250);
  });

  it('gives up with MB_SINK_FAILED once retry.maxAttempts is exhausted', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: () => ({ fail: 'retryable' }) });
    const p = pipeline({ name: 'tired', clock, retry: { maxAttempts: 3, initialDelay: 10, maxDelay: 100 } })
      .source(fromIterable([1, 2]))
      .sink(sink)
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_SINK_FAILED');
    expect(error.message).toContain('after 3 attempts');
    expect(MicrobatchError.is(error.cause)).toBe(true);
    expect(sink.calls).toBe(3);
    expect(reportOf(error).undelivered).toEqual([
      { partition: '0', firstOffset: 0, lastOffset: 1, records: 2, state: 'failed' },
    ]);
  });

  it('aborts a hanging write after retry.attemptTimeout, retries it as MB_TIMEOUT, then delivers', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: [{ fail: 'hang' }] });
    const p = pipeline({
      name: 'slow',
      clock,
      retry: { attemptTimeout: '2s', initialDelay: 10, maxDelay: 100 },
    })
      .source(fromIterable([1, 2, 3]))
      .sink(sink)
      .build();
    const retries: unknown[] = [];
    p.on('retry', (e) => retries.push(e.error));
    const report = await clock.runUntil(p.run());
    expect(retries).toHaveLength(1);
    const timeout = expectCode(retries[0], 'MB_TIMEOUT');
    expect(timeout.retryable).toBe(true);
    expect(timeout.message).toContain('timed out after 2000ms');
    expect(sink.calls).toBe(2);
    expect(sink.memory!.records).toEqual([1, 2, 3]);
    expect(report.status).toBe('completed');
    expect(clock.now()).toBeGreaterThanOrEqual(2_000);
  });

  it('abandons an attempt that ignores its abort signal', async () => {
    const clock = testClock();
    let calls = 0;
    const written: number[] = [];
    const p = pipeline({
      name: 'deaf',
      clock,
      retry: { attemptTimeout: '1s', initialDelay: 1, maxDelay: 10 },
    })
      .source(fromIterable([1]))
      .sink({
        write(batch) {
          calls++;
          if (calls === 1) return new Promise<void>(() => {}); // never settles, ignores the signal
          written.push(...(batch.records as number[]));
        },
      })
      .build();
    await clock.runUntil(p.run());
    expect(written).toEqual([1]);
    expect(calls).toBe(2);
  });
});

describe('pipeline: dead-letter and commit failures', () => {
  it('fails with MB_DEAD_LETTER_FAILED when the dead-letter sink fails, and does not commit', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, [
      { at: 0, value: 'ok' },
      { at: 0, value: 'x'.repeat(200) },
    ]);
    const dead = flakySink<DeadLetter>({ clock, schedule: [{ fail: 'fatal' }] });
    const p = pipeline({ name: 'dlq', clock, maxRecordBytes: 100 })
      .source(source)
      .sink(memorySink())
      .deadLetter(dead)
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_DEAD_LETTER_FAILED');
    expect(error.message).toContain('dead-letter write');
    expect(source.commits).toEqual([]);
    expect(reportOf(error).committed).toEqual({});
  });

  it('fails with MB_COMMIT_FAILED when the source cannot commit', async () => {
    const clock = testClock();
    const boom = new Error('coordinator not available');
    const p = pipeline({ name: 'commit', clock })
      .source({
        kind: 'custom',
        replayable: true,
        open: () => {
          let done = false;
          return {
            read: () => {
              if (done) return null;
              done = true;
              return { partition: '0', values: [1, 2], offsets: [0, 1] };
            },
            commit: () => {
              throw boom;
            },
            close: () => {},
          };
        },
      })
      .sink(memorySink())
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_COMMIT_FAILED');
    expect(error.cause).toBe(boom);
    expect(reportOf(error).guarantee).toBe('at-least-once');
  });

  it('fails with MB_SOURCE_FAILED when a source breaks offset order', async () => {
    const clock = testClock();
    const chunks = [
      { partition: '0', values: ['a', 'b'], offsets: [5, 6] },
      { partition: '0', values: ['c'], offsets: [6] },
    ];
    const sink = memorySink<string>();
    const p = pipeline({ name: 'order', clock })
      .source({
        kind: 'custom',
        replayable: false,
        open: () => ({ read: () => chunks.shift() ?? null, close() {} }),
      })
      .sink(sink)
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_SOURCE_FAILED');
    expect(error.message).toContain('offset 6 after 6');
    expect(sink.records).toEqual(['a', 'b']);
  });

  it('fails with MB_SOURCE_FAILED when a chunk’s values and offsets differ in length', async () => {
    const clock = testClock();
    const chunks = [{ partition: '0', values: ['a', 'b'], offsets: [0] }];
    const p = pipeline({ name: 'shape', clock })
      .source({
        kind: 'custom',
        replayable: false,
        open: () => ({ read: () => chunks.shift() ?? null, close() {} }),
      })
      .sink(memorySink())
      .build();
    const error = expectCode(await clock.runUntil(rejection(p.run())), 'MB_SOURCE_FAILED');
    expect(error.message).toContain('matching offsets');
  });
});
