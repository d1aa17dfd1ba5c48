import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it, vi } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { PipelineEvents } from '../../src/pipeline/events.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { triggers } from '../../src/triggers/index.js';
import { bestEffortId, expectCode, rejection } from '../support.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('pipeline events', () => {
  it('emits flush, write, commit and status for a clean run', async () => {
    const clock = testClock();
    const p = pipeline({ name: 'ev', clock })
      .source(fromIterable(range(5)))
      .trigger(triggers.volume({ records: 3 }))
      .sink(memorySink())
      .build();
    const log: string[] = [];
    const flushes: PipelineEvents['flush'][] = [];
    const writes: PipelineEvents['write'][] = [];
    p.on('status', (e) => log.push(`status:${e.from}->${e.to}`));
    p.on('flush', (e) => {
      flushes.push(e);
      log.push(`flush:${e.batch.firstOffset}-${e.batch.lastOffset}:${e.batch.reason}`);
    });
    p.on('write', (e) => {
      writes.push(e);
      log.push(`write:${e.batch.firstOffset}`);
    });
    p.on('commit', (e) => log.push(`commit:${e.partition}@${e.offset}`));
    await clock.runUntil(p.run());
    expect(log.filter((l) => l.startsWith('status'))).toEqual([
      'status:idle->running',
      'status:running->draining',
      'status:draining->completed',
    ]);
    expect(log.filter((l) => !l.startsWith('status'))).toEqual(
      expect.arrayContaining([
        'flush:0-2:records',
        'flush:3-4:drain',
        'write:0',
        'write:3',
        'commit:0@2',
        'commit:0@4',
      ]),
    );
    // Per batch: cut, then written, then committed; commits in offset order.
    const at = (entry: string) => log.indexOf(entry);
    expect(at('flush:0-2:records')).toBeLessThan(at('write:0'));
    expect(at('write:0')).toBeLessThan(at('commit:0@2'));
    expect(at('flush:3-4:drain')).toBeLessThan(at('write:3'));
    expect(at('write:3')).toBeLessThan(at('commit:0@4'));
    expect(at('commit:0@2')).toBeLessThan(at('commit:0@4'));
    expect(at('commit:0@4')).toBeLessThan(at('status:draining->completed'));
    expect(flushes[0]).toEqual({
      batch: {
        id: bestEffortId('ev.0.', '0000000000000000-0000000000000002'),
        partition: '0',
        firstOffset: 0,
        lastOffset: 2,
        records: 3,
        bytes: expect.any(Number),
        reason: 'records',
        openedAt: 0,
        closedAt: 0,
      },
      rejected: 0,
    });
    expect(writes[0]).toMatchObject({ written: 3, attempts: 1, durationMs: 0 });
  });

  it('emits dead-letter with counts by reason', async () => {
    const clock = testClock();
    const p = pipeline({ name: 'ev', clock, maxRecordBytes: 50 })
      .source(fromIterable(['ok', 'x'.repeat(100), 'ok2', 'y'.repeat(100)]))
      .sink(memorySink())
      .deadLetter(memorySink<DeadLetter>())
      .build();
    const events: PipelineEvents['dead-letter'][] = [];
    const flushes: PipelineEvents['flush'][] = [];
    p.on('dead-letter', (e) => events.push(e));
    p.on('flush', (e) => flushes.push(e));
    await clock.runUntil(p.run());
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ count: 2, reasons: { too_large: 2 } });
    expect(flushes[0]).toMatchObject({ rejected: 2, batch: { records: 2, firstOffset: 0, lastOffset: 3 } });
  });

  it('emits retry for a retryable failure, then write with the attempts', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: [{ fail: 'retryable', retryAfter: 300 }] });
    const p = pipeline({ name: 'ev', clock, retry: { initialDelay: 10, maxDelay: 1_000 } })
      .source(fromIterable([1, 2]))
      .sink(sink)
      .build();
    const retries: PipelineEvents['retry'][] = [];
    const writes: PipelineEvents['write'][] = [];
    p.on('retry', (e) => retries.push(e));
    p.on('write', (e) => writes.push(e));
    await clock.runUntil(p.run());
    expect(retries).toHaveLength(1);
    expect(retries[0]!.attempt).toBe(1);
    expect(retries[0]!.delayMs).toBe(300); // the server's retryAfter is a floor
    expectCode(retries[0]!.error, 'MB_SINK_FAILED');
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ attempts: 2, durationMs: 300, written: 2 });
    expect(p.metrics().counts.retries).toBe(1);
  });

  it('emits error and status failed on a fatal error', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: [{ fail: 'fatal' }] });
    const p = pipeline({ name: 'ev', clock })
      .source(fromIterable([1]))
      .sink(sink)
      .build();
    const errors: PipelineEvents['error'][] = [];
    const statuses: string[] = [];
    p.on('error', (e) => errors.push(e));
    p.on('status', (e) => statuses.push(e.to));
    const error = await clock.runUntil(rejection(p.run()));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toBe(error);
    expect(statuses).toEqual(['running', 'draining', 'failed']);
  });

  it('on() returns a working unsubscribe function', async () => {
    const clock = testClock();
    const source = pushSource<number>();
    const p = pipeline({ name: 'ev', clock })
      .source(source)
      .trigger(triggers.volume({ records: 1 }))
      .sink(memorySink())
      .build();
    let kept = 0;
    let removed = 0;
    p.on('flush', () => kept++);
    const off = p.on('flush', () => removed++);
    const run = p.run();
    await source.push(1);
    await clock.advance(0);
    off();
    off(); // a second call is harmless
    await source.push(2);
    await source.push(3);
    source.end();
    await clock.runUntil(run);
    expect(kept).toBe(3);
    expect(removed).toBe(1);
  });

  it('a listener that throws does not break the pipeline; the throw is logged', async () => {
    const clock = testClock();
    const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const sink = memorySink<number>();
    const p = pipeline({ name: 'ev', clock, logger })
      .source(fromIterable(range(10)))
      .trigger(triggers.volume({ records: 4 }))
      .sink(sink)
      .build();
    let after = 0;
    for (const event of ['flush', 'write', 'commit', 'status'] as const) {
      p.on(event, () => {
        throw new Error(`listener for ${event} is buggy`);
      });
    }
    p.on('commit', () => after++);
    const report = await clock.runUntil(p.run());
    expect(report.status).toBe('completed');
    expect(sink.records).toEqual(range(10));
    expect(after).toBe(3);
    expect(logger.error).toHaveBeenCalledWith(
      expect.objectContaining({ pipeline: 'ev', event: 'flush', err: expect.any(Error) }),
      'event listener threw',
    );
  });

  it('publishes events on node:diagnostics_channel as microbatch:<event>, with the pipeline name', async () => {
    const clock = testClock();
    const messages: unknown[] = [];
    const onMessage = (message: unknown) => messages.push(message);
    subscribe('microbatch:commit', onMessage);
    try {
      await clock.runUntil(
        pipeline({ name: 'diag', clock })
          .source(fromIterable([1, 2]))
          .sink(memorySink())
          .build()
          .run(),
      );
    } finally {
      unsubscribe('microbatch:commit', onMessage);
    }
    expect(messages).toEqual([{ pipeline: 'diag', partition: '0', offset: 1, batchId: expect.any(String) }]);
  });

  it('logs to a pino-shaped logger: start, finish, and the missing dead-letter sink', async () => {
    const clock = testClock();
    const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    await clock.runUntil(
      pipeline({ name: 'logs', clock, logger })
        .source(fromIterable([1]))
        .sink(memorySink())
        .build()
        .run(),
    );
    expect(logger.info).toHaveBeenCalledWith(
      expect.objectContaining({ pipeline: 'logs' }),
      'pipeline started',
    );
    expect(logger.info).toHaveBeenCalledWith(
      expect.objectContaining({ pipeline: 'logs', status: 'completed' }),
      'pipeline finished',
    );
    expect(logger.warn).toHaveBeenCalledWith(
      { pipeline: 'logs' },
      expect.stringContaining('no dead-letter sink configured'),
    );
    for (const call of [...logger.debug.mock.calls, ...logger.info.mock.calls]) {
      expect(typeof call[1]).toBe('string');
    }
  });
});

