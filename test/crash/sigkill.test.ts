import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/testing/index.js';

/**
 * Exactly-once with a real process: a worker runs fromJsonLines → jsonLinesSink with a
 * fileCheckpoint over 200,000 records and is killed with SIGKILL at random moments, 20 times,
 * restarted each time; then it runs to the end. The files it leaves, in batch order, must be the
 * input exactly: no line lost, none twice.
 */

const RECORDS = 200_000;
const KILLS = 20;
// `--import tsx` in this very process: the tsx CLI would run the worker in a child process, which a
// SIGKILL of the CLI would leave running.
const tsx = createRequire(import.meta.url).resolve('tsx');
const worker = join(import.meta.dirname, 'worker.ts');

function start(args: string[]): {
  child: ChildProcess;
  commits: () => number;
  exited: Promise<number | null>;
  output: () => string;
} {
  const child = spawn(process.execPath, ['--import', tsx, worker, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let commits = 0;
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
    for (const line of text.split('\n')) if (line.startsWith('commit ')) commits++;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, commits: () => commits, exited, output: () => output };
}

describe('a real process killed with SIGKILL', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it(`ends with every one of ${RECORDS} records exactly once after ${KILLS} kills`, async () => {
    const seed = Number(process.env.MICROBATCH_CRASH_SEED ?? Date.now() % 2 ** 31);
    const next = seededRandom(seed);
    const dir = await mkdtemp(join(tmpdir(), 'mb-sigkill-'));
    dirs.push(dir);
    const input = join(dir, 'input.jsonl');
    const out = join(dir, 'out');
    const checkpoints = join(dir, 'checkpoints');
    const lines = Array.from({ length: RECORDS }, (_, i) =>
      JSON.stringify({ i, sku: `sku-${i % 977}`, price: (i % 10_000) / 100 }),
    );
    await writeFile(input, `${lines.join('\n')}\n`);

    let kills = 0;
    let finishedEarly = 0;
    while (kills < KILLS) {
      const run = start([input, out, checkpoints, String(100 + Math.floor(next() * 300))]);
      // Kill after a random number of commits plus a random few milliseconds: a random moment
      // of the stream (mid-write, between plan and write, between write and commit…).
      const afterCommits = 1 + Math.floor(next() * 8);
      const extraMs = Math.floor(next() * 15);
      const killed = await new Promise<boolean>((resolve) => {
        const poll = setInterval(() => {
          if (run.commits() >= afterCommits) {
            clearInterval(poll);
            setTimeout(() => resolve(run.child.kill('SIGKILL')), extraMs);
          }
        }, 1);
        run.exited.then(() => {
          clearInterval(poll);
          resolve(false);
        });
      });
      const code = await run.exited;
      if (killed && code === null) kills++;
      else {
        // It finished (or failed) before the kill landed: it must have finished cleanly.
        expect(run.output(), `seed ${seed}`).toContain('done');
        finishedEarly++;
        break;
      }
    }
    // The last run goes to the end.
    const last = start([input, out, checkpoints, '333']);
    expect(await last.exited, `seed ${seed}: ${last.output()}`).toBe(0);
    expect(last.output()).toContain('exactly-once');

    // The output: final files (temp files start with '.'), in batch id order = offset order.
    const files = (await readdir(out)).filter((f) => f.endsWith('.jsonl') && !f.startsWith('.')).sort();
    let text = '';
    for (const file of files) text += await readFile(join(out, file), 'utf8');
    const outLines = text.split('\n').filter((l) => l.length > 0);
    expect(outLines.length, `seed ${seed}`).toBe(RECORDS);
    expect(outLines, `seed ${seed}`).toEqual(lines);
    // And the batches do not overlap: each file's range starts after the previous one ends.
    const ranges = files.map((f) =>
      f
        .match(/(\d{16})-(\d{16})\.jsonl$/)!
        .slice(1)
        .map(Number),
    );
    for (let k = 1; k < ranges.length; k++) expect(ranges[k]![0]).toBeGreaterThan(ranges[k - 1]![1]!);
    expect(kills + finishedEarly).toBeGreaterThan(0);
    expect(kills, `seed ${seed}: the worker finished before ${KILLS} kills`).toBe(KILLS);
  }, 240_000);
});
