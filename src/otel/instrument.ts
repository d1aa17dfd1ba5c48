import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { loadPeer } from '../core/peers.js';
import type { BatchSummary } from '../pipeline/events.js';
import type { PipelineMetrics } from '../pipeline/report.js';
import type { Pipeline } from '../pipeline/types.js';
import type {
  BatchObservableResultLike,
  MeterLike,
  ObservableLike,
  OtelAttributes,
  SpanLike,
  TracerLike,
} from './types.js';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /**
   * Where batch spans go. @default `trace.getTracer('microbatch')` from `@opentelemetry/api`
   * (loaded on the call; `MB_MISSING_PEER` when it is not installed)
   */
  tracer?: TracerLike;
  /** Where the metrics go. @default `metrics.getMeter('microbatch')` from `@opentelemetry/api` */
  meter?: MeterLike;
  /** `false`: no spans. @default true */
  traces?: boolean;
  /** `false`: no metrics. @default true */
  metrics?: boolean;
  /**
   * The clock span times are read from: give the pipeline's own clock when it is not the system
   * clock, so that a span's start (the batch's cut, `closedAt`) and end share one time line.
   * @default the system clock
   */
  clock?: Pick<Clock, 'now'>;
}

/** What {@link instrument} set up; `close()` (or `using`) removes it. */
export interface Instrumentation {
  /** Stops listening and removes the metric callbacks. Spans still open end without a status. */
  close(): void;
  [Symbol.dispose](): void;
}

// SpanStatusCode of @opentelemetry/api (stable since 1.0).
const OK = 1;
const ERROR = 2;
const PREFIX = 'microbatch';

/**
 * Instruments a pipeline with OpenTelemetry: one span per batch, from its cut through the
 * transforms, the write attempts and the dead letters to its commit, and metrics following the
 * OpenTelemetry semantic-convention style (`microbatch.*` names, UCUM units, attributes for the
 * breakdowns). Everything comes from the pipeline's events and `metrics()`; the core package keeps
 * no dependency on OpenTelemetry, and `node:diagnostics_channel` stays the zero-dependency path.
 * See docs/observability.md.
 */
export async function instrument(
  pipeline: Pipeline<any>,
  options: InstrumentOptions = {},
): Promise<Instrumentation> {
  const wantTraces = options.traces !== false;
  const wantMetrics = options.metrics !== false;
  let tracer = options.tracer;
  let meter = options.meter;
  if ((wantTraces && tracer === undefined) || (wantMetrics && meter === undefined)) {
    const api = await loadPeer<typeof import('@opentelemetry/api')>(
      '@opentelemetry/api',
      'microbatch/otel',
      () => import('@opentelemetry/api'),
    );
    tracer ??= api.trace.getTracer(PREFIX) as unknown as TracerLike;
    meter ??= api.metrics.getMeter(PREFIX) as unknown as MeterLike;
  }
  const closers: (() => void)[] = [];
  if (wantTraces) closers.push(traceBatches(pipeline, tracer!, options.clock ?? { now: () => Date.now() }));
  if (wantMetrics) closers.push(recordMetrics(pipeline, meter!));
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const stop of closers.reverse()) stop();
  };
  return { close, [Symbol.dispose]: close };
}

/** Attributes every span and metric point of the pipeline carries. */
const base = (pipeline: Pipeline<any>): OtelAttributes => ({ [`${PREFIX}.pipeline`]: pipeline.name });

function batchAttributes(batch: BatchSummary): OtelAttributes {
  return {
    [`${PREFIX}.batch.id`]: batch.id,
    [`${PREFIX}.partition`]: batch.partition,
    [`${PREFIX}.batch.first_offset`]: batch.firstOffset,
    [`${PREFIX}.batch.last_offset`]: batch.lastOffset,
    [`${PREFIX}.batch.record_count`]: batch.records,
    [`${PREFIX}.batch.size`]: batch.bytes,
    [`${PREFIX}.flush.reason`]: batch.reason,
  };
}

