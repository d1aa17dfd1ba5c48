// Keeps the adaptive simulation (bench/adaptive, issues 5 and 18) working: a shortened run of every
// scenario × policy on the test clock. Checks that nothing is lost and that the run is
// deterministic — not the goals, which are judged on the full simulation by `npm run bench`.
import { describe, expect, it } from 'vitest';
import { conserved, judge } from '../../bench/adaptive/goals.js';
import { scenarioChart } from '../../bench/adaptive/run.js';
import { SCENARIOS, shorten } from '../../bench/adaptive/scenarios.js';
import { MAX_WINDOW, POLICIES, simulate } from '../../bench/adaptive/simulate.js';
import { normal } from '../../bench/adaptive/warehouse.js';
import { seededRandom } from '../../src/testing/index.js';

const short = SCENARIOS.map((s) => shorten(s, 0.1));

describe('bench/adaptive simulation (shortened)', () => {
  it('delivers every record once, for every scenario and policy', async () => {
    const summaries = [];
    for (const scenario of short) {
      for (const policy of POLICIES) {
        const { series, ...summary } = await simulate(scenario, policy);
        expect(conserved(summary), `${scenario.name}/${policy.name}`).toBe(true);
        expect(summary.transactions).toBeGreaterThan(0);
        if (policy.name === 'adaptive') expect(series.window.length).toBeGreaterThan(0);
        // The outage refuses writes (and the measures after it exist); the noisy warehouse never does.
        if (scenario.name === 'outage') {
          expect(summary.rejected).toBeGreaterThan(0);
          expect(summary.afterRecoveryP99).toBeDefined(); // 0 when shortened: no record arrives 10 min after
          if (policy.name === 'adaptive') expect(summary.window?.recoveredAfterMs).toBeDefined();
        } else expect(summary.afterRecoveryP99).toBeUndefined();
        if (scenario.name === 'noisy') {
          expect(summary.rejected).toBe(0);
          if (policy.name === 'adaptive') expect(summary.window!.peak).toBeLessThan(MAX_WINDOW);
        }
        summaries.push(summary);
      }
    }
    const goals = judge(summaries, short);
    // Five dominance goals, burst, trickle, outage × 2, noisy, nothing lost.
    expect(goals.map((g) => g.goal)).toHaveLength(11);
    expect(goals.find((g) => g.goal.startsWith('nothing lost'))?.pass).toBe(true);
  });

  it('is deterministic and draws a chart', async () => {
    const scenario = short.find((s) => s.name === 'burst')!;
    const adaptive = POLICIES.find((p) => p.name === 'adaptive')!;
    const fixed = POLICIES.find((p) => p.name === 'fixed-15s')!;
    const a = await simulate(scenario, adaptive);
    const b = await simulate(scenario, adaptive);
    const strip = ({ realMs: _realMs, ...rest }: typeof a) => rest;
    expect(strip(b)).toEqual(strip(a));
    const svg = scenarioChart(scenario, a, await simulate(scenario, fixed));
    expect(svg).toMatch(/^<svg [^>]*>/);
    expect(svg).toContain('simulated time (min)');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});

describe('bench/adaptive noisy warehouse', () => {
  it('draws lognormal round trips with the stated median and spread', () => {
    const random = seededRandom(7);
    const draws = Array.from({ length: 20_000 }, () => 2_000 * Math.exp(0.8 * normal(random))).sort(
      (a, b) => a - b,
    );
    const median = draws[10_000]!;
    expect(median).toBeGreaterThan(1_900);
    expect(median).toBeLessThan(2_100);
    // σ 0.8: about 2.2% of round trips are over 5× the median (e^(0.8 · 2.01)).
    const over5 = draws.filter((d) => d > 10_000).length / draws.length;
    expect(over5).toBeGreaterThan(0.015);
    expect(over5).toBeLessThan(0.03);
  });
});
