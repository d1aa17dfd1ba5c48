/**
 * The lake sink over an ObjectStorage: a marker left by an earlier run goes before this run's first
 * file in its partition; concurrent writes into one partition share one deletion (a request each on
 * S3 otherwise); after partitionComplete a late write deletes the marker again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fileStorage, type ObjectStorage, parquetLakeSink } from '../../src/lake/index.js';
import { HOUR, sinkContext, T14, timedBatch, writeOptions } from './helpers.js';

const Row = z.object({ id: z.string() });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-sink-storage-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function counting(storage: ObjectStorage): { storage: ObjectStorage; deletes: string[] } {
  const deletes: string[] = [];
  return {
    deletes,
    storage: {
      ...storage,
      delete: (keys, options) => {
        deletes.push(...keys);
        return storage.delete(keys, options);
      },
    },
  };
}

describe('parquetLakeSink over an ObjectStorage', () => {
  it('deletes a partition marker once per run, before the first file, shared by concurrent writes', async () => {
    const files = fileStorage(dir);
    const marker = 't/dt=2026-11-25/hr=14/_SUCCESS';
    await files.put(marker, new TextEncoder().encode('{}')); // left by an earlier run
    const { storage, deletes } = counting(files);
    const sink = parquetLakeSink({ storage, table: 't', schema: Row });
    await sink.open?.(sinkContext('hour'));
    await Promise.all(
      [0, 1, 2, 3].map((k) => sink.write(timedBatch([{ id: `r${k}` }], [T14 + k], k), writeOptions())),
    );
    expect(deletes).toEqual([marker]);
    expect(await files.head(marker)).toBeUndefined();
    expect((await files.list('t/')).objects).toHaveLength(4);

    await sink.partitionComplete?.({
      bucket: { path: 'dt=2026-11-25/hr=14', start: T14, end: T14 + HOUR },
      watermark: T14 + HOUR,
      records: 4,
      reopened: false,
    } as never);
    expect(await files.head(marker)).toBeDefined();
    await sink.write(timedBatch([{ id: 'late' }], [T14 + 9], 9), writeOptions());
    expect(deletes).toEqual([marker, marker]);
    expect(await files.head(marker)).toBeUndefined();
  });
});
