/**
 * Exactly-once into S3 with a real process: a worker runs fromJsonLines → parquetLakeSink on
 * S3Proxy with a fileCheckpoint and is killed with SIGKILL at random moments (at least 8 times, the
 * seed printed and settable with MICROBATCH_CRASH_SEED), then runs to the end. After every kill,
 * each hour with `_SUCCESS` holds all of its records; at the end, every record is in the lake
 * exactly once, the last hour has its marker, and once compaction has cleaned up, no multipart upload
 * is left open (uploads a kill interrupted are listed and aborted by it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compactLake } from '../../../src/lake/index.js';
import { s3Storage } from '../../../src/s3/index.js';
import { seededRandom } from '../../../src/testing/index.js';
import { killAfterCommits, killRunningWorkers, startWorker } from '../../support/processes.js';
import { dropBucket, listKeys, newBucket, openUploads, readLake, s3Client, s3Endpoint } from './helpers.js';

const RECORDS = 120_000;
const HOURS = 5;
const KILLS = 8;
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const worker = join(import.meta.dirname, 'crash-worker.ts');

describe('a process writing the lake to S3, killed with SIGKILL', () => {
  const client = s3Client();
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    killRunningWorkers();
    for (const cleanup of cleanups) await cleanup();
  });

  it(`ends with every one of ${RECORDS} records exactly once after ${KILLS} kills`, async () => {
    const seed = Number(process.env.MICROBATCH_CRASH_SEED ?? Date.now() % 2 ** 31);
    console.log(`S3 SIGKILL test seed: ${seed} (MICROBATCH_CRASH_SEED=${seed} repeats it)`);
    const next = seededRandom(seed);
    const server = s3Endpoint();
    process.env.MB_S3_ENDPOINT = server.endpoint;
    process.env.MB_S3_ACCESS_KEY_ID = server.accessKeyId;
    process.env.MB_S3_SECRET_ACCESS_KEY = server.secretAccessKey;
    const bucket = await newBucket(client);
    const dir = await mkdtemp(join(tmpdir(), 'mb-s3-sigkill-'));
    cleanups.push(
      () => dropBucket(client, bucket),
      () => rm(dir, { recursive: true, force: true }),
    );
    const input = join(dir, 'input.jsonl');
    const checkpoints = join(dir, 'checkpoints');
    // Ordered by event time over HOURS hours; ~600 incompressible bytes each, so that the larger
    // batches (up to 12,000 records) are multipart uploads.
    const hourOf = (i: number) => Math.floor((i * HOURS) / RECORDS);
    const lines = Array.from({ length: RECORDS }, (_, i) =>
      JSON.stringify({
        i,
        at: new Date(T0 + Math.floor((i * HOURS * 3_600_000) / RECORDS)).toISOString(),
        pad: randomBytes(400).toString('base64'),
      }),
    );
    await writeFile(input, `${lines.join('\n')}\n`);

    /** After a kill: every hour whose `_SUCCESS` exists holds exactly its records. */
    const checkMarkers = async (when: string) => {
      const markers = (await listKeys(client, bucket, 'lake/rows/')).filter((k) => k.endsWith('/_SUCCESS'));
      if (markers.length === 0) return;
      const rows = await readLake(client, bucket, 'rows', 'lake/');
      for (const marker of markers) {
        const hr = Number(/hr=(\d\d)/.exec(marker)![1]) - 10;
        const inHour = rows.filter((r) => Number(r.hr) - 10 === hr).map((r) => Number(r.i));
        const expected = Array.from({ length: RECORDS }, (_, i) => i).filter((i) => hourOf(i) === hr);
        // Complete: every record of the hour (at least once; a duplicate would fail the final check).
        expect(new Set(inHour).size, `${when}: ${marker} (seed ${seed})`).toBe(expected.length);
      }
    };

    let kills = 0;
    while (kills < KILLS) {
      const batch = 2_000 + Math.floor(next() * 10_000);
      const run = startWorker(worker, [input, bucket, checkpoints, String(batch)]);
      // A random moment 0.4–1.8 s after the start: during start-up and replay, mid-write (often
      // mid-multipart), between plan and write, between write and commit, during a marker write.
      // (On a quiet machine a worker gets through ~20k records a second once started: a later kill
      // let it finish the input before the eighth kill.)
      const afterCommits = 0;
      const extraMs = 400 + Math.floor(next() * 1_400);
      const killed = await killAfterCommits(run, afterCommits, extraMs);
      const code = await run.exited;
      if (!killed || code !== null) {
        // It finished before the kill landed: it must have finished cleanly; the test needs more kills.
        expect(run.output(), `seed ${seed}`).toContain('done');
        throw new Error(`seed ${seed}: the worker finished after ${kills} kills; the input is too small`);
      }
      kills++;
      await checkMarkers(`after kill ${kills}`);
    }
    const last = startWorker(worker, [input, bucket, checkpoints, '5000']);
    expect(await last.exited, `seed ${seed}: ${last.output()}`).toBe(0);
    expect(last.output()).toContain('exactly-once');

    const rows = await readLake(client, bucket, 'rows', 'lake/');
    const ids = rows.map((r) => Number(r.i)).sort((a, b) => a - b);
    expect(ids.length, `seed ${seed}`).toBe(RECORDS);
    expect(ids, `seed ${seed}`).toEqual(Array.from({ length: RECORDS }, (_, i) => i));
    for (const row of rows) expect(Number(row.hr) - 10, `seed ${seed}`).toBe(hourOf(Number(row.i)));
    // Every marker present covers its whole hour. The last run marks the hours it wrote records in
    // (at least the last one); an hour finished by a run that was killed before its marker was
    // written stays unmarked: the runtime marks the partitions of the records of its own run
    // (docs/s3.md, "Guarantees").
    await checkMarkers('at the end');
    const markers = (await listKeys(client, bucket, 'lake/rows/')).filter((k) => k.endsWith('/_SUCCESS'));
    expect(markers).toContain(`lake/rows/dt=2026-11-25/hr=${10 + HOURS - 1}/_SUCCESS`);
    console.log(`S3 SIGKILL test: ${markers.length} of ${HOURS} hours marked complete`);

    // Uploads interrupted by a kill (at most `concurrency` per kill) are open until cleaned up;
    // compaction lists and aborts them.
    const orphans = await openUploads(client, bucket);
    console.log(`S3 SIGKILL test: ${orphans.length} multipart uploads left open by ${kills} kills`);
    expect(orphans.length).toBeLessThanOrEqual(3 * kills);
    const report = await compactLake({
      storage: s3Storage({ client, bucket, prefix: 'lake' }),
      table: 'rows',
      abortIncompleteAfter: 0,
    });
    expect(report.abortedWrites).toBe(orphans.length);
    expect(await openUploads(client, bucket)).toEqual([]);
    const compacted = (await readLake(client, bucket, 'rows', 'lake/'))
      .map((r) => Number(r.i))
      .sort((a, b) => a - b);
    expect(compacted).toEqual(ids);
  }, 600_000);
});
