/**
 * The part of the OpenTelemetry API (`@opentelemetry/api` 1.x) that microbatch/otel calls,
 * declared structurally so that the published types never import the peer: a `Tracer` and a
 * `Meter` from `@opentelemetry/api` fit these.
 */

/** Attribute values as OpenTelemetry takes them. */
export type OtelAttributes = Record<string, string | number | boolean | undefined>;

/** A span: what microbatch/otel records on it. */
export interface SpanLike {
  setAttribute(key: string, value: string | number | boolean): unknown;
  setAttributes(attributes: OtelAttributes): unknown;
  addEvent(name: string, attributes?: OtelAttributes, time?: number): unknown;
  /** `code`: 1 OK, 2 ERROR (`SpanStatusCode`). */
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: Error | string, time?: number): void;
  end(endTime?: number): void;
}

/** A tracer, such as `trace.getTracer('microbatch')`. */
export interface TracerLike {
  startSpan(
    name: string,
    options?: { attributes?: OtelAttributes; startTime?: number; kind?: number },
  ): SpanLike;
}

/** A counter or a histogram. */
export interface CounterLike {
  add(value: number, attributes?: OtelAttributes): void;
}
export interface HistogramLike {
  record(value: number, attributes?: OtelAttributes): void;
}
/** An observable instrument; its values come from the batch callback. */
export type ObservableLike = object;
/** What a batch observable callback gets. */
export interface BatchObservableResultLike {
  observe(observable: ObservableLike, value: number, attributes?: OtelAttributes): void;
}
/** Options every instrument takes. */
export interface InstrumentOptionsLike {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** A meter, such as `metrics.getMeter('microbatch')`. */
export interface MeterLike {
  createCounter(name: string, options?: InstrumentOptionsLike): CounterLike;
  createHistogram(name: string, options?: InstrumentOptionsLike): HistogramLike;
  createObservableCounter(name: string, options?: InstrumentOptionsLike): ObservableLike;
  createObservableGauge(name: string, options?: InstrumentOptionsLike): ObservableLike;
  addBatchObservableCallback(
    callback: (result: BatchObservableResultLike) => void,
    observables: ObservableLike[],
  ): void;
  removeBatchObservableCallback(
    callback: (result: BatchObservableResultLike) => void,
    observables: ObservableLike[],
  ): void;
}
