import { type Batch, batchId } from '../../src/core/batch.js';
import type { WriteOptions } from '../../src/sinks/types.js';

/** A batch of `records` at offsets `first…`, as the runtime would cut it. */
export function makeBatch<T>(records: T[], first = 0, partition = '0', pipeline = 'unit'): Batch<T> {
  const offsets = records.map((_, i) => first + i);
  return {
    id: batchId(pipeline, partition, first, first + records.length - 1),
    partition,
    firstOffset: first,
    lastOffset: first + records.length - 1,
    records,
    offsets,
    bytes: 0,
    reason: 'drain',
    openedAt: 0,
    closedAt: 0,
  };
}

export const writeOptions = (): WriteOptions => ({ signal: new AbortController().signal, attempt: 1 });
