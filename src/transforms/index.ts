export { filter, map } from './basic.js';
export { type RequireConsentOptions, requireConsent } from './consent.js';
export {
  type DedupeKey,
  type DedupeOptions,
  type DedupeTransform,
  type DedupeWindow,
  dedupe,
} from './dedupe.js';
export type { Detector } from './detect.js';
export {
  type DetectAction,
  type MaskAction,
  type RedactAction,
  type RedactOptions,
  type RedactPath,
  type RedactRules,
  type ReplaceAction,
  redact,
  type TextAction,
} from './redact.js';
export type { Rejection, Transform, TransformInput, TransformOutput, TransformWarning } from './types.js';
export {
  type SchemaIssue,
  type SchemaLike,
  type SchemaOutput,
  type SchemaRejection,
  type VersionedSchemas,
  validate,
} from './validate.js';
