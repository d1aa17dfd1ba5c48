/**
 * Kafka benchmark (issues 7 and 20): reading a topic of 1,000,000 small JSON messages (6 partitions)
 * into a sink, from the first fetched batch until every partition's end offset is committed:
 *
 * - `raw`: the client's ceiling, kafkajs `eachBatch` with `JSON.parse` per message and nothing else
 *   (raw.ts; no sink, no commits: done when every message was parsed);
 * - `raw-keep`: the same, keeping every parsed value to the end as `memorySink` does (what holding
 *   the records costs by itself, for the profile in docs/kafka.md);
 * - `hand`: the kafkajs `eachBatch` loop a user would write (hand.ts), into `memorySink`,
 *   at-least-once;
 * - `microbatch`: `kafkaSource` → pipeline → `memorySink`, exactly-once with `kafkaCheckpoint`;
 * - `microbatch-lake`: the same into `parquetLakeSink` (zstd Parquet files on local disk);
 * - `hand-lake`: the hand loop into the same Parquet lake sink;
 * - `microbatch-wait`: `microbatch`, but its last windows close on their 1 s timer.
 *
 * Every batching variant flushes a partition at 10,000 records or 1 s, and drains (flushes what it
 * buffers at once, as `pipeline.stop()` does) when kafkajs has handed over every partition's last
 * message — all but `microbatch-wait`, the measure before: in a 3 s run its last 1 s windows are a
 * quarter of the time, a wait that an endless stream never pays at its end. Each runs in a fresh process (its own
 * peak RSS) with a fresh consumer group reading from the beginning; runs are interleaved, and the
 * median is shown. Goals: microbatch ≥ 0.8× the raw loop (into `memorySink`) and ≥ 0.6× (into the
 * lake), exactly-once; its peak RSS not above 470 MiB; and still ≥ 0.9× the hand loop.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Admin, Kafka } from 'kafkajs';
import { type KafkaBroker, startKafka } from '../../test/infra/kafka/broker.js';
import {
  createTopic,
  endOffsets,
  kafkaFor,
  produceJson,
  producerFor,
} from '../../test/integration/kafka/helpers.js';
// Brings in the `inject('kafkaBrokers')` typing helpers.ts relies on (no runtime import).
import type {} from '../../test/integration/kafka/setup.js';
import { runWorker } from '../lib/child.js';
import { median } from '../lib/stats.js';
import {
  BATCH_RECORDS,
  KAFKA_VARIANTS,
  type KafkaRunResult,
  type KafkaVariant,
  PARTITIONS,
  price,
  QUICK_RECORDS,
  RECORDS,
} from './workload.js';

/**
 * The heading of this benchmark's section in bench/RESULTS.md: one section per Node major, so that
 * a run on Node 24 does not replace the Node 20 figures.
 */
export const KAFKA_HEADING = `## Kafka source: microbatch vs the raw client and a hand-written loop (Node ${process.versions.node.split('.')[0]})`;

/** Issue 7's goal: microbatch's throughput over the hand loop's, at least. */
export const KAFKA_GOAL = 0.9;
/** Issue 20's goals: microbatch's throughput over the raw client loop's, at least (memory, lake). */
export const KAFKA_RAW_GOAL = 0.8;
export const KAFKA_RAW_LAKE_GOAL = 0.6;
/** Issue 20: microbatch → memorySink's peak RSS before it, MiB (not to be exceeded). */
export const KAFKA_RSS_GOAL_MIB = 470;

const LABELS: Record<KafkaVariant, string> = {
  raw: "raw kafkajs `eachBatch` + `JSON.parse` per message, nothing else (the client's ceiling)",
  'raw-keep': 'the raw loop keeping every parsed value to the end, as `memorySink` keeps them (diagnostic)',
  hand: 'hand-written kafkajs `eachBatch` loop → `memorySink` (at-least-once)',
  microbatch: '`kafkaSource` → pipeline → `memorySink`, exactly-once (`kafkaCheckpoint`)',
  'microbatch-lake': '`kafkaSource` → pipeline → `parquetLakeSink`, exactly-once (`kafkaCheckpoint`)',
  'hand-lake': 'hand-written loop → `parquetLakeSink` (at-least-once)',
  'microbatch-wait':
    '`kafkaSource` → pipeline → `memorySink`, exactly-once, the last 1 s windows waited out (as measured before: an endless stream never drains)',
};

