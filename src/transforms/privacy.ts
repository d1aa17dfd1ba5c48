import type { DeadLetter } from '../core/batch.js';
import { replaceDetected } from './detect.js';
import { errorMessage } from './sort.js';
import type { Transform, TransformWarning } from './types.js';

/**
 * Dead letters follow the pipeline's privacy rules. A letter keeps the value the source gave (so a
 * fixed pipeline can replay it), which is the value *before* `redact` and `requireConsent` ran: left
 * as it is, the dead-letter store would be the one place where the data those transforms protect is
 * kept in clear. So every letter of a batch — whichever step rejected it (the source, a transform,
 * the sink's screen) — passes through the `scrubDeadLetter` of every transform of the pipeline, in
 * pipeline order, once, here, before it is handed to the dead-letter sink (or kept in the report).
 */
export function scrubDeadLetters(
  transforms: readonly Transform<unknown, unknown>[],
  letters: DeadLetter[],
): DeadLetter[] {
  let scrubbers: ((letter: DeadLetter) => DeadLetter)[] | undefined;
  for (const t of transforms) if (t.scrubDeadLetter !== undefined) (scrubbers ??= []).push(t.scrubDeadLetter);
  if (scrubbers === undefined || letters.length === 0) return letters;
  return letters.map((letter) => {
    let out = letter;
    try {
      for (const scrub of scrubbers!) out = scrub(out);
    } catch (error) {
      // Fail closed: a value that cannot be scrubbed (a throwing getter or Proxy) is not kept.
      return {
        ...letter,
        value: undefined,
        details: { scrubFailed: errorMessage(error), valueWithheld: true },
      };
    }
    return out;
  });
}

/** Strings inside dead-letter details deeper than this are not scanned (details are small). */
const MAX_DEPTH = 8;
const REDACTED = '[redacted]';
const ALL = { email: true, phone: true } as const;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * `value` with every e-mail address and phone number inside its strings replaced by `[redacted]`,
 * copying on write (the same value when nothing was found). For what no path rule can reach: the
 * raw text of a malformed record, an error message quoting the input (`JSON.parse` does).
 */
export function scanStrings(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return replaceDetected(value, ALL, () => REDACTED);
  if (value instanceof Uint8Array) {
    // Raw bytes a source could not decode (a Kafka message that is not JSON): scanned as UTF-8
    // text; when something is found, the letter keeps the redacted text's bytes (any invalid
    // sequence then becomes U+FFFD), else the bytes as they were.
    const text = utf8.decode(value);
    const redacted = replaceDetected(text, ALL, () => REDACTED);
    return redacted === text ? value : new Uint8Array(Buffer.from(redacted, 'utf8'));
  }
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const after = scanStrings(value[i], depth + 1);
      if (after !== value[i]) (copy ??= value.slice())[i] = after;
    }
    return copy ?? value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)
    return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const before = (value as Record<string, unknown>)[key];
    const after = scanStrings(before, depth + 1);
    if (after !== before) {
      copy ??= { ...(value as Record<string, unknown>) };
      Object.defineProperty(copy, key, {
        value: after,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
  }
  return copy ?? value;
}

/** Every warning the pipeline's transforms raised so far, for `metrics()`. */
export function transformWarnings(transforms: readonly Transform<unknown, unknown>[]): TransformWarning[] {
  return transforms.flatMap((t) => t.warnings?.() ?? []);
}
