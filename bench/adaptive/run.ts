/**
 * The adaptive-trigger simulation (issues 5 and 18): `tsx bench/adaptive/run.ts [--charts DIR]`.
 *
 * Every policy × scenario runs a real microbatch pipeline on a test clock against the simulated
 * warehouse (warehouse.ts): 30–40 simulated minutes each, under a minute of real time for all twenty-five. It
 * prints the tables and the goals (PASS/FAIL), writes one SVG chart per scenario (default: docs/)
 * and prints its result for bench/run.ts, which renders it into bench/RESULTS.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emitResult, ROOT } from '../lib/child.js';
import type { GoalRow } from '../lib/types.js';
import { judge, type RunSummary } from './goals.js';
import { durationMs, SCENARIOS, type Scenario } from './scenarios.js';
import { POLICIES, type RunResult, simulate } from './simulate.js';
import { chart } from './svg.js';
import { WAREHOUSE, type WarehouseModel } from './warehouse.js';

export interface AdaptiveResult {
  warehouse: WarehouseModel;
  scenarios: { name: Scenario['name']; title: string; minutes: number }[];
  runs: RunSummary[];
  goals: GoalRow[];
  /** Real time of the whole simulation, ms. */
  realMs: number;
  charts: string[];
}

const COLORS = { adaptive: '#1f6feb', fixed: '#d1242f', concurrency: '#2da44e' };

/** The chart of one scenario: adaptive against the fixed 15 s window. */
export function scenarioChart(scenario: Scenario, adaptive: RunResult, fixed15: RunResult): string {
  const end = durationMs(scenario);
  const seconds = (points: { t: number; v: number }[]) => points.map((p) => ({ t: p.t, v: p.v / 1000 }));
  return chart(`${scenario.name}: adaptive vs fixed 15 s window (simulated warehouse)`, end, [
    {
      title: 'window (s) and write concurrency',
      unit: 'seconds / writes',
      series: [
        {
          label: 'adaptive window (s)',
          color: COLORS.adaptive,
          points: seconds(adaptive.series.window),
          step: true,
        },
        {
          label: 'adaptive concurrency',
          color: COLORS.concurrency,
          points: adaptive.series.concurrency,
          step: true,
        },
        {
          label: 'fixed window 15 s',
          color: COLORS.fixed,
          points: [{ t: 0, v: 15 }],
          step: true,
          dashed: true,
        },
      ],
    },
    {
      title: 'batch size (records, log scale), one dot per batch',
      unit: 'records',
      log: true,
      series: [
        { label: 'adaptive', color: COLORS.adaptive, points: adaptive.series.batch, dots: true },
        { label: 'fixed 15 s', color: COLORS.fixed, points: fixed15.series.batch, dots: true },
      ],
    },
    {
      title: 'end-to-end latency of the oldest record at each commit (s, log scale)',
      unit: 'seconds',
      log: true,
      series: [
        { label: 'adaptive', color: COLORS.adaptive, points: seconds(adaptive.series.latency) },
        { label: 'fixed 15 s', color: COLORS.fixed, points: seconds(fixed15.series.latency), dashed: true },
      ],
    },
  ]);
}

export async function measureAdaptive(
  options: { chartsDir?: string; scenarios?: Scenario[]; log?: (m: string) => void } = {},
): Promise<AdaptiveResult> {
  const started = Date.now();
  const scenarios = options.scenarios ?? SCENARIOS;
  const log = options.log ?? (() => {});
  const runs: RunSummary[] = [];
  const charts: string[] = [];
  for (const scenario of scenarios) {
    const results: RunResult[] = [];
    for (const policy of POLICIES) {
      const result = await simulate(scenario, policy);
      results.push(result);
      const { series: _series, ...summary } = result;
      runs.push(summary);
      log(
        `  adaptive sim ${scenario.name.padEnd(8)} ${policy.name.padEnd(10)} ${String(result.transactions).padStart(4)} tx, ` +
          `p50 ${(result.latency.p50 / 1000).toFixed(1)} s, p99 ${(result.latency.p99 / 1000).toFixed(1)} s, ` +
          `${result.rejected} rejected (${result.realMs} ms real)`,
      );
    }
    if (options.chartsDir !== undefined) {
      const adaptive = results.find((r) => r.policy === 'adaptive')!;
      const fixed15 = results.find((r) => r.policy === 'fixed-15s')!;
      mkdirSync(options.chartsDir, { recursive: true });
      const file = join(options.chartsDir, `adaptive-${scenario.name}.svg`);
      writeFileSync(file, scenarioChart(scenario, adaptive, fixed15));
      charts.push(file);
    }
  }
  return {
    warehouse: WAREHOUSE,
    scenarios: scenarios.map((s) => ({ name: s.name, title: s.title, minutes: durationMs(s) / 60_000 })),
    runs,
    goals: judge(runs, scenarios),
    realMs: Date.now() - started,
    charts: charts.map((c) => c.replace(ROOT, '')),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--charts');
  const chartsDir = at >= 0 ? argv[at + 1]! : join(ROOT, 'docs');
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const result = await measureAdaptive({ chartsDir, log });
  for (const g of result.goals) log(`  ${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}: ${g.measured}`);
  log(`  (${result.realMs} ms real; charts: ${result.charts.join(', ')})`);
  emitResult(result);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
