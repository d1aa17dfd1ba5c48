/** The adaptive simulation's section of bench/RESULTS.md. */
import { type ResultsInput, table } from '../lib/report.js';
import type { AdaptiveResult } from './run.js';
import { BASE_RATE } from './scenarios.js';
import { MAX_RECORDS, POLICIES } from './simulate.js';

/** The heading of the adaptive section: `--only adaptive` replaces from here to the next `## `. */
export const ADAPTIVE_HEADING = '## Adaptive trigger: simulated warehouse';

const sec = (ms: number) => (ms / 1000).toFixed(1);
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

export function adaptiveSection(
  result: AdaptiveResult,
  run: { date: Date; machine: ResultsInput['machine']; command: string },
): string[] {
  const w = result.warehouse;
  const label = (policy: string) => POLICIES.find((p) => p.name === policy)?.label ?? policy;
  const lines: string[] = [
    ADAPTIVE_HEADING,
    '',
    'Real microbatch pipelines (`src/`, not `dist/`) on `testClock`, fed by a simulated scraper and writing to a ' +
      'simulated warehouse (`bench/adaptive/`). Deterministic: the same numbers on every machine; the retry jitter ' +
      `runs on a seeded generator. ${result.runs.length} runs, ${result.scenarios.reduce((n, s) => n + s.minutes, 0) * (result.runs.length / result.scenarios.length)} simulated minutes, ` +
      `${(result.realMs / 1000).toFixed(1)} s of real time.`,
    '',
    `**Warehouse** (the same for every policy): a transaction costs \`C_conn + N × T_insert\` with C_conn = ${w.connMs / 1000} s ` +
      `(connection, statement, commit — a warehouse COPY) and T_insert = ${w.insertMs} ms per row; a transaction that ` +
      `starts while k others run takes (1 + ${w.contention}·k) times as long (lock contention); beyond ${w.capacity} ` +
      `concurrent transactions a new one is refused after ${w.rejectMs} ms with a retryable error. At ${MAX_RECORDS.toLocaleString('en-US')}-row ` +
      `batches it absorbs about ${Math.round((w.capacity * MAX_RECORDS) / (((w.connMs + MAX_RECORDS * w.insertMs) * (1 + w.contention * (w.capacity - 1))) / 1000)).toLocaleString('en-US')} rows/s: ` +
      `far above the steady ${BASE_RATE} records/s, just below the 10× burst.`,
    '',
    `**Policies**: every one caps batches at ${MAX_RECORDS.toLocaleString('en-US')} records (the Snowflake Kafka connector's default; ` +
      'records are ~200 bytes, so no byte cap is reached and none is set). Retries: exponential back-off from 1 s to 30 s ' +
      'with full jitter, unlimited attempts. Write concurrency: the pipeline default (4) for the fixed policies; ' +
      'adaptive sets its own (ARC, 1…8). The volume-only policy flushes at 10,000 records, as Kafka Connect does with `flush.size`.',
    '',
    'Transactions = successful writes; rejected = refused (or aborted) write attempts; latency = per record, from its arrival ' +
      'at the source to the source commit of its batch (nearest-rank quantiles); peak buffered = most bytes held in the ' +
      'pipeline (lanes + batches in flight, `metrics().buffer.heldBytes`) plus records waiting in the source, sampled every simulated second. Trickle batch = mean batch size of the batches whose records arrived while the scraper was blocked. In the trickle, the p50/p99 are dominated by the 120,000 records of the first 10 minutes; the 360 trickle records show in the max (a trickle record waits up to `maxWindow` under adaptive, and until the final drain under volume-only).',
    '',
    `**Outage** (issue 18): the warehouse refuses every write that starts between minute 10 and minute 20 (retryable, after ${w.rejectMs} ms), ` +
      'then is healthy; "p99 after recovery" is the p99 latency of the records that arrived after the recovery + 2 × maxWindow (minute 30). ' +
      '**Noisy healthy**: no refusals at all, and every round trip is drawn from a lognormal distribution (median 2 s, σ 0.8: ' +
      'one in 12 writes over 3× the median, one in 45 over 5×) instead of the cost model, from a seeded generator.',
    '',
    `- Date: ${run.date.toISOString()}; machine: ${run.machine.cpu}, ${run.machine.cores} cores, Node ${run.machine.node}`,
    `- Command: \`${run.command}\` (or on its own: \`npx tsx bench/adaptive/run.ts\`, which also writes the charts)`,
    '',
    '### Goals',
    '',
    ...table(
      ['goal', 'measured', 'result'],
      ['left', 'left', 'left'],
      result.goals.map((g) => [g.goal, g.measured, g.pass ? '**pass**' : '**FAIL**']),
    ),
    '',
  ];
  for (const scenario of result.scenarios) {
    const runs = result.runs.filter((r) => r.scenario === scenario.name);
    lines.push(
      `### ${scenario.title}`,
      '',
      `![adaptive window, batch size and latency over time: ${scenario.name}](../docs/adaptive-${scenario.name}.svg)`,
      '',
      ...table(
        [
          'policy',
          'transactions',
          'rejected writes',
          'p50 latency (s)',
          'p99 latency (s)',
          'max latency (s)',
          'peak buffered (MB)',
          'mean batch',
          ...(scenario.name === 'trickle' ? ['trickle batch'] : []),
          ...(scenario.name === 'outage' ? ['p99 after recovery (s)'] : []),
        ],
        ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
        runs.map((r) => [
          r.policy === 'adaptive' ? `**${label(r.policy)}**` : label(r.policy),
          String(r.transactions),
          String(r.rejected),
          sec(r.latency.p50),
          sec(r.latency.p99),
          sec(r.latency.max),
          mb(r.peakBufferedBytes),
          Math.round(r.meanBatch).toLocaleString('en-US'),
          ...(scenario.name === 'trickle' ? [r.lastPhaseMeanBatch.toFixed(1)] : []),
          ...(scenario.name === 'outage' ? [sec(r.afterRecoveryP99 ?? 0)] : []),
        ]),
      ),
      '',
    );
  }
  return lines;
}
