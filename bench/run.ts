/**
 * `npm run bench`: every measurement of the "Foundation" issue in one run, each variant in a fresh
 * process, then bench/RESULTS.md rewritten below its hand-written preamble.
 *
 *   tsx bench/run.ts [--runs 5] [--lateness-seconds 30] [--quick] [--rerender]
 *
 * Then the record-semantics transforms (`validate + dedupe + redact`) against plain zod, in one
 * process (bench/transforms.ts): 500,000 records, 9 interleaved runs (`--quick`: 100,000, 3).
 * `--only transforms` measures just that and replaces its section of RESULTS.md, keeping the rest.
 *
 * Then the adaptive-trigger simulation (bench/adaptive/run.ts, issue 5): every policy × scenario on a
 * test clock against a simulated warehouse, deterministic, a few seconds; it also rewrites the charts
 * docs/adaptive-{steady,burst,trickle,outage,noisy}.svg (`--quick`: under bench/.out/). `--only adaptive` runs just
 * that and replaces its section of RESULTS.md.
 *
 * Then the Parquet encoder and lake sink (bench/parquet), lake compaction (bench/compaction) and the
 * Kafka source against the raw kafkajs client and a hand-written kafkajs loop on a real broker
 * (bench/kafka, which starts its own broker from the Maven jars unless MICROBATCH_KAFKA_BROKERS is
 * set; one section per Node major), each in its own section;
 * `--only parquet|compaction|kafka` runs one and replaces its section. The S3 lake against a
 * hand-written PutObject loop on S3Proxy (bench/s3, issue 15): `--only s3`. Then the spool source's intake
 * against pushSource (bench/spool, issue 13): `--only spool`.
 *
 * `--quick` (1 run of 200,000 records, 3 s of trickle) writes bench/.out/RESULTS.quick.md instead,
 * for checking the harness; the goals are only judged on the full workload. Raw results go to
 * bench/.out/results.json; `--rerender` rewrites RESULTS.md from them (after editing the preamble).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { ADAPTIVE_HEADING, adaptiveSection } from './adaptive/report.js';
import type { AdaptiveResult } from './adaptive/run.js';
import { COMPACTION_HEADING, compactionBench } from './compaction/bench.js';
import { KAFKA_HEADING, kafkaBench } from './kafka/bench.js';
import { ROOT, runWorker } from './lib/child.js';
import {
  type ResultsInput,
  renderResults,
  spliceSection,
  spliceTransforms,
  TRANSFORMS_GOAL,
  transformsSection,
} from './lib/report.js';
import { median } from './lib/stats.js';
import {
  type GoalRow,
  LATENESS_IMPLS,
  type LatenessImpl,
  type LatenessResult,
  type ThroughputResult,
  type ThroughputSummary,
  type TransformsResult,
  type Variant,
} from './lib/types.js';
import { LATENESS_SECONDS, type Mode, RECORDS } from './lib/workload.js';
import { PARQUET_HEADING, parquetBench } from './parquet/bench.js';
import {
  POSTGRES_FORMAT_HEADING,
  POSTGRES_HEADING,
  postgresBench,
  postgresFormatBench,
} from './postgres/bench.js';
import { S3_HEADING, s3Bench } from './s3/bench.js';
import { SPOOL_HEADING, spoolBench } from './spool/bench.js';

const USAGE =
  'run.ts [--runs N] [--lateness-seconds S] [--quick] [--rerender] [--only transforms|adaptive|parquet|compaction|kafka|s3|postgres|postgres-format|spool]';

/**
 * The benchmarks of issues 6 and 7, each with its own section of RESULTS.md: the full run appends
 * them after the rest; `--only <name>` runs one and replaces its section.
 */
