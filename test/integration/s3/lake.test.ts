/**
 * The Parquet lake on a real S3 server (S3Proxy): a pipeline writes it, hyparquet reads it back
 * (every row once, `_SUCCESS` on every closed hour), compaction rewrites it (every row still once,
 * crash at any step recovered), replays find their own objects, large batches go up as multipart
 * uploads and leave none open, and a missing bucket or wrong credentials stop the pipeline with a
 * clear message before it reads a record.
 */
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MicrobatchError } from '../../../src/core/errors.js';
import { type Logger, silentLogger } from '../../../src/core/logger.js';
import {
  COMPACTION_STEPS,
  SimulatedCrash,
  setCompactionFaultHook,
} from '../../../src/lake/compact-faults.js';
import { compactLake, parquetLakeSink } from '../../../src/lake/index.js';
import { pipeline } from '../../../src/pipeline/builder.js';
import { s3Storage } from '../../../src/s3/index.js';
import { fromIterable } from '../../../src/sources/iterable.js';
import { triggers } from '../../../src/triggers/index.js';
import { sinkContext, timedBatch, writeOptions } from '../../lake/helpers.js';
import { dropBucket, listKeys, newBucket, openUploads, readLake, s3Client, s3Endpoint } from './helpers.js';

const Event = z.object({ id: z.number().int(), at: z.iso.datetime(), note: z.string() });
type Event = z.output<typeof Event>;

const T0 = Date.UTC(2026, 10, 25, 13, 0, 0);
const HOUR = 3_600_000;
/** `count` events spread evenly over three hours from 13:00. */
const events = (count: number, note = (i: number) => `n${i % 7}`): Event[] =>
  Array.from({ length: count }, (_, i) => ({
    id: i,
    at: new Date(T0 + Math.floor((i * 3 * HOUR) / count)).toISOString(),
    note: note(i),
  }));

const client = s3Client();
const buckets: string[] = [];
afterAll(async () => {
  setCompactionFaultHook(undefined);
  for (const bucket of buckets) await dropBucket(client, bucket);
});
async function bucket(): Promise<string> {
  const name = await newBucket(client);
  buckets.push(name);
  return name;
}

async function ingest(storage: ReturnType<typeof s3Storage>, input: Event[], records = 250): Promise<void> {
  const report = await pipeline({ name: 'events' })
    .source(fromIterable(input))
    .eventTime((e) => e.at, { partitionBy: 'hour' })
    .trigger(triggers.volume({ records }))
    .sink(parquetLakeSink<Event>({ storage, table: 'events', schema: Event }))
    .build()
    .run();
  expect(report.status).toBe('completed');
}

