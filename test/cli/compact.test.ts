/**
 * `microbatch compact` as a user runs it: `node --import tsx src/cli/main.ts compact …` in a child
 * process on a real lake, checking exit codes, stdout (summary), stderr (progress, errors).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closePartition,
  encodeRows,
  listTree,
  readWithDuckDB,
  rows,
  writeDataFile,
} from '../lake/compact-helpers.js';
import { queryDuckDB, sqlString } from '../parquet/readers.js';

const root = resolve(import.meta.dirname, '../..');
const tsx = createRequire(import.meta.url).resolve('tsx');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', tsx, 'src/cli/main.ts', ...args],
      { cwd: root, timeout: 60_000 },
      (error, stdout, stderr) => {
        done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
  });
}

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Two tables × two hours (13 closed, 14 open), 4 files of 10 rows per partition. */
async function lake(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mb-cli-'));
  dirs.push(dir);
  for (const table of ['orders', 'prices']) {
    for (const hour of ['13', '14']) {
      const partition = `dt=2026-11-25/hr=${hour}`;
      for (let i = 0; i < 4; i++)
        await writeDataFile(
          dir,
          table,
          partition,
          `h${hour}-${i}`,
          encodeRows(rows(Number(hour) * 100 + i * 10, 10)),
        );
      if (hour === '13') await closePartition(dir, table, partition);
    }
  }
  return dir;
}

const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe('microbatch compact', () => {
  it('compacts every table, with progress on stderr and a summary per table and in total on stdout', async () => {
    const dir = await lake();
    const before = [await readWithDuckDB(dir, 'orders'), await readWithDuckDB(dir, 'prices')];
    const run = await cli(['compact', dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^orders dt=2026-11-25\/hr=13: 4 files → 1, [\d.]+KB → [\d.]+KB$/),
      'orders dt=2026-11-25/hr=14: open (no _SUCCESS), skipped',
      expect.stringMatching(/^prices dt=2026-11-25\/hr=13: 4 files → 1, /),
      'prices dt=2026-11-25/hr=14: open (no _SUCCESS), skipped',
    ]);
    const summary = run.stdout.trim().split('\n');
    expect(summary).toEqual([
      expect.stringMatching(
        /^orders: 4 files → 1, [\d.]+KB → [\d.]+KB, 40 rows copied \(row groups, not decoded\); 1 closed partitions, 1 open skipped$/,
      ),
      expect.stringMatching(/^prices: 4 files → 1, /),
      expect.stringMatching(
        /^total: 8 files → 2, [\d.]+KB → [\d.]+KB, 80 rows copied \(row groups, not decoded\); 2 closed partitions, 2 open skipped$/,
      ),
    ]);
    expect([await readWithDuckDB(dir, 'orders'), await readWithDuckDB(dir, 'prices')]).toEqual(before);
  }, 60_000);

  it('takes --table, repeated --partition, --min-input-files, --target-file-size, --rewrite, --compression and --json', async () => {
    const dir = await lake();
    await writeDataFile(dir, 'orders', 'dt=2026-11-26/hr=01', 'x', encodeRows(rows(5000, 3)));
    await writeDataFile(dir, 'orders', 'dt=2026-11-26/hr=01', 'y', encodeRows(rows(6000, 3)));
    await closePartition(dir, 'orders', 'dt=2026-11-26/hr=01');
    const untouched = await cli(['compact', dir, '--table', 'orders', '--min-input-files', '5', '--json']);
    expect(untouched.code, untouched.stderr).toBe(0);
    expect(JSON.parse(untouched.stdout).tables[0]).toMatchObject({
      table: 'orders',
      outputs: 0,
      filesBefore: 6,
    });

    const run = await cli([
      'compact',
      dir,
      '--table=orders',
      '--partition',
      'dt=2026-11-25/hr=13',
      '--partition',
      'dt=2026-11-26/hr=01',
      '--target-file-size',
      '64MB',
      '--rewrite',
      '--compression',
      'snappy',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.tables).toHaveLength(1);
    expect(report.tables[0]).toMatchObject({
      table: 'orders',
      mode: 'rewrite',
      partitionsScanned: 2,
      outputs: 2,
      filesBefore: 6,
      filesAfter: 2,
    });
    expect(report.total).toMatchObject({ mode: 'rewrite', filesBefore: 6, filesAfter: 2, rowsRewritten: 46 });
    // --rewrite re-encoded with the codec asked for (the inputs are zstd).
    const glob = sqlString(join(dir, 'orders', '**', 'compacted-*.parquet'));
    const codecs = await queryDuckDB(`SELECT DISTINCT compression FROM parquet_metadata(${glob})`);
    expect(codecs).toEqual([{ compression: 'SNAPPY' }]);
    // prices was not named: untouched.
    expect((await listTree(join(dir, 'prices'))).filter((p) => p.includes('compacted-'))).toEqual([]);
  }, 60_000);

  it.each([
    [['compact'], 'needs the lake directory'],
    [['compact', '/tmp', '--bogus'], "Unknown option '--bogus'"],
    [['compact', '/tmp', '--target-file-size', 'huge'], '--target-file-size must be a positive size'],
    [['compact', '/tmp', '--min-input-files', '1'], '--min-input-files must be an integer ≥ 2'],
    [['compact', '/tmp', '--min-input-files', 'two'], '--min-input-files must be an integer ≥ 2'],
    [['compact', '/tmp', '--rewrite', '--compression', 'lzma'], '--compression must be one of zstd'],
    [['compact', '/tmp', '--compression', 'snappy'], '--compression needs --rewrite'],
    [['compact', '/tmp', '--table', '../etc'], '--table: table must be'],
    [['compact', '/tmp', '/var'], 'compact takes one directory'],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ])(
    '%j is a usage error: exit code 2, a clear message, no stack trace',
    async (args, message) => {
      const run = await cli(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
      expect(run.stderr).toContain('--help');
      noStack(run.stderr);
    },
    60_000,
  );

  it('reports a failure with its MB_* code and exit code 1', async () => {
    const run = await cli(['compact', join(tmpdir(), 'mb-no-such-lake'), '--table', 'orders']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^microbatch: MB_INVALID_OPTIONS: compactLake: dir does not exist/);
    noStack(run.stderr);
    const empty = await mkdtemp(join(tmpdir(), 'mb-cli-empty-'));
    dirs.push(empty);
    const none = await cli(['compact', empty]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('MB_INVALID_OPTIONS: compact: no table directories under');
  }, 60_000);

  it('prints help with exit code 0', async () => {
    const run = await cli(['compact', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: microbatch compact <dir> [options]');
    expect(run.stdout).toContain('--target-file-size');
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('compact <dir>');
  }, 60_000);
});