interface SectionBench {
  heading: string;
  run: (
    quick: boolean,
  ) => Promise<{ section: string[]; goals: { goal: string; value: string; pass: boolean }[] }>;
}
const SECTIONS = {
  parquet: { heading: PARQUET_HEADING, run: (quick) => parquetBench({ quick }) },
  compaction: { heading: COMPACTION_HEADING, run: (quick) => compactionBench({ quick }) },
  kafka: { heading: KAFKA_HEADING, run: (quick) => kafkaBench({ quick }) },
  s3: { heading: S3_HEADING, run: (quick) => s3Bench({ quick }) },
  postgres: { heading: POSTGRES_HEADING, run: (quick) => postgresBench({ quick }) },
  'postgres-format': { heading: POSTGRES_FORMAT_HEADING, run: (quick) => postgresFormatBench({ quick }) },
  spool: { heading: SPOOL_HEADING, run: (quick) => spoolBench({ quick }) },
} satisfies Record<string, SectionBench>;
type SectionName = keyof typeof SECTIONS;

interface Args {
  runs: number;
  records: number;
  latenessSeconds: number;
  quick: boolean;
  /** Rewrite RESULTS.md from the raw results of the last run (bench/.out/results.json), measuring nothing. */
  rerender: boolean;
  /** Measure only the transforms and replace their section of RESULTS.md. */
  onlyTransforms: boolean;
  /** Run only the adaptive simulation and replace its section of RESULTS.md. */
  onlyAdaptive: boolean;
  /** Run only this section's benchmark (parquet, compaction, kafka) and replace its section. */
  onlySection?: SectionName;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    runs: 5,
    records: RECORDS,
    latenessSeconds: LATENESS_SECONDS,
    quick: false,
    rerender: false,
    onlyTransforms: false,
    onlyAdaptive: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} needs a positive number`);
      return v;
    };
    if (flag === '--runs') args.runs = Math.round(value());
    else if (flag === '--lateness-seconds') args.latenessSeconds = value();
    else if (flag === '--quick') args.quick = true;
    else if (flag === '--rerender') args.rerender = true;
    else if (flag === '--only' && argv[i + 1] === 'transforms') {
      args.onlyTransforms = true;
      i++;
    } else if (flag === '--only' && argv[i + 1] === 'adaptive') {
      args.onlyAdaptive = true;
      i++;
    } else if (flag === '--only' && (argv[i + 1] ?? '') in SECTIONS) {
      args.onlySection = argv[++i] as SectionName;
    } else throw new Error(`unknown option ${flag}; usage: ${USAGE}`);
  }
  if (args.quick) Object.assign(args, { runs: 1, records: 200_000, latenessSeconds: 3 });
  return args;
}

/** Throughput variants, in the order of the tables. */
const THROUGHPUT: { variant: Variant; label: string }[] = [
  { variant: 'microbatch', label: 'microbatch (defaults: sizes sampled, 1 MiB limit on known sizes)' },
  { variant: 'microbatch-sized', label: "microbatch, `maxRecordBytes: '1MiB'` set (every record sized)" },
  { variant: 'rxjs', label: 'RxJS 7 `bufferTime(1000, null, 5000)`' },
  { variant: 'effect', label: "Effect 3 `Stream.groupedWithin(5000, '1 second')`" },
  { variant: 'hand', label: 'hand-written loop (array buffer, 5,000 or 1 s)' },
];
const MODES: Mode[] = ['single', 'arrays'];

const log = (message: string) => process.stderr.write(`${message}\n`);
const mrs = (n: number) => `${(n / 1e6).toFixed(2)} M rec/s`;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

async function throughput(args: Args): Promise<ThroughputSummary[]> {
  const results = new Map<string, ThroughputResult[]>();
  // Round-robin: run 1 of every variant, then run 2…, so that a noisy minute hits all of them.
  for (let round = 1; round <= args.runs; round++) {
    for (const mode of MODES) {
      for (const { variant } of THROUGHPUT) {
        const result = await runWorker<ThroughputResult>('bench/throughput/worker.ts', [
          variant,
          mode,
          String(args.records),
        ]);
        if (result.records !== args.records) {
          throw new Error(
            `${variant}/${mode}: delivered ${result.records} records, expected ${args.records}`,
          );
        }
        const key = `${variant}/${mode}`;
        results.set(key, [...(results.get(key) ?? []), result]);
        log(
          `  throughput ${round}/${args.runs} ${key.padEnd(26)} ${mrs(result.recordsPerSecond).padStart(15)}  peak RSS ${mb(result.peakRss)}  ${result.batches} batches`,
        );
      }
    }
  }
  const summaries: ThroughputSummary[] = [];
  for (const mode of MODES) {
    for (const { variant, label } of THROUGHPUT) {
      const runs = results.get(`${variant}/${mode}`)!;
      summaries.push({
        variant,
        label,
        mode,
        runs,
        recordsPerSecond: median(runs.map((r) => r.recordsPerSecond)),
        peakRss: median(runs.map((r) => r.peakRss)),
        baselineRss: median(runs.map((r) => r.baselineRss)),
      });
    }
  }
  return summaries;
}

async function lateness(args: Args): Promise<LatenessResult[]> {
  const results: LatenessResult[] = [];
  // One at a time, so each trickle has the machine's idle loop to itself.
  for (const impl of LATENESS_IMPLS) {
    log(`  lateness ${impl}: ${args.latenessSeconds} s…`);
    const result = await runWorker<LatenessResult>('bench/lateness.ts', [impl, String(args.latenessSeconds)]);
    log(
      `  lateness ${impl.padEnd(10)} median ${result.lateness.median.toFixed(2)} ms, p99 ${result.lateness.p99.toFixed(2)} ms over ${result.windows} windows`,
    );
    results.push(result);
  }
  return results;
}

/** Records and runs of the transforms benchmark. */
const TRANSFORMS = { records: 500_000, runs: 9, quick: { records: 100_000, runs: 3 } };
async function transforms(args: Args): Promise<TransformsResult> {
  const { records, runs } = args.quick ? TRANSFORMS.quick : TRANSFORMS;
  log(`  transforms: ${records.toLocaleString('en-US')} records, ${runs} interleaved runs…`);
  const result = await runWorker<TransformsResult>('bench/transforms.ts', [String(records), String(runs)]);
  log(
    `  transforms: microbatch ${mrs(result.microbatch.median)} vs zod ${mrs(result.zod.median)} (${result.ratio.toFixed(2)}×)`,
  );
  return result;
}

/** The adaptive simulation, in its own process; charts go to docs/ (bench/.out/ with `--quick`). */
async function adaptive(args: Args): Promise<AdaptiveResult> {
  const charts = args.quick ? join(ROOT, 'bench/.out') : join(ROOT, 'docs');
  log('  adaptive: simulated warehouse, 5 policies × 5 scenarios on a test clock…');
  const result = await runWorker<AdaptiveResult>('bench/adaptive/run.ts', ['--charts', charts]);
  for (const row of result.goals)
    log(`  adaptive: ${row.pass ? 'PASS' : 'FAIL'}  ${row.goal}: ${row.measured}`);
  return result;
}

function goals(tp: ThroughputSummary[], late: LatenessResult[], tx: TransformsResult | undefined): GoalRow[] {
  const rate = (variant: Variant, mode: Mode) =>
    tp.find((s) => s.variant === variant && s.mode === mode)!.recordsPerSecond;
  const find = (variant: Variant, mode: Mode) => tp.find((s) => s.variant === variant && s.mode === mode)!;
  const rss = (variant: Variant, mode: Mode) => find(variant, mode).peakRss;
  const growth = (variant: Variant, mode: Mode) =>
    find(variant, mode).peakRss - find(variant, mode).baselineRss;
  const latency = (impl: LatenessImpl) => late.find((l) => l.impl === impl)!;
  const rows: GoalRow[] = [];
  // The goals are judged on the defaults; the opt-in per-record sizing is shown in the tables.
  for (const variant of ['microbatch'] as const) {
    const who = 'microbatch (default)';
    const arrays = rate(variant, 'arrays') / rate('rxjs', 'arrays');
    rows.push({
      goal: `arrays of 500: ${who} ≥ 2× RxJS throughput`,
      measured: `${arrays.toFixed(2)}× (${mrs(rate(variant, 'arrays'))} vs ${mrs(rate('rxjs', 'arrays'))})`,
      pass: arrays >= 2,
    });
    const single = rate(variant, 'single') / rate('rxjs', 'single');
    rows.push({
      goal: `one at a time: ${who} ≥ RxJS throughput`,
      measured: `${single.toFixed(2)}× (${mrs(rate(variant, 'single'))} vs ${mrs(rate('rxjs', 'single'))})`,
      pass: single >= 1,
    });
    for (const mode of MODES) {
      const ratio = rss(variant, mode) / rss('hand', mode);
      rows.push({
        goal: `peak RSS, ${mode === 'single' ? 'one at a time' : 'arrays of 500'}: ${who} ≤ 1.2× the hand loop`,
        measured:
          `${ratio.toFixed(2)}× (${mb(rss(variant, mode))} vs ${mb(rss('hand', mode))}); ` +
          `growth over the pre-workload RSS: ${mb(growth(variant, mode))} vs ${mb(growth('hand', mode))} ` +
          `(${(growth(variant, mode) / growth('hand', mode)).toFixed(1)}×)`,
        pass: ratio <= 1.2,
      });
    }
  }
  const mb0 = latency('microbatch');
  rows.push({
    goal: 'flush lateness p99 ≤ 2 ms (microbatch, 200 ms window, 50 records/s)',
    measured: `p99 ${mb0.lateness.p99.toFixed(2)} ms (median ${mb0.lateness.median.toFixed(2)} ms, ${mb0.windows} windows)`,
    pass: mb0.lateness.p99 <= 2,
  });
  if (tx !== undefined) {
    rows.push({
      goal: `validate + dedupe + redact ≥ ${TRANSFORMS_GOAL}× plain zod \`safeParse\` throughput`,
      measured: `${tx.ratio.toFixed(2)}× (${mrs(tx.microbatch.median)} vs ${mrs(tx.zod.median)})`,
      pass: tx.ratio >= TRANSFORMS_GOAL,
    });
  }
  return rows;
}

