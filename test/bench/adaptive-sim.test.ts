// Keeps the adaptive simulation (bench/adaptive, issue 5) working: a shortened run of every
// scenario × policy on the test clock. Checks that nothing is lost and that the run is
// deterministic — not the goals, which are judged on the full simulation by `npm run bench`.
import { describe, expect, it } from 'vitest';
import { conserved, judge } from '../../bench/adaptive/goals.js';
import { scenarioChart } from '../../bench/adaptive/run.js';
import { SCENARIOS, shorten } from '../../bench/adaptive/scenarios.js';
import { POLICIES, simulate } from '../../bench/adaptive/simulate.js';

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
        summaries.push(summary);
      }
    }
    const goals = judge(summaries, short);
    expect(goals.map((g) => g.goal)).toHaveLength(6);
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
