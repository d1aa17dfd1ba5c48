/**
 * `tsx bench/kafka/replay.ts <raw|raw-keep|microbatch|microbatch-discard|microbatch-lake> [records] [repeat]`: the Kafka
 * benchmark's workload without a broker, for measuring microbatch's own cost per message. A stub
 * consumer hands `eachBatch` pre-built batches shaped as kafkajs 2.2.4 builds them (offsets and
 * timestamps as decimal strings, values as slices of one buffer per fetch, empty headers, 12,800
 * messages per partition per fetch), as fast as they are taken; pausing is honoured. Prints the
 * wall time, the main thread's CPU (Node ≥ 23.9) and the process's CPU from the first batch to the
 * last record read (raw) or written and committed (microbatch, drained at the end).
 *
 * Not part of `npm run bench`: with no broker and no network on the second core, its figures are
 * stable to a few per cent, which the end-to-end benchmark is not, so it is the tool for checking a
 * change to the source or the ingest. docs/kafka.md ("Where the time goes") quotes it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { kafkaSource } from '../../src/kafka/index.js';
import type {
  KafkaConsumerLike,
  KafkaEachBatchPayloadLike,
  KafkaMessageLike,
} from '../../src/kafka/types.js';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { triggers } from '../../src/triggers/index.js';
import { threadCpuUsage } from '../lib/cpu.js';
import { BATCH_RECORDS, PARTITIONS, Price, price, RECORDS, WINDOW_MS } from './workload.js';

const VARIANTS = ['raw', 'raw-keep', 'microbatch', 'microbatch-discard', 'microbatch-lake'] as const;
type Variant = (typeof VARIANTS)[number];
const TOPIC = 'replay';
/** Messages per partition per fetch: what kafkajs hands over with its default 1 MiB per partition. */
const PER_FETCH = 12_800;

/** The fetches, in the order a consumer of all partitions would get them. */
function buildFetches(records: number): { partition: number; messages: KafkaMessageLike[] }[] {
  const perPartition: Buffer[][] = Array.from({ length: PARTITIONS }, () => []);
  for (let i = 0; i < records; i++) perPartition[i % PARTITIONS]!.push(Buffer.from(JSON.stringify(price(i))));
  const fetches: { partition: number; messages: KafkaMessageLike[] }[] = [];
  const timestamp = Date.now();
  for (let from = 0; ; from += PER_FETCH) {
    let any = false;
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const values = perPartition[partition]!.slice(from, from + PER_FETCH);
      if (values.length === 0) continue;
      any = true;
      // One buffer per fetch, values as views into it, as kafkajs decodes a fetch response.
      const whole = Buffer.concat(values);
      let at = 0;
      const messages = values.map((value, k) => {
        const view = whole.subarray(at, at + value.length);
        at += value.length;
        return {
          key: null,
          value: view,
          timestamp: String(timestamp + Math.floor((from + k) / 50)),
          offset: String(from + k),
          headers: {},
        };
      });
      fetches.push({ partition, messages });
    }
    if (!any) return fetches;
  }
}

/** A consumer that replays `fetches` through `eachBatch` as fast as they are taken. */
function replayConsumer(
  fetches: { partition: number; messages: KafkaMessageLike[] }[],
  handedOver: () => void,
): KafkaConsumerLike {
  const listeners = new Map<string, ((event: { payload?: unknown }) => void)[]>();
  const paused = new Set<number>();
  let running = false;
  const emit = (event: string, payload: unknown) => {
    for (const listener of listeners.get(event) ?? []) listener({ payload });
  };
  return {
    async subscribe() {},
    async run({ eachBatch }) {
      running = true;
      const assignment = { [TOPIC]: Array.from({ length: PARTITIONS }, (_, p) => p) };
      emit('consumer.group_join', { memberAssignment: assignment });
      void (async () => {
        for (const fetch of fetches) {
          while (paused.has(fetch.partition) && running) await new Promise((r) => setImmediate(r));
          if (!running) return;
          const payload: KafkaEachBatchPayloadLike = {
            batch: { topic: TOPIC, partition: fetch.partition, messages: fetch.messages },
            resolveOffset() {},
            async heartbeat() {},
            isRunning: () => running,
            isStale: () => false,
          };
          await eachBatch!(payload);
          // kafkajs awaits the next fetch response: at least one turn of the event loop.
          await new Promise((r) => setImmediate(r));
        }
        handedOver();
      })();
    },
    async commitOffsets() {},
    seek() {},
    pause(topics) {
      for (const { partitions } of topics) for (const p of partitions ?? []) paused.add(p);
    },
    resume(topics) {
      for (const { partitions } of topics) for (const p of partitions ?? []) paused.delete(p);
    },
    on(event, listener) {
      const list = listeners.get(event) ?? [];
      list.push(listener);
      listeners.set(event, list);
      return () => {};
    },
    async stop() {
      running = false;
    },
    async disconnect() {
      running = false;
    },
  };
}

