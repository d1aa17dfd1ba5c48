import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fileCheckpoint } from '../../src/checkpoint/file.js';
import type { Batch } from '../../src/core/batch.js';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { PartitionComplete, Sink, WriteOptions } from '../../src/sinks/types.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { fromJsonLines } from '../../src/sources/json-lines.js';
import { type TestClock, testClock } from '../../src/testing/clock.js';
import { type ScriptedRecord, scriptedSource } from '../../src/testing/scripted-source.js';
import { validate } from '../../src/transforms/validate.js';
import { triggers } from '../../src/triggers/index.js';
import { queryDuckDB, sqlString } from '../parquet/readers.js';
import { expectCode, rejection } from '../support.js';
import { listFiles } from './helpers.js';

const Reading = z.object({ id: z.string(), takenAt: z.iso.datetime(), value: z.number() });
type Reading = z.output<typeof Reading>;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-lake-pipe-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lake = () => join(dir, 'lake');
const glob = () => sqlString(`${lake()}/readings/**/*.parquet`);
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

const START = Date.UTC(2026, 10, 25, 15, 10, 0);
/** A reading from `partition` arriving `arrival` s after START, taken at 2026-11-25T<takenAt>Z. */
const reading = (arrival: number, partition: string, id: string, takenAt: string, value: number) =>
  ({
    at: START + arrival * 1_000,
    partition,
    value: { id, takenAt: `2026-11-25T${takenAt}Z`, value },
  }) satisfies ScriptedRecord<Reading>;

// e5 arrives when hour 14 is already complete (watermark 15:06, allowedLateness 5m): a late
// record that is kept (late: 'include', the default), lands in hour 14 and reopens it.
const script = [
  reading(0, 'eu', 'e1', '14:58:00', 1),
  reading(0, 'us', 'u1', '14:59:00', 2),
  reading(10, 'eu', 'e2', '15:01:00', 4),
  reading(20, 'us', 'u2', '15:02:30', 8),
  reading(30, 'eu', 'e3', '14:59:30', 16),
  reading(40, 'eu', 'e4', '15:07:00', 32),
  reading(50, 'us', 'u3', '15:08:00', 64),
  reading(60, 'eu', 'e5', '14:56:00', 128),
  reading(130, 'eu', 'e6', '15:12:00', 256),
  reading(200, 'eu', 'e7', '15:13:00', 512),
];

/**
 * Like `clock.runUntil`, but time moves only once the sink's file I/O (`io`) is done: the pipeline
 * then sees each write complete at the pipeline time it started, as with an instant disk, and the
 * order of writes and completions is the same on every run.
 */
