/**
 * One throughput run in its own process: `tsx bench/throughput/worker.ts <variant> <mode> [records]`.
 * Loads only the implementation under test, runs the workload once, checks that every record
 * arrived in batches of at most 5,000, and prints records/s and peak RSS.
 */
import { emitResult } from '../lib/child.js';
import { type ThroughputResult, VARIANTS, type Variant } from '../lib/types.js';
import { BATCH_RECORDS, type Counter, type Mode, RECORDS } from '../lib/workload.js';

async function load(variant: Variant): Promise<(mode: Mode, count: number) => Promise<Counter>> {
  switch (variant) {
    case 'microbatch': {
      const m = await import('./microbatch.js');
      return (mode, count) => m.run(mode, count, { sizeEach: false });
    }
    case 'microbatch-sized': {
      const m = await import('./microbatch.js');
      return (mode, count) => m.run(mode, count, { sizeEach: true });
    }
    case 'rxjs':
      return (await import('./rxjs.js')).run;
    case 'effect':
      return (await import('./effect.js')).run;
    case 'hand':
      return (await import('./hand.js')).run;
  }
}

async function main(): Promise<void> {
  const [variant, mode, countArg] = process.argv.slice(2);
  if (!VARIANTS.includes(variant as Variant) || (mode !== 'single' && mode !== 'arrays')) {
    throw new Error(`usage: worker.ts <${VARIANTS.join('|')}> <single|arrays> [records]`);
  }
  const count = countArg === undefined ? RECORDS : Number(countArg);
  const run = await load(variant as Variant);
  const baselineRss = process.memoryUsage().rss;
  const started = performance.now();
  const counter = await run(mode, count);
  const elapsedMs = performance.now() - started;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  if (counter.records !== count) {
    throw new Error(`${variant}/${mode}: the sink counted ${counter.records} records, expected ${count}`);
  }
  if (counter.largest > BATCH_RECORDS) {
    throw new Error(`${variant}/${mode}: a batch held ${counter.largest} records (cap ${BATCH_RECORDS})`);
  }
  const result: ThroughputResult = {
    variant: variant as Variant,
    mode,
    records: counter.records,
    batches: counter.batches,
    largestBatch: counter.largest,
    elapsedMs,
    recordsPerSecond: count / (elapsedMs / 1000),
    baselineRss,
    peakRss,
  };
  emitResult(result);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
