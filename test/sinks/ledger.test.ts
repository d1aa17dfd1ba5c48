/** The ledgers of the built-in sinks: `committed(partition)`, the highest lastOffset they hold. */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { jsonLinesSink } from '../../src/sinks/json-lines.js';
import { memorySink } from '../../src/sinks/memory.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, rejection } from '../support.js';
import { makeBatch, writeOptions } from './batches.js';

const context = (pipeline: string) => ({ pipeline, clock: testClock(), logger: silentLogger });

describe('memorySink ledger', () => {
  it('is undefined until a batch of the partition is held, then its highest lastOffset', async () => {
    const sink = memorySink<number>();
    expect(sink.committed('0')).toBeUndefined();
    // Out of order, as concurrent writes complete.
    await sink.write(makeBatch([5, 6, 7], 5), writeOptions());
    await sink.write(makeBatch([0, 1], 0), writeOptions());
    await sink.write(makeBatch([9], 9, '1'), writeOptions());
    expect(sink.committed('0')).toBe(7);
    expect(sink.committed('1')).toBe(9);
    expect(sink.committed('2')).toBeUndefined();
    // A repeated write has no effect, on the ledger neither.
    await sink.write(makeBatch([0, 1], 0), writeOptions());
    expect(sink.committed('0')).toBe(7);
  });

  it('counts the whole range, records removed by transforms included', async () => {
    const sink = memorySink<number>();
    const batch = { ...makeBatch([10, 11], 10), lastOffset: 14 };
    await sink.write(batch, writeOptions());
    expect(sink.committed('0')).toBe(14);
  });
});

describe('jsonLinesSink ledger', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mb-jsonl-ledger-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function opened(pipeline = 'unit', at = dir) {
    const sink = jsonLinesSink<number>({ dir: at });
    await sink.open!(context(pipeline));
    return sink;
  }

  it('needs open() to know its pipeline', async () => {
    const sink = jsonLinesSink({ dir });
    expectCode(await rejection(Promise.resolve(sink.committed!('0'))), 'MB_CLOSED');
  });

  it('is undefined for a directory not created yet, or without files of the partition', async () => {
    expect(await (await opened('unit', join(dir, 'missing'))).committed!('0')).toBeUndefined();
    expect(await (await opened()).committed!('0')).toBeUndefined();
  });

  it('is the highest lastOffset in the file names of this pipeline and partition, seen by a fresh instance too', async () => {
    const sink = await opened();
    await sink.write(makeBatch([1, 2, 3], 100), writeOptions());
    await sink.write(makeBatch([1, 2], 0), writeOptions());
    await sink.write(makeBatch([1], 9_007_199_254_740_990, '1'), writeOptions());
    await sink.write(makeBatch([1, 2, 3, 4, 5], 1_000, '10'), writeOptions());
    expect(await sink.committed!('0')).toBe(102);
    expect(await sink.committed!('1')).toBe(9_007_199_254_740_990);
    expect(await sink.committed!('2')).toBeUndefined();
    expect(await sink.committed!('10')).toBe(1_004);
    expect(await (await opened()).committed!('0')).toBe(102);
  });

  it('ignores other pipelines, temporary files, dead-letter files and strangers', async () => {
    const sink = await opened('unit');
    await sink.write(makeBatch([1], 5), writeOptions());
    const other = await opened('unit2');
    await other.write(makeBatch([1], 50, '0', 'unit2'), writeOptions());
    const prefix = 'unit.0.';
    await writeFile(join(dir, `.${prefix}0000000000000100-0000000000000200.123.0.tmp`), '1\n');
    await writeFile(join(dir, `${prefix}0000000000000100-0000000000000300.dead.jsonl`), '1\n');
    await writeFile(join(dir, `${prefix}0000000000000100-0000000000000400.json`), '1\n');
    await writeFile(join(dir, `${prefix}100-500.jsonl`), '1\n');
    await writeFile(join(dir, 'notes.jsonl'), '1\n');
    expect(await sink.committed!('0')).toBe(5);
    expect(await other.committed!('0')).toBe(50);
  });

  it('escapes pipeline and partition names like batch ids do', async () => {
    const sink = await opened('a.b');
    await sink.write(makeBatch([1, 2], 7, 'x/y', 'a.b'), writeOptions());
    expect(await sink.committed!('x/y')).toBe(8);
    expect(await (await opened('a')).committed!('b.x/y')).toBeUndefined();
  });

  it('rewriting a batch id leaves one file and the same ledger', async () => {
    const sink = await opened();
    const batch = makeBatch([1, 2], 3);
    await sink.write(batch, writeOptions());
    await sink.write(batch, writeOptions());
    await (await opened()).write(batch, writeOptions());
    expect(await readdir(dir)).toEqual([`${batch.id}.jsonl`]);
    expect(await sink.committed!('0')).toBe(4);
  });
});
