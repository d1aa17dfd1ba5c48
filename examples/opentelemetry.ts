/**
 * microbatch/otel with the OpenTelemetry SDK: a span per batch and the pipeline's metrics. The
 * metrics are read the way Prometheus scrapes them (the exporter's text format, printed here
 * instead of served on :9464/metrics), and one batch's span is printed as a trace view would show
 * it. In a service you would register the SDK globally and call `instrument(p)` without options.
 */
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { fromIterable, pipeline, type Sink, triggers } from 'microbatch';
import { instrument } from 'microbatch/otel';

const spans = new InMemorySpanExporter();
const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer('app');
// preventServerStart: the example reads the scrape body itself rather than opening a port.
const prometheus = new PrometheusExporter({ preventServerStart: true });
const meter = new MeterProvider({ readers: [prometheus] }).getMeter('app');

// A warehouse stand-in: 5 ms per write; the first write is throttled once (retried after 50 ms).
let calls = 0;
const warehouse: Sink<{ sku: string; cents: number }> = {
  kind: 'warehouse',
  async write() {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (++calls === 1) throw Object.assign(new Error('429 slow down'), { retryable: true, retryAfter: 50 });
  },
};

const prices = Array.from({ length: 2_500 }, (_, i) => ({ sku: `sku-${i % 40}`, cents: 1_000 + i }));
const p = pipeline({ name: 'prices' })
  .source(fromIterable(prices))
  .trigger(triggers.any(triggers.time('5s'), triggers.volume({ records: 1_000 })))
  .sink(warehouse)
  .build();

const otel = await instrument(p, { tracer, meter });
const report = await p.run();
console.log(`${report.status}: ${report.records.written} written in ${report.batches.written} batches`);

// One batch as a trace view shows it: the span, its attributes, and its events on a time line.
const [first] = spans.getFinishedSpans() as ReadableSpan[];
const ms = (t: [number, number]) => t[0] * 1000 + t[1] / 1e6;
if (first === undefined) throw new Error('no span recorded');
const start = ms(first.startTime);
console.log(
  `\n${first.name}  ${(ms(first.endTime) - start).toFixed(1)} ms  status=${first.status.code === 1 ? 'OK' : first.status.code}`,
);
for (const [key, value] of Object.entries(first.attributes))
  console.log(`  ${key} = ${JSON.stringify(value)}`);
for (const event of first.events) {
  const attributes = Object.entries(event.attributes ?? {})
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
  console.log(`  +${(ms(event.time) - start).toFixed(1).padStart(6)} ms  ${event.name}  ${attributes}`);
}

// What a Prometheus scrape of the exporter returns (dots become underscores, units become suffixes).
const { resourceMetrics } = await prometheus.collect();
const scrape = new PrometheusSerializer().serialize(resourceMetrics);
console.log(
  `\n${scrape
    .split('\n')
    .filter((line) => line.includes('microbatch_'))
    .join('\n')}`,
);
otel.close();
