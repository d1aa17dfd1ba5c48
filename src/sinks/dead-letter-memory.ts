import type { Batch, DeadLetter } from '../core/batch.js';
import { memorySink } from './memory.js';
import type { Sink } from './types.js';

/** A dead-letter sink that keeps every letter in memory; see {@link memoryDeadLetter}. */
export interface MemoryDeadLetterSink<T = unknown> extends Sink<DeadLetter<T>> {
  /** Every dead letter kept, in the order the writes completed (and within a batch, its order). */
  readonly records: readonly DeadLetter<T>[];
  /** Every distinct dead-letter batch written, in the order the writes completed. */
  readonly batches: readonly Batch<DeadLetter<T>>[];
  /** How many writes repeated a batch id already held (and so had no effect). */
  readonly repeatedWrites: number;
  /**
   * The ledger: the highest `lastOffset` of a dead-letter batch held for `partition` (of the pipeline
   * that opened the sink, or of any pipeline before `open()`), `undefined` when none is held. Like a
   * sink's ledger, it covers the whole range of the batch the letters came from.
   */
  committed(partition: string): number | undefined;
}

/**
 * Keeps dead letters in memory, for tests, examples and small jobs:
 * `pipeline(…).deadLetter(memoryDeadLetter())`. Writing a batch id twice has one effect, the
 * second write is counted in `repeatedWrites`.
 */
export function memoryDeadLetter<T = unknown>(): MemoryDeadLetterSink<T> {
  const inner = memorySink<DeadLetter<T>>();
  let pipeline: string | undefined;
  return {
    kind: 'memory-dead-letter',
    get records() {
      return inner.records;
    },
    get batches() {
      return inner.batches;
    },
    get repeatedWrites() {
      return inner.repeatedWrites;
    },
    open(context) {
      pipeline = context.pipeline;
    },
    write(batch, options) {
      return inner.write(batch, options);
    },
    committed(partition) {
      let highest: number | undefined;
      for (const batch of inner.batches) {
        if (batch.partition !== partition) continue;
        if (pipeline !== undefined && batch.records[0]?.pipeline !== pipeline) continue;
        if (highest === undefined || batch.lastOffset > highest) highest = batch.lastOffset;
      }
      return highest;
    },
  };
}
