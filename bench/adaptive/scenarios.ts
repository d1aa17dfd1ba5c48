/**
 * The input scenarios of the adaptive simulation: a scraper's output rate over simulated time.
 * Records are produced in bulk once per simulated second (`TICK_MS`), which keeps hours of simulated
 * time to a few real seconds; every window in the comparison is ≥ 15 s, so a 1 s grain changes nothing.
 */

/** One phase: `rate` records per second for `seconds`. */
export interface Phase {
  name: string;
  seconds: number;
  rate: number;
}

export interface Scenario {
  name: 'steady' | 'burst' | 'trickle' | 'outage' | 'noisy';
  title: string;
  phases: Phase[];
  /** The warehouse refuses every write that starts in [fromMs, toMs) (retryable), then is healthy. */
  outage?: { fromMs: number; toMs: number };
  /**
   * The warehouse never refuses and its round trips are drawn from a lognormal distribution
   * (`medianMs · e^(sigma · Z)`, Z standard normal, seeded) instead of the cost model.
   */
  noise?: { medianMs: number; sigma: number };
}

export const TICK_MS = 1_000;

/** Steady input rate of the scraper, records/s. */
export const BASE_RATE = 200;

export const SCENARIOS: Scenario[] = [
  {
    name: 'steady',
    title: `steady: ${BASE_RATE} records/s for 30 min`,
    phases: [{ name: 'steady', seconds: 30 * 60, rate: BASE_RATE }],
  },
  {
    name: 'burst',
    title: `burst: ${BASE_RATE} records/s, a 10× burst (${BASE_RATE * 10}/s) from minute 10 to 15, then ${BASE_RATE}/s to minute 30`,
    phases: [
      { name: 'before', seconds: 10 * 60, rate: BASE_RATE },
      { name: 'burst', seconds: 5 * 60, rate: BASE_RATE * 10 },
      { name: 'after', seconds: 15 * 60, rate: BASE_RATE },
    ],
  },
  {
    name: 'trickle',
    title: `trickle: ${BASE_RATE} records/s for 10 min, then the scraper is blocked: 0.2 records/s for 30 min`,
    phases: [
      { name: 'steady', seconds: 10 * 60, rate: BASE_RATE },
      { name: 'trickle', seconds: 30 * 60, rate: 0.2 },
    ],
  },
  {
    name: 'outage',
    title: `outage: ${BASE_RATE} records/s for 40 min; the warehouse refuses every write from minute 10 to minute 20`,
    phases: [
      { name: 'before', seconds: 10 * 60, rate: BASE_RATE },
      { name: 'outage', seconds: 10 * 60, rate: BASE_RATE },
      { name: 'after', seconds: 20 * 60, rate: BASE_RATE },
    ],
    outage: { fromMs: 10 * 60_000, toMs: 20 * 60_000 },
  },
  {
    name: 'noisy',
    title: `noisy healthy: ${BASE_RATE} records/s for 30 min; no errors, round trips lognormal (median 2 s, σ 0.8)`,
    phases: [{ name: 'steady', seconds: 30 * 60, rate: BASE_RATE }],
    noise: { medianMs: 2_000, sigma: 0.8 },
  },
];

/** A shortened scenario (every phase `factor` times as long), for the smoke test. */
export function shorten(scenario: Scenario, factor: number): Scenario {
  const ms = (t: number) => Math.max(1, Math.round((t / 1000) * factor)) * 1000;
  return {
    ...scenario,
    phases: scenario.phases.map((p) => ({ ...p, seconds: Math.max(1, Math.round(p.seconds * factor)) })),
    ...(scenario.outage !== undefined && {
      outage: { fromMs: ms(scenario.outage.fromMs), toMs: ms(scenario.outage.toMs) },
    }),
  };
}

/** Total simulated duration, ms. */
export const durationMs = (scenario: Scenario) => scenario.phases.reduce((s, p) => s + p.seconds, 0) * 1000;

/** The phase at time `t` (ms since the start), and when it began. */
export function phaseAt(scenario: Scenario, t: number): { phase: Phase; startMs: number } | undefined {
  let start = 0;
  for (const phase of scenario.phases) {
    if (t < start + phase.seconds * 1000) return { phase, startMs: start };
    start += phase.seconds * 1000;
  }
  return undefined;
}

/**
 * Records produced in the tick that ends at `t` (ms): the integral of the rate, rounded down, so
 * 0.2 records/s gives one record every 5 s and the total is exact.
 */
export function producedBy(scenario: Scenario, t: number): number {
  let total = 0;
  let start = 0;
  for (const phase of scenario.phases) {
    const end = start + phase.seconds * 1000;
    const inPhase = Math.max(0, Math.min(t, end) - start);
    total += (inPhase / 1000) * phase.rate;
    start = end;
  }
  return Math.floor(total + 1e-9);
}
