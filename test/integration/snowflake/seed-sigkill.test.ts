/**
 * The seed end to end, killed at random: a real Kafka broker → the pipeline of
 * examples/seed-pipeline.ts (versioned validation, dedupe, redact, event time, adaptive trigger) in a
 * worker process → Parquet staged on S3Proxy → COPY INTO the Snowflake contract double, served over
 * TCP by this process. The worker is SIGKILLed at ≥ 8 random moments (the seed printed, settable with
 * MICROBATCH_CRASH_SEED) and restarted each time; a kill drops its double session, which rolls back
 * the open transaction, as Snowflake does. Then it runs to the end. The table must hold every valid
 * record exactly once, the dead-letter topic every invalid one, and the ledger and the group's
 * offsets must sit at the end of every partition.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { s3Storage } from '../../../src/s3/index.js';
import { seededRandom } from '../../../src/testing/index.js';
import { killAfterCommits, killRunningWorkers, startWorker } from '../../support/processes.js';
import { SnowflakeDouble } from '../../support/snowflake/double.js';
import { serveSnowflakeDouble } from '../../support/snowflake/remote.js';
import {
  consumeAll,
  createTopic,
  endOffsets,
  kafkaBrokers,
  kafkaFor,
  produceJson,
  producerFor,
} from '../kafka/helpers.js';
import { dropBucket, newBucket, s3Client, s3Endpoint } from '../s3/helpers.js';

const MESSAGES = 24_000;
const PARTITIONS = 3;
const KILLS = 8;
const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);
const worker = join(import.meta.dirname, 'seed-worker.ts');

/** Message `i` (partition `i % 3`): valid v3 or v4, or invalid (a wrong type, an unknown version). */
function message(i: number): Record<string, unknown> {
  const common = {
    sku: `sku-${i}`,
    url: `https://shop.example.com/p/${i}`,
    extractedAt: new Date(T0 + i * 100).toISOString(),
  };
  if (i % 50 === 7)
    return { schemaVersion: 3, ...common, price: 'n/a', currency: 'EUR', sellerEmail: 'x@y.z' };
  if (i % 50 === 19) return { schemaVersion: 9, ...common };
  if (i % 2 === 0)
    return {
      schemaVersion: 3,
      ...common,
      price: i / 100,
      currency: 'EUR',
      sellerEmail: `s${i}@shop.example.com`,
    };
  return {
    schemaVersion: 4,
    ...common,
    price: { amount: i / 100, currency: 'USD' },
    seller: { email: `s${i}@shop.example.com` },
  };
}
const valid = (i: number) => i % 50 !== 7 && i % 50 !== 19;

