import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bucketOf } from '../../src/event-time/buckets.js';
import { encodePartitionValue } from '../../src/lake/paths.js';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { queryDuckDB, sqlString } from '../parquet/readers.js';
import { expectCode, expectInvalid, rejection } from '../support.js';
import { HOUR, listFiles, sinkContext, T14, timedBatch, writeOptions } from './helpers.js';

const Reading = z.object({ id: z.string(), value: z.number(), country: z.string() });
type Reading = z.output<typeof Reading>;
const reading = (id: string, value: number, country = 'FR'): Reading => ({ id, value, country });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-lake-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const glob = () => sqlString(`${dir}/readings/**/*.parquet`);

describe('parquetLakeSink layout', () => {
  it('writes part-<batch id>.parquet into the hour of each record, one file per hour', async () => {
    const sink = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    expect(sink.kind).toBe('parquet-lake');
    await sink.open?.(sinkContext('hour'));
    const batch = timedBatch(
      [reading('a', 1), reading('b', 2), reading('c', 4), reading('d', 8)],
      [T14 + 10, T14 + HOUR + 5, T14 + 59 * 60_000, T14 + HOUR],
    );
    await sink.write(batch, writeOptions());
    expect(await listFiles(dir)).toEqual([
      `readings/dt=2026-11-25/hr=14/part-${batch.id}.parquet`,
      `readings/dt=2026-11-25/hr=15/part-${batch.id}.parquet`,
    ]);
    const rows = await queryDuckDB(
      `SELECT hr, count(*) AS n, sum(value) AS total, string_agg(id, ',' ORDER BY id) AS ids FROM read_parquet(${glob()}, hive_partitioning = true) GROUP BY hr ORDER BY hr`,
    );
    expect(rows).toEqual([
      { hr: 14n, n: 2n, total: 5, ids: 'a,c' },
      { hr: 15n, n: 2n, total: 10, ids: 'b,d' },
    ]);
  });

  it('splits a batch whose records share an hour up to the last one, and names rows of the batch', async () => {
    // The sink first checks whether every record is in the first record's hour (one file, no index
    // list); a record outside it, even the last, sends the batch through the per-record grouping.
    const sink = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    await sink.open?.(sinkContext('hour'));
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const same = timedBatch(
      ids.map((id, i) => reading(id, i)),
      ids.map((_, i) => T14 + i),
    );
    await sink.write(same, writeOptions());
    expect(await listFiles(dir)).toEqual([`readings/dt=2026-11-25/hr=14/part-${same.id}.parquet`]);
    const read = (batchId: string) =>
      queryDuckDB(
        `SELECT id, hr FROM read_parquet(${glob()}, hive_partitioning = true, filename = true) WHERE filename LIKE ${sqlString(`%part-${batchId}.parquet`)} ORDER BY id`,
      );
    expect(await read(same.id)).toEqual(ids.map((id) => ({ id, hr: 14n })));

    const lastLate = timedBatch(
      ids.map((id, i) => reading(`${id}2`, i)),
      ids.map((_, i) => (i === 4 ? T14 + HOUR : T14 + i)),
      5,
    );
    await sink.write(lastLate, writeOptions());
    expect(await read(lastLate.id)).toEqual([
      ...['a2', 'b2', 'c2', 'd2'].map((id) => ({ id, hr: 14n })),
      { id: 'e2', hr: 15n },
    ]);

    // A misfit in the second partition is named by its row in the batch, not in the partition.
    const bad = timedBatch(
      [reading('x', 1), reading('y', 2), { id: 'z', value: 'oops', country: 'FR' } as unknown as Reading],
      [T14, T14 + HOUR, T14 + HOUR],
      10,
    );
    const error = await rejection(Promise.resolve(sink.write(bad, writeOptions())));
    expectCode(error, 'MB_ENCODE_FAILED');
    expect((error as Error).message).toContain(
      "column 'value' (float64) at row 2: expected a number, got 'oops'",
    );
  });

  it("partitions by the pipeline's unit when partitionBy is omitted, and by 'hour' without event time", async () => {
    const daily = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    await daily.open?.(sinkContext('day'));
    await daily.write(timedBatch([reading('a', 1)], [T14]), writeOptions());
    const monthly = parquetLakeSink<Reading>({
      dir,
      table: 'readings',
      schema: Reading,
      partitionBy: 'month',
    });
    await monthly.open?.(sinkContext());
    await monthly.write(timedBatch([reading('b', 1)], [T14], 1), writeOptions());
    // No event times: the batch's openedAt (processing time, T14 + 4h) is the time of every record.
    const plain = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    await plain.open?.(sinkContext());
    const batch = { ...timedBatch([reading('c', 1)], [], 2), eventTimes: undefined };
    await plain.write(batch, writeOptions());
    expect(await listFiles(dir)).toEqual([
      expect.stringMatching(/^readings\/dt=2026-11-25\/hr=18\/part-.+\.parquet$/),
      expect.stringMatching(/^readings\/dt=2026-11-25\/part-.+\.parquet$/),
      expect.stringMatching(/^readings\/month=2026-11\/part-.+\.parquet$/),
    ]);
  });

  it('rewriting the same batch is idempotent: same files, same bytes, no duplicate rows', async () => {
    const sink = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    await sink.open?.(sinkContext('hour'));
    const batch = timedBatch([reading('a', 1), reading('b', 2)], [T14, T14 + HOUR]);
    await sink.write(batch, writeOptions());
    const files = await listFiles(dir);
    const bytes = await Promise.all(files.map((f) => readFile(join(dir, f))));
    await sink.write(batch, { ...writeOptions(), attempt: 2 });
    expect(await listFiles(dir)).toEqual(files);
    expect(await Promise.all(files.map((f) => readFile(join(dir, f))))).toEqual(bytes);
    const [count] = await queryDuckDB(
      `SELECT count(*) AS n FROM read_parquet(${glob()}, hive_partitioning = true)`,
    );
    expect(count?.n).toBe(2n);
  });

  it('stops before the rename when the signal is aborted', async () => {
    const sink = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    await sink.open?.(sinkContext('hour'));
    const abort = new AbortController();
    abort.abort(new Error('deadline'));
    const error = await rejection(
      Promise.resolve(sink.write(timedBatch([reading('a', 1)], [T14]), writeOptions(abort.signal))),
    );
    expect((error as Error).message).toBe('deadline');
    expect(await listFiles(dir).catch(() => [])).toEqual([]);
  });

  it('leaves nothing behind when a value does not fit its column', async () => {
    const sink = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    await sink.open?.(sinkContext('hour'));
    // The first hour's records are fine; the misfit is in the second hour's file.
    const batch = timedBatch(
      [reading('a', 1), reading('b', 2), { id: 'c', value: '12,50', country: 'FR' } as never],
      [T14, T14, T14 + HOUR],
    );
    const error = expectCode(
      await rejection(Promise.resolve(sink.write(batch, writeOptions()))),
      'MB_ENCODE_FAILED',
    );
    expect(error.message).toBe(
      `parquetLakeSink(table 'readings'): batch ${batch.id}: column 'value' (float64) at row 2: expected a number, got '12,50'`,
    );
    expect(error.details).toMatchObject({ batch: batch.id, partition: 'dt=2026-11-25/hr=15', row: 2 });
    expect(await listFiles(dir).catch(() => [])).toEqual([]);
  });
});