const ids = (rows: Record<string, unknown>[]) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('the Parquet lake on S3 (S3Proxy)', () => {
  it('a pipeline writes every row once, in the Hive layout, with _SUCCESS on every closed hour; compaction keeps every row once', async () => {
    const name = await bucket();
    const storage = s3Storage({ client, bucket: name, prefix: 'lake' });
    await ingest(storage, events(3_000));
    const keys = await listKeys(client, name);
    for (const key of keys) {
      expect(key).toMatch(
        /^lake\/events\/dt=2026-11-25\/hr=1[345]\/(part-[A-Za-z0-9_.~-]+\.parquet|_SUCCESS)$/,
      );
    }
    expect(keys.filter((k) => k.endsWith('_SUCCESS'))).toEqual([
      'lake/events/dt=2026-11-25/hr=13/_SUCCESS',
      'lake/events/dt=2026-11-25/hr=14/_SUCCESS',
      'lake/events/dt=2026-11-25/hr=15/_SUCCESS',
    ]);
    const rows = await readLake(client, name, 'events', 'lake/');
    expect(ids(rows)).toEqual(range(3_000));
    // Each row sits in the hour of its event time.
    for (const row of rows) expect(Number(row.hr)).toBe(new Date(String(row.at)).getUTCHours());
    const files = keys.filter((k) => k.endsWith('.parquet')).length;
    expect(files).toBeGreaterThanOrEqual(12);

    const report = await compactLake({ storage, table: 'events', targetFileBytes: '64MB' });
    expect(report).toMatchObject({
      partitionsScanned: 3,
      partitionsCompacted: 3,
      filesBefore: files,
      filesAfter: 3,
    });
    expect(report.skippedBins).toEqual([]);
    const after = await listKeys(client, name);
    expect(after.filter((k) => k.includes('/part-'))).toEqual([]);
    expect(after.filter((k) => k.includes('_compaction-'))).toEqual([]);
    expect(after.filter((k) => /compacted-[0-9a-f]{16}\.parquet$/.test(k))).toHaveLength(3);
    expect(ids(await readLake(client, name, 'events', 'lake/'))).toEqual(range(3_000));
    // Nothing new: a second run changes nothing.
    const again = await compactLake({ storage, table: 'events', targetFileBytes: '64MB' });
    expect(again.outputs).toBe(0);
    expect(await listKeys(client, name)).toEqual(after);
  });

  it('compaction interrupted at any step leaves every row at least once, and the next run exactly once', async () => {
    for (const step of COMPACTION_STEPS) {
      const name = await bucket();
      const storage = s3Storage({ client, bucket: name });
      await ingest(storage, events(600), 100);
      setCompactionFaultHook((at) => {
        if (at === step) throw new SimulatedCrash(`crash at ${at}`);
      });
      await expect(compactLake({ storage, table: 'events' }), step).rejects.toBeInstanceOf(SimulatedCrash);
      setCompactionFaultHook(undefined);
      expect(new Set(ids(await readLake(client, name, 'events'))).size, step).toBe(600);
      const clean = await compactLake({ storage, table: 'events' });
      if (step !== 'before-intent' && step !== 'intent-deleted') expect(clean.recoveredIntents, step).toBe(1);
      expect(ids(await readLake(client, name, 'events')), step).toEqual(range(600));
      expect(
        (await listKeys(client, name)).filter((k) => k.includes('_compaction-')),
        step,
      ).toEqual([]);
      await dropBucket(client, name);
    }
  });

  it('a replayed batch finds its own object: one object, one put; other content is kept with a warning', async () => {
    const name = await bucket();
    const storage = s3Storage({ client, bucket: name });
    const warnings: unknown[] = [];
    const logger: Logger = { ...silentLogger, warn: (obj: unknown) => warnings.push(obj) };
    const sink = parquetLakeSink<Event>({ storage, table: 'events', schema: Event });
    await sink.open?.({ ...sinkContext('hour'), logger });
    const input = events(50);
    const batch = timedBatch(
      input,
      input.map((e) => Date.parse(e.at)),
    );
    await sink.write(batch, writeOptions());
    const first = await listKeys(client, name);
    await sink.write(batch, writeOptions());
    expect(await listKeys(client, name)).toEqual(first);
    expect(warnings).toEqual([]);
    // The same id with other records (a non-deterministic transform): the first write stays.
    await sink.write({ ...batch, records: input.map((e) => ({ ...e, note: 'changed' })) }, writeOptions());
    expect(warnings.length).toBeGreaterThan(0);
    const rows = await readLake(client, name, 'events');
    expect(ids(rows)).toEqual(range(50));
    expect(rows.every((r) => r.note !== 'changed')).toBe(true);
  });

  it('a batch above multipartThreshold goes up as a multipart upload and leaves no upload open', async () => {
    const name = await bucket();
    const sent: string[] = [];
    // The client as the storage sees it, recording each command's name.
    const recording = {
      send: (command: unknown, options?: { abortSignal?: AbortSignal }) => {
        sent.push((command as object).constructor.name);
        return client.send(command as never, options);
      },
    };
    const storage = s3Storage({
      client: recording,
      bucket: name,
      multipartThreshold: '5MiB',
      partSize: '5MiB',
    });
    // Incompressible notes: about 9 MB of Parquet in one batch, all in one hour (one object).
    const input = events(9_000, () => randomBytes(1_000).toString('base64')).map((e, i) => ({
      ...e,
      at: new Date(T0 + i).toISOString(),
    }));
    await ingest(storage, input, 9_000);
    const rows = await readLake(client, name, 'events');
    expect(ids(rows)).toEqual(range(9_000));
    expect(await openUploads(client, name)).toEqual([]);
    expect(sent.filter((c) => c === 'CreateMultipartUploadCommand').length).toBeGreaterThan(0);
    expect(sent.filter((c) => c === 'UploadPartCommand').length).toBeGreaterThanOrEqual(2);
    expect(sent.filter((c) => c === 'CompleteMultipartUploadCommand').length).toBe(
      sent.filter((c) => c === 'CreateMultipartUploadCommand').length,
    );
  });

  it('a missing bucket and wrong credentials stop the pipeline before it reads a record, with a message saying what to check', async () => {
    const server = s3Endpoint();
    const cases: { client: S3Client; bucket: string; expected: RegExp }[] = [
      { client, bucket: 'mb-no-such-bucket', expected: /bucket 'mb-no-such-bucket' does not exist/ },
      {
        client: s3Client({ ...server, secretAccessKey: 'wrong-secret-value' }),
        bucket: await bucket(),
        expected: /check the credentials/,
      },
    ];
    for (const { client: c, bucket: b, expected } of cases) {
      let pulled = 0;
      function* source() {
        for (const e of events(10)) {
          pulled++;
          yield e;
        }
      }
      const error = await pipeline({ name: 'events', retry: { maxAttempts: 2, initialDelay: '1ms' } })
        .source(fromIterable(source()))
        .sink(
          parquetLakeSink<Event>({
            storage: s3Storage({ client: c, bucket: b }),
            table: 'events',
            schema: Event,
          }),
        )
        .build()
        .run()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(MicrobatchError.is(error), String(error)).toBe(true);
      const messages = `${(error as Error).message} ${String((error as Error).cause)}`;
      expect(messages).toMatch(expected);
      expect(messages).not.toContain('wrong-secret-value');
      expect(messages).not.toContain(server.secretAccessKey);
      expect(pulled).toBe(0);
    }
  });
});
