/**
 * `microbatch compact` as a user runs it: `node --import tsx src/cli/main.ts compact …` in a child
 * process on a real lake, checking exit codes, stdout (summary), stderr (progress, errors).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
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
        /^orders: 4 files → 1, [\d.]+KB → [\d.]+KB, 40 rows copied \(row groups, not decoded\); 1 closed partition, 1 open skipped$/,
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
    [['compact', '/tmp', '--bogus'], 'microbatch: unknown option --bogus\n'],
    [['compact', '/tmp', '--table'], 'option --table needs a value'],
    [['compact', '/tmp', '--json=yes'], 'option --json takes no value'],
    [['--bogus'], 'microbatch: unknown option --bogus\n'],
    [['compact', join(tmpdir(), 'mb-no-such-lake')], 'no such directory: '],
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
    const dir = await lake();
    // An intent file compaction cannot trust: it stops rather than guess (not a command-line mistake).
    await writeFile(join(dir, 'orders', 'dt=2026-11-25', 'hr=13', '_compaction-0000000000000000.json'), '{}');
    const run = await cli(['compact', dir, '--table', 'orders']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(
      /^microbatch: MB_SINK_FAILED: compactLake: intent _compaction-0000000000000000.json/m,
    );
    noStack(run.stderr);
  }, 60_000);

  it('exits 2 with a hint when the directory holds no tables: one level too high, or the table itself', async () => {
    const out = await mkdtemp(join(tmpdir(), 'mb-cli-out-'));
    dirs.push(out);
    const dir = join(out, 'lake');
    await mkdir(dir);
    const built = await lake();
    await rename(join(built, 'prices'), join(dir, 'prices'));
    await mkdir(join(out, 'dead'));
    await writeFile(join(out, 'dead', 'dead-letters.jsonl'), '');

    const tooHigh = await cli(['compact', out]);
    expect(tooHigh.code, tooHigh.stderr).toBe(2);
    expect(tooHigh.stderr).toContain(`no lake tables under ${out}; found 1 table in ${dir} (prices)`);
    expect(tooHigh.stderr).toContain(`run microbatch compact ${dir}`);
    expect(tooHigh.stdout).toBe('');
    noStack(tooHigh.stderr);

    const table = await cli(['compact', join(dir, 'prices')]);
    expect(table.code).toBe(2);
    expect(table.stderr).toContain(`run microbatch compact ${dir} --table prices`);
    const partition = await cli(['compact', join(dir, 'prices', 'dt=2026-11-25')]);
    expect(partition.code).toBe(2);
    expect(partition.stderr).toContain(
      `inside the table ${join(dir, 'prices')}: run microbatch compact ${dir} --table prices`,
    );

    const empty = await mkdtemp(join(tmpdir(), 'mb-cli-empty-'));
    dirs.push(empty);
    const none = await cli(['compact', empty]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(
      `no lake tables under ${empty} (a table is a directory of partition directories`,
    );

    const missing = await cli(['compact', dir, '--table', 'orders']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`no table 'orders' under ${dir} (tables there: prices)`);
  }, 60_000);

  it('exits 2 when a --partition matches no partition, before compacting anything', async () => {
    const dir = await lake();
    const before = await listTree(dir);
    const run = await cli([
      'compact',
      dir,
      '--partition',
      'dt=2026-11-25/hr=13',
      '--partition',
      'dt=2026-12-01',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--partition dt=2026-12-01 matches no partition of orders, prices');
    expect(run.stderr).toContain('(partitions look like dt=2026-11-25/hr=13)');
    expect(await listTree(dir)).toEqual(before);
    // A prefix at a `/` matches; a prefix inside a name does not.
    expect((await cli(['compact', dir, '--partition', 'dt=2026-11-25'])).code).toBe(0);
    expect((await cli(['compact', dir, '--partition', 'dt=2026-11'])).code).toBe(2);
  }, 60_000);

  it('names a corrupt file, exits 1, and lists it again on every run until it is removed', async () => {
    const dir = await lake();
    const partition = join(dir, 'orders', 'dt=2026-11-25', 'hr=13');
    const garbage = join(partition, 'part-garbage.parquet');
    await writeFile(garbage, 'this is not parquet');
    await closePartition(dir, 'orders', 'dt=2026-11-25/hr=13');
    const first = await cli(['compact', dir]);
    expect(first.code, first.stderr).toBe(1);
    const line = `corrupt, left alone: ${garbage} (since `;
    expect(first.stdout).toContain(line);
    expect(first.stdout).toMatch(/cannot read the Parquet schema/);
    expect(JSON.parse(await readFile(join(partition, '_CORRUPT'), 'utf8')).files).toEqual([
      expect.objectContaining({ file: 'part-garbage.parquet' }),
    ]);
    // The other files were compacted; the corrupt one is now alone in its partition's bin, and
    // compaction would never read it again: the report brings it back.
    const second = await cli(['compact', dir, '--json']);
    expect(second.code).toBe(1);
    expect(JSON.parse(second.stdout).corrupt).toEqual([
      expect.objectContaining({
        table: 'orders',
        partition: 'dt=2026-11-25/hr=13',
        file: 'part-garbage.parquet',
      }),
    ]);
    await rm(garbage);
    const third = await cli(['compact', dir]);
    expect(third.code, third.stdout).toBe(0);
    expect(third.stdout).not.toContain('corrupt');
    expect(await listTree(partition)).not.toContain('_CORRUPT');
  }, 60_000);

  it('prints its version', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const run = await cli([flag]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`${pkg.version}\n`);
    }
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
