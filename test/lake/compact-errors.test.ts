/**
 * Compaction tells a damaged file from a bug: only what the Parquet parsing recognises as corrupt
 * (bad magic, footer, Thrift, pages) skips a bin; any other error (here a storage that hands back
 * something that is not bytes, which makes the parsing code fail with a TypeError) stops the run,
 * instead of being reported as a corrupt file and hidden (issue 12).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compactLake, fileStorage, type ObjectStorage } from '../../src/lake/index.js';
import { closePartition, encodeRows, rows, writeDataFile } from './compact-helpers.js';

const PARTITION = 'dt=2026-11-25/hr=10';

async function lake(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mb-compact-errors-'));
  for (let f = 0; f < 3; f++) await writeDataFile(dir, 't', PARTITION, `f${f}`, encodeRows(rows(f * 10, 10)));
  return dir;
}

describe('compaction errors', () => {
  it('a bug while reading (a TypeError) stops the run; nothing is skipped as corrupt or deleted', async () => {
    const dir = await lake();
    try {
      await closePartition(dir, 't', PARTITION);
      const files = fileStorage(dir);
      // A storage with a bug: for one data file it returns a plain array of the right bytes, not a
      // Uint8Array; the footer parsing then fails on a missing method (a TypeError), not on the bytes.
      const buggy: ObjectStorage = {
        ...files,
        get: async (key, options) => {
          const bytes = await files.get(key, options);
          return key.endsWith('part-f1.parquet') && bytes !== undefined
            ? (Array.from(bytes) as unknown as Uint8Array)
            : bytes;
        },
      };
      const error = await compactLake({ storage: buggy, table: 't' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      const after = await fileStorage(dir).list('t/');
      expect(after.objects.map((o) => o.key.split('/').pop())).toEqual([
        '_SUCCESS',
        'part-f0.parquet',
        'part-f1.parquet',
        'part-f2.parquet',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a damaged file is still skipped as corrupt, and the run goes on', async () => {
    const dir = await lake();
    try {
      await writeFile(join(dir, 't', PARTITION, 'part-f9.parquet'), 'PAR1 not really parquet PAR1');
      await closePartition(dir, 't', PARTITION);
      const report = await compactLake({ dir, table: 't' });
      expect(report.skippedBins.map((s) => [s.reason, s.file])).toEqual([['corrupt', 'part-f9.parquet']]);
      expect(report.outputs).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
