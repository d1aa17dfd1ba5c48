import { describe, expect, it } from 'vitest';
import { pipeline } from '../../src/pipeline/builder.js';
import type { PipelineEvents } from '../../src/pipeline/events.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { triggers } from '../../src/triggers/index.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('pipeline memory budget', () => {
  it('with a tiny budget and a slow sink: flushes with reason memory, pauses, resumes, loses nothing', async () => {
    const clock = testClock();
    const records = range(50).map((i) => `r${String(i).padStart(2, '0')}${'x'.repeat(37)}`); // 42 bytes each
    const sink = flakySink<string>({ clock, schedule: () => ({ delay: 100 }) });
    const p = pipeline({ name: 'mem', clock, maxBufferBytes: 1_000, maxRecordBytes: 100, concurrency: 1 })
      .source(fromIterable(records))
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    const events: string[] = [];
    const pauses: PipelineEvents['pause'][] = [];
    const resumes: PipelineEvents['resume'][] = [];
    let maxHeld = 0;
    p.on('pause', (e) => {
      pauses.push(e);
      events.push('pause');
    });
    p.on('resume', (e) => {
      resumes.push(e);
      events.push('resume');
    });
    p.on('flush', (e) => {
      events.push(`flush:${e.batch.reason}`);
      maxHeld = Math.max(maxHeld, p.metrics().buffer.heldBytes);
    });
    const report = await clock.runUntil(p.run());

    expect(sink.memory!.records).toEqual(records);
    expect(report.records).toMatchObject({ in: 50, written: 50, undelivered: 0 });
    expect(report.batches.byReason.memory).toBeGreaterThanOrEqual(1);
    expect(events[0]).toBe('flush:memory');
    expect(events.indexOf('pause')).toBeGreaterThan(0);
    expect(events.indexOf('resume')).toBeGreaterThan(events.indexOf('pause'));
    expect(pauses.length).toBe(resumes.length);
    expect(pauses[0]).toMatchObject({ budgetBytes: 1_000, inFlight: 1 });
    expect(pauses[0]!.heldBytes).toBeLessThanOrEqual(1_000);
    expect(resumes[0]!.pausedMs).toBe(100);
    expect(resumes[0]!.heldBytes).toBeLessThanOrEqual(1_000);
    expect(maxHeld).toBeLessThanOrEqual(1_000);
    expect(p.metrics().paused).toBe(false);
    expect(p.metrics().buffer.heldBytes).toBe(0);
  });

  it('with sizes estimated from samples (maxRecordBytes: Infinity): stays within the budget and loses nothing', async () => {
    const clock = testClock();
    const sink = flakySink<number>({ clock, schedule: () => ({ delay: 50 }) });
    const p = pipeline({
      name: 'mem',
      clock,
      maxBufferBytes: 2_000,
      maxRecordBytes: Number.POSITIVE_INFINITY,
    })
      .source(fromIterable(range(1_000)))
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    let paused = 0;
    p.on('pause', () => paused++);
    const report = await clock.runUntil(p.run());
    expect(sink.memory!.records).toEqual(range(1_000));
    expect(report.batches.byReason.memory).toBeGreaterThan(1);
    expect(paused).toBeGreaterThan(0);
  });

  it('does not deadlock when one record is estimated larger than the whole budget (maxRecordBytes: Infinity)', async () => {
    const clock = testClock();
    const big = 'x'.repeat(500); // ~500 bytes against a 100-byte budget, with the size check turned off
    const sink = flakySink<string>({ clock, schedule: () => ({ delay: 10 }) });
    const p = pipeline({ name: 'mem', clock, maxBufferBytes: 100, maxRecordBytes: Number.POSITIVE_INFINITY })
      .source(fromIterable([big, big, big]))
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    let outcome: string | undefined;
    void p.run().then(
      (report) => {
        outcome = `${report.status}:${report.records.written + report.records.deadLettered}`;
      },
      (error: unknown) => {
        outcome = `rejected:${String(error)}`;
      },
    );
    // Drive every timer there is; a pipeline that is paused with nothing in flight never wakes up.
    for (let i = 0; i < 50 && outcome === undefined; i++) {
      if (!(await clock.next())) await clock.advance(0);
    }
    expect(p.metrics()).not.toMatchObject({ paused: true, inFlight: { batches: 0 } });
    expect(outcome).toBe('completed:3');
  });

  it('flushes the largest lane first when the budget fills', async () => {
    const clock = testClock();
    const items = [
      ...range(10).map((i) => ({ value: `a${i}${'x'.repeat(30)}`, partition: 'big' })),
      ...range(2).map((i) => ({ value: `b${i}${'x'.repeat(30)}`, partition: 'small' })),
      ...range(20).map((i) => ({ value: `c${i}${'x'.repeat(30)}`, partition: 'small' })),
    ];
    const sink = flakySink<string>({ clock, schedule: () => ({ delay: 10 }) });
    const p = pipeline({ name: 'mem', clock, maxBufferBytes: 500, maxRecordBytes: 100 })
      .source(fromIterable(items, { envelopes: true, readSize: 1 }))
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    const flushes: PipelineEvents['flush'][] = [];
    p.on('flush', (e) => flushes.push(e));
    await clock.runUntil(p.run());
    const firstMemory = flushes.find((f) => f.batch.reason === 'memory')!;
    expect(firstMemory.batch.partition).toBe('big');
    expect(sink.memory!.records).toHaveLength(32);
  });
});

describe('sampled sizes (no per-record sizing)', () => {
  it('take the scale from the first record, so large records cannot overrun the budget while the estimate warms up', async () => {
    const clock = testClock();
    const big = Array.from({ length: 40 }, (_, i) => `${i}`.padEnd(10_000, 'x'));
    const inner = memorySink<string>();
    const sink = flakySink<string>({ clock, inner, schedule: () => ({ delay: 50 }) });
    const p = pipeline({ name: 'big', clock, maxBufferBytes: 50_000, concurrency: 1 })
      .source(fromIterable(big))
      .trigger(triggers.time('1h'))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    expect(inner.records).toEqual(big);
    expect(report.records.written).toBe(40);
    // 50 kB holds five 10 kB records: no batch may be larger than that.
    for (const batch of inner.batches) expect(batch.records.length).toBeLessThanOrEqual(5);
  });
});
