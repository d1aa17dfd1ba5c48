import { invalidOptions } from '../core/errors.js';
import type { Transform } from './types.js';

/** Changes every record: `map((r) => ({ ...r, price: Number(r.price) }))`. */
export function map<I, O>(fn: (record: I, index: number) => O): Transform<I, O> {
  if (typeof fn !== 'function') throw invalidOptions('map(fn): fn must be a function');
  return {
    name: 'map',
    apply: ({ records }) => ({ records: records.map(fn) }),
  };
}

/** Keeps the records for which `predicate` is true; the others are counted as `filtered`. */
export function filter<T>(predicate: (record: T, index: number) => boolean): Transform<T, T> {
  if (typeof predicate !== 'function')
    throw invalidOptions('filter(predicate): predicate must be a function');
  return {
    name: 'filter',
    apply({ records }) {
      const kept: T[] = [];
      const from: number[] = [];
      for (let i = 0; i < records.length; i++) {
        if (predicate(records[i]!, i)) {
          kept.push(records[i]!);
          from.push(i);
        }
      }
      return { records: kept, from, filtered: records.length - kept.length };
    },
  };
}
