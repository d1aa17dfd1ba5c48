import type { TransformInput, TransformOutput } from '../../src/transforms/types.js';

/** A batch for calling a transform directly: offsets 0, 10, 20…, partition '0', time `at`. */
export function input<T>(
  records: T[],
  { at = 0, partition = '0', offsets }: { at?: number; partition?: string; offsets?: number[] } = {},
): TransformInput<T> {
  return { records, offsets: offsets ?? records.map((_, i) => i * 10), partition, batchId: 'b', at };
}

/** Awaits a transform's output (sync or async). */
export const out = async <T>(result: TransformOutput<T> | Promise<TransformOutput<T>>) => await result;
