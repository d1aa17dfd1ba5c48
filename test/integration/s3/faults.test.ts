/**
 * The S3 lake under faults, against real servers:
 * - a fault-injecting proxy in front of S3Proxy answers `503 SlowDown`, resets connections (before
 *   the request reaches the server, and after the server wrote the object) and delays requests: the
 *   adaptive window widens while it does and narrows after, and every record is in the lake once;
 * - S3Proxy (filesystem backend) is stopped mid-stream and started again: writes fail as retryable,
 *   are retried, and nothing is lost or doubled.
 * The SDK's own retries are off (`maxAttempts: 1`), so the pipeline sees every failure.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parquetLakeSink } from '../../../src/lake/index.js';
import { pipeline } from '../../../src/pipeline/builder.js';
import { s3Storage } from '../../../src/s3/index.js';
import { pushSource } from '../../../src/sources/push.js';
import { seededRandom } from '../../../src/testing/index.js';
import type { WindowChange } from '../../../src/triggers/adaptive.js';
import { triggers } from '../../../src/triggers/index.js';
import { type Fault, startFaultProxy } from '../../infra/s3proxy/fault-proxy.js';
import { startS3Proxy } from '../../infra/s3proxy/server.js';
import { dropBucket, newBucket, openUploads, readLake, s3Client, s3Endpoint } from './helpers.js';

const Row = z.object({ i: z.number().int(), at: z.iso.datetime() });
type Row = z.output<typeof Row>;
const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const row = (i: number): Row => ({ i, at: new Date(T0 + i * 100).toISOString() });
const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));
const ids = (rows: Record<string, unknown>[]) => rows.map((r) => Number(r.i)).sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Pushes one record every `everyMs` until `until()` is false; returns how many. */
async function produce(
  source: ReturnType<typeof pushSource<Row>>,
  first: number,
  durationMs: number,
  everyMs = 2,
) {
  const end = Date.now() + durationMs;
  let i = first;
  while (Date.now() < end) {
    await source.push(row(i++));
    await sleep(everyMs);
  }
  return i;
}

describe('the S3 lake under faults', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  });

  it('503 SlowDown, resets and slow responses: the adaptive window widens, then narrows; every record once', async () => {
    const server = s3Endpoint();
    const admin = s3Client(server);
    const bucket = await newBucket(admin);
    cleanups.push(() => dropBucket(admin, bucket));
    const proxy = await startFaultProxy(server.endpoint);
    cleanups.push(() => proxy.close());
    const seed = Number(process.env.MICROBATCH_FAULT_SEED ?? Date.now() % 2 ** 31);
    console.log(`S3 fault test seed: ${seed} (MICROBATCH_FAULT_SEED=${seed} repeats the first fault)`);
    const random = seededRandom(seed);
    const client = s3Client({ ...server, endpoint: proxy.endpoint }, { maxAttempts: 1 });
    const source = pushSource<Row>();
    const p = pipeline({ name: 'faults', retry: { initialDelay: 20, maxDelay: 400 } })
      .source(source)
      .eventTime((r) => r.at, { partitionBy: 'hour' })
      .trigger(triggers.adaptive({ minWindow: 100, maxWindow: 3_200, maxRecords: 50_000 }))
      .sink(parquetLakeSink<Row>({ storage: s3Storage({ client, bucket }), table: 'rows', schema: Row }))
      .build();
    const changes: (WindowChange & { phase: string })[] = [];
    let phase = 'healthy';
    p.on('window-change', (change) => changes.push({ ...change, phase }));
    const running = p.run();

    let next = await produce(source, 0, 2_000);
    // Faulty: writes (PUTs) fail or crawl, in turn: 503 SlowDown, a reset before the server sees
    // the request, a reset after it wrote the object (the retry then finds it: 412, identical), a
    // slow answer; reads and listings pass. At least 3 s and 10 faults (a loaded machine sends few PUTs).
    phase = 'faulty';
    const faults: Fault[] = [
      { kind: 'slowdown' },
      { kind: 'reset-before' },
      { kind: 'reset-after' },
      { kind: 'delay', ms: 400 },
    ];
    let turn = Math.floor(random() * faults.length);
    proxy.setPolicy((request) => (request.method === 'PUT' ? faults[turn++ % faults.length] : undefined));
    const faultyFrom = Date.now();
    while (Date.now() - faultyFrom < 3_000 || (turn < 10 && Date.now() - faultyFrom < 30_000)) {
      next = await produce(source, next, 500);
    }
    phase = 'healthy again';
    proxy.setPolicy(() => undefined);
    next = await produce(source, next, 6_000);
    source.end();
    const report = await running;
    expect(report.status).toBe('completed');

    expect(proxy.counts.slowdown).toBeGreaterThan(0);
    expect(proxy.counts['reset-before']).toBeGreaterThan(0);
    expect(proxy.counts['reset-after']).toBeGreaterThan(0);
    expect(proxy.counts.delay).toBeGreaterThan(0);
    const widened = changes.filter((c) => c.to > c.from);
    const narrowed = changes.filter((c) => c.to < c.from && c.phase === 'healthy again');
    expect(widened.length, JSON.stringify(changes)).toBeGreaterThan(0);
    expect(Math.max(...widened.map((c) => c.to))).toBeGreaterThan(100);
    expect(narrowed.length, JSON.stringify(changes)).toBeGreaterThan(0);

    expect(ids(await readLake(admin, bucket, 'rows'))).toEqual(range(next));
    expect(await openUploads(admin, bucket)).toEqual([]);
  }, 120_000);

  it('S3Proxy stopped mid-stream and started again: writes retry, nothing lost or doubled', async () => {
    const server = await startS3Proxy({ backend: 'filesystem' });
    cleanups.push(() => server.stop());
    const client = s3Client(server, { maxAttempts: 1 });
    const bucket = await newBucket(client);
    const source = pushSource<Row>();
    // The client as the storage sees it, counting the calls that failed (connection refused).
    let failures = 0;
    const counting = {
      send: (command: unknown, options?: { abortSignal?: AbortSignal }) =>
        client.send(command as never, options).catch((error: unknown) => {
          failures++;
          throw error;
        }),
    };
    const p = pipeline({ name: 'restart', retry: { initialDelay: 50, maxDelay: 500 } })
      .source(source)
      .eventTime((r) => r.at, { partitionBy: 'hour' })
      .trigger(triggers.time('100ms'))
      .sink(
        parquetLakeSink<Row>({
          storage: s3Storage({ client: counting, bucket }),
          table: 'rows',
          schema: Row,
        }),
      )
      .build();
    const running = p.run();
    let next = await produce(source, 0, 1_500);
    await server.halt();
    // Records keep coming while the server is down: they wait in the buffer, writes retry.
    next = await produce(source, next, 2_000);
    await server.restart();
    next = await produce(source, next, 1_500);
    source.end();
    const report = await running;
    expect(report.status).toBe('completed');
    expect(failures).toBeGreaterThan(0);
    expect(ids(await readLake(client, bucket, 'rows'))).toEqual(range(next));
    expect(await openUploads(client, bucket)).toEqual([]);
  }, 180_000);
});