describe('the seed pipeline, SIGKILLed at random', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    killRunningWorkers();
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  });

  it(`loads every valid record of ${MESSAGES} exactly once after ${KILLS} kills`, async () => {
    const seed = Number(process.env.MICROBATCH_CRASH_SEED ?? Date.now() % 2 ** 31);
    console.log(`Snowflake seed SIGKILL test seed: ${seed} (MICROBATCH_CRASH_SEED=${seed} repeats it)`);
    const why = (what: string) => `seed ${seed}: ${what}`;
    const next = seededRandom(seed);

    // S3Proxy: the external stage's bucket. The worker gets the credentials through its environment.
    const server = s3Endpoint();
    process.env.MB_S3_ENDPOINT = server.endpoint;
    process.env.MB_S3_ACCESS_KEY_ID = server.accessKeyId;
    process.env.MB_S3_SECRET_ACCESS_KEY = server.secretAccessKey;
    const client = s3Client();
    const bucket = await newBucket(client);
    cleanups.push(() => dropBucket(client, bucket));

    // The double: the stage reads the same bucket and prefix the worker stages to.
    const double = await SnowflakeDouble.create({
      schemas: ['DB.SCH'],
      stages: { '@DB.SCH.STG': s3Storage({ client, bucket, prefix: 'stage' }) },
    });
    cleanups.push(() => double.close());
    // The table: the first worker's sink creates it (createTable), and the ledger.
    const served = await serveSnowflakeDouble(double);
    cleanups.push(() => served.close());

    // Kafka: the topic, its dead-letter topic, the messages.
    const kafka = kafkaFor(kafkaBrokers(), 'mb-seed-test');
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    const topic = await createTopic(admin, 'seed', PARTITIONS);
    const deadLetters = await createTopic(admin, 'seed-dlq', 1);
    const producer = producerFor(kafka);
    await producer.connect();
    await produceJson(producer, topic, PARTITIONS, MESSAGES, (i) => message(i)).finally(() =>
      producer.disconnect(),
    );
    const ends = await endOffsets(admin, topic);
    const groupId = `mb-seed-${randomBytes(4).toString('hex')}`;
    const args = (records: number) => [
      kafkaBrokers().join(','),
      topic,
      deadLetters,
      groupId,
      bucket,
      served.url,
      String(records),
    ];

    // The worker runs examples/seed-pipeline.ts as it is: its `microbatch/…` imports resolve to src/
    // through test/tsconfig.json's paths.
    process.env.TSX_TSCONFIG_PATH = join(import.meta.dirname, '../../tsconfig.json');
    const outputs: string[] = [];
    let kills = 0;
    while (kills < KILLS) {
      const run = startWorker(worker, args(100 + Math.floor(next() * 400)));
      void run.exited.then(() => outputs.push(run.output()));
      // A random moment: during start-up or replay, mid-COPY, between COMMIT and the Kafka commit…
      const killed = await killAfterCommits(run, Math.floor(next() * 4), Math.floor(next() * 600));
      const code = await run.exited;
      if (!killed || code !== null) {
        expect(run.output(), why(`run ${kills + 1} exited with ${code}`)).toContain('done');
        throw new Error(why(`the worker finished after only ${kills} of ${KILLS} kills: too few messages`));
      }
      kills++;
    }
    const last = startWorker(worker, args(500));
    void last.exited.then(() => outputs.push(last.output()));
    expect(await last.exited, why(`the last run failed:\n${last.output().slice(-4000)}`)).toBe(0);
    expect(last.output(), why('the last run')).toMatch(/^done .* exactly-once$/m);
    // The log reads like the seed worker's: windows, stage writes, COPY status, commits.
    expect(last.output()).toMatch(/ prices window /);
    expect(last.output()).toMatch(
      / prices transf .* \d+ in, \d+ out \(\d+ invalid, unredactable or duplicate\)/,
    );
    expect(last.output()).toMatch(/ prices stage .* s3:\/\/.*part-.*\.parquet (created|exists)/);
    expect(last.output()).toMatch(/ prices copy .* (LOADED \d+ rows|LOAD_SKIPPED|in the ledger)/);

    // The table: every valid record exactly once, normalised, its e-mail hashed.
    const rows = await double.query(
      'SELECT "SKU", "PRICE", "CURRENCY", "SELLEREMAIL", "SCHEMAVERSION" FROM "DB"."SCH"."PRICES"',
    );
    const expected = Array.from({ length: MESSAGES }, (_, i) => i).filter(valid);
    const counts = new Map<string, number>();
    for (const row of rows) counts.set(String(row.SKU), (counts.get(String(row.SKU)) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).length;
    const missing = expected.filter((i) => !counts.has(`sku-${i}`));
    if (missing.length > 0 || twice > 0) console.log(await diagnose(double, topic, missing, outputs));
    expect({ rows: rows.length, twice, missing: missing.length }, why('rows in the table')).toEqual({
      rows: expected.length,
      twice: 0,
      missing: 0,
    });
    for (const row of rows.slice(0, 200)) {
      const i = Number(String(row.SKU).slice(4));
      expect(Number(row.PRICE)).toBeCloseTo(i / 100);
      expect(row.CURRENCY).toBe(i % 2 === 0 ? 'EUR' : 'USD');
      expect(Number(row.SCHEMAVERSION)).toBe(i % 2 === 0 ? 3 : 4);
      expect(String(row.SELLEREMAIL)).not.toContain('@');
    }

    // The dead letters: every invalid record (a replay may send one again; none is missing).
    const letters = await consumeAll(kafka, deadLetters);
    const dead = new Set(letters.map((m) => `${m.headers['mb-partition']}@${m.headers['mb-offset']}`));
    const invalid = Array.from({ length: MESSAGES }, (_, i) => i)
      .filter((i) => !valid(i))
      .map((i) => `${topic}-${i % PARTITIONS}@${Math.floor(i / PARTITIONS)}`);
    expect([...dead].sort(), why('dead letters')).toEqual(invalid.sort());
    console.log(
      `Snowflake seed SIGKILL test: ${kills} kills, ${rows.length} rows, ${dead.size} dead letters (${letters.length - dead.size} sent again by replays), ${double.statementsOf('COPY').length} COPY statements`,
    );

    // The ledger and the group's offsets at the end of every partition; ledger ranges never overlap.
    const ledger = await double.query(
      'SELECT "PARTITION", "FIRST_OFFSET", "LAST_OFFSET" FROM "DB"."SCH"."MICROBATCH_LEDGER" ORDER BY "PARTITION", "FIRST_OFFSET"',
    );
    for (let p = 0; p < PARTITIONS; p++) {
      const ranges = ledger
        .filter((r) => r.PARTITION === `${topic}-${p}`)
        .map((r) => [Number(r.FIRST_OFFSET), Number(r.LAST_OFFSET)] as const);
      for (let k = 1; k < ranges.length; k++) {
        expect(ranges[k]![0], why(`ledger ranges of partition ${p} overlap`)).toBeGreaterThan(
          ranges[k - 1]![1],
        );
      }
      expect(ranges.at(-1)?.[1], why(`ledger end of partition ${p}`)).toBe(ends[p]! - 1);
    }
    const group = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = group[0]!.partitions
      .sort((a, b) => a.partition - b.partition)
      .map((p) => Number(p.offset));
    expect(committed, why('committed offsets')).toEqual(ends);
  }, 900_000);
});