interface OpenSpan {
  id: string;
  span: SpanLike;
  lastOffset: number;
}

/** One span per batch: started at the cut, ended at the commit that covers it (or the failure). */
function traceBatches(pipeline: Pipeline<any>, tracer: TracerLike, clock: Pick<Clock, 'now'>): () => void {
  // Open spans per partition, in cut order: commits go in offset order, so they end a prefix.
  const open = new Map<string, OpenSpan[]>();
  const byId = new Map<string, SpanLike>();
  const endAll = (status?: { code: number; message?: string }, error?: unknown) => {
    const now = clock.now();
    for (const spans of open.values()) {
      for (const { span } of spans) {
        if (error !== undefined) span.recordException(error instanceof Error ? error : String(error), now);
        if (status !== undefined) span.setStatus(status);
        else span.setAttribute(`${PREFIX}.batch.committed`, false);
        span.end(now);
      }
    }
    open.clear();
    byId.clear();
  };
  const off = [
    pipeline.on('flush', ({ batch, rejected }) => {
      const span = tracer.startSpan(`${PREFIX}.batch ${pipeline.name}`, {
        startTime: batch.closedAt,
        attributes: {
          ...base(pipeline),
          ...batchAttributes(batch),
          [`${PREFIX}.batch.rejected_on_arrival`]: rejected,
        },
      });
      // Times in attributes are seconds, as OpenTelemetry's conventions have them.
      span.addEvent(
        'cut',
        { [`${PREFIX}.batch.window`]: (batch.closedAt - batch.openedAt) / 1000 },
        batch.closedAt,
      );
      let spans = open.get(batch.partition);
      if (spans === undefined) open.set(batch.partition, (spans = []));
      spans.push({ id: batch.id, span, lastOffset: batch.lastOffset });
      byId.set(batch.id, span);
    }),
    pipeline.on('retry', ({ batch, attempt, delayMs, error }) => {
      byId.get(batch.id)?.addEvent(
        'write attempt failed',
        {
          [`${PREFIX}.write.attempt`]: attempt,
          [`${PREFIX}.retry.delay`]: delayMs / 1000,
          'exception.message': describeError(error),
        },
        clock.now(),
      );
    }),
    pipeline.on('dead-letter', ({ batch, count, reasons }) => {
      const attributes: OtelAttributes = { [`${PREFIX}.dead_letter.count`]: count };
      for (const [reason, n] of Object.entries(reasons))
        attributes[`${PREFIX}.dead_letter.reason.${reason}`] = n;
      byId.get(batch.id)?.addEvent('dead-lettered', attributes, clock.now());
    }),
    pipeline.on('write', ({ batch, written, attempts, durationMs }) => {
      const span = byId.get(batch.id);
      if (span === undefined) return;
      span.setAttributes({
        [`${PREFIX}.batch.written`]: written,
        [`${PREFIX}.write.attempts`]: attempts,
        [`${PREFIX}.write.duration`]: durationMs / 1000,
      });
      span.addEvent('written', { [`${PREFIX}.batch.written`]: written }, clock.now());
    }),
    pipeline.on('commit', ({ partition, offset }) => {
      const spans = open.get(partition);
      if (spans === undefined) return;
      const now = clock.now();
      while (spans.length > 0 && spans[0]!.lastOffset <= offset) {
        const { id, span } = spans.shift()!;
        byId.delete(id);
        span.addEvent('committed', { [`${PREFIX}.commit.offset`]: offset }, now);
        span.setAttribute(`${PREFIX}.batch.committed`, true);
        span.setStatus({ code: OK });
        span.end(now);
      }
    }),
    pipeline.on('error', ({ error }) =>
      endAll({ code: ERROR, message: `${error.code}: ${error.message}` }, error),
    ),
    pipeline.on('status', ({ to }) => {
      if (to === 'completed' || to === 'stopped' || to === 'failed') endAll();
    }),
  ];
  return () => {
    for (const stop of off) stop();
    endAll();
  };
}

