/**
 * The client's ceiling: kafkajs `eachBatch` with `JSON.parse` of each message's value and nothing
 * else — no buffering, no sink, no commits. The last offset of each fetched batch is resolved (so
 * kafkajs fetches on) and `heartbeat()` runs after each batch, as in every other variant. Done when
 * every partition has been read up to its end offset.
 *
 * For profiling what batching costs (not a row of the benchmark): `MB_BENCH_HOLD=batch` keeps the
 * parsed values in a per-partition array until it holds 10,000 and then drops it, as a batching
 * consumer holds them until its write; `MB_BENCH_HOLD=keep` keeps every full array, as `memorySink`
 * keeps what it is written. See docs/kafka.md ("Where the time goes").
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
  const hold = process.env.MB_BENCH_HOLD;
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
      if (hold) {
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
