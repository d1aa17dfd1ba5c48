import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';
import { errorMessage, Sorter } from './sort.js';
import type { Transform } from './types.js';

/** Options of {@link requireConsent}. */
export interface RequireConsentOptions {
  /**
   * What a `consent_missing` dead letter keeps of the record. `'none'`: no value at all — the letter
   * holds the cursor, the batch, the message key (with a keyed source) and the reason, enough to
   * find the record at the source, and `details.valueWithheld: true`. `'kept'`: the value as other
   * letters keep it (after the pipeline's `redact` rules, unless those are `'raw'` too) — only for a
   * dead-letter store as protected as the source.
   * @default 'none'
   */
  deadLetterValue?: 'none' | 'kept';
}

/**
 * Keeps the records for which `predicate` returns `true` and rejects the others as
 * `consent_missing` (dead-lettered, not silently filtered, so that they can be accounted for).
 * It fails closed: a predicate that throws, or returns anything but `true` (`'yes'`, `1`), means no
 * consent, and the details say which it was. Its dead letters keep no value by default
 * ({@link RequireConsentOptions.deadLetterValue}).
 */
export function requireConsent<T>(
  predicate: (record: T) => boolean,
  options: RequireConsentOptions = {},
): Transform<T, T> {
  if (typeof predicate !== 'function') {
    throw invalidOptions(
      'requireConsent(predicate): predicate must be a function returning true when consent was given',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `requireConsent(predicate, options): options must be an object; got ${show(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== 'deadLetterValue') {
      throw invalidOptions(`requireConsent(predicate, options): unknown option '${key}'`, { option: key });
    }
  }
  const keep = options.deadLetterValue ?? 'none';
  if (keep !== 'none' && keep !== 'kept') {
    throw invalidOptions(
      `requireConsent(predicate, { deadLetterValue }): deadLetterValue must be 'none' or 'kept'; got ${show(keep)}`,
    );
  }
  return {
    name: 'require-consent',
    scrubDeadLetter(letter) {
      if (keep === 'kept' || letter.reason !== 'consent_missing' || letter.value === undefined) return letter;
      // The person did not consent: the letter says where the record is at the source (cursor,
      // batch, message key) and why, and keeps nothing of it.
      return {
        ...letter,
        value: undefined,
        details: { ...(letter.details !== undefined && { consent: letter.details }), valueWithheld: true },
      };
    },
    apply({ records }) {
      const sorter = new Sorter<T>();
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!;
        let given: unknown;
        try {
          given = predicate(record);
        } catch (error) {
          sorter.reject(i, 'consent_missing', { error: `predicate threw: ${errorMessage(error)}` });
          continue;
        }
        if (given === true) sorter.keep(record, i);
        else sorter.reject(i, 'consent_missing', given === false ? undefined : { returned: show(given) });
      }
      return sorter.output(records.length);
    },
  };
}