/** Metrics: counters and histograms from events, gauges and totals from `metrics()` snapshots. */
function recordMetrics(pipeline: Pipeline<any>, meter: MeterLike): () => void {
  const attrs = base(pipeline);
  const batches = meter.createCounter(`${PREFIX}.batches`, {
    description: 'Batches cut, by flush reason (microbatch.flush.reason)',
    unit: '{batch}',
  });
  const recordCount = meter.createHistogram(`${PREFIX}.batch.record_count`, {
    description: 'Records per batch at its cut',
    unit: '{record}',
    advice: { explicitBucketBoundaries: [1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000, 1_000_000] },
  });
  const size = meter.createHistogram(`${PREFIX}.batch.size`, {
    description: 'Bytes per batch at its cut',
    unit: 'By',
    advice: { explicitBucketBoundaries: [1e3, 1e4, 1e5, 1e6, 8e6, 1.6e7, 6.4e7, 1.28e8, 5.12e8] },
  });
  const writeDuration = meter.createHistogram(`${PREFIX}.write.duration`, {
    description: 'Time from a batch write start to its success, retries included',
    unit: 's',
    advice: {
      explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    },
  });
  const observables = {
    in: meter.createObservableCounter(`${PREFIX}.records.in`, {
      description: 'Records read',
      unit: '{record}',
    }),
    written: meter.createObservableCounter(`${PREFIX}.records.written`, {
      description: 'Records written to the sink',
      unit: '{record}',
    }),
    deadLettered: meter.createObservableCounter(`${PREFIX}.records.dead_lettered`, {
      description: 'Records sent to the dead-letter sink, by reason (microbatch.reject.reason)',
      unit: '{record}',
    }),
    window: meter.createObservableGauge(`${PREFIX}.window`, {
      description: "The adaptive trigger's current window",
      unit: 's',
    }),
    concurrency: meter.createObservableGauge(`${PREFIX}.write.concurrency`, {
      description: 'The write concurrency limit',
      unit: '{write}',
    }),
    commitLag: meter.createObservableGauge(`${PREFIX}.commit.lag`, {
      description: 'Records read and not yet committed (in lanes and in flight)',
      unit: '{record}',
    }),
    retrying: meter.createObservableGauge(`${PREFIX}.batches.retrying`, {
      description: 'Batch writes waiting to retry',
      unit: '{batch}',
    }),
    buffer: meter.createObservableGauge(`${PREFIX}.buffer.size`, {
      description: 'Bytes held against the memory budget',
      unit: 'By',
    }),
  } satisfies Record<string, ObservableLike>;
  const observe = (result: BatchObservableResultLike) => {
    const m: PipelineMetrics = pipeline.metrics();
    result.observe(observables.in, m.counts.in, attrs);
    result.observe(observables.written, m.counts.written, attrs);
    for (const [reason, n] of Object.entries(m.counts.rejected)) {
      result.observe(observables.deadLettered, n ?? 0, { ...attrs, [`${PREFIX}.reject.reason`]: reason });
    }
    if (m.trigger.window !== undefined) result.observe(observables.window, m.trigger.window / 1000, attrs);
    result.observe(observables.concurrency, m.inFlight.concurrency, attrs);
    result.observe(observables.commitLag, m.buffer.records + m.inFlight.records, attrs);
    result.observe(observables.retrying, m.sink.retrying, attrs);
    result.observe(observables.buffer, m.buffer.heldBytes, attrs);
  };
  const list = Object.values(observables);
  meter.addBatchObservableCallback(observe, list);
  const off = [
    pipeline.on('flush', ({ batch }) => {
      batches.add(1, { ...attrs, [`${PREFIX}.flush.reason`]: batch.reason });
      recordCount.record(batch.records, attrs);
      size.record(batch.bytes, attrs);
    }),
    pipeline.on('write', ({ durationMs }) => writeDuration.record(durationMs / 1000, attrs)),
  ];
  return () => {
    for (const stop of off) stop();
    meter.removeBatchObservableCallback(observe, list);
  };
}
