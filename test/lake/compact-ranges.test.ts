/**
 * Copy-mode compaction on fileStorage reads by byte range and writes a stream
 * (test/lake/compact-ranges.ts); a storage without `putIfAbsentStream` still gets its output.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compactLake, fileStorage, type ObjectStorage } from '../../src/lake/index.js';
import { encodeParquet } from '../../src/parquet/encode.js';
import { readWithHyparquet } from '../parquet/readers.js';
import { compactRangesSuite } from './compact-ranges.js';

compactRangesSuite('fileStorage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mb-compact-ranges-'));
  return { storage: fileStorage(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('a storage without putIfAbsentStream (written before it existed)', () => {
  it('gets the copy-mode output through putIfAbsent, whole, with the same rows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mb-compact-fallback-'));
    try {
      const inner = fileStorage(dir);
      const { putIfAbsentStream: _streamed, ...rest } = inner;
      const wholes: string[] = [];
      const storage: ObjectStorage = {
        ...rest,
        putIfAbsent(key, body, options) {
          wholes.push(key);
          return inner.putIfAbsent(key, body, options);
        },
      };
      const partition = 'events/dt=2026-11-25/';
      const encoded = await Promise.all(
        [0, 1].map((n) =>
          encodeParquet(
            Array.from({ length: 50 }, (_, i) => ({ id: n * 50 + i })),
            z.object({ id: z.int() }),
          ),
        ),
      );
      for (const [n, bytes] of encoded.entries())
        await inner.putIfAbsent(`${partition}part-${n}.parquet`, bytes);
      await inner.put(`${partition}_SUCCESS`, new Uint8Array(0));
      const report = await compactLake({ storage, table: 'events' });
      expect(report).toMatchObject({ mode: 'copy', outputs: 1, filesAfter: 1 });
      const output = wholes.find((key) => key.endsWith('.parquet'));
      expect(output).toMatch(/compacted-[0-9a-f]{16}\.parquet$/);
      const rows = await readWithHyparquet((await inner.get(output!))!);
      expect(rows.map((r) => Number(r.id))).toEqual(Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
