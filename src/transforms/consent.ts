import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';
import { errorMessage, Sorter } from './sort.js';
import type { Transform } from './types.js';

/**
 * Keeps the records for which `predicate` returns `true` and rejects the others as
 * `consent_missing` (dead-lettered, not silently filtered, so that they can be accounted for).
 * It fails closed: a predicate that throws, or returns anything but `true` (`'yes'`, `1`), means no
 * consent, and the details say which it was.
 */
export function requireConsent<T>(predicate: (record: T) => boolean): Transform<T, T> {
  if (typeof predicate !== 'function') {
    throw invalidOptions(
      'requireConsent(predicate): predicate must be a function returning true when consent was given',
    );
  }
  return {
    name: 'require-consent',
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
