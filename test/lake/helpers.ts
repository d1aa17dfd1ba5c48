/** Helpers for the lake tests: a sink context, batches with event times, and a recursive listing. */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type Batch, batchId } from '../../src/core/batch.js';
import { silentLogger } from '../../src/core/logger.js';
import type { BucketUnit } from '../../src/event-time/buckets.js';
import type { SinkContext, WriteOptions } from '../../src/sinks/types.js';
import { testClock } from '../../src/testing/clock.js';

export const HOUR = 3_600_000;
export const T14 = Date.UTC(2026, 10, 25, 14, 0, 0); // 2026-11-25T14:00Z

/** A context as a pipeline named `pipeline` would give, with event time partitioned by `unit`. */
export function sinkContext(unit?: BucketUnit, pipeline = 'unit', now = T14 + 5 * HOUR): SinkContext {
  return {
    pipeline,
    clock: testClock(now),
    logger: silentLogger,
    ...(unit === undefined ? {} : { eventTime: { partitionBy: unit, allowedLateness: 0 } }),
  };
}

/** A batch of `records` at offsets `first…` with the given event times. */
export function timedBatch<T>(records: T[], eventTimes: number[], first = 0, pipeline = 'unit'): Batch<T> {
  return {
    id: batchId(pipeline, '0', first, first + records.length - 1),
    partition: '0',
    firstOffset: first,
    lastOffset: first + records.length - 1,
    records,
    eventTimes,
    bytes: 0,
    reason: 'time',
    openedAt: T14 + 4 * HOUR,
    closedAt: T14 + 4 * HOUR,
  };
}

/** Every file under `dir`, as sorted paths relative to it (with `/`). */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

export const writeOptions = (signal: AbortSignal = new AbortController().signal): WriteOptions => ({
  signal,
  attempt: 1,
});
