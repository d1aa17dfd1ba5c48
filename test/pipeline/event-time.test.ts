import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { PipelineEvents } from '../../src/pipeline/events.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { testClock } from '../../src/testing/clock.js';
import { type ScriptedRecord, scriptedSource } from '../../src/testing/scripted-source.js';
import { triggers } from '../../src/triggers/index.js';
import { expectInvalid } from '../support.js';

const T0 = Date.UTC(2026, 10, 25, 14, 0, 0);
const MIN = 60_000;

interface Ev {
  id: string;
  at?: number | string | null;
}

/** Records arriving at `T0 + arrival` with event time `T0 + event` (or a raw value). */
const recs = (...list: [arrival: number, id: string, event: number | string | null, partition?: string][]) =>
  list.map(
    ([arrival, id, event, partition]): ScriptedRecord<Ev> => ({
      at: T0 + arrival,
      partition: partition ?? '0',
      value: { id, at: typeof event === 'number' ? T0 + event : event },
    }),
  );

describe('.eventTime()', () => {
  it('stamps each batch record with its event time and dead-letters a record without one', async () => {
    const clock = testClock(T0);
    const sink = memorySink<Ev>();
    const dead = memorySink<DeadLetter>();
    const report = await clock.runUntil(
      pipeline({ name: 'stamp', clock })
        .source(
          scriptedSource(
            clock,
            recs([0, 'a', 5], [0, 'b', 'garbage'], [0, 'c', null], [0, 'd', '2026-11-25T14:00:00.010Z']),
          ),
        )
        .eventTime((r) => r.at)
        .sink(sink)
        .deadLetter(dead)
        .build()
        .run(),
    );
    expect(sink.records.map((r) => r.id)).toEqual(['a', 'd']);
    expect(sink.batches[0]!.eventTimes).toEqual([T0 + 5, T0 + 10]);
    expect(dead.records.map((d) => [d.value, d.reason])).toEqual([
      [{ id: 'b', at: 'garbage' }, 'invalid_event_time'],
      [{ id: 'c', at: null }, 'invalid_event_time'],
    ]);
    expect(report.rejected).toEqual({ invalid_event_time: 2 });
  });

  it('uses processing time for a record without one under invalid: processing-time', async () => {
    const clock = testClock(T0 + 42);
    const sink = memorySink<Ev>();
    await clock.runUntil(
      pipeline({ name: 'pt', clock })
        .source(scriptedSource(clock, [{ at: T0 + 42, value: { id: 'x', at: undefined } }]))
        .eventTime((r) => r.at, { invalid: 'processing-time' })
        .sink(sink)
        .build()
        .run(),
    );
    expect(sink.batches[0]!.eventTimes).toEqual([T0 + 42]);
  });

  it('dead-letters an extractor that throws as invalid_event_time with its message', async () => {
    const clock = testClock(T0);
    const dead = memorySink<DeadLetter>();
    await clock.runUntil(
      pipeline({ name: 'throws', clock })
        .source(scriptedSource(clock, recs([0, 'a', 1])))
        .eventTime(() => {
          throw new Error('no clock in this record');
        })
        .sink(memorySink())
        .deadLetter(dead)
        .build()
        .run(),
    );
    expect(dead.records[0]!.reason).toBe('invalid_event_time');
    expect(JSON.stringify(dead.records[0]!.details)).toContain('no clock in this record');
  });

  it("defaults to the source's timestamps", async () => {
    const clock = testClock(T0);
    const sink = memorySink<string>();
    await clock.runUntil(
      pipeline({ name: 'source-times', clock })
        .source(
          fromIterable(
            [
              { value: 'a', eventTime: T0 + 1 },
              { value: 'b', eventTime: new Date(T0 + 2) },
            ],
            { envelopes: true },
          ),
        )
        .eventTime()
        .sink(sink)
        .build()
        .run(),
    );
    expect(sink.batches.flatMap((b) => b.eventTimes)).toEqual([T0 + 1, T0 + 2]);
  });

  it.each([
    ['include', ['a', 'late', 'b'], [], 0],
    ['dead-letter', ['a', 'b'], ['late'], 0],
    ['drop', ['a', 'b'], [], 1],
  ] as const)('late: %s', async (late, written, deadLettered, dropped) => {
    const clock = testClock(T0);
    const sink = memorySink<Ev>();
    const dead = memorySink<DeadLetter>();
    const p = pipeline({ name: `late-${late}`, clock })
      .source(
        scriptedSource(
          clock,
          recs([0, 'a', 10 * MIN], [1_000, 'late', 10 * MIN - 30_001], [2_000, 'b', 10 * MIN + 1]),
        ),
      )
      .eventTime((r) => r.at, { allowedLateness: '30s', late })
      .trigger(triggers.volume({ records: 100 }))
      .sink(sink)
      .deadLetter(dead)
      .build();
    const report = await clock.runUntil(p.run());
    expect(sink.records.map((r) => r.id)).toEqual(written);
    expect(dead.records.map((d) => (d.value as Ev).id)).toEqual(deadLettered);
    expect(report.records.droppedLate).toBe(dropped);
    expect(p.metrics().counts.late).toBe(1);
    expect(report.records.in).toBe(
      report.records.written + report.records.deadLettered + report.records.droppedLate,
    );
    if (late === 'dead-letter') {
      expect(dead.records[0]).toMatchObject({
        reason: 'too_late',
        details: { eventTime: T0 + 10 * MIN - 30_001, watermark: T0 + 10 * MIN, allowedLateness: 30_000 },
      });
    }
  });

  it('holds the watermark at the slowest active lane, and lets an idle lane go after idleTimeout', async () => {
    const clock = testClock(T0);
    const p = pipeline({ name: 'idle', clock })
      .source(
        scriptedSource(
          clock,
          // b arrives first: a partition that shows up later cannot pull the watermark back.
          recs(
            [0, 'b1', 1 * MIN, 'b'],
            [0, 'a1', 5 * MIN, 'a'],
            [30_000, 'a2', 6 * MIN, 'a'],
            [70_000, 'a3', 7 * MIN, 'a'],
          ),
          { endless: true },
        ),
      )
      .eventTime((r) => r.at, { idleTimeout: '1m', maxOutOfOrderness: '10s' })
      .sink(memorySink())
      .build();
    await p.start();
    await clock.advance(0);
    expect(p.metrics().eventTime!.watermark).toBe(T0 + MIN - 10_000); // b holds it back
    await clock.advance(30_000);
    expect(p.metrics().eventTime!.watermark).toBe(T0 + MIN - 10_000);
    await clock.advance(40_000); // b has been quiet for 70 s: idle
    const metrics = p.metrics().eventTime!;
    expect(metrics.watermark).toBe(T0 + 7 * MIN - 10_000);
    expect(metrics.lagMs).toBe(clock.now() - (T0 + 7 * MIN - 10_000));
    expect(metrics.lanes).toEqual([
      { partition: 'b', watermark: T0 + MIN - 10_000, idle: true },
      { partition: 'a', watermark: T0 + 7 * MIN - 10_000, idle: false },
    ]);
    await clock.runUntil(p.stop());
  });

  it('emits partition-complete once the watermark passes end + allowedLateness and the records are committed', async () => {
    const clock = testClock(T0);
    const events: PipelineEvents['partition-complete'][] = [];
    const commits: number[] = [];
    const p = pipeline({ name: 'complete', clock })
      .source(
        scriptedSource(
          clock,
          recs([0, 'a', 10 * MIN], [1_000, 'b', 50 * MIN], [2_000, 'c', 80 * MIN], [3_000, 'd', 200 * MIN]),
          {
            endless: true,
          },
        ),
      )
      .eventTime((r) => r.at, { allowedLateness: '15m' })
      .trigger(triggers.volume({ records: 1 }))
      .sink(memorySink())
      .build();
    p.on('commit', ({ offset }) => commits.push(offset));
    p.on('partition-complete', (e) => events.push({ ...e, records: e.records }));
    await p.start();
    await clock.advance(1_000);
    expect(events).toEqual([]); // 50 min < 60 min + 15 min
    await clock.advance(1_000);
    expect(events.map((e) => [e.bucket.path, e.records, e.reopened])).toEqual([
      ['dt=2026-11-25/hr=14', 2, false],
    ]);
    expect(commits).toContain(1); // the records of hour 14 were committed before
    await clock.advance(1_000);
    expect(events.map((e) => e.bucket.path)).toEqual(['dt=2026-11-25/hr=14', 'dt=2026-11-25/hr=15']);
    // A stop is not the end of the input: hour 17 stays open.
    const report = await clock.runUntil(p.stop());
    expect(report.status).toBe('stopped');
    expect(events.map((e) => e.bucket.path)).toEqual(['dt=2026-11-25/hr=14', 'dt=2026-11-25/hr=15']);
    expect(p.metrics().eventTime!.openPartitions).toEqual(['dt=2026-11-25/hr=17']);
  });

  it('closes every partition at the end of a finite source, and reopens one a late record lands in', async () => {
    const clock = testClock(T0);
    const events: PipelineEvents['partition-complete'][] = [];
    const p = pipeline({ name: 'end', clock })
      .source(
        scriptedSource(clock, recs([0, 'a', 10 * MIN], [1_000, 'b', 130 * MIN], [2_000, 'late', 11 * MIN])),
      )
      .eventTime((r) => r.at)
      .trigger(triggers.volume({ records: 1 }))
      .sink(memorySink())
      .build();
    p.on('partition-complete', (e) => events.push(e));
    await clock.runUntil(p.run());
    expect(events.map((e) => [e.bucket.path, e.records, e.reopened])).toEqual([
      ['dt=2026-11-25/hr=14', 1, false],
      ['dt=2026-11-25/hr=14', 1, true],
      ['dt=2026-11-25/hr=16', 1, false],
    ]);
  });

  it("tells the sink's partitionComplete hook, one call at a time, and gives it the event-time settings", async () => {
    const clock = testClock(T0);
    const calls: string[] = [];
    const contexts: unknown[] = [];
    let busy = false;
    const inner = memorySink<Ev>();
    const sink: Sink<Ev> = {
      kind: 'marking',
      open: (context) => {
        contexts.push(context.eventTime);
      },
      write: (batch, options) => inner.write(batch, options),
      partitionComplete: async ({ bucket, records }) => {
        expect(busy).toBe(false);
        busy = true;
        await Promise.resolve();
        calls.push(`${bucket.path}:${records}`);
        busy = false;
        if (bucket.path.endsWith('hr=15')) throw new Error('disk full');
      },
    };
    const report = await clock.runUntil(
      pipeline({ name: 'hook', clock })
        .source(
          scriptedSource(clock, recs([0, 'a', 10 * MIN], [1_000, 'b', 70 * MIN], [2_000, 'c', 130 * MIN])),
        )
        .eventTime((r) => r.at, { partitionBy: 'hour', allowedLateness: '1m' })
        .trigger(triggers.volume({ records: 1 }))
        .sink(sink)
        .build()
        .run(),
    );
    expect(report.status).toBe('completed'); // a failed marker is a warning, not a failure
    expect(calls).toEqual(['dt=2026-11-25/hr=14:1', 'dt=2026-11-25/hr=15:1', 'dt=2026-11-25/hr=16:1']);
    expect(contexts).toEqual([{ partitionBy: 'hour', allowedLateness: MIN }]);
  });

  it('measures event time → commit latency', async () => {
    const clock = testClock(T0 + 5_000);
    const p = pipeline({ name: 'lat', clock })
      .source(scriptedSource(clock, recs([5_000, 'a', 0], [5_000, 'b', 1_000])))
      .eventTime((r) => r.at)
      .sink(memorySink())
      .build();
    await clock.runUntil(p.run());
    expect(p.metrics().eventTime!.latency).toMatchObject({ max: 5_000, samples: 2 });
  });

  it('checks its options with messages that name the pipeline and the option', () => {
    const build = (extract: unknown, options?: unknown) =>
      pipeline({ name: 'opts' })
        .source(fromIterable([1]))
        .eventTime(extract as () => number, options as object)
        .sink(memorySink())
        .build();
    expectInvalid(() => build('ts'), "pipeline 'opts'", '.eventTime(extract) needs a function');
    expectInvalid(
      () => build(undefined, { late: 'ignore' }),
      "late }) must be one of 'include', 'dead-letter', 'drop'",
    );
    expectInvalid(() => build(undefined, { invalid: 'skip' }), "'dead-letter', 'processing-time'");
    expectInvalid(() => build(undefined, { allowedLateness: '-5m' }), 'allowedLateness');
    expectInvalid(() => build(undefined, { partitionBy: 'week' }), 'partitionBy');
    expectInvalid(() => build(undefined, { watermark: 1 }), "unknown option 'watermark'");
    expectInvalid(
      () =>
        pipeline({ name: 'twice' })
          .source(fromIterable([1]))
          .eventTime()
          .eventTime()
          .sink(memorySink())
          .build(),
      '.eventTime() was called twice',
    );
  });

  it('has no event-time metrics without .eventTime()', () => {
    const p = pipeline({ name: 'none' })
      .source(fromIterable([1]))
      .sink(memorySink())
      .build();
    expect(p.metrics().eventTime).toBeUndefined();
  });
});