function threadCpuMs(): number | undefined {
  const usage = threadCpuUsage();
  return usage === undefined ? undefined : (usage.user + usage.system) / 1000;
}

function processCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

async function runRaw(fetches: ReturnType<typeof buildFetches>, keep: boolean): Promise<number> {
  let records = 0;
  let sink: unknown;
  const kept: unknown[][] = [];
  const lanes: unknown[][] = [];
  for (const { partition, messages } of fetches) {
    if (keep) {
      const lane = (lanes[partition] ??= []);
      for (const message of messages) {
        lane.push(JSON.parse(message.value!.toString('utf8')));
        if (lane.length >= BATCH_RECORDS) {
          kept.push(lane.splice(0));
        }
      }
    } else for (const message of messages) sink = JSON.parse(message.value!.toString('utf8'));
    records += messages.length;
    await new Promise((r) => setImmediate(r));
  }
  void sink;
  void kept;
  return records;
}

async function runMicrobatch(fetches: ReturnType<typeof buildFetches>, sink: Sink<unknown>): Promise<number> {
  let drain: () => void = () => {};
  const consumer = replayConsumer(fetches, () => drain());
  const source = kafkaSource({ consumer, topics: [TOPIC], fromBeginning: true });
  const p = pipeline({ name: 'replay' })
    .source(source)
    .trigger(triggers.any(triggers.time(WINDOW_MS), triggers.volume({ records: BATCH_RECORDS })))
    .sink(sink)
    .build();
  // Drain once every message was handed over, as the end-to-end benchmark does.
  let stopping: ReturnType<typeof p.stop> | undefined;
  drain = () => {
    stopping ??= p.stop();
  };
  const report = await p.run();
  await stopping;
  return report.records.written;
}

/** The sink of a microbatch variant, and what removes what it wrote (the lake's temporary directory). */
async function sinkFor(variant: Variant): Promise<{ sink: Sink<unknown>; dispose: () => Promise<void> }> {
  const none = async () => {};
  if (variant === 'microbatch') return { sink: memorySink(), dispose: none };
  if (variant === 'microbatch-discard') return { sink: { kind: 'discard', write() {} }, dispose: none };
  const dir = await mkdtemp(join(tmpdir(), 'mb-replay-'));
  return {
    sink: parquetLakeSink({ dir, table: 'prices', schema: Price }),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

async function main(): Promise<void> {
  const variant = process.argv[2] as Variant;
  const records = Number(process.argv[3] ?? RECORDS);
  const repeat = Number(process.argv[4] ?? 1);
  if (!VARIANTS.includes(variant) || !(repeat >= 1)) {
    throw new Error(`usage: replay.ts <${VARIANTS.join('|')}> [records] [repeat]`);
  }
  const fetches = buildFetches(records);
  // Repeats in one process (JIT warm, the same heap): the fastest is the least disturbed.
  for (let round = 1; round <= repeat; round++) {
    // Settle what building the workload (or the last round) left behind before the clock starts.
    (globalThis as { gc?: () => void }).gc?.();
    const { sink, dispose } = await sinkFor(variant);
    const startedAt = performance.now();
    const thread0 = threadCpuMs();
    const cpu0 = processCpuMs();
    const written =
      variant === 'raw' || variant === 'raw-keep'
        ? await runRaw(fetches, variant === 'raw-keep')
        : await runMicrobatch(fetches, sink);
    const wallMs = performance.now() - startedAt;
    const thread1 = threadCpuMs();
    const cpuMs = processCpuMs() - cpu0;
    await dispose();
    if (written !== records) throw new Error(`${variant}: ${written} records written of ${records}`);
    process.stdout.write(
      `${JSON.stringify({
        variant,
        records,
        round,
        wallMs: Math.round(wallMs),
        threadCpuMs: thread0 === undefined || thread1 === undefined ? null : Math.round(thread1 - thread0),
        cpuMs: Math.round(cpuMs),
        recordsPerSecond: Math.round(records / (wallMs / 1000)),
        peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      })}\n`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
