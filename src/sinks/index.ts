export { type JsonLinesSinkOptions, jsonLinesSink } from './json-lines.js';
export { type MemorySink, memorySink } from './memory.js';
export type { Sink, SinkContext, WriteOptions, WriteResult } from './types.js';
