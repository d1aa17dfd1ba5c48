/**
 * microbatch/otel against the OpenTelemetry SDK with in-memory exporters: a span per batch with its
 * attributes and events from cut to commit, and the metrics, read back through a metric reader.
 */

import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { instrument } from '../../src/otel/index.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { validate } from '../../src/transforms/validate.js';
import { triggers } from '../../src/triggers/index.js';
import { runWithoutPeers } from '../support/without-peers.js';
import { bestEffortId, expectCode, rejection } from '../support.js';

/** A reader the test collects from on demand. */
class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const ms = (time: [number, number]) => time[0] * 1000 + time[1] / 1e6;

function otel() {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    spans,
    tracer: tracerProvider.getTracer('test'),
    meter: meterProvider.getMeter('test'),
    async metrics(): Promise<Map<string, { value: unknown; attributes: Record<string, unknown> }[]>> {
      const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
      const out = new Map<string, { value: unknown; attributes: Record<string, unknown> }[]>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          out.set(
            metric.descriptor.name,
            metric.dataPoints.map((p) => ({ value: p.value, attributes: p.attributes })),
          );
        }
      }
      return out;
    },
  };
}

const Reading = z.object({ n: z.number() });

describe('microbatch/otel', () => {
  it('traces each batch from its cut through retries and dead letters to its commit, and records metrics', async () => {
    const clock = testClock(Date.UTC(2026, 11, 7, 9, 0, 0));
    const { spans, tracer, meter, metrics } = otel();
    // 25 records, every 7th is not a number: 4 dead letters (offsets 0, 7, 14, 21).
    const records = Array.from({ length: 25 }, (_, i) => ({ n: i % 7 === 0 ? 'x' : i }));
    const sink = flakySink<{ n: number }>({
      clock,
      schedule: [{ fail: 'retryable', retryAfter: 100, delay: 20 }],
    });
    const p = pipeline({ name: 'otel', clock, retry: { initialDelay: 100 } })
      .source(fromIterable(records))
      .trigger(triggers.volume({ records: 10 }))
      .transform(validate(Reading))
      .sink(sink)
      .deadLetter(memorySink())
      .build();
    const instrumentation = await instrument(p, { tracer, meter, clock });
    const report = await clock.runUntil(p.run());
    expect(report.records).toMatchObject({ in: 25, written: 21, deadLettered: 4 });

    const finished = spans.getFinishedSpans() as ReadableSpan[];
    // fromIterable cannot replay: its batch ids carry the run's epoch (src/pipeline/run-epoch.ts).
    expect(finished.map((s) => s.attributes['microbatch.batch.id'])).toEqual([
      bestEffortId('otel.0.', '0000000000000000-0000000000000009'),
      bestEffortId('otel.0.', '0000000000000010-0000000000000019'),
      bestEffortId('otel.0.', '0000000000000020-0000000000000024'),
    ]);
    const [first, second, last] = finished;
    expect(first!.name).toBe('microbatch.batch otel');
    expect(first!.attributes).toMatchObject({
      'microbatch.pipeline': 'otel',
      'microbatch.partition': '0',
      'microbatch.batch.first_offset': 0,
      'microbatch.batch.last_offset': 9,
      'microbatch.batch.record_count': 10,
      'microbatch.flush.reason': 'records',
      'microbatch.write.attempts': 2,
      'microbatch.batch.written': 8,
      'microbatch.batch.committed': true,
    });
    expect(first!.attributes['microbatch.batch.size']).toBeGreaterThan(0);
    expect(first!.status.code).toBe(1);
    expect(first!.events.map((e) => e.name)).toEqual([
      'cut',
      'dead-lettered',
      'write attempt failed',
      'written',
      'committed',
    ]);
    expect(first!.events[1]!.attributes).toMatchObject({
      'microbatch.dead_letter.count': 2,
      'microbatch.dead_letter.reason.type_mismatch': 2,
    });
    expect(first!.events[2]!.attributes).toMatchObject({
      'microbatch.write.attempt': 1,
      'microbatch.retry.delay': 0.1,
    });
    // On the pipeline clock: starts at the cut, ends at the commit, after the failed attempt's
    // 20 ms and the 100 ms the sink asked to wait (the second attempt takes no time).
    expect(ms(first!.startTime)).toBe(Date.UTC(2026, 11, 7, 9, 0, 0));
    expect(ms(first!.endTime) - ms(first!.startTime)).toBe(120);
    expect(second!.attributes['microbatch.write.attempts']).toBe(1);
    expect(last!.attributes).toMatchObject({
      'microbatch.flush.reason': 'drain',
      'microbatch.batch.record_count': 5,
    });

    const m = await metrics();
    expect(m.get('microbatch.records.in')).toEqual([
      { value: 25, attributes: { 'microbatch.pipeline': 'otel' } },
    ]);
    expect(m.get('microbatch.records.written')![0]!.value).toBe(21);
    expect(m.get('microbatch.records.dead_lettered')).toEqual([
      {
        value: 4,
        attributes: { 'microbatch.pipeline': 'otel', 'microbatch.reject.reason': 'type_mismatch' },
      },
    ]);
    expect(
      m
        .get('microbatch.batches')!
        .map((p) => [p.attributes['microbatch.flush.reason'], p.value])
        .sort(),
    ).toEqual([
      ['drain', 1],
      ['records', 2],
    ]);
    expect(m.get('microbatch.batch.record_count')![0]!.value).toMatchObject({
      count: 3,
      sum: 25,
      min: 5,
      max: 10,
    });
    expect((m.get('microbatch.batch.size')![0]!.value as { count: number }).count).toBe(3);
    expect((m.get('microbatch.write.duration')![0]!.value as { count: number }).count).toBe(3);
    expect(m.get('microbatch.commit.lag')![0]!.value).toBe(0);
    expect(m.get('microbatch.batches.retrying')![0]!.value).toBe(0);
    expect(m.get('microbatch.write.concurrency')![0]!.value).toBeGreaterThanOrEqual(1);
    expect(m.has('microbatch.window')).toBe(false); // not adaptive: no window to report

    // close() removes the metric callback: collecting no longer reads the pipeline.
    instrumentation.close();
    const snapshot = vi.spyOn(p, 'metrics');
    await metrics();
    expect(snapshot).not.toHaveBeenCalled();
  });

  it('ends the open spans with an error status when the pipeline fails', async () => {
    const clock = testClock();
    const { spans, tracer, meter } = otel();
    const sink = flakySink<number>({ clock, schedule: [{ fail: 'fatal' }] });
    const p = pipeline({ name: 'fails', clock })
      .source(fromIterable([1, 2, 3]))
      .sink(sink)
      .build();
    await instrument(p, { tracer, meter, clock });
    expectCode(await clock.runUntil(rejection(p.run())), 'MB_SINK_FAILED');
    const [span] = spans.getFinishedSpans();
    expect(span!.status.code).toBe(2);
    expect(span!.status.message).toMatch(/^MB_SINK_FAILED: /);
    expect(span!.events.map((e) => e.name)).toContain('exception');
  });

  it('uses the global API when no tracer or meter is given, and needs @opentelemetry/api only then', async () => {
    const result = await runWithoutPeers(
      ['@opentelemetry/api'],
      `
const { instrument } = await import('./src/otel/index.ts');
const { pipeline, fromIterable, memorySink } = await import('./src/index.ts');
const p = pipeline({ name: 'x' }).source(fromIterable([1])).sink(memorySink()).build();
const noop = { startSpan: () => ({}), createCounter: () => ({}), createHistogram: () => ({}),
  createObservableCounter: () => ({}), createObservableGauge: () => ({}),
  addBatchObservableCallback() {}, removeBatchObservableCallback() {} };
const given = await instrument(p, { tracer: noop, meter: noop });
given.close();
try { await instrument(p); console.log('loaded'); } catch (error) { console.log(error.code + ' ' + error.message); }
`,
    );
    expect(result.stdout.trim(), result.stderr).toBe(
      'MB_MISSING_PEER microbatch/otel needs @opentelemetry/api, an optional peer dependency of microbatch: npm install @opentelemetry/api',
    );
  }, 60_000);
});
