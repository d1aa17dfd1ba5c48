export {
  type DeadLetterReplaySource,
  type ReplayDeadLettersOptions,
  replayDeadLetters,
} from './dead-letters.js';
export { fromIterable, type IterableSourceOptions } from './iterable.js';
export { fromJsonLines, type JsonLinesSource, type JsonLinesSourceOptions } from './json-lines.js';
export { type PushMeta, type PushSource, type PushSourceOptions, pushSource } from './push.js';
export {
  type SpoolMeta,
  type SpoolSource,
  type SpoolSourceOptions,
  type SpoolStats,
  spoolSource,
} from './spool.js';
export type { Durability } from './spool-log.js';
export type {
  Envelope,
  RevokeOptions,
  RevokeResult,
  Source,
  SourceChunk,
  SourceContext,
  SourceReader,
  SourceRejection,
} from './types.js';
