/**
 * One run of the adaptive simulation: a real microbatch pipeline, driven by a test clock, fed by a
 * simulated scraper and writing to the simulated warehouse. Returns what the issue asks to compare
 * (transactions, latency quantiles, rejected writes, peak buffered bytes) and time series for the
 * charts. Deterministic: the only randomness in the pipeline is the retry jitter, which runs on a
 * seeded generator here.
 */
import { estimateBytes, pipeline, pushSource, type Trigger, triggers } from '../../src/index.js';
import { seededRandom, testClock } from '../../src/testing/index.js';
import { durationMs, phaseAt, producedBy, type Scenario, TICK_MS } from './scenarios.js';
import { WAREHOUSE, type WarehouseModel, type WarehouseStats, warehouse } from './warehouse.js';

/**
 * The batch caps every policy shares: 10,000 records, the Snowflake Kafka connector's default
 * (REFERENCE.md §3). Records are ~200 bytes, so a 10,000-record batch is ~2 MB, below any byte cap
 * seen in the field (5 MB, 10 MB): no byte cap is set, and records are not sized one by one.
 */
export const MAX_RECORDS = 10_000;

/** Retry policy for every pipeline: exponential 1 s → 30 s with full jitter (Vector's envelope). */
export const RETRY = { initialDelay: '1s', maxDelay: '30s' } as const;

export type PolicyName = 'fixed-15s' | 'fixed-60s' | 'fixed-5m' | 'volume' | 'adaptive';

export interface Policy {
  name: PolicyName;
  label: string;
  trigger: () => Trigger;
  /** Write concurrency: the pipeline default (4) for fixed policies; adaptive sets its own. */
  concurrency?: number;
}

const caps = () => triggers.volume({ records: MAX_RECORDS });

/** The adaptive policy's window bounds, ms: 15 s … 5 min. */
export const MIN_WINDOW = 15_000;
export const MAX_WINDOW = 300_000;

export const POLICIES: Policy[] = [
  {
    name: 'fixed-15s',
    label: "fixed 15 s: `any(time('15s'), volume({ records: 10_000 }))`",
    trigger: () => triggers.any(triggers.time('15s'), caps()),
  },
  {
    name: 'fixed-60s',
    label: "fixed 60 s: `any(time('60s'), volume({ records: 10_000 }))`",
    trigger: () => triggers.any(triggers.time('60s'), caps()),
  },
  {
    name: 'fixed-5m',
    label: "fixed 5 min: `any(time('5m'), volume({ records: 10_000 }))`",
    trigger: () => triggers.any(triggers.time('5m'), caps()),
  },
  {
    name: 'volume',
    label: 'volume only: `volume({ records: 10_000 })` (Kafka Connect `flush.size`)',
    trigger: () => caps(),
  },
  {
    name: 'adaptive',
    label: "adaptive: `adaptive({ minWindow: '15s', maxWindow: '5m', maxRecords: 10_000 })`",
    trigger: () =>
      triggers.adaptive({ minWindow: MIN_WINDOW, maxWindow: MAX_WINDOW, maxRecords: MAX_RECORDS }),
  },
];

/** A scraped price record, ~200 bytes as JSON. */
export interface PriceRecord {
  sku: string;
  url: string;
  price: number;
  currency: string;
  seller: string;
  extractedAt: number;
}

const record = (i: number, at: number): PriceRecord => ({
  sku: `SKU-${String(i).padStart(8, '0')}`,
  url: `https://shop-${i % 97}.example.com/products/${i}`,
  price: (i % 100_000) / 100,
  currency: 'EUR',
  seller: `seller-${i % 2_000}`,
  extractedAt: at,
});

/** A point of a chart: `t` in ms since the start of the scenario. */
export interface Point {
  t: number;
  v: number;
}

