import type { Batch } from '../core/batch.js';
import type { Sink } from './types.js';

/** A sink that keeps batches in memory: for tests, examples and small jobs. */
export interface MemorySink<T> extends Sink<T> {
  /** Every distinct batch written, in the order the writes completed. */
  readonly batches: readonly Batch<T>[];
  /** Every record written, batch after batch. */
  readonly records: readonly T[];
  /** How many writes repeated a batch id already held (and so had no effect). */
  readonly repeatedWrites: number;
}

/**
 * Keeps every batch. Writing a batch id twice has one effect: the second write is counted in
 * `repeatedWrites` and otherwise ignored.
 */
export function memorySink<T = unknown>(): MemorySink<T> {
  const batches: Batch<T>[] = [];
  const seen = new Set<string>();
  let repeatedWrites = 0;
  return {
    kind: 'memory',
    get batches() {
      return batches;
    },
    get records() {
      return batches.flatMap((b) => b.records);
    },
    get repeatedWrites() {
      return repeatedWrites;
    },
    write(batch) {
      if (seen.has(batch.id)) {
        repeatedWrites++;
        return;
      }
      seen.add(batch.id);
      // Copy the arrays: the caller's batch object must not be able to change what was "written".
      batches.push({
        ...batch,
        records: batch.records.slice(),
        ...(batch.offsets !== undefined && { offsets: batch.offsets.slice() }),
      });
    },
  };
}
