/**
 * Compaction in a real process killed with SIGKILL at random moments (at least 10 kills), on a lake
 * that grows by a few closed partitions before each run; then a clean run. Every row must be there
 * exactly once (DuckDB and hyparquet), with no intent or temporary file left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compactLake } from '../../src/lake/compact.js';
import { seededRandom } from '../../src/testing/index.js';
import {
  closePartition,
  encodeRows,
  listTree,
  readWithDuckDB,
  readWithHyparquet,
  rows,
  writeDataFile,
} from './compact-helpers.js';

const KILLS = 10;
const tsx = createRequire(import.meta.url).resolve('tsx');
const worker = join(import.meta.dirname, 'compact-worker.ts');

function start(args: string[]): {
  child: ChildProcess;
  lines: () => string[];
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['--import', tsx, worker, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines: () => output.split('\n'), exited };
}

describe('compaction killed with SIGKILL', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it(`keeps every row exactly once after ${KILLS} kills`, async () => {
    const seed = Number(process.env.MICROBATCH_CRASH_SEED ?? Date.now() % 2 ** 31);
    const next = seededRandom(seed);
    const dir = await mkdtemp(join(tmpdir(), 'mb-compact-kill-'));
    dirs.push(dir);
    let total = 0;
    let kills = 0;
    let round = 0;
    let target = 0;
    let recovered = 0;
    while (kills < KILLS && round < 4 * KILLS) {
      // Three new closed partitions of 16 small files each.
      for (let h = 0; h < 3; h++) {
        const partition = `dt=2026-11-${String(1 + (round % 28)).padStart(2, '0')}/hr=${String(round * 3 + h).padStart(3, '0')}`;
        for (let f = 0; f < 16; f++) {
          const count = 5 + Math.floor(next() * 20);
          await writeDataFile(
            dir,
            't',
            partition,
            `r${round}-${String(f).padStart(2, '0')}`,
            encodeRows(rows(total, count)),
          );
          total += count;
        }
        await closePartition(dir, 't', partition);
        if (target === 0) target = (await stat(join(dir, 't', partition, 'part-r0-00.parquet'))).size * 4;
      }
      round++;
      // Odd rounds re-encode, even rounds copy row groups: recovery must not care which mode crashed.
      const run = start([dir, 't', String(target), round % 2 === 1 ? 'rewrite' : 'copy']);
      // Kill after a random number of written outputs plus a random few milliseconds.
      const afterOutputs = Math.floor(next() * 6);
      const extraMs = Math.floor(next() * 10);
      const killed = await new Promise<boolean>((resolve) => {
        const poll = setInterval(() => {
          const lines = run.lines();
          if (
            lines.includes('start') &&
            lines.filter((l) => l === 'step output-written').length >= afterOutputs
          ) {
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
      recovered += run.lines().filter((l) => l.endsWith(' recovered')).length;
      if (killed && code === null) kills++;
      else
        expect(
          run.lines().some((l) => l.startsWith('done ')),
          `seed ${seed}: ${run.lines().join('\n')}`,
        ).toBe(true);
    }
    expect(kills, `seed ${seed}: the worker kept finishing before the kill`).toBe(KILLS);

    const clean = await compactLake({ dir, table: 't', targetFileBytes: target });
    // The kills did interrupt the protocol: some run found an intent to finish or roll back.
    expect(recovered + clean.recoveredIntents, `seed ${seed}`).toBeGreaterThan(0);
    const expected = Array.from({ length: total }, (_, i) => i);
    expect(
      (await readWithDuckDB(dir, 't')).map((r) => Number(r.id)),
      `seed ${seed}`,
    ).toEqual(expected);
    expect(
      (await readWithHyparquet(dir, 't')).map((r) => Number(r.id)),
      `seed ${seed}`,
    ).toEqual(expected);
    const left = (await listTree(join(dir, 't'))).filter(
      (p) => basename(p).startsWith('_compaction-') || p.endsWith('.tmp'),
    );
    expect(left, `seed ${seed}`).toEqual([]);
    expect(clean.filesAfter).toBeLessThan(round * 3 * 16);
    const again = await compactLake({ dir, table: 't', targetFileBytes: target });
    expect(again.outputs).toBe(0);
  }, 240_000);
});