export interface RunResult {
  scenario: Scenario['name'];
  policy: PolicyName;
  /** Records the scraper produced, read by the pipeline, written, committed. */
  produced: number;
  in: number;
  written: number;
  deadLettered: number;
  committed: number;
  /** Successful writes (warehouse transactions). */
  transactions: number;
  /** Failed write attempts: refused by the warehouse, or aborted. */
  rejected: number;
  retries: number;
  /** End-to-end latency per record, arrival at the source → source commit, ms. */
  latency: { p50: number; p99: number; max: number };
  /** Most bytes held: buffered + in flight in the pipeline, plus records waiting in the source. */
  peakBufferedBytes: number;
  meanBatch: number;
  /** Mean batch size of the batches cut in the scenario's last phase (the trickle). */
  lastPhaseMeanBatch: number;
  lastPhaseBatches: number;
  warehouse: WarehouseStats;
  /** Most writes in flight at the pipeline's limit (adaptive: the limit it set). */
  peakConcurrency: number;
  /** The adaptive window over the run (adaptive only). */
  window?: {
    /** Share of the simulated time the window was ≤ 1.5 × minWindow. */
    nearMinShare: number;
    /** Widest window reached, ms. */
    peak: number;
    /**
     * With an outage: ms from the warehouse's recovery until the window was ≤ 2 × minWindow
     * (0 if it already was; `undefined` if it never came back).
     */
    recoveredAfterMs?: number | undefined;
  };
  /**
   * With an outage: latency of the records that arrived after the recovery + 2 × maxWindow (the
   * adaptive policy's 5 min, for every policy), nearest-rank p99, ms.
   */
  afterRecoveryP99?: number;
  series: {
    /** The adaptive window, ms (step function), and the concurrency limit. */
    window: Point[];
    concurrency: Point[];
    /** Each batch's size, at its flush. */
    batch: Point[];
    /** Each commit: the oldest committed record's end-to-end latency, ms. */
    latency: Point[];
  };
  /** Real time the run took, ms (not part of any goal). */
  realMs: number;
}