/** What {@link kafkaBench} measured, for bench/.out/results.json. */
export interface KafkaRaw {
  date: string;
  records: number;
  partitions: number;
  rounds: number;
  /** Where the broker came from: `startKafka()` or `MICROBATCH_KAFKA_BROKERS`/the caller. */
  broker: 'started' | 'given';
  produceSeconds: number;
  variants: Record<
    KafkaVariant,
    {
      runs: KafkaRunResult[];
      recordsPerSecond: number;
      peakRss: number;
      baselineRss: number;
      /** Median of `elapsedMs − readMs`: the last windows, writes and commits after the last fetch. */
      tailMs: number;
      cpuMs: number;
      /** Records per second of the read phase (first fetched batch → every last message handed over). */
      readRecordsPerSecond: number;
      readCpuMs: number;
      /** Median event-loop utilisation of the main thread over the read phase (0–1). */
      readElu: number | undefined;
      /** Median CPU of the main thread over the read phase, ms (Node ≥ 23.9). */
      readThreadCpuMs: number | undefined;
    }
  >;
}

/** Options of {@link kafkaBench}. */
export interface KafkaBenchOptions {
  /** 100,000 messages and one run per variant (for checking the harness), instead of 1,000,000 and 3. */
  quick: boolean;
  /**
   * Bootstrap brokers to use. @default `MICROBATCH_KAFKA_BROKERS` (comma-separated) when set, else a
   * broker started for the run with `startKafka()` and stopped at the end
   */
  brokers?: string[];
}

/**
 * Runs the benchmark: produces the topic once, then every variant in a fresh child process per run,
 * interleaved. Returns the section of bench/RESULTS.md, the goal rows and the raw numbers.
 */
export async function kafkaBench(options: KafkaBenchOptions): Promise<{
  section: string[];
  goals: { goal: string; value: string; pass: boolean }[];
  raw: KafkaRaw;
}> {
  const { quick } = options;
  const records = quick ? QUICK_RECORDS : RECORDS;
  const rounds = quick ? 1 : 5;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const date = new Date();
  const loadBefore = os.loadavg();
  /** The 1-minute load average as each run starts. */
  const loads: number[] = [];

  const given =
    options.brokers ??
    process.env.MICROBATCH_KAFKA_BROKERS?.split(',')
      .map((b) => b.trim())
      .filter((b) => b !== '');
  let broker: KafkaBroker | undefined;
  if (given === undefined || given.length === 0) {
    log('  kafka: starting a broker (startKafka)…');
    broker = await startKafka();
  }
  const brokers = given !== undefined && given.length > 0 ? given : broker!.brokers;
  try {
    const kafka = kafkaFor(brokers, 'mb-bench');
    const admin = kafka.admin();
    await admin.connect();
    let topic: string;
    let produceSeconds: number;
    try {
      ({ topic, produceSeconds } = await produce(kafka, admin, records));
    } finally {
      await admin.disconnect();
    }
    log(`  kafka: produced ${int(records)} messages to ${topic} in ${produceSeconds.toFixed(1)} s`);

    const runs = Object.fromEntries(KAFKA_VARIANTS.map((v) => [v, [] as KafkaRunResult[]])) as Record<
      KafkaVariant,
      KafkaRunResult[]
    >;
    for (let round = 1; round <= rounds; round++) {
      // Rotate which variant goes first, so a noisy minute does not always hit the same one.
      for (let k = 0; k < KAFKA_VARIANTS.length; k++) {
        const variant = KAFKA_VARIANTS[(round - 1 + k) % KAFKA_VARIANTS.length]!;
        loads.push(os.loadavg()[0]!);
        const result = await runWorker<KafkaRunResult>('bench/kafka/worker.ts', [
          variant,
          brokers.join(','),
          topic,
        ]);
        runs[variant].push(result);
        log(
          `  kafka ${round}/${rounds} ${variant.padEnd(16)} ${int(result.recordsPerSecond).padStart(9)} records/s  ` +
            `peak RSS ${mib(result.peakRss)} MiB  ${result.batches} batches  ${result.guarantee}`,
        );
      }
    }
    const variants = Object.fromEntries(
      KAFKA_VARIANTS.map((v) => [
        v,
        {
          runs: runs[v],
          recordsPerSecond: median(runs[v].map((r) => r.recordsPerSecond)),
          peakRss: median(runs[v].map((r) => r.peakRss)),
          baselineRss: median(runs[v].map((r) => r.baselineRss)),
          tailMs: median(runs[v].map((r) => r.elapsedMs - r.readMs)),
          cpuMs: median(runs[v].map((r) => r.cpuMs)),
          readRecordsPerSecond: median(runs[v].map((r) => r.records / (r.readMs / 1000))),
          readCpuMs: median(runs[v].map((r) => r.readCpuMs)),
          readElu: medianOf(runs[v].map((r) => r.readElu)),
          readThreadCpuMs: medianOf(runs[v].map((r) => r.readThreadCpuMs)),
        },
      ]),
    ) as KafkaRaw['variants'];
    const raw: KafkaRaw = {
      date: date.toISOString(),
      records,
      partitions: PARTITIONS,
      rounds,
      broker: broker === undefined ? 'given' : 'started',
      produceSeconds,
      variants,
    };
    const goalRows = goals(raw);
    return { section: section(raw, goalRows, quick, loadBefore, loads), goals: goalRows, raw };
  } finally {
    await broker?.stop();
  }
}