describe('parquetLakeSink _SUCCESS markers', () => {
  const hour14 = bucketOf(T14, 'hour');
  const marker = () => join(dir, 'readings', hour14.path, '_SUCCESS');
  const hasMarker = () =>
    stat(marker()).then(
      () => true,
      () => false,
    );

  it('writes _SUCCESS on partitionComplete, deletes it when a late record lands, and writes it again', async () => {
    const sink = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    await sink.open?.(sinkContext('hour', 'prices', T14 + 2 * HOUR));
    await sink.write(timedBatch([reading('a', 1)], [T14 + 1]), writeOptions());
    expect(await hasMarker()).toBe(false);

    await sink.partitionComplete?.({
      bucket: hour14,
      watermark: T14 + HOUR + 60_000,
      records: 1,
      reopened: false,
    });
    expect(JSON.parse(await readFile(marker(), 'utf8'))).toEqual({
      pipeline: 'prices',
      watermark: T14 + HOUR + 60_000,
      records: 1,
      completedAt: new Date(T14 + 2 * HOUR).toISOString(),
    });
    // A later batch in another hour leaves the marker alone.
    await sink.write(timedBatch([reading('b', 2)], [T14 + HOUR], 1), writeOptions());
    expect(await hasMarker()).toBe(true);

    // A late record reopens hour 14: the marker goes before its file lands.
    const late = timedBatch([reading('c', 3)], [T14 + 2], 2);
    await sink.write(late, writeOptions());
    expect(await hasMarker()).toBe(false);
    expect(await listFiles(join(dir, 'readings', hour14.path))).toHaveLength(2);

    await sink.partitionComplete?.({
      bucket: hour14,
      watermark: Number.POSITIVE_INFINITY,
      records: 1,
      reopened: true,
    });
    expect(JSON.parse(await readFile(marker(), 'utf8'))).toMatchObject({ watermark: null, records: 1 });
    expect((await listFiles(dir)).filter((f) => f.startsWith('readings/dt=2026-11-25/hr=14/'))).toEqual([
      'readings/dt=2026-11-25/hr=14/_SUCCESS',
      expect.stringMatching(/^readings\/dt=2026-11-25\/hr=14\/part-unit\.0\..*\.parquet$/),
      expect.stringMatching(/^readings\/dt=2026-11-25\/hr=14\/part-unit\.0\..*\.parquet$/),
    ]);
  });

  it('writes no marker for a partition without data, nor with a partitionBy function', async () => {
    const sink = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading });
    await sink.open?.(sinkContext('hour'));
    await sink.partitionComplete?.({ bucket: hour14, watermark: T14 + HOUR, records: 0, reopened: false });
    expect(await listFiles(dir)).toEqual([]);

    const byCountry = parquetLakeSink<Reading>({
      dir,
      table: 'readings',
      schema: Reading,
      partitionBy: (r) => ({ country: r.country }),
    });
    await byCountry.open?.(sinkContext('hour'));
    await byCountry.write(timedBatch([reading('a', 1)], [T14]), writeOptions());
    await byCountry.partitionComplete?.({
      bucket: hour14,
      watermark: T14 + HOUR,
      records: 1,
      reopened: false,
    });
    expect(await listFiles(dir)).toEqual([expect.stringMatching(/^readings\/country=FR\/part-.+\.parquet$/)]);
  });
});

