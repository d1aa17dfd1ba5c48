/** The goals of issues 5 and 18, judged on the simulation's results. */
import type { GoalRow } from '../lib/types.js';
import type { Scenario } from './scenarios.js';
import { MAX_WINDOW, MIN_WINDOW, type RunResult } from './simulate.js';

/** Summary of one run, without the time series (what RESULTS.md and the JSON keep). */
export type RunSummary = Omit<RunResult, 'series'>;

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * `other` beats `adaptive` on transactions, p99 latency and rejected writes all at once: no worse on
 * any of the three and strictly better on at least one (Pareto dominance — a tie on all three does
 * not count as beating, and a policy better on two but worse on one does not either).
 */
export function dominates(other: RunSummary, adaptive: RunSummary): boolean {
  const pairs: [number, number][] = [
    [other.transactions, adaptive.transactions],
    [other.latency.p99, adaptive.latency.p99],
    [other.rejected, adaptive.rejected],
  ];
  return pairs.every(([o, a]) => o <= a) && pairs.some(([o, a]) => o < a);
}

/** Every record the scraper produced was read, written to the warehouse once and committed. */
export function conserved(r: RunSummary): boolean {
  return (
    r.produced === r.in &&
    r.in === r.written + r.deadLettered &&
    r.deadLettered === 0 &&
    r.committed === r.produced &&
    r.warehouse.rows === r.written
  );
}

export function judge(runs: RunSummary[], scenarios: Scenario[]): GoalRow[] {
  const rows: GoalRow[] = [];
  const find = (scenario: string, policy: string) =>
    runs.find((r) => r.scenario === scenario && r.policy === policy);
  for (const scenario of scenarios) {
    const adaptive = find(scenario.name, 'adaptive');
    if (adaptive === undefined) continue;
    const others = runs.filter((r) => r.scenario === scenario.name && r.policy !== 'adaptive');
    const beaters = others.filter((o) => dominates(o, adaptive));
    rows.push({
      goal: `${scenario.name}: no other policy beats adaptive on transactions, p99 latency and rejected writes at once`,
      measured:
        beaters.length === 0
          ? `none does (adaptive: ${adaptive.transactions} transactions, p99 ${s(adaptive.latency.p99)}, ${adaptive.rejected} rejected)`
          : `beaten by ${beaters.map((b) => `${b.policy} (${b.transactions}, ${s(b.latency.p99)}, ${b.rejected})`).join(', ')}`,
      pass: beaters.length === 0,
    });
  }
  const burstAdaptive = find('burst', 'adaptive');
  const burst15 = find('burst', 'fixed-15s');
  if (burstAdaptive !== undefined && burst15 !== undefined) {
    const fewer = burst15.rejected === 0 ? 0 : 1 - burstAdaptive.rejected / burst15.rejected;
    rows.push({
      goal: 'burst: adaptive has ≥ 90% fewer rejected writes than the fixed 15 s window',
      measured: `${burstAdaptive.rejected} vs ${burst15.rejected} (${(fewer * 100).toFixed(0)}% fewer)`,
      // With no rejection at 15 s the goal says nothing: the warehouse was never pushed past capacity.
      pass: burst15.rejected > 0 && fewer >= 0.9,
    });
  }
  const trickleAdaptive = find('trickle', 'adaptive');
  const trickle15 = find('trickle', 'fixed-15s');
  if (trickleAdaptive !== undefined && trickle15 !== undefined) {
    const ratio = trickleAdaptive.lastPhaseMeanBatch / Math.max(1e-9, trickle15.lastPhaseMeanBatch);
    rows.push({
      goal: "trickle: adaptive's batches ≥ 10× larger than the fixed 15 s window's",
      measured: `${ratio.toFixed(1)}× (mean ${trickleAdaptive.lastPhaseMeanBatch.toFixed(1)} vs ${trickle15.lastPhaseMeanBatch.toFixed(1)} records per batch while the scraper is blocked)`,
      pass: ratio >= 10,
    });
  }
  const outage = find('outage', 'adaptive');
  const steady = find('steady', 'adaptive');
  if (outage?.window !== undefined) {
    const back = outage.window.recoveredAfterMs;
    rows.push({
      goal: `outage: the window is back to ≤ 2 × minWindow (${s(2 * MIN_WINDOW)}) within 2 × maxWindow (${s(2 * MAX_WINDOW)}) of the recovery`,
      measured: back === undefined ? 'never' : `after ${s(back)}`,
      pass: back !== undefined && back <= 2 * MAX_WINDOW,
    });
  }
  if (outage?.afterRecoveryP99 !== undefined && steady !== undefined) {
    const ratio = outage.afterRecoveryP99 / Math.max(1e-9, steady.latency.p99);
    rows.push({
      goal: "outage: p99 latency of records arriving after recovery + 2 × maxWindow ≤ 1.2 × the steady scenario's p99",
      measured: `${s(outage.afterRecoveryP99)} vs ${s(steady.latency.p99)} (${ratio.toFixed(2)}×)`,
      pass: ratio <= 1.2,
    });
  }
  const noisy = find('noisy', 'adaptive');
  if (noisy?.window !== undefined) {
    const { nearMinShare, peak } = noisy.window;
    rows.push({
      goal: 'noisy: the window is ≤ 1.5 × minWindow at least 95% of the time and never reaches maxWindow',
      measured: `${(nearMinShare * 100).toFixed(1)}% of the time; widest ${s(peak)}`,
      pass: nearMinShare >= 0.95 && peak < MAX_WINDOW,
    });
  }
  const lost = runs.filter((r) => !conserved(r));
  rows.push({
    goal: 'nothing lost: produced = read = written = committed, in every run',
    measured:
      lost.length === 0
        ? `${runs.length} runs, ${runs.reduce((n, r) => n + r.produced, 0).toLocaleString('en-US')} records, all written once and committed`
        : `mismatch in ${lost.map((r) => `${r.scenario}/${r.policy}`).join(', ')}`,
    pass: lost.length === 0,
  });
  return rows;
}
