/**
 * The baseline: the kafkajs `eachBatch` loop a user would write without microbatch. Per partition it
 * buffers parsed messages and flushes at 10,000 records or 1 s after the buffer's first record; a
 * flush writes the batch to the sink, then commits `last + 1` (at-least-once: a crash between the
 * two writes the batch again). The last buffered offset is resolved once per fetched batch, so
 * kafkajs fetches on (per message costs ~7% of the CPU in kafkajs's offset bookkeeping), and
 * `heartbeat()` runs after every fetched batch. A flush is awaited inside `eachBatch`, so a slow
 * sink holds the fetching back.
 */
import { performance } from 'node:perf_hooks';
import type { Consumer } from 'kafkajs';
import type { Batch } from '../../src/core/batch.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Sink } from '../../src/sinks/types.js';
import { BATCH_RECORDS, WINDOW_MS } from './workload.js';

/** One partition's buffer. */
interface Lane {
  records: unknown[];
  firstOffset: number;
  lastOffset: number;
  bytes: number;
  openedAt: number;
  /** The flushes of this partition, in order: a write and its commit each. */
  chain: Promise<void>;
}

/**
 * Runs the loop on a connected consumer until every partition of `topic` is committed up to
 * `ends` (its end offsets); resolves with the records and batches written and when the last commit
 * landed (`performance.now()`). The consumer is stopped afterwards, not disconnected. With
 * `onRead`, the worker calls the function it is given once the whole topic was handed over, and
 * every buffer is flushed at once.
 */
export async function runHand(
  consumer: Consumer,
  topic: string,
  ends: number[],
  sink: Sink<unknown>,
  onRead?: (drain: () => void) => void,
): Promise<{ records: number; batches: number; committedAt: number; cpuAt: NodeJS.CpuUsage }> {
  await sink.open?.({ pipeline: 'bench', clock: systemClock, logger: silentLogger });
  const lanes = new Map<number, Lane>();
  const committed = ends.map(() => 0);
  let records = 0;
  let batches = 0;
  let committedAt = performance.now();
  let cpuAt = process.cpuUsage();
  let failed: (error: unknown) => void = () => {};
  let finished: () => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finished = () => {
      committedAt = performance.now();
      cpuAt = process.cpuUsage();
      resolve();
    };
    failed = reject;
  });
  if (ends.every((end) => end === 0)) finished();

  const flush = (partition: number, lane: Lane): Promise<void> => {
    if (lane.records.length === 0) return lane.chain;
    const batch: Batch<unknown> = {
      id: `bench.${topic}-${partition}.${lane.firstOffset}-${lane.lastOffset}`,
      partition: `${topic}-${partition}`,
      firstOffset: lane.firstOffset,
      lastOffset: lane.lastOffset,
      records: lane.records,
      bytes: lane.bytes,
      reason: lane.records.length >= BATCH_RECORDS ? 'records' : 'time',
      openedAt: lane.openedAt,
      closedAt: Date.now(),
    };
    lane.records = [];
    lane.bytes = 0;
    lane.chain = lane.chain.then(async () => {
      await sink.write(batch, { signal: new AbortController().signal, attempt: 1 });
      await consumer.commitOffsets([{ topic, partition, offset: String(batch.lastOffset + 1) }]);
      records += batch.records.length;
      batches++;
      committed[partition] = batch.lastOffset + 1;
      if (committed.every((offset, p) => offset >= ends[p]!)) finished();
    });
    lane.chain.catch(failed);
    return lane.chain;
  };

  // The 1 s window of a buffer that no new message comes to check.
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [partition, lane] of lanes) {
      if (lane.records.length > 0 && now - lane.openedAt >= WINDOW_MS) void flush(partition, lane);
    }
  }, 50);

  // The topic is read: flush every buffer now rather than when its window closes.
  onRead?.(() => {
    for (const [partition, lane] of lanes) void flush(partition, lane);
  });

  consumer.on(consumer.events.CRASH, ({ payload }) => failed(payload.error));
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { partition } = batch;
      let lane = lanes.get(partition);
      if (lane === undefined) {
        lane = {
          records: [],
          firstOffset: 0,
          lastOffset: 0,
          bytes: 0,
          openedAt: 0,
          chain: Promise.resolve(),
        };
        lanes.set(partition, lane);
      }
      let taken: string | undefined;
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        const offset = Number(message.offset);
        if (lane.records.length === 0) {
          lane.firstOffset = offset;
          lane.openedAt = Date.now();
        }
        lane.records.push(JSON.parse(message.value!.toString('utf8')));
        lane.lastOffset = offset;
        lane.bytes += message.value!.length;
        taken = message.offset;
        if (lane.records.length >= BATCH_RECORDS || Date.now() - lane.openedAt >= WINDOW_MS) {
          await flush(partition, lane);
        }
      }
      // Resolving moves the fetch position only; one call per batch (kafkajs resolves per call).
      if (taken !== undefined) resolveOffset(taken);
      await heartbeat();
    },
  });
  try {
    await done;
  } finally {
    clearInterval(timer);
    await consumer.stop();
  }
  return { records, batches, committedAt, cpuAt };
}