/** Creates the topic and produces `records` messages to it; returns its name and how long it took. */
async function produce(
  kafka: Kafka,
  admin: Admin,
  records: number,
): Promise<{ topic: string; produceSeconds: number }> {
  const topic = await createTopic(admin, 'bench', PARTITIONS);
  const producer = producerFor(kafka);
  await producer.connect();
  const started = performance.now();
  try {
    await produceJson(producer, topic, PARTITIONS, records, (i) => price(i));
  } finally {
    await producer.disconnect();
  }
  const produceSeconds = (performance.now() - started) / 1000;
  const ends = await endOffsets(admin, topic);
  const total = ends.reduce((sum, end) => sum + end, 0);
  if (total !== records) throw new Error(`topic ${topic} holds ${total} messages, expected ${records}`);
  return { topic, produceSeconds };
}

/** The median of the values a run reported, if every run reported one. */
function medianOf(values: (number | undefined)[]): number | undefined {
  return values.every((x) => x !== undefined) && values.length > 0 ? median(values as number[]) : undefined;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

function goals(raw: KafkaRaw): { goal: string; value: string; pass: boolean }[] {
  const v = raw.variants;
  // The same round ran both within a minute: its ratio shows less of the machine's drift.
  const paired = (ours: KafkaVariant, base: KafkaVariant) =>
    v[ours].runs.map((run, k) => run.recordsPerSecond / v[base].runs[k]!.recordsPerSecond);
  const ratioRow = (ours: KafkaVariant, base: KafkaVariant, goal: number, label: string) => {
    const ratio = v[ours].recordsPerSecond / v[base].recordsPerSecond;
    const exactlyOnce = v[ours].runs.every((r) => r.guarantee === 'exactly-once');
    return {
      goal: `Kafka: ${label} ≥ ${goal}×`,
      value:
        `${ratio.toFixed(2)}× (${int(v[ours].recordsPerSecond)} vs ${int(v[base].recordsPerSecond)} records/s; ` +
        `per round ${paired(ours, base)
          .map((r) => `${r.toFixed(2)}×`)
          .join(', ')})` +
        (exactlyOnce ? '' : '; the pipeline did not report exactly-once'),
      pass: ratio >= goal && exactlyOnce,
    };
  };
  const rss = v.microbatch.peakRss / 1024 / 1024;
  return [
    ratioRow(
      'microbatch',
      'raw',
      KAFKA_RAW_GOAL,
      'kafkaSource → memorySink (exactly-once) over the raw kafkajs loop',
    ),
    ratioRow(
      'microbatch-lake',
      'raw',
      KAFKA_RAW_LAKE_GOAL,
      'kafkaSource → parquetLakeSink (exactly-once) over the raw kafkajs loop',
    ),
    {
      goal: `Kafka: kafkaSource → memorySink peak RSS ≤ ${KAFKA_RSS_GOAL_MIB} MiB (before issue 20)`,
      value: `${rss.toFixed(0)} MiB (runs ${v.microbatch.runs.map((r) => mib(r.peakRss)).join(', ')})`,
      pass: rss <= KAFKA_RSS_GOAL_MIB,
    },
    ratioRow(
      'microbatch',
      'hand',
      KAFKA_GOAL,
      'microbatch (exactly-once) over the hand-written kafkajs loop (issue 7)',
    ),
  ];
}

function section(
  raw: KafkaRaw,
  goalRows: { goal: string; value: string; pass: boolean }[],
  quick: boolean,
  loadBefore: number[],
  loads: number[],
): string[] {
  const cached = /[\\/](\.cache[\\/]node[\\/][^\\/]+[\\/]package[\\/]bin)[\\/]node$/.exec(process.execPath);
  const command = `${cached === null ? '' : `PATH=${cached[1]}:$PATH `}npx tsx bench/kafka/run.ts${quick ? ' --quick' : ''}`;
  const cpus = os.cpus();
  const ceiling = raw.variants.raw.recordsPerSecond;
  const hand = raw.variants.hand.recordsPerSecond;
  const handLake = raw.variants['hand-lake'].recordsPerSecond;
  const lines = [
    KAFKA_HEADING,
    '',
    `${raw.date.slice(0, 16).replace('T', ' ')} UTC · ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ` +
      `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB · Node ${process.version} · load average before ` +
      `${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} · ` +
      `1-min load at each run's start ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (median ${median(loads).toFixed(1)}) · ` +
      `\`${command}\``,
    '',
    `A topic of ${int(raw.records)} JSON messages (~80 bytes: id, sku, price, qty, inStock) in ${raw.partitions} partitions on ` +
      `one local Kafka 3.9 broker (KRaft, ${raw.broker === 'started' ? 'started by the benchmark' : 'given by MICROBATCH_KAFKA_BROKERS'}; ` +
      `produced in ${raw.produceSeconds.toFixed(1)} s), read from the beginning by each variant in a fresh process with a ` +
      `fresh consumer group (kafkajs 2.2.4). Every variant parses each message (JSON); all but the raw loop flush a partition at ` +
      `${int(BATCH_RECORDS)} records or 1 s, and drains once kafkajs has handed over every partition's last message (the topic is read: ` +
      `what is buffered is flushed at once, as \`pipeline.stop()\` does), except the last row, which waits its last 1 s windows out. ` +
      `Records/s counts from the first batch kafkajs hands over to the commit of ` +
      `every partition's end offset (raw: to the last message parsed); tail = the part of that after kafkajs handed over every ` +
      `partition's last message (the drain's writes and commits; for the last row, its last windows closing first); CPU = the process's user + system ` +
      `time over the same span; "read phase" = the span up to that moment (records/s and CPU without the tail); main thread = its event loop's utilisation over the read phase (1.00: it never waited for the network) and its own CPU time where Node has \`process.threadCpuUsage()\` (24); peak RSS is the child's \`maxRSS\`. ${raw.rounds} interleaved run(s) per variant, median shown.` +
      (quick ? ' (--quick: 100,000 messages, one run; not a measurement.)' : ''),
    '',
    '| variant | records/s (median) | runs | tail | CPU | read phase: records/s, CPU | main thread: busy, CPU | peak RSS | × raw | × hand | read phase × raw |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const v of KAFKA_VARIANTS) {
    const r = raw.variants[v];
    const base = v.endsWith('-lake') ? handLake : hand;
    lines.push(
      `| ${LABELS[v]} | **${int(r.recordsPerSecond)}** | ${r.runs.map((x) => int(x.recordsPerSecond)).join(', ')} | ` +
        `${(Math.max(0, r.tailMs) / 1000).toFixed(2)} s | ${(r.cpuMs / 1000).toFixed(2)} s | ` +
        `${int(r.readRecordsPerSecond)}, ${(r.readCpuMs / 1000).toFixed(2)} s | ` +
        `${r.readElu === undefined ? '–' : r.readElu.toFixed(2)}, ${r.readThreadCpuMs === undefined ? '–' : `${(r.readThreadCpuMs / 1000).toFixed(2)} s`} | ${mib(r.peakRss)} MiB | ` +
        `${(r.recordsPerSecond / ceiling).toFixed(2)}× | ${v.startsWith('raw') || v === 'microbatch-wait' ? '' : `${(r.recordsPerSecond / base).toFixed(2)}×`} | ` +
        `${(r.readRecordsPerSecond / raw.variants.raw.readRecordsPerSecond).toFixed(2)}× |`,
    );
  }
  lines.push(
    '',
    '× hand: against the hand loop into the same sink (memory rows against `hand`, lake rows against `hand-lake`).',
    '',
    '| goal | measured | |',
    '|---|---|---|',
    ...goalRows.map((g) => `| ${g.goal} | ${g.value} | ${g.pass ? 'PASS' : 'FAIL'} |`),
    '',
  );
  return lines;
}
