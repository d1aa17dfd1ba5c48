/**
 * compactLake with `rewrite: true` loads apache-arrow and parquet-wasm only when it has files to read,
 * and reports them missing as MB_MISSING_PEER (not as corrupt files); the default row-group copy
 * needs neither. A fresh Node process refuses both packages through a resolve hook, imports
 * microbatch (which must work), then compacts a lake of two real Parquet files written beforehand.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runWithoutParquetPeers } from '../support/without-peers.js';
import { closePartition, encodeRows, readWithDuckDB, rows, writeDataFile } from './compact-helpers.js';

const script = (dir: string, rewrite: boolean) => `
const { compactLake } = await import('./src/index.ts');
try {
  const report = await compactLake({ dir: ${JSON.stringify(dir)}, table: 't', rewrite: ${rewrite} });
  console.log('done ' + report.mode + ' ' + report.filesBefore + ' → ' + report.filesAfter + ', ' + report.rowsRewritten + ' rows');
} catch (error) { console.log(error.code + ' ' + error.message); }
`;

async function lakeOfTwoFiles(dir: string): Promise<void> {
  await writeDataFile(dir, 't', 'dt=2026-11-25', 'a', encodeRows(rows(0, 5)));
  await writeDataFile(dir, 't', 'dt=2026-11-25', 'b', encodeRows(rows(5, 5)));
  await closePartition(dir, 't', 'dt=2026-11-25');
}

describe('compactLake without its peers', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('imports fine and, with rewrite: true, fails with MB_MISSING_PEER on first use', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mb-compact-peers-'));
    dirs.push(dir);
    await lakeOfTwoFiles(dir);
    const result = await runWithoutParquetPeers(script(dir, true));
    expect(result.stdout.trim(), result.stderr).toMatch(
      /^MB_MISSING_PEER compactLake needs (parquet-wasm|apache-arrow)/,
    );
  }, 60_000);

  it('copies row groups without either peer (the default)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mb-compact-peers-'));
    dirs.push(dir);
    await lakeOfTwoFiles(dir);
    const result = await runWithoutParquetPeers(script(dir, false));
    expect(result.stdout.trim(), result.stderr).toBe('done copy 2 → 1, 10 rows');
    expect((await readWithDuckDB(dir, 't')).map((r) => r.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }, 60_000);
});