/** Nearest-rank quantile of sorted values. */
const quantile = (sorted: Float64Array, q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

export async function simulate(
  scenario: Scenario,
  policy: Policy,
  model: WarehouseModel = WAREHOUSE,
): Promise<RunResult> {
  const realStart = Date.now();
  // Retry jitter from a seeded generator: every run is the same run.
  const random = seededRandom(0x5eed ^ scenario.name.length ^ (policy.name.charCodeAt(6) << 8));
  return run(scenario, policy, model, realStart, random);
}

async function run(
  scenario: Scenario,
  policy: Policy,
  model: WarehouseModel,
  realStart: number,
  random: () => number,
): Promise<RunResult> {
  const clock = testClock(0);
  const end = durationMs(scenario);
  const total = producedBy(scenario, end);
  const arrival = new Float64Array(total);
  const latencies = new Float64Array(total);
  let committed = 0; // offsets below this are committed
  const recordBytes = estimateBytes(record(0, 0));

  const source = pushSource<PriceRecord>({ highWaterMark: 1_000_000 });
  const sink = warehouse<PriceRecord>(clock, model, undefined, {
    ...(scenario.outage !== undefined && { outage: scenario.outage }),
    ...(scenario.noise !== undefined && { noise: scenario.noise, random: seededRandom(0x0a015e) }),
  });
  const trigger = policy.trigger();
  const built = pipeline({ name: `${scenario.name}-${policy.name}`, clock, retry: { ...RETRY, random } })
    .source(source)
    .trigger(trigger)
    .sink(sink)
    .build();

  const series: RunResult['series'] = { window: [], concurrency: [], batch: [], latency: [] };
  const lastPhase = scenario.phases.at(-1)!;
  const lastPhaseStart = end - lastPhase.seconds * 1000;
  const lastPhaseFirstOffset = producedBy(scenario, lastPhaseStart);
  let batches = 0;
  let batchRecords = 0;
  let lastBatches = 0;
  let lastRecords = 0;
  let peakConcurrency = 0;
  built.on('flush', ({ batch }) => {
    batches++;
    batchRecords += batch.records;
    if (batch.firstOffset >= lastPhaseFirstOffset && scenario.phases.length > 1) {
      lastBatches++;
      lastRecords += batch.records;
    }
    series.batch.push({ t: batch.closedAt, v: batch.records });
  });
  built.on('commit', ({ offset }) => {
    const now = clock.now();
    series.latency.push({ t: now, v: now - arrival[committed]! });
    for (; committed <= offset; committed++) latencies[committed] = now - arrival[committed]!;
  });
  const initial = 'controller' in trigger ? (trigger as ReturnType<typeof triggers.adaptive>) : undefined;
  if (initial !== undefined) {
    series.window.push({ t: 0, v: initial.controller.window });
    series.concurrency.push({ t: 0, v: Math.floor(initial.controller.concurrency) });
    built.on('window-change', (change) => {
      series.window.push({ t: clock.now(), v: change.to });
      series.concurrency.push({ t: clock.now(), v: change.concurrencyTo });
      peakConcurrency = Math.max(peakConcurrency, change.concurrencyTo);
    });
  }

  // The scraper: every tick, the records due by then, in one pushMany (it does not wait for the
  // pipeline: a blocked push would slow the scraper, and the point is to see what the pipeline holds).
  let produced = 0;
  let peakBufferedBytes = 0;
  const sample = () => {
    const held = built.metrics().buffer.heldBytes + source.pending * recordBytes;
    if (held > peakBufferedBytes) peakBufferedBytes = held;
  };
  const tick = () => {
    const now = clock.now();
    sample();
    const due = producedBy(scenario, now);
    if (due > produced) {
      const chunk: PriceRecord[] = [];
      for (; produced < due; produced++) {
        arrival[produced] = now;
        chunk.push(record(produced, now));
      }
      source.pushMany(chunk).catch(() => {});
      sample();
    }
    if (now >= end) source.end();
    else clock.setTimeout(tick, TICK_MS);
  };
  clock.setTimeout(tick, 0);

  const report = await clock.runUntil(built.run(), { maxRealMs: 60_000 });
  if (initial === undefined) peakConcurrency = 4;
  const metrics = built.metrics();
  const sorted = latencies.slice(0, committed).sort();
  const afterRecovery =
    scenario.outage === undefined
      ? undefined
      : afterP99(arrival, latencies, committed, scenario.outage.toMs + 2 * MAX_WINDOW);
  const window =
    initial === undefined
      ? undefined
      : windowStats(series.window, end, initial.controller.minWindow, scenario.outage?.toMs);
  return {
    scenario: scenario.name,
    policy: policy.name,
    produced,
    in: report.records.in,
    written: report.records.written,
    deadLettered: report.records.deadLettered,
    committed,
    transactions: sink.stats.transactions,
    rejected: sink.stats.rejected + sink.stats.aborted,
    retries: metrics.counts.retries,
    latency: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: quantile(sorted, 1) },
    peakBufferedBytes,
    meanBatch: batches === 0 ? 0 : batchRecords / batches,
    lastPhaseMeanBatch: lastBatches === 0 ? 0 : lastRecords / lastBatches,
    lastPhaseBatches: lastBatches,
    warehouse: { ...sink.stats },
    peakConcurrency,
    ...(window !== undefined && { window }),
    ...(afterRecovery !== undefined && { afterRecoveryP99: afterRecovery }),
    series,
    realMs: Date.now() - realStart,
  };
}

/** p99 latency of the committed records that arrived at or after `from`. */
function afterP99(arrival: Float64Array, latencies: Float64Array, committed: number, from: number): number {
  const picked: number[] = [];
  for (let i = 0; i < committed; i++) if (arrival[i]! >= from) picked.push(latencies[i]!);
  return quantile(Float64Array.from(picked).sort(), 0.99);
}

/** Time share near minWindow, peak, and how long after `recoveredAt` the window was back to ≤ 2 × min. */
function windowStats(
  window: Point[],
  end: number,
  minWindow: number,
  recoveredAt: number | undefined,
): NonNullable<RunResult['window']> {
  let near = 0;
  let peak = 0;
  let back: number | undefined;
  window.forEach((p, i) => {
    const until = Math.min(end, window[i + 1]?.t ?? end);
    if (p.v <= 1.5 * minWindow) near += Math.max(0, until - p.t);
    peak = Math.max(peak, p.v);
    // The value holding at the recovery, or the first one after it, that is ≤ 2 × min.
    if (recoveredAt !== undefined && back === undefined && until > recoveredAt && p.v <= 2 * minWindow) {
      back = Math.max(0, p.t - recoveredAt);
    }
  });
  return { nearMinShare: near / end, peak, ...(recoveredAt !== undefined && { recoveredAfterMs: back }) };
}

export { phaseAt };
