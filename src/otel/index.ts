/**
 * microbatch/otel: OpenTelemetry spans (one per batch, cut → write attempts → commit) and metrics
 * for a pipeline. Needs the optional peer `@opentelemetry/api` unless you pass a tracer and a meter.
 * @packageDocumentation
 */
export { type Instrumentation, type InstrumentOptions, instrument } from './instrument.js';
export type {
  BatchObservableResultLike,
  CounterLike,
  HistogramLike,
  MeterLike,
  ObservableLike,
  OtelAttributes,
  SpanLike,
  TracerLike,
} from './types.js';