describe('pipeline metrics()', () => {
  it('describes an idle pipeline', () => {
    const p = pipeline({ name: 'm', clock: testClock() })
      .source(fromIterable([1]))
      .trigger(triggers.any(triggers.time('1m'), triggers.volume({ records: 3 })))
      .sink(memorySink())
      .build();
    const metrics = p.metrics();
    expect(metrics).toMatchObject({
      pipeline: 'm',
      status: 'idle',
      paused: false,
      guarantee: 'best-effort',
      source: { kind: 'iterable', replayable: false },
      trigger: {
        mode: 'any',
        description: 'time(1m) OR volume(3 records)',
        maxRecords: 3,
        maxBytes: Number.POSITIVE_INFINITY,
        lastFlushReason: undefined,
      },
      buffer: { records: 0, bytes: 0, budgetBytes: 64e6, heldBytes: 0, lanes: 0 },
      lanes: [],
      inFlight: { batches: 0, records: 0, bytes: 0, concurrency: 4 },
      lastFlush: undefined,
      counts: { in: 0, written: 0, deadLettered: 0, batches: 0, retries: 0, commits: 0, rejected: {} },
      latency: { p50: 0, p90: 0, p99: 0, max: 0, samples: 0 },
      committed: {},
    });
  });

  it('follows a running pipeline: buffer, in flight, counts, last flush, latency', async () => {
    const clock = testClock();
    const source = pushSource<string>();
    const sink = flakySink<string>({ clock, schedule: [{ delay: 5_000 }] });
    const p = pipeline({ name: 'm', clock })
      .source(source)
      .trigger(triggers.any(triggers.time('1m'), triggers.volume({ records: 3 })))
      .sink(sink)
      .build();
    const run = p.run();
    await p.start();
    await source.pushMany(['a', 'b', 'c']);
    await clock.advance(1_000);
    await source.pushMany(['d', 'e']);
    await clock.advance(0);

    let m = p.metrics();
    expect(m.status).toBe('running');
    expect(m.trigger.lastFlushReason).toBe('records');
    expect(m.lastFlush).toEqual({
      batchId: bestEffortId('m.0.', '0000000000000000-0000000000000002'),
      partition: '0',
      reason: 'records',
      records: 3,
      bytes: expect.any(Number),
      at: 0,
    });
    expect(m.inFlight).toMatchObject({ batches: 1, records: 3, concurrency: 4 });
    expect(m.buffer).toMatchObject({ records: 2, lanes: 1 });
    expect(m.buffer.heldBytes).toBeGreaterThan(0);
    expect(m.lanes).toEqual([{ partition: '0', records: 2, bytes: expect.any(Number), ageMs: 0 }]);
    expect(m.counts).toMatchObject({ in: 5, written: 0, batches: 1, commits: 0, undelivered: 5 });

    await clock.advance(4_000);
    m = p.metrics();
    expect(m.inFlight).toMatchObject({ batches: 0, records: 0 });
    expect(m.counts).toMatchObject({ in: 5, written: 3, commits: 1 });
    expect(m.committed).toEqual({ '0': 2 });
    expect(m.lanes[0]!.ageMs).toBe(4_000);
    expect(m.latency).toEqual({ p50: 5_000, p90: 5_000, p99: 5_000, max: 5_000, samples: 1 });

    source.end();
    await clock.runUntil(run);
    m = p.metrics();
    expect(m.status).toBe('completed');
    expect(m.counts).toMatchObject({ in: 5, written: 5, batches: 2, commits: 2, undelivered: 0 });
    expect(m.trigger.lastFlushReason).toBe('drain');
    expect(m.buffer).toMatchObject({ records: 0, heldBytes: 0, lanes: 0 });
  });

  it('counts rejected records by reason', async () => {
    const clock = testClock();
    const p = pipeline({ name: 'm', clock, maxRecordBytes: 30 })
      .source(fromIterable(['ok', 'x'.repeat(40)]))
      .sink(memorySink())
      .build();
    await clock.runUntil(p.run());
    expect(p.metrics().counts.rejected).toEqual({ too_large: 1 });
    expect(p.metrics().counts.deadLettered).toBe(1);
  });
});

