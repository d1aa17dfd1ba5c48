import { describeError } from '../core/errors.js';
import type { Rejection, TransformOutput } from './types.js';

/**
 * Collects what a record-by-record transform decides (keep, reject, duplicate) and builds its
 * {@link TransformOutput}. `from` is only sent when records were removed, and only built once a
 * record is kept at another index than its own: a batch where every record is kept costs no index
 * array, and one that loses a record costs one only from there on.
 */
export class Sorter<O> {
  readonly records: O[] = [];
  // Input index of each kept record; undefined while each record kept so far is at its own index.
  #from: number[] | undefined;
  rejected: Rejection[] | undefined;
  duplicates = 0;

  keep(record: O, index: number): void {
    const at = this.records.push(record) - 1;
    if (this.#from !== undefined) this.#from.push(index);
    else if (index !== at) {
      this.#from = identity(at);
      this.#from.push(index);
    }
  }

  reject(index: number, reason: string, details: unknown): void {
    (this.rejected ??= []).push({ index, reason, details });
  }

  output(input: number): TransformOutput<O> {
    const out: TransformOutput<O> = { records: this.records };
    if (this.records.length !== input) out.from = this.#from ?? identity(this.records.length);
    if (this.rejected !== undefined) out.rejected = this.rejected;
    if (this.duplicates > 0) out.duplicates = this.duplicates;
    return out;
  }
}

/** `[0, 1, …, n - 1]`. */
function identity(n: number): number[] {
  const indices: number[] = [];
  for (let i = 0; i < n; i++) indices.push(i);
  return indices;
}

// Dead-letter details must stay small and JSON-safe: a thrown value may be anything.
const MAX_MESSAGE = 200;

/** A thrown value as a short, JSON-safe message for dead-letter details. */
export function errorMessage(error: unknown): string {
  let message: string;
  try {
    message = describeError(error);
  } catch {
    message = 'an unprintable value was thrown';
  }
  return clip(message, MAX_MESSAGE);
}

/** `text` cut to `max` characters, marked with `…` when cut. */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
