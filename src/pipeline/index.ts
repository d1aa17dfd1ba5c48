export { defaultTrigger, PipelineBuilder, pipeline } from './builder.js';
export type { BatchSummary, Listener, PipelineEventName, PipelineEvents } from './events.js';
export type { PipelineOptions, RetryOptions } from './options.js';
export type {
  AdaptiveMetrics,
  DeliveryReport,
  EventTimeMetrics,
  Guarantee,
  LatencyQuantiles,
  PipelineMetrics,
  PipelineStatus,
  RecordCounts,
  UndeliveredRange,
} from './report.js';
export { type TraceOptions, trace } from './trace.js';
export type { Pipeline, StopOptions } from './types.js';
