import { describe, expect, it } from 'vitest';
import { memorySink } from '../../src/sinks/memory.js';
import { makeBatch, writeOptions } from './batches.js';

describe('memorySink', () => {
  it('keeps batches and records in write order', async () => {
    const sink = memorySink<number>();
    expect(sink.kind).toBe('memory');
    await sink.write(makeBatch([1, 2], 0), writeOptions());
    await sink.write(makeBatch([3], 2), writeOptions());
    expect(sink.batches.map((b) => b.id)).toEqual([makeBatch([1, 2], 0).id, makeBatch([3], 2).id]);
    expect(sink.records).toEqual([1, 2, 3]);
    expect(sink.repeatedWrites).toBe(0);
  });

  it('is idempotent on the batch id: a repeated write has no effect and is counted', async () => {
    const sink = memorySink<number>();
    const batch = makeBatch([1, 2, 3]);
    await sink.write(batch, writeOptions());
    await sink.write(batch, writeOptions());
    await sink.write({ ...batch, records: [9, 9, 9] }, writeOptions());
    expect(sink.batches).toHaveLength(1);
    expect(sink.records).toEqual([1, 2, 3]);
    expect(sink.repeatedWrites).toBe(2);
  });

  it('copies the arrays, so the caller cannot change what was written', async () => {
    const sink = memorySink<number>();
    const batch = makeBatch([1, 2]);
    await sink.write(batch, writeOptions());
    batch.records.push(3);
    batch.offsets!.push(2);
    expect(sink.records).toEqual([1, 2]);
    expect(sink.batches[0]!.offsets).toEqual([0, 1]);
  });
});
