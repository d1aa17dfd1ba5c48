export type { StoredDeadLetter } from './dead-letter-encoding.js';
export { type JsonLinesDeadLetterOptions, jsonLinesDeadLetter } from './dead-letter-json-lines.js';
export { type MemoryDeadLetterSink, memoryDeadLetter } from './dead-letter-memory.js';
export { type JsonLinesSinkOptions, jsonLinesSink } from './json-lines.js';
export { type MemorySink, memorySink } from './memory.js';
export type {
  PartitionComplete,
  Sink,
  SinkContext,
  SinkRejection,
  WriteOptions,
  WriteResult,
} from './types.js';
