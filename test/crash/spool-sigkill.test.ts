import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/testing/index.js';
import { killAfterCommits, killRunningWorkers, startWorker } from '../support/processes.js';

/**
 * spoolSource + fileCheckpoint + jsonLinesSink in a real process, producer and pipeline together,
 * killed with SIGKILL at random moments (at least 10 times), restarted each time, then run to the
 * end. Every record whose push() resolved must survive each kill (the spool's next offset after
 * recovery is at least the highest acknowledged one), and the output must hold every record exactly
 * once. The seed is printed; MICROBATCH_CRASH_SEED replays it.
 */

const RECORDS = 200_000;
const KILLS = 10;
const worker = join(import.meta.dirname, 'spool-worker.ts');

const lastNumber = (output: string, word: string): number => {
  let last = -1;
  for (const match of output.matchAll(new RegExp(`^${word} (\\d+)`, 'gm'))) last = Number(match[1]);
  return last;
};

describe('spoolSource killed with SIGKILL', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    killRunningWorkers();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  for (const durability of ['process', 'machine'] as const) {
    it(`durability '${durability}': ${RECORDS} records, ${KILLS} kills, every acknowledged record exactly once`, async () => {
      const seed = Number(process.env.MICROBATCH_CRASH_SEED ?? Date.now() % 2 ** 31);
      console.log(`spool SIGKILL test (${durability}): seed ${seed}`);
      const next = seededRandom(seed);
      const dir = await mkdtemp(join(tmpdir(), 'mb-spool-kill-'));
      dirs.push(dir);
      const args = (k: number) => [
        join(dir, 'spool'),
        join(dir, 'out'),
        join(dir, 'checkpoints'),
        String(RECORDS),
        durability,
        String(100 + Math.floor(next() * 400)),
        String(seed + k),
      ];
      let acked = 0;
      let kills = 0;
      let torn = 0;
      for (let k = 0; kills < KILLS; k++) {
        const run = startWorker(worker, args(k));
        const killed = await killAfterCommits(run, 1 + Math.floor(next() * 10), Math.floor(next() * 40));
        const code = await run.exited;
        const output = run.output();
        const start = lastNumber(output, 'start');
        // No record acknowledged before the last kill was lost by it.
        expect(
          start,
          `seed ${seed}: the spool restarted at ${start} after ${acked} were acknowledged`,
        ).toBeGreaterThanOrEqual(acked);
        acked = Math.max(acked, lastNumber(output, 'acked'));
        torn += Number(/torn (\d+)/.exec(output)?.[1] ?? 0);
        if (killed && code === null) kills++;
        else {
          expect(output, `seed ${seed}`).toContain('done');
          break;
        }
      }
      const last = startWorker(worker, args(99));
      expect(await last.exited, `seed ${seed}: ${last.output()}`).toBe(0);
      expect(lastNumber(last.output(), 'start')).toBeGreaterThanOrEqual(acked);
      expect(last.output()).toContain('exactly-once');

      const seen = new Uint8Array(RECORDS);
      let duplicates = 0;
      let count = 0;
      for (const name of await readdir(join(dir, 'out'))) {
        if (!name.endsWith('.jsonl') || name.startsWith('.')) continue;
        const text = await readFile(join(dir, 'out', name), 'utf8');
        for (const line of text.split('\n')) {
          if (line === '') continue;
          const { i } = JSON.parse(line) as { i: number };
          if (seen[i]) duplicates++;
          seen[i] = 1;
          count++;
        }
      }
      expect(duplicates, `seed ${seed}`).toBe(0);
      expect(count, `seed ${seed}`).toBe(RECORDS);
      expect(seen.every((x) => x === 1)).toBe(true);
      console.log(`spool SIGKILL test (${durability}): seed ${seed}, ${kills} kills, ${torn} torn bytes cut`);
    }, 600_000);
  }
});
