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
 * Runs the pipeline until every partition of `topic` is committed up to `ends`, then stops it and
 * resolves with what it wrote, when the last commit landed (`performance.now()`) and its guarantee.
 * The source disconnects the consumer. With `onRead`, the worker calls the function it is given
 * once the whole topic was handed over: `pipeline.stop()` then drains at once (flushes every open
 * window, writes, commits); without it the last windows close on their 1 s timer.
 */
export async function runMicrobatch(
  consumer: Consumer,
  admin: Admin,
  groupId: string,
  topic: string,
  ends: number[],
  sink: Sink<unknown>,
  onRead?: (drain: () => void) => void,
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
  let stopping: ReturnType<typeof p.stop> | undefined;
  onRead?.(() => {
    stopping ??= p.stop();
  });
  if (process.env.MB_BENCH_TRACE === '1') traceBackPressure(p, source, done);
  // A failure ends the run at once rather than waiting for commits that will not come.
  await Promise.race([done, running]);
  const report = await (stopping ?? p.stop());
  await running;
  return { records: report.records.written, batches, committedAt, cpuAt, guarantee: report.guarantee };
}

/**
 * `MB_BENCH_TRACE=1` (profiling, not part of the benchmark): samples the source every 5 ms and
 * prints, on stderr, how often its partitions were paused, how often the pipeline paused on its
 * memory budget, and the most bytes queued in front of it.
 */
function traceBackPressure(
  p: { on(event: 'pause', listener: (event: unknown) => void): unknown },
  source: { metrics(): { paused: boolean; queued: { bytes: number } } },
  done: Promise<void>,
): void {
  let sourcePauses = 0;
  let pipelinePauses = 0;
  let paused = false;
  let maxQueued = 0;
  p.on('pause', () => {
    pipelinePauses++;
  });
  const timer = setInterval(() => {
    const m = source.metrics();
    maxQueued = Math.max(maxQueued, m.queued.bytes);
    if (m.paused && !paused) sourcePauses++;
    paused = m.paused;
  }, 5);
  void done.then(() => {
    clearInterval(timer);
    process.stderr.write(
      `source pauses ${sourcePauses}, pipeline pauses ${pipelinePauses}, most bytes queued ${maxQueued}\n`,
    );
  });
}