describe('metrics().sink', () => {
  it('shows the last back-pressure hint, the last write time and the writes waiting to retry', async () => {
    const { flakySink, testClock, scriptedSource } = await import('../../src/testing/index.js');
    const { pipeline, triggers } = await import('../../src/index.js');
    const clock = testClock();
    const sink = flakySink<number>({
      clock,
      schedule: [
        { fail: 'retryable', retryAfter: 1_000 },
        { delay: 40, backpressure: 0.75 },
      ],
    });
    const p = pipeline({ name: 'health', clock, retry: { initialDelay: 10, maxDelay: 2_000 } })
      .source(scriptedSource(clock, [{ at: 0, value: 1 }]))
      .trigger(triggers.time(100))
      .sink(sink)
      .build();
    expect(p.metrics().sink).toEqual({
      kind: 'flaky',
      backpressure: undefined,
      lastWriteMs: undefined,
      retrying: 0,
      retryingBatches: [],
    });
    const seen: unknown[] = [];
    p.on('retry', () =>
      queueMicrotask(() => seen.push([p.metrics().sink.retrying, p.metrics().sink.retryingBatches])),
    );
    await clock.runUntil(p.run());
    expect(seen).toEqual([
      [
        1,
        [
          {
            what: expect.stringMatching(/^sink write of batch health\.0\./),
            batch: expect.stringMatching(/^health\.0\./),
            attempts: 1,
            lastError: expect.any(String),
            since: 0,
          },
        ],
      ],
    ]);
    expect(p.metrics().sink).toEqual({
      kind: 'flaky',
      backpressure: 0.75,
      lastWriteMs: 1_040,
      retrying: 0,
      retryingBatches: [],
    });
  });
});
