import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { readSchema } from 'parquet-wasm';
import { afterEach, describe, expect, it } from 'vitest';
import { type CompactionProgress, compactLake } from '../../src/lake/compact.js';
import { compactionHash } from '../../src/lake/compact-layout.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, rejection } from '../support.js';
import {
  closePartition,
  encodeRows,
  encodeRowsInt64Ids,
  listTree,
  makeLate,
  readWithDuckDB,
  readWithHyparquet,
  rows,
  writeDataFile,
} from './compact-helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  const { rm } = await import('node:fs/promises');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function lake(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mb-compact-'));
  dirs.push(dir);
  return dir;
}

/** Writes `files` files of `per` rows each into a partition; ids continue from `first`. */
async function fill(
  dir: string,
  partition: string,
  files: number,
  per: number,
  first: number,
): Promise<number> {
  for (let i = 0; i < files; i++) {
    await writeDataFile(
      dir,
      't',
      partition,
      `${partition.replace(/[/=]/g, '_')}-${String(i).padStart(4, '0')}`,
      encodeRows(rows(first + i * per, per)),
    );
  }
  return first + files * per;
}

async function fileState(root: string): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const path of await listTree(root)) {
    const info = await stat(join(root, path), { bigint: true });
    state[path] =
      `${info.size}:${info.mtimeNs}:${(await readFile(join(root, path))).toString('base64').slice(0, 64)}`;
  }
  return state;
}

async function columnsOf(file: string): Promise<string[]> {
  return tableFromIPC(readSchema(await readFile(file)).intoIPCStream()).schema.fields.map(
    (f) => `${f.name}:${f.type}`,
  );
}

