/**
 * The client's ceiling: kafkajs `eachBatch` with `JSON.parse` of each message's value and nothing
 * else — no buffering, no sink, no commits. The last offset of each fetched batch is resolved (so
 * kafkajs fetches on) and `heartbeat()` runs after each batch, as in every other variant. Done when
 * every partition has been read up to its end offset.
 *
 * `hold` measures what keeping the values costs, without any batching logic: `'keep'` (the
 * `raw-keep` row) appends them to a per-partition array and keeps every array of 10,000 to the end,
 * as `memorySink` keeps what it is written; `'batch'` (profiling only, `MB_BENCH_HOLD=batch`) drops
 * each array once full, as a sink that writes elsewhere would. See docs/kafka.md ("Where the time goes").
 */
import { performance } from 'node:perf_hooks';
import type { Consumer } from 'kafkajs';
import { BATCH_RECORDS } from './workload.js';

/**
 * Reads `topic` to `ends` (its end offsets) on a connected consumer; resolves with the messages
 * parsed and when the last one was (`performance.now()`). The consumer is stopped afterwards.
 */
export async function runRaw(
  consumer: Consumer,
  topic: string,
  ends: number[],
  hold: 'none' | 'batch' | 'keep' = 'none',
): Promise<{ records: number; batches: number; committedAt: number; cpuAt: NodeJS.CpuUsage }> {
  const read = ends.map(() => 0);
  let records = 0;
  let batches = 0;
  let doneAt = performance.now();
  let cpuAt = process.cpuUsage();
  let failed: (error: unknown) => void = () => {};
  let finished: () => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finished = () => {
      doneAt = performance.now();
      cpuAt = process.cpuUsage();
      resolve();
    };
    failed = reject;
  });
  if (ends.every((end) => end === 0)) finished();
  // Keeps the parsed values reachable until the batch ends, as a consumer that uses them would.
  let sink: unknown;
  const held: unknown[][] = [];
  const kept: unknown[][] = [];
  consumer.on(consumer.events.CRASH, ({ payload }) => failed(payload.error));
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      const { messages } = batch;
      if (messages.length === 0) return;
      if (hold !== 'none') {
        const lane = (held[batch.partition] ??= []);
        for (const message of messages) {
          lane.push(JSON.parse(message.value!.toString('utf8')));
          if (lane.length >= BATCH_RECORDS) {
            if (hold === 'keep') kept.push(lane);
            held[batch.partition] = [];
          }
        }
      } else for (const message of messages) sink = JSON.parse(message.value!.toString('utf8'));
      records += messages.length;
      batches++;
      const last = messages[messages.length - 1]!.offset;
      resolveOffset(last);
      read[batch.partition] = Number(last) + 1;
      if (read.every((offset, p) => offset >= ends[p]!)) finished();
      await heartbeat();
    },
  });
  try {
    await done;
  } finally {
    await consumer.stop();
  }
  void sink;
  void kept;
  return { records, batches, committedAt: doneAt, cpuAt };
}
