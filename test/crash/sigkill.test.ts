import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/testing/index.js';
import { killAfterCommits, startWorker } from '../support/processes.js';

/**
 * Exactly-once with a real process: a worker runs fromJsonLines → jsonLinesSink with a
 * fileCheckpoint over 200,000 records and is killed with SIGKILL at random moments, 20 times,
 * restarted each time; then it runs to the end. The files it leaves, in batch order, must be the
 * input exactly: no line lost, none twice.
 */

const RECORDS = 200_000;
const KILLS = 20;
const worker = join(import.meta.dirname, 'worker.ts');

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
      const run = startWorker(worker, [input, out, checkpoints, String(100 + Math.floor(next() * 300))]);
      // Kill after a random number of commits plus a random few milliseconds: a random moment
      // of the stream (mid-write, between plan and write, between write and commit…).
      const afterCommits = 1 + Math.floor(next() * 8);
      const extraMs = Math.floor(next() * 15);
      const killed = await killAfterCommits(run, afterCommits, extraMs);
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
    const last = startWorker(worker, [input, out, checkpoints, '333']);
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