// Every behaviour holds for both merges: the default row-group copy and `rewrite: true`.
describe.each([
  { rewrite: false, mode: 'copy' },
  { rewrite: true, mode: 'rewrite' },
])('compactLake ($mode)', ({ rewrite, mode }) => {
  it('rewrites the small files of closed partitions; DuckDB and hyparquet read the same rows before and after', async () => {
    const dir = await lake();
    let next = await fill(dir, 'dt=2026-11-25/hr=13', 12, 50, 0);
    next = await fill(dir, 'dt=2026-11-25/hr=14', 7, 30, next);
    await fill(dir, 'dt=2026-11-25/hr=15', 5, 20, next); // stays open
    await closePartition(dir, 't', 'dt=2026-11-25/hr=13');
    await closePartition(dir, 't', 'dt=2026-11-25/hr=14');
    const duckBefore = await readWithDuckDB(dir, 't');
    const hyparquetBefore = await readWithHyparquet(dir, 't');
    expect(duckBefore).toHaveLength(12 * 50 + 7 * 30 + 5 * 20);
    expect(hyparquetBefore).toEqual(duckBefore);
    const openBefore = await fileState(join(dir, 't', 'dt=2026-11-25/hr=15'));

    const events: CompactionProgress[] = [];
    const clock = testClock(1_000);
    const report = await compactLake({ rewrite, dir, table: 't', clock, onProgress: (e) => events.push(e) });

    expect(await readWithDuckDB(dir, 't')).toEqual(duckBefore);
    expect(await readWithHyparquet(dir, 't')).toEqual(duckBefore);
    const tree = await listTree(join(dir, 't'));
    expect(tree.filter((p) => p.startsWith('dt=2026-11-25/hr=13/'))).toEqual([
      'dt=2026-11-25/hr=13/_SUCCESS',
      expect.stringMatching(/^dt=2026-11-25\/hr=13\/compacted-[0-9a-f]{16}\.parquet$/),
    ]);
    expect(await fileState(join(dir, 't', 'dt=2026-11-25/hr=15'))).toEqual(openBefore);
    expect(report).toMatchObject({
      table: 't',
      mode,
      partitionsScanned: 2,
      partitionsCompacted: 2,
      partitionsSkippedOpen: 1,
      filesBefore: 19,
      filesAfter: 2,
      rowsRewritten: 12 * 50 + 7 * 30,
      outputs: 2,
      recoveredIntents: 0,
      skippedBins: [],
      durationMs: 0,
    });
    expect(report.bytesAfter).toBeLessThan(report.bytesBefore);
    expect(events.map((e) => `${e.partition} ${e.action} ${e.filesIn}→${e.filesOut}`)).toEqual([
      'dt=2026-11-25/hr=13 compacted 12→1',
      'dt=2026-11-25/hr=14 compacted 7→1',
      'dt=2026-11-25/hr=15 skipped-open 0→0',
    ]);
    // Rows keep the input order (inputs sorted by name): ids ascend through the output file.
    const output = tree.find((p) => p.startsWith('dt=2026-11-25/hr=13/compacted-'))!;
    const { parquetReadObjects } = await import('hyparquet');
    const { compressors } = await import('hyparquet-compressors');
    const bytes = await readFile(join(dir, 't', output));
    const read = await parquetReadObjects({
      file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      compressors,
    });
    expect(read.map((r) => r.id)).toEqual(Array.from({ length: 600 }, (_, i) => i));
  });

  it('is a no-op the second time', async () => {
    const dir = await lake();
    await fill(dir, 'dt=2026-11-25', 6, 10, 0);
    await closePartition(dir, 't', 'dt=2026-11-25');
    const first = await compactLake({ rewrite, dir, table: 't' });
    expect(first.outputs).toBe(1);
    const state = await fileState(join(dir, 't'));
    const second = await compactLake({ rewrite, dir, table: 't' });
    expect(await fileState(join(dir, 't'))).toEqual(state);
    expect(second).toMatchObject({
      outputs: 0,
      rowsRewritten: 0,
      filesBefore: 1,
      filesAfter: 1,
      partitionsCompacted: 0,
    });
  });

  it('leaves files newer than the marker (late records) alone', async () => {
    const dir = await lake();
    await fill(dir, 'month=2026-11', 4, 10, 0);
    await closePartition(dir, 't', 'month=2026-11');
    const late = await writeDataFile(dir, 't', 'month=2026-11', 'late-1', encodeRows(rows(1000, 5)));
    const late2 = await writeDataFile(dir, 't', 'month=2026-11', 'late-2', encodeRows(rows(2000, 5)));
    await makeLate(late);
    await makeLate(late2);
    const lateBefore = [await stat(late, { bigint: true }), await stat(late2, { bigint: true })].map(
      (s) => s.mtimeNs,
    );
    const report = await compactLake({ rewrite, dir, table: 't' });
    expect(report).toMatchObject({ filesBefore: 6, filesAfter: 3, rowsRewritten: 40 });
    expect(
      [await stat(late, { bigint: true }), await stat(late2, { bigint: true })].map((s) => s.mtimeNs),
    ).toEqual(lateBefore);
    expect(await readWithDuckDB(dir, 't')).toHaveLength(50);
  });

  it('compacts files of different schemas separately, never into one file', async () => {
    const dir = await lake();
    const p = 'dt=2026-11-25/hr=01';
    for (let i = 0; i < 3; i++) await writeDataFile(dir, 't', p, `a${i}`, encodeRows(rows(i * 10, 10), 1));
    for (let i = 0; i < 3; i++) {
      await writeDataFile(
        dir,
        't',
        p,
        `b${i}`,
        encodeRows(
          rows(100 + i * 10, 10).map((r) => ({ ...r, note: `n${r.id}` })),
          2,
        ),
      );
    }
    for (let i = 0; i < 2; i++)
      await writeDataFile(dir, 't', p, `c${i}`, encodeRowsInt64Ids(rows(200 + i * 10, 10)));
    await closePartition(dir, 't', p);
    const before = await readWithDuckDB(dir, 't');
    const report = await compactLake({ rewrite, dir, table: 't' });
    expect(report).toMatchObject({ outputs: 3, filesBefore: 8, filesAfter: 3 });
    const outputs = (await readdir(join(dir, 't', p))).filter((f) => f.startsWith('compacted-'));
    const schemas = await Promise.all(outputs.map((f) => columnsOf(join(dir, 't', p, f))));
    expect(schemas.map((s) => s.join(',')).sort()).toEqual([
      'id:Int32,amount:Float64,sku:Utf8',
      'id:Int32,amount:Float64,sku:Utf8,note:Utf8',
      'id:Int64,amount:Float64,sku:Utf8',
    ]);
    expect(await readWithDuckDB(dir, 't')).toEqual(before);
  });

  it('packs bins of at most targetFileBytes and honours minInputFiles', async () => {
    const dir = await lake();
    const p = 'dt=2026-11-26';
    await fill(dir, p, 10, 20, 0);
    await closePartition(dir, 't', p);
    const sizes = await Promise.all(
      (await readdir(join(dir, 't', p)))
        .filter((f) => f.startsWith('part-'))
        .map(async (f) => (await stat(join(dir, 't', p, f))).size),
    );
    const largest = Math.max(...sizes);
    // Room for 3 files per bin (the files differ by a few bytes): 10 files → bins of 3, 3, 3, 1.
    const target = Math.floor(largest * 3.5);
    expect(Math.min(...sizes) * 4).toBeGreaterThan(target);

    const untouched = await compactLake({
      rewrite,
      dir,
      table: 't',
      targetFileBytes: target,
      minInputFiles: 4,
    });
    expect(untouched.outputs).toBe(0);
    expect(untouched.filesAfter).toBe(10);

    const report = await compactLake({ rewrite, dir, table: 't', targetFileBytes: target, minInputFiles: 2 });
    expect(report).toMatchObject({ outputs: 3, filesBefore: 10, filesAfter: 4, rowsRewritten: 180 });
    const names = await readdir(join(dir, 't', p));
    expect(names.filter((f) => f.startsWith('part-'))).toHaveLength(1); // the single leftover stays
    expect(await readWithDuckDB(dir, 't')).toHaveLength(200);
  });

  it('accepts sizes as strings and rejects a target that is not a size', async () => {
    const dir = await lake();
    await fill(dir, 'dt=2026-11-25', 2, 5, 0);
    await closePartition(dir, 't', 'dt=2026-11-25');
    expect(
      (await compactLake({ rewrite, dir, table: 't', targetFileBytes: '1KB', minInputFiles: 2 })).outputs,
    ).toBe(0);
    expectCode(
      await rejection(compactLake({ rewrite, dir, table: 't', targetFileBytes: 'big' as never })),
      'MB_INVALID_OPTIONS',
    );
    expectCode(
      await rejection(compactLake({ rewrite, dir, table: 't', minInputFiles: 1 })),
      'MB_INVALID_OPTIONS',
    );
    expectCode(
      await rejection(compactLake({ rewrite: true, dir, table: 't', compression: 'lzma' as never })),
      'MB_INVALID_OPTIONS',
    );
    // A codec only applies when rows are re-encoded: copied row groups keep theirs.
    const codecWithoutRewrite = expectCode(
      await rejection(compactLake({ dir, table: 't', compression: 'snappy' })),
      'MB_INVALID_OPTIONS',
    );
    expect(codecWithoutRewrite.message).toContain('applies only with rewrite: true');
    expectCode(
      await rejection(compactLake({ dir, table: 't', rewrite: 'yes' as never })),
      'MB_INVALID_OPTIONS',
    );
    expectCode(
      await rejection(compactLake({ rewrite, dir, table: 't', partitions: 'dt=x' as never })),
      'MB_INVALID_OPTIONS',
    );
  });

  it('selects partitions by path (a prefix selects the partitions below it) or by predicate', async () => {
    const dir = await lake();
    for (const p of ['dt=2026-11-24/hr=01', 'dt=2026-11-25/hr=01', 'dt=2026-11-25/hr=02']) {
      await fill(dir, p, 3, 5, 0);
      await closePartition(dir, 't', p);
    }
    const byPath = await compactLake({ rewrite, dir, table: 't', partitions: ['dt=2026-11-25/hr=02'] });
    expect(byPath).toMatchObject({ partitionsScanned: 1, outputs: 1 });
    const byPrefix = await compactLake({ rewrite, dir, table: 't', partitions: ['dt=2026-11-25'] });
    expect(byPrefix).toMatchObject({ partitionsScanned: 2, outputs: 1 });
    const byPredicate = await compactLake({
      dir,
      table: 't',
      partitions: (path) => path.startsWith('dt=2026-11-24'),
    });
    expect(byPredicate).toMatchObject({ partitionsScanned: 1, outputs: 1 });
  });

  it('fails with MB_INVALID_OPTIONS for a missing dir or table and an unsafe table name', async () => {
    const dir = await lake();
    const missingDir = expectCode(
      await rejection(compactLake({ rewrite, dir: join(dir, 'nope'), table: 't' })),
      'MB_INVALID_OPTIONS',
    );
    expect(missingDir.message).toContain('nope');
    const missingTable = expectCode(
      await rejection(compactLake({ rewrite, dir, table: 'orders' })),
      'MB_INVALID_OPTIONS',
    );
    expect(missingTable.message).toContain("table 'orders'");
    for (const table of ['..', '../x', 'a/b', '', '.hidden', 'x'.repeat(129)]) {
      expectCode(await rejection(compactLake({ rewrite, dir, table })), 'MB_INVALID_OPTIONS');
    }
  });

  it('skips a bin with a corrupt input, names the file, and deletes nothing of it', async () => {
    const dir = await lake();
    const p = 'dt=2026-11-25/hr=03';
    await fill(dir, p, 3, 40, 0);
    // Not Parquet at all: left out of the bins, reported.
    await writeFile(join(dir, 't', p, 'part-garbage.parquet'), 'this is not parquet');
    // A valid footer over a damaged column chunk: the bin it lands in is skipped.
    const damaged = Buffer.from(encodeRows(rows(500, 40)));
    damaged.fill(0xff, 4, 60);
    await writeFile(join(dir, 't', p, 'part-damaged.parquet'), damaged);
    await closePartition(dir, 't', p);
    const before = await fileState(join(dir, 't'));
    const report = await compactLake({ rewrite, dir, table: 't' });
    expect(report.skippedBins.map((s) => [s.reason, s.file])).toEqual([
      ['corrupt', 'part-garbage.parquet'],
      ['corrupt', 'part-damaged.parquet'],
    ]);
    expect(report.skippedBins[1]!.files).toContain('part-damaged.parquet');
    expect(report.skippedBins[1]!.files.length).toBe(4);
    expect(report.outputs).toBe(0);
    expect(await fileState(join(dir, 't'))).toEqual(before);
  });

  it('leaves a bin alone when its output name is already taken (inputs written again after compaction)', async () => {
    const dir = await lake();
    const p = 'dt=2026-11-25';
    await fill(dir, p, 2, 5, 0);
    await closePartition(dir, 't', p);
    const names = (await readdir(join(dir, 't', p))).filter((f) => f.startsWith('part-')).sort();
    const taken = join(dir, 't', p, `compacted-${compactionHash(names)}.parquet`);
    await writeFile(taken, encodeRows(rows(0, 10)));
    // Written after the marker, as an earlier compaction's output is. Set explicitly: the file system's
    // coarse clock can otherwise stamp it a few ms before the marker, making it a candidate.
    await makeLate(taken);
    const report = await compactLake({ rewrite, dir, table: 't' });
    expect(report.skippedBins).toMatchObject([{ reason: 'output-exists', files: names }]);
    expect((await readdir(join(dir, 't', p))).filter((f) => f.startsWith('part-'))).toEqual(names);
  });

  it('stops with MB_ABORTED before touching anything when the signal is aborted', async () => {
    const dir = await lake();
    await fill(dir, 'dt=2026-11-25', 3, 5, 0);
    await closePartition(dir, 't', 'dt=2026-11-25');
    const before = await fileState(join(dir, 't'));
    const controller = new AbortController();
    controller.abort();
    expectCode(
      await rejection(compactLake({ rewrite, dir, table: 't', signal: controller.signal })),
      'MB_ABORTED',
    );
    expect(await fileState(join(dir, 't'))).toEqual(before);
  });
});
