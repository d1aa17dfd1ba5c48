import type { Batch } from '../core/batch.js';
import type { Sink } from './types.js';

/** A sink that keeps batches in memory: for tests, examples and small jobs. */
export interface MemorySink<T> extends Sink<T> {
  /** Every distinct batch written, in the order the writes completed. */
  readonly batches: readonly Batch<T>[];
  /**
   * Every record written, batch after batch in the order the writes completed. Batches of one
   * partition can complete out of order (concurrent writes; a batch with dead letters writes them
   * first): sort `batches` by `firstOffset` when order matters.
   */
  readonly records: readonly T[];
  /** How many writes repeated a batch id already held (and so had no effect). */
  readonly repeatedWrites: number;
  /** The ledger: the highest `lastOffset` of the batches held for `partition`, if any. */
  committed(partition: string): number | undefined;
}

/**
 * Keeps every batch. Writing a batch id twice has one effect: the second write is counted in
 * `repeatedWrites` and otherwise ignored. `committed(partition)` is its ledger.
 */
export function memorySink<T = unknown>(): MemorySink<T> {
  const batches: Batch<T>[] = [];
  const seen = new Set<string>();
  const ledger = new Map<string, number>();
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
    committed(partition) {
      return ledger.get(partition);
    },
    write(batch) {
      if (seen.has(batch.id)) {
        repeatedWrites++;
        return;
      }
      seen.add(batch.id);
      // Batches of a partition may complete out of order (concurrent writes): keep the highest.
      const held = ledger.get(batch.partition);
      if (held === undefined || batch.lastOffset > held) ledger.set(batch.partition, batch.lastOffset);
      // Copy the arrays: the caller's batch object must not be able to change what was "written".
      batches.push({
        ...batch,
        records: batch.records.slice(),
        ...(batch.offsets !== undefined && { offsets: batch.offsets.slice() }),
      });
    },
  };
}