describe('parquetLakeSink partitionBy functions', () => {
  it('keeps hostile partition values inside the table directory', async () => {
    const hostile = ['../../etc', 'a/b', 'c\\d', 'nul\u0000byte', 'Grüße 🚀', '', '.', '..', 'ok-1.2_3'];
    const sink = parquetLakeSink<Reading>({
      dir,
      table: 'readings',
      schema: Reading,
      partitionBy: (r) => ({ country: r.country, n: 7 }),
    });
    await sink.open?.(sinkContext());
    const records = hostile.map((country, i) => reading(String(i), i, country));
    const batch = timedBatch(
      records,
      records.map(() => T14),
    );
    await sink.write(batch, writeOptions());
    const files = await listFiles(dir);
    expect(files).toEqual(
      [
        '..%2F..%2Fetc',
        'a%2Fb',
        'c%5Cd',
        'nul%00byte',
        'Gr%C3%BC%C3%9Fe%20%F0%9F%9A%80',
        '__empty__',
        '%2E',
        '%2E%2E',
        'ok-1.2_3',
      ]
        .map((v) => `readings/country=${v}/n=7/part-${batch.id}.parquet`)
        .sort(),
    );
    // Every file is a data file of this table, readable by DuckDB.
    const [count] = await queryDuckDB(`SELECT count(*) AS n FROM read_parquet(${glob()})`);
    expect(count?.n).toBe(BigInt(hostile.length));
  });

  it('encodes every byte outside [A-Za-z0-9._-]', () => {
    expect(encodePartitionValue('a b=c%d')).toBe('a%20b%3Dc%25d');
    expect(encodePartitionValue('...')).toBe('...');
  });

  it('fails the write with MB_INVALID_OPTIONS for a bad key or value', async () => {
    const write = async (partitionBy: (r: Reading) => Record<string, string | number>) => {
      const sink = parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading, partitionBy });
      await sink.open?.(sinkContext());
      return rejection(Promise.resolve(sink.write(timedBatch([reading('a', 1)], [T14]), writeOptions())));
    };
    expect(expectCode(await write(() => ({ '../x': 'a' })), 'MB_INVALID_OPTIONS').message).toContain(
      "partition key '../x' must be letters",
    );
    expect(expectCode(await write(() => ({ '1a': 'a' })), 'MB_INVALID_OPTIONS').message).toContain("'1a'");
    expectCode(await write(() => ({ k: { nested: 1 } as never })), 'MB_INVALID_OPTIONS');
    expectCode(await write(() => ({ k: Number.NaN })), 'MB_INVALID_OPTIONS');
    expectCode(await write(() => ({})), 'MB_INVALID_OPTIONS');
    expect(await listFiles(dir).catch(() => [])).toEqual([]);
  });
});

describe('parquetLakeSink options', () => {
  const base = { dir: '/tmp/lake', table: 'readings', schema: Reading };

  it('rejects bad options with MB_INVALID_OPTIONS', () => {
    expectInvalid(() => parquetLakeSink(undefined as never), 'expected { storage or dir, table, schema }');
    expectInvalid(() => parquetLakeSink({ ...base, dir: '' }), 'dir must be a non-empty path');
    for (const table of ['', '.', '..', '../x', 'a/b', 'a\\b', '.hidden', '-x', 'x'.repeat(129), 'é']) {
      expectInvalid(() => parquetLakeSink({ ...base, table }), 'table must be');
    }
    expect(() => parquetLakeSink({ ...base, table: `A_b.c-${'x'.repeat(122)}` })).not.toThrow();
    expectInvalid(
      () => parquetLakeSink({ ...base, schema: z.object({ u: z.union([z.string(), z.number()]) }) }),
      "'u'",
    );
    expectInvalid(
      () => parquetLakeSink({ ...base, compression: 'lzo' as never }),
      'compression must be one of',
    );
    expectInvalid(() => parquetLakeSink({ ...base, rowGroupSize: 1.5 }), 'rowGroupSize');
    expectInvalid(
      () => parquetLakeSink({ ...base, partitionBy: 'week' as never }),
      'partitionBy must be one of',
    );
  });

  it("fails open() when partitionBy differs from the pipeline's event-time unit", async () => {
    const sink = parquetLakeSink({ ...base, partitionBy: 'day' });
    expectInvalid(
      () => sink.open?.(sinkContext('hour')),
      "partitionBy 'day' differs from the pipeline's event-time partitionBy 'hour'",
    );
    expect(() => parquetLakeSink({ ...base, partitionBy: 'hour' }).open?.(sinkContext('hour'))).not.toThrow();
  });
});
