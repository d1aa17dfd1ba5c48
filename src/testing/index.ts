/**
 * Test helpers for code that uses microbatch: a manual clock, a source that delivers records at
 * scripted times, a sink that fails, slows down or pushes back on a schedule, and a conformance
 * suite for custom sinks (it needs the optional peer dependency fast-check).
 * @packageDocumentation
 */
export { type TestClock, testClock } from './clock.js';
export {
  type ConformancePosition,
  type SinkConformanceOptions,
  sinkConformance,
} from './conformance.js';
export { type FlakyCall, type FlakySink, type FlakyStep, flakySink } from './flaky-sink.js';
export { seededRandom } from './random.js';
export { type ScriptedRecord, type ScriptedSource, scriptedSource } from './scripted-source.js';
