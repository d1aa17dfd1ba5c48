/**
 * microbatch's side: `kafkaSource` → pipeline (10,000 records or a 1 s window per partition) → the
 * sink, exactly-once with `kafkaCheckpoint` (plans and offsets in the group's commit metadata).
 */
import { performance } from 'node:perf_hooks';
import type { Admin, Consumer } from 'kafkajs';
import { kafkaCheckpoint, kafkaSource } from '../../src/kafka/index.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { Sink } from '../../src/sinks/types.js';
import { triggers } from '../../src/triggers/index.js';
import { BATCH_RECORDS, WINDOW_MS } from './workload.js';

/**
 * Runs the pipeline until every partition of `topic` is committed up to `ends`, then stops it
 * (nothing is left to drain) and resolves with what it wrote, when the last commit landed
 * (`performance.now()`) and its guarantee. The source disconnects the consumer.
 */
export async function runMicrobatch(
  consumer: Consumer,
  admin: Admin,
  groupId: string,
  topic: string,
  ends: number[],
  sink: Sink<unknown>,
): Promise<{
  records: number;
  batches: number;
  committedAt: number;
  cpuAt: NodeJS.CpuUsage;
  guarantee: string;
}> {
  const source = kafkaSource({ consumer, topics: [topic], fromBeginning: true });
  const p = pipeline({ name: 'bench', checkpoint: kafkaCheckpoint({ consumer, admin, groupId }) })
    .source(source)
    .trigger(triggers.any(triggers.time(WINDOW_MS), triggers.volume({ records: BATCH_RECORDS })))
    .sink(sink)
    .build();
  const committed = ends.map(() => 0);
  let batches = 0;
  let committedAt = performance.now();
  let cpuAt = process.cpuUsage();
  let finished: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finished = () => {
      committedAt = performance.now();
      cpuAt = process.cpuUsage();
      resolve();
    };
  });
  if (ends.every((end) => end === 0)) finished();
  p.on('write', () => {
    batches++;
  });
  p.on('commit', ({ partition, offset }) => {
    committed[Number(partition.slice(topic.length + 1))] = offset + 1;
    if (committed.every((next, k) => next >= ends[k]!)) finished();
  });
  const running = p.run();
  if (process.env.MB_BENCH_TRACE === '1') {
    let sp = 0,
      pp = 0,
      was = false,
      maxQ = 0;
    const t0 = performance.now();
    p.on('pause', (e) => {
      pp++;
      process.stderr.write(`pipeline pause @${(performance.now() - t0).toFixed(0)} ${JSON.stringify(e)}\n`);
    });
    const iv = setInterval(() => {
      const m = source.metrics();
      maxQ = Math.max(maxQ, m.queued.bytes);
      if (m.paused && !was) sp++;
      was = m.paused;
    }, 5);
    void done.then(() => {
      clearInterval(iv);
      process.stderr.write(`source pauses ${sp}, pipeline pauses ${pp}, max queued ${maxQ}\n`);
    });
  }
  // A failure ends the run at once rather than waiting for commits that will not come.
  await Promise.race([done, running]);
  const report = await p.stop();
  await running;
  return { records: report.records.written, batches, committedAt, cpuAt, guarantee: report.guarantee };
}