function machine(loadBefore: number[]): ResultsInput['machine'] {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    memory: os.totalmem(),
    loadBefore,
    loadAfter: os.loadavg(),
  };
}

const commandLine = (args: Args) =>
  args.quick
    ? 'npm run bench -- --quick'
    : `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

/**
 * Rewrites RESULTS.md (or the quick file) from its current text with one section replaced; returns
 * the path written.
 */
function replaceSection(args: Args, splice: (previous: string) => string): string {
  const target = args.quick ? join(ROOT, 'bench/.out/RESULTS.quick.md') : join(ROOT, 'bench/RESULTS.md');
  let previous = '';
  try {
    previous = readFileSync(join(ROOT, 'bench/RESULTS.md'), 'utf8');
  } catch {
    previous = '# microbatch benchmark results\n';
  }
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, splice(previous));
  return target;
}

/** `--only transforms`: measures the transforms and replaces their section of RESULTS.md. */
async function onlyTransforms(args: Args): Promise<void> {
  const date = new Date();
  const loadBefore = os.loadavg();
  const tx = await transforms(args);
  const section = transformsSection(tx, { date, machine: machine(loadBefore), command: commandLine(args) });
  const outDir = join(ROOT, 'bench/.out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'transforms.json'), `${JSON.stringify(tx, null, 2)}\n`);
  const target = replaceSection(args, (previous) => `${spliceTransforms(previous, section).trimEnd()}\n`);
  log(`\nwrote ${target}`);
  log(
    `  ${tx.ratio >= TRANSFORMS_GOAL ? 'PASS' : 'FAIL'}  transforms ≥ ${TRANSFORMS_GOAL}× zod: ${tx.ratio.toFixed(2)}×`,
  );
}

/** Runs one section benchmark and splices its section into `target` (RESULTS.md or the quick copy). */
async function runSection(args: Args, name: SectionName, target?: string): Promise<string> {
  const { heading, run } = SECTIONS[name];
  log(`\n${name} benchmark${args.quick ? ' (quick)' : ''}`);
  const { section, goals } = await run(args.quick);
  let written = target;
  if (written === undefined)
    written = replaceSection(args, (previous) => spliceSection(previous, heading, section));
  else writeFileSync(written, spliceSection(readFileSync(written, 'utf8'), heading, section));
  for (const row of goals) log(`  ${row.pass ? 'PASS' : 'FAIL'}  ${row.goal}: ${row.value}`);
  return written;
}

/** `--only adaptive`: runs the simulation and replaces its section of RESULTS.md. */
async function onlyAdaptive(args: Args): Promise<void> {
  const date = new Date();
  const loadBefore = os.loadavg();
  const result = await adaptive(args);
  const section = adaptiveSection(result, { date, machine: machine(loadBefore), command: commandLine(args) });
  const outDir = join(ROOT, 'bench/.out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'adaptive.json'), `${JSON.stringify(result, null, 2)}\n`);
  const target = replaceSection(args, (previous) => spliceSection(previous, ADAPTIVE_HEADING, section));
  log(`\nwrote ${target} and ${result.charts.join(', ')}`);
}

async function measureAll(args: Args): Promise<ResultsInput> {
  const started = new Date();
  const loadBefore = os.loadavg();
  log(
    `microbatch bench: ${args.records.toLocaleString('en-US')} records, ${args.runs} run(s) per variant, lateness ${args.latenessSeconds} s per implementation`,
  );
  const tp = await throughput(args);
  const late = await lateness(args);
  const tx = await transforms(args);
  const sim = await adaptive(args);
  return {
    date: started,
    durationS: (Date.now() - started.getTime()) / 1000,
    machine: machine(loadBefore),
    command: commandLine(args),
    args,
    throughput: tp,
    lateness: late,
    transforms: tx,
    adaptive: sim,
    goals: [...goals(tp, late, tx), ...sim.goals],
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.onlyTransforms) return onlyTransforms(args);
  if (args.onlyAdaptive) return onlyAdaptive(args);
  if (args.onlySection !== undefined) {
    log(`\nwrote ${await runSection(args, args.onlySection)}`);
    return;
  }
  const outDir = join(ROOT, 'bench/.out');
  const json = join(outDir, args.quick ? 'results.quick.json' : 'results.json');
  let input: ResultsInput;
  if (args.rerender) {
    input = JSON.parse(readFileSync(json, 'utf8'), (key, value) =>
      key === 'date' ? new Date(value) : value,
    );
  } else {
    input = await measureAll(args);
    mkdirSync(outDir, { recursive: true });
    writeFileSync(json, `${JSON.stringify(input, null, 2)}\n`);
  }

  const target = args.quick ? join(outDir, 'RESULTS.quick.md') : join(ROOT, 'bench/RESULTS.md');
  let previous = '';
  try {
    previous = readFileSync(join(ROOT, 'bench/RESULTS.md'), 'utf8');
  } catch {
    // First run: the default preamble is used.
  }
  writeFileSync(target, renderResults(previous, input));
  for (const row of input.goals) log(`  ${row.pass ? 'PASS' : 'FAIL'}  ${row.goal}: ${row.measured}`);
  // The Parquet, compaction and Kafka sections keep their own tables and goals.
  if (!args.rerender)
    for (const name of Object.keys(SECTIONS) as SectionName[]) await runSection(args, name, target);
  log(`\nwrote ${target}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