/**
 * What the double holds for the records missing from the table, to tell a sink bug from a double
 * bug: the missing offsets as ranges per partition, the ledger rows and load history entries that
 * cover them, and the workers' log lines about them.
 */
async function diagnose(
  double: SnowflakeDouble,
  topic: string,
  missing: number[],
  outputs: string[],
): Promise<string> {
  const ranges: { partition: string; first: number; last: number }[] = [];
  for (const i of missing) {
    const partition = `${topic}-${i % PARTITIONS}`;
    const offset = Math.floor(i / PARTITIONS);
    const open = ranges.findLast((r) => r.partition === partition);
    if (open !== undefined && open.last === offset - 1) open.last = offset;
    else ranges.push({ partition, first: offset, last: offset });
  }
  const ledger = await double.query(
    'SELECT "PARTITION", "BATCH_ID", "FIRST_OFFSET", "LAST_OFFSET", "RECORDS" FROM "DB"."SCH"."MICROBATCH_LEDGER"',
  );
  const history = double.loadHistory('DB.SCH.PRICES');
  const lines = [`${missing.length} records missing in ${ranges.length} ranges:`];
  for (const r of ranges.slice(0, 10)) {
    lines.push(`  ${r.partition} [${r.first}..${r.last}]`);
    for (const row of ledger) {
      if (
        row.PARTITION !== r.partition ||
        Number(row.LAST_OFFSET) < r.first ||
        Number(row.FIRST_OFFSET) > r.last
      )
        continue;
      const id = String(row.BATCH_ID);
      const file = `part-${id.replace(/~/g, '=')}.parquet`;
      const loads = history.filter((h) => h.file.endsWith(file));
      lines.push(`    ledger ${id} (${String(row.RECORDS)} records); load history: ${JSON.stringify(loads)}`);
      for (const output of outputs) {
        for (const line of output.split('\n'))
          if (
            line.includes(`[${String(row.FIRST_OFFSET)}..${String(row.LAST_OFFSET)}]`) &&
            line.includes(r.partition)
          )
            lines.push(`      ${line}`);
      }
    }
  }
  return lines.join('\n');
}
