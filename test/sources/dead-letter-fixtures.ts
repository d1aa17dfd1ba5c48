/** Dead letters and dead-letter batches as the runtime builds them, for the sink, source and pipeline tests. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Batch, batchId, type DeadLetter } from '../../src/core/batch.js';
import type { StoredDeadLetter } from '../../src/sinks/dead-letter-encoding.js';

/** A letter of pipeline 'orders', partition 'p', at `offset`. */
export const letter = (offset: number, value: unknown, extra: Partial<DeadLetter> = {}): DeadLetter => ({
  reason: 'malformed',
  details: { error: 'Unexpected token' },
  value,
  cursor: { partition: 'p', offset },
  pipeline: 'orders',
  batchId: batchId('orders', 'p', 0, 99),
  at: 1_700_000_000_123,
  ...extra,
});

/** A dead-letter batch as the runtime builds it: the batch's range, its id + `.dead`. */
export function deadBatch(
  letters: DeadLetter[],
  first = 0,
  last = 99,
  partition = 'p',
  pipeline = 'orders',
): Batch<DeadLetter> {
  return {
    id: `${batchId(pipeline, partition, first, last)}.dead`,
    partition,
    firstOffset: first,
    lastOffset: last,
    records: letters,
    offsets: letters.map((l) => l.cursor.offset),
    bytes: 0,
    reason: 'drain',
    openedAt: 0,
    closedAt: 0,
  };
}

/** Every envelope of every `*.jsonl` file of `dir`, files in sorted name order. */
export async function readDeadLetterDir(dir: string): Promise<StoredDeadLetter[]> {
  const letters: StoredDeadLetter[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return letters;
  }
  for (const name of names.filter((n) => n.endsWith('.jsonl')).sort()) {
    const text = await readFile(join(dir, name), 'utf8');
    for (const line of text.split('\n')) if (line !== '') letters.push(JSON.parse(line) as StoredDeadLetter);
  }
  return letters;
}
