/**
 * `npm run demo` as a user runs it: a real process on the real clock, for 3 seconds of scraping.
 * Only the exit code and the summary lines are checked, never how long anything took.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
// `node --import tsx`, as `npm run demo` runs it: one process, so a SIGINT reaches the demo itself
// (the tsx CLI would relay it to a child and kill that child if it does not answer within 30 ms).
const command = [process.execPath, '--import', 'tsx', 'demo/main.ts'] as const;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs demo/main.ts with `args`; resolves even when it fails, so assertions can show its output. */
function demo(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      command[0],
      [...command.slice(1), ...args],
      { cwd: root, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        done({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-demo-cli-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('demo/main.ts', () => {
  it('runs 3 s of scraping into --out and ends with every check OK (exit code 0)', async () => {
    const out = join(dir, 'run');
    const run = await demo(['--duration', '3s', '--out', out, '--seed', '3']);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const lines = run.stdout.split('\n');
    const checks = lines.filter((l) => l.startsWith('check '));
    expect(checks.map((l) => l.split(/\s+/)[1])).toEqual([
      'in',
      'records',
      'lake',
      'dead',
      '_SUCCESS',
      'e-mail',
      'lake',
    ]);
    for (const check of checks) expect(check).toMatch(/ OK$/);
    const balance = /^check +in (\d+) = written (\d+) \+ dead-lettered (\d+) \+ duplicates (\d+) +OK$/.exec(
      checks[0]!,
    );
    expect(balance).not.toBeNull();
    const [, total, written, dead, dup] = balance!.map(Number);
    expect(written! + dead! + dup!).toBe(total);
    expect(lines.find((l) => l.startsWith('check    lake rows (DuckDB)'))).toContain(`= written ${written}`);
    expect(lines.some((l) => /^ {2}dt=\d{4}-\d{2}-\d{2}\/hr=\d{2} .* _SUCCESS$/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('compact  '))).toBe(true);
    expect(lines).toContain('result   OK');
    expect(lines[0]).toBe(`microbatch demo · seed 3 · 3.0s of scraping at ~400 records/s · out ${out}`);
  }, 160_000);

  it('Ctrl-C (SIGINT) ends the scraping early, drains, and still prints the summary (exit code 0)', async () => {
    const out = join(dir, 'interrupted');
    const child = spawn(command[0], [...command.slice(1), '--duration', '10m', '--out', out], { cwd: root });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      // Interrupt once the first batch is written: the run is well under way.
      if (!interrupted && / prices write /.test(stdout)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(interrupted).toBe(true);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stderr).toContain('demo: interrupted; draining the pipeline');
    expect(stdout).toContain(' prices status  draining → completed');
    expect(stdout.split('\n')).toContain('result   OK');
  }, 160_000);

  it('--help prints the usage and exits 0', async () => {
    const run = await demo(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: npm run demo -- [options]');
    expect(run.stdout).toContain('--duration');
    expect(run.stdout).toContain('a bare number of\n                   seconds (10 is 10 s)');
  });

  it('reads a bare --duration as seconds, and ends a run that wrote nothing with a clear line (exit code 1)', async () => {
    const out = join(dir, 'empty');
    const run = await demo(['--duration', '0.001', '--rate', '1', '--out', out]);
    const lines = run.stdout.split('\n');
    // 0.001 is seconds: 1 ms (as milliseconds it would have been 1 µs).
    expect(lines[0]).toBe(`microbatch demo · seed 1 · 1ms of scraping at ~1 records/s · out ${out}`);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(1);
    expect(lines).toContain('result   EMPTY');
    expect(run.stderr).toBe(
      'demo: nothing reached the lake: 0 records in 1ms of scraping (0 dead-lettered); run longer, e.g. --duration 10s\n',
    );
  }, 60_000);

  it.each([
    [['--bogus'], 'demo: unknown option --bogus\n'],
    [
      ['--duration', 'soon'],
      "--duration must be a positive duration (a number of ms, or a string like '250ms', '15s', '5m'); got 'soon'",
    ],
    [['--rate', '0'], "--rate must be a positive number of records/s; got '0'"],
    [['--seed', '1.5'], "--seed must be an integer; got '1.5'"],
    [['extra'], 'extra'],
  ])('%j is a usage error: a clear message and exit code 2', async (args, message) => {
    const run = await demo(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('usage: npm run demo -- [options]');
    expect(run.stdout).toBe('');
  });

  it('refuses an --out directory that already holds files (exit code 2), and writes nothing', async () => {
    const out = join(dir, 'taken');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'keep.txt'), 'mine');
    const run = await demo(['--out', out]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--out ${out} is not empty`);
    expect(run.stdout).toBe('');
  });
});