async function runWithIo<T>(clock: TestClock, io: Set<Promise<unknown>>, run: Promise<T>): Promise<T> {
  let finished = false;
  const done = run.finally(() => {
    finished = true;
  });
  done.catch(() => {});
  while (!finished) {
    for (let i = 0; i < 5 && !finished; i++) await new Promise((resolve) => setImmediate(resolve));
    if (finished) break;
    if (io.size > 0) await Promise.allSettled([...io]);
    else if (!(await clock.next())) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return done;
}

describe('parquetLakeSink in a pipeline with event time', () => {
  it('writes Hive partitions by event time, late records in their old hour, with _SUCCESS markers', async () => {
    const clock = testClock(START);
    const sink = parquetLakeSink<Reading>({ dir: lake(), table: 'readings', schema: Reading });
    // What the file system looked like at each call, seen through a wrapper around the lake sink.
    const marker = (hr: number) => join(lake(), 'readings', `dt=2026-11-25/hr=${hr}`, '_SUCCESS');
    const log: string[] = [];
    const io = new Set<Promise<unknown>>();
    const track = <T>(promise: Promise<T>) => {
      io.add(promise);
      return promise.finally(() => io.delete(promise));
    };
    const observed: Sink<Reading> = {
      open: (context) => sink.open?.(context),
      write: (batch, options) => track(observedWrite(batch, options)),
      partitionComplete: (event) => track(observedComplete(event)),
    };
    async function observedWrite(batch: Batch<Reading>, options: WriteOptions) {
      {
        const ids = batch.records.map((r) => r.id).join(',');
        const before = `${(await exists(marker(14))) ? '14✓' : '14·'} ${(await exists(marker(15))) ? '15✓' : '15·'}`;
        await sink.write(batch, options);
        log.push(
          `write ${ids} (markers before: ${before}; after: ${(await exists(marker(14))) ? '14✓' : '14·'})`,
        );
      }
    }
    async function observedComplete(event: PartitionComplete) {
      await sink.partitionComplete?.(event);
      log.push(`complete ${event.bucket.path}${event.reopened ? ' reopened' : ''}`);
    }
    const report = await runWithIo(
      clock,
      io,
      pipeline({ name: 'readings', clock, concurrency: 1 })
        .source(scriptedSource(clock, script))
        .eventTime((r) => r.takenAt, {
          maxOutOfOrderness: '1m',
          allowedLateness: '5m',
          idleTimeout: '1m',
          partitionBy: 'hour',
        })
        .trigger(triggers.time('5s'))
        .sink(observed)
        .build()
        .run(),
    );
    expect(report.status).toBe('completed');
    expect(report.records.written).toBe(script.length);

    const perHour = await queryDuckDB(
      `SELECT dt::VARCHAR AS dt, hr, count(*) AS n, sum(value) AS total, string_agg(id, ',' ORDER BY id) AS ids FROM read_parquet(${glob()}, hive_partitioning = true) GROUP BY dt, hr ORDER BY hr`,
    );
    expect(perHour).toEqual([
      { dt: '2026-11-25', hr: 14n, n: 4n, total: 1 + 2 + 16 + 128, ids: 'e1,e3,e5,u1' },
      { dt: '2026-11-25', hr: 15n, n: 6n, total: 4 + 8 + 32 + 64 + 256 + 512, ids: 'e2,e4,e6,e7,u2,u3' },
    ]);
    // The time column reads back as TIMESTAMP WITH TIME ZONE, equal to the event time.
    const [e5] = await queryDuckDB(
      `SELECT epoch_ms(takenAt) AS ms, typeof(takenAt) AS type FROM read_parquet(${glob()}) WHERE id = 'e5'`,
    );
    expect(e5).toEqual({ ms: BigInt(Date.parse('2026-11-25T14:56:00Z')), type: 'TIMESTAMP WITH TIME ZONE' });

    // Hour 14: no marker until it completes; e5's write deletes it; the reopened hour gets it back.
    const completeAt = log.indexOf('complete dt=2026-11-25/hr=14');
    const lateAt = log.findIndex((line) => line.startsWith('write e5'));
    const reopenedAt = log.indexOf('complete dt=2026-11-25/hr=14 reopened');
    expect(completeAt).toBeGreaterThan(0);
    expect(lateAt).toBeGreaterThan(completeAt);
    expect(reopenedAt).toBeGreaterThan(lateAt);
    for (const line of log.slice(0, completeAt)) expect(line).toContain('before: 14·');
    expect(log[lateAt]).toMatch(/before: 14✓ 15·; after: 14·/);
    // Hour 15 is only complete at the end of the input.
    expect(log.at(-1)).toBe('complete dt=2026-11-25/hr=15');
    for (const line of log.filter((l) => l.startsWith('write'))) expect(line).toContain('15·');

    const files = await listFiles(join(lake(), 'readings'));
    expect(files.filter((f) => f.endsWith('_SUCCESS'))).toEqual([
      'dt=2026-11-25/hr=14/_SUCCESS',
      'dt=2026-11-25/hr=15/_SUCCESS',
    ]);
    expect(
      files.every((f) =>
        /^dt=2026-11-25\/hr=1[45]\/(_SUCCESS|part-readings\.(eu|us)\.r[0-9a-z]{9}-[0-9a-f]{8}\.\d{16}-\d{16}\.parquet)$/.test(
          f,
        ),
      ),
    ).toBe(true);
  });

  it('dead-letters a record the encoder cannot store (unencodable, with the column); the batch goes on', async () => {
    // Before issue 14, one such value failed the whole pipeline with MB_ENCODE_FAILED.
    const Wide = z.object({ id: z.string(), at: z.date(), n: z.uint64(), value: z.number() });
    const clock = testClock(START);
    const records: unknown[] = [
      { id: 'a', at: new Date(START), n: 1n, value: 1 },
      { id: 'b', at: new Date(START), n: 2n, value: '12,50' },
      { id: 'c', at: 1e20, n: 3n, value: 3 },
      { id: 'd', at: new Date(START), n: 2n ** 64n - 1n, value: 4 },
      { id: 'e', at: '2026/11/25 14:00:00', n: 5n, value: 5 },
      { id: 'f', at: START, n: 2n ** 63n - 1n, value: 6 },
    ];
    const report = await clock.runUntil(
      pipeline({ name: 'wide', clock })
        .source(fromIterable(records))
        .sink(parquetLakeSink({ dir: lake(), table: 'wide', schema: Wide, partitionBy: 'day' }))
        .build()
        .run(),
    );
    expect(report.status).toBe('completed');
    expect(report.records).toMatchObject({ in: 6, written: 2, deadLettered: 4 });
    expect(report.rejected).toEqual({ unencodable: 4 });
    expect(
      report.deadLetters!.map((l) => [l.cursor.offset, (l.details as { column: string }).column]),
    ).toEqual([
      [1, 'value'],
      [2, 'at'],
      [3, 'n'],
      [4, 'at'],
    ]);
    // The details name the column and the kind of value, never the value.
    expect(report.deadLetters![2]!.details).toEqual({
      column: 'n',
      type: 'int64',
      expected: 'a safe integer or a bigint in int64 range',
      got: 'a bigint',
    });
    const rows = await queryDuckDB(
      `SELECT id, n FROM read_parquet(${sqlString(`${lake()}/wide/**/*.parquet`)}) ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 'a', n: 1n },
      { id: 'f', n: 2n ** 63n - 1n },
    ]);
  });

  it('lands every input record exactly once across a crash after the lake wrote and a rerun', async () => {
    const input = join(dir, 'input.jsonl');
    const n = 50;
    const lines = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ id: `r${i}`, takenAt: new Date(START + i * 120_000).toISOString(), value: i }),
    );
    await writeFile(input, `${lines.join('\n')}\n`);
    const checkpoint = () => fileCheckpoint({ dir: join(dir, 'checkpoints') });

    // Run 1: the third batch is written to the lake, then the process "crashes" before the commit
    // (a non-retryable failure after the write stands for a kill between write and checkpoint).
    let writes = 0;
    const clock1 = testClock(START);
    const real = parquetLakeSink<Reading>({ dir: lake(), table: 'readings', schema: Reading });
    const crashing: Sink<Reading> = {
      open: (context) => real.open?.(context),
      async write(batch, options) {
        await real.write(batch, options);
        if (++writes === 3) throw new Error('crash after the lake wrote');
      },
    };
    const build = (clock: ReturnType<typeof testClock>, sink: Sink<Reading>) =>
      pipeline({ name: 'ingest', clock, checkpoint: checkpoint(), concurrency: 1 })
        .source(fromJsonLines<Reading>(input))
        .transform(validate(Reading))
        .eventTime((r) => r.takenAt, { partitionBy: 'hour' })
        .trigger(triggers.volume({ records: 7 }))
        .sink(sink)
        .build();
    const error = expectCode(
      await clock1.runUntil(rejection(build(clock1, crashing).run())),
      'MB_SINK_FAILED',
    );
    expect((error.cause as Error).message).toBe('crash after the lake wrote');
    const [partial] = await queryDuckDB(`SELECT count(*) AS n FROM read_parquet(${glob()})`);
    expect(partial?.n).toBe(21n); // 3 batches of 7 on disk, only 2 committed

    // Run 2 resumes from the checkpoint: the uncommitted batch is written again under the same names.
    const clock2 = testClock(START);
    const report = await clock2.runUntil(
      build(clock2, parquetLakeSink<Reading>({ dir: lake(), table: 'readings', schema: Reading })).run(),
    );
    expect(report.status).toBe('completed');
    const [totals] = await queryDuckDB(
      `SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(value) AS total FROM read_parquet(${glob()}, hive_partitioning = true)`,
    );
    expect(totals).toEqual({ n: BigInt(n), ids: BigInt(n), total: (n * (n - 1)) / 2 });
  });
});
