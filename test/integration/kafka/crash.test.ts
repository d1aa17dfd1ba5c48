/**
 * Exactly-once against a real Kafka broker and a real process: a worker (crash-worker.ts) runs
 * kafkaSource → jsonLinesSink with kafkaCheckpoint over a topic of 200,000 JSON messages in 6
 * partitions and is killed with SIGKILL at random moments, 10 times, restarted each time in the
 * same consumer group; then it runs until every end offset is committed. The files it leaves, read
 * in batch-id order, must hold every message once, in partition order, and nothing else.
 *
 * The random moments come from `seededRandom`; a failure says its seed, and
 * `MICROBATCH_CRASH_SEED=<seed>` draws the same batch sizes and kill points again (the moments the
 * kills land at still depend on the machine).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchIdPrefix } from '../../../src/core/batch.js';
import { seededRandom } from '../../../src/testing/index.js';
import { killAfterCommits, killRunningWorkers, startWorker } from '../../support/processes.js';
import { createTopic, endOffsets, kafkaBrokers, kafkaFor, produceJson, producerFor } from './helpers.js';

const MESSAGES = 200_000;
const PARTITIONS = 6;
const KILLS = 10;
const worker = join(import.meta.dirname, 'crash-worker.ts');

/** The value of message `i` (it goes to partition `i % PARTITIONS`). */
const message = (i: number, partition: number) => ({
  i,
  partition,
  sku: `sku-${i % 977}`,
  price: (i % 10_000) / 100,
});

/**
 * What went wrong between the lines expected and the lines found for one partition, or undefined
 * when they are equal: counts, lines written twice, lines missing, the first difference.
 */
function difference(expected: string[], found: string[]): string | undefined {
  let first = 0;
  while (first < expected.length && first < found.length && expected[first] === found[first]) first++;
  if (first === expected.length && first === found.length) return undefined;
  const seen = new Set<string>();
  let twice = 0;
  for (const line of found) {
    if (seen.has(line)) twice++;
    seen.add(line);
  }
  const missing = expected.filter((line) => !seen.has(line)).length;
  return (
    `${found.length} lines instead of ${expected.length}: ${twice} written more than once, ${missing} missing; ` +
    `first difference at line ${first}: expected ${expected[first] ?? '(end)'}, found ${found[first] ?? '(end)'}`
  );
}

describe('kafkaSource with kafkaCheckpoint in a process killed with SIGKILL', () => {
  let kafka: Kafka;
  let admin: Admin;
  const dirs: string[] = [];
  beforeAll(async () => {
    kafka = kafkaFor(kafkaBrokers(), 'mb-crash-test');
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    killRunningWorkers();
    await admin?.disconnect();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it(`ends with each of ${MESSAGES} messages written exactly once after ${KILLS} kills`, async () => {
    const seed = Number(process.env.MICROBATCH_CRASH_SEED ?? Date.now() % 2 ** 31);
    const next = seededRandom(seed);
    const why = (what: string) => `seed ${seed} (MICROBATCH_CRASH_SEED=${seed} draws it again): ${what}`;
    const dir = await mkdtemp(join(tmpdir(), 'mb-kafka-crash-'));
    dirs.push(dir);
    const out = join(dir, 'out');

    const topic = await createTopic(admin, 'crash', PARTITIONS);
    const producer = producerFor(kafka);
    await producer.connect();
    const counts = await produceJson(producer, topic, PARTITIONS, MESSAGES, message).finally(() =>
      producer.disconnect(),
    );
    const ends = await endOffsets(admin, topic);
    expect(ends).toEqual(counts);

    const groupId = `mb-crash-${randomBytes(4).toString('hex')}`;
    const args = (size: number) => [kafkaBrokers().join(','), topic, groupId, out, String(size)];
    let kills = 0;
    while (kills < KILLS) {
      // Another batch size each run: a replay only matches the files written before if it keeps
      // the planned ranges.
      const run = startWorker(worker, args(200 + Math.floor(next() * 1800)));
      // A random moment of the stream: mid-write, between plan and write, between write and commit…
      const killed = await killAfterCommits(run, 1 + Math.floor(next() * 6), Math.floor(next() * 40));
      const code = await run.exited;
      if (!killed || code !== null) {
        // It finished (or failed) before the kill landed: only a clean finish is acceptable, and
        // then the kills are too few: the stream was too short for them.
        expect(run.output(), why(`run ${kills + 1} exited with ${code}`)).toContain('done');
        throw new Error(why(`the worker reached the end after only ${kills} of ${KILLS} kills`));
      }
      kills++;
    }

    // The last run goes to the end.
    const last = startWorker(worker, args(1000));
    expect(await last.exited, why(`the last run failed:\n${last.output()}`)).toBe(0);
    expect(last.output(), why('the last run')).toMatch(/^done .* exactly-once$/m);
    const group = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = group[0]!.partitions
      .sort((a, b) => a.partition - b.partition)
      .map((p) => Number(p.offset));
    expect(committed, why('committed offsets')).toEqual(ends);

    // The output: the final files (temporary ones start with '.'), in batch-id order, which is
    // offset order within a partition. Every problem is listed before the test fails.
    const names = (await readdir(out)).filter((name) => !name.startsWith('.')).sort();
    const claimed = new Set<string>();
    const problems: string[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const prefix = batchIdPrefix('crash', `${topic}-${p}`);
      const files = names.filter((name) => name.startsWith(prefix));
      let text = '';
      for (const name of files) {
        claimed.add(name);
        text += await readFile(join(out, name), 'utf8');
      }
      const found = text.split('\n').filter((line) => line.length > 0);
      const expected: string[] = [];
      for (let i = p; i < MESSAGES; i += PARTITIONS) expected.push(JSON.stringify(message(i, p)));
      const lines = difference(expected, found);
      if (lines !== undefined) problems.push(`partition ${p}: ${lines}`);
      // The ranges of one partition follow each other without a gap or an overlap, from 0 to its end.
      let nextOffset = 0;
      for (const name of files) {
        const range = /^(\d{16})-(\d{16})\.jsonl$/.exec(name.slice(prefix.length));
        if (range === null) problems.push(`partition ${p}: ${name} is not named <first>-<last>.jsonl`);
        else if (Number(range[1]) !== nextOffset) {
          problems.push(`partition ${p}: ${name} does not start right after offset ${nextOffset - 1}`);
        }
        if (range !== null) nextOffset = Number(range[2]) + 1;
      }
      if (nextOffset !== ends[p])
        problems.push(`partition ${p}: the files end at ${nextOffset - 1}, not ${ends[p]! - 1}`);
    }
    for (const name of names) if (!claimed.has(name)) problems.push(`${name} is no batch of the topic`);
    expect(problems, why(`${problems.length} problems with the output`)).toEqual([]);
  }, 300_000);
});
