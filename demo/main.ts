/**
 * `npm run demo`: a simulated scraper fleet through a microbatch pipeline into a Parquet lake on the
 * local disk, traced window by window, then checked with DuckDB and compacted. No servers needed.
 *
 * Exit codes: 0 every check passed, 1 a check failed or the pipeline failed, 2 bad command line.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCommandLine as parseOptions } from '../src/cli/args.js';
import { MicrobatchError, parseDuration } from '../src/index.js';

const USAGE = `usage: npm run demo -- [options]

  --duration <d>   how long the scrapers run: '20s', '1m', '500ms', or a bare number of
                   seconds (10 is 10 s) (default 20s)
  --rate <n>       records per second the fleet aims at, in bursts (default 400)
  --seed <n>       seeds the fleet: the same seed sends the same records (default 1)
  --out <dir>      a new or empty directory for the lake and the dead letters
                   (default ./demo-out/run-<time>, git-ignored)
  --help, -h       this text`;

class UsageError extends Error {}

function parseCommandLine(argv: string[]) {
  let values: Record<string, string | boolean | undefined>;
  try {
    let positionals: string[];
    ({ values, positionals } = parseOptions(argv, {
      duration: { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }));
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help === true) return { help: true as const };
  let duration = 20_000;
  if (typeof values.duration === 'string') {
    try {
      // A bare number is seconds here: nobody means `--duration 10` as 10 ms of scraping.
      const bare = /^\d+(\.\d+)?$/.test(values.duration);
      duration = parseDuration(bare ? `${values.duration}s` : values.duration, '--duration');
    } catch (error) {
      throw new UsageError(MicrobatchError.is(error) ? error.message : String(error));
    }
  }
  const rate = values.rate === undefined ? 400 : Number(values.rate);
  if (!(Number.isFinite(rate) && rate > 0))
    throw new UsageError(`--rate must be a positive number of records/s; got '${values.rate}'`);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be an integer; got '${values.seed}'`);
  if (values.out === '') throw new UsageError('--out must be a directory path');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = typeof values.out === 'string' ? values.out : join('demo-out', `run-${stamp}-seed${seed}`);
  return { help: false as const, duration, rate, seed, out };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseCommandLine>;
  try {
    args = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`demo: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  // The checks compare the lake with this run's report: an earlier run's files would not add up.
  let existing: string[] = [];
  try {
    existing = await readdir(args.out);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') {
      console.error(`demo: --out ${args.out}: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
  }
  if (existing.length > 0) {
    console.error(`demo: --out ${args.out} is not empty; give a new or empty directory\n\n${USAGE}`);
    return 2;
  }
  // Ctrl-C ends the scraping early; the pipeline drains and the summary runs. A second one kills.
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    console.error('demo: interrupted; draining the pipeline (Ctrl-C again to quit at once)');
    interrupt.abort();
  });
  try {
    // Loaded after the command line is checked: a usage error does not wait for DuckDB to load.
    const { runDemo } = await import('./run.js');
    const result = await runDemo({
      duration: args.duration,
      rate: args.rate,
      seed: args.seed,
      out: args.out,
      signal: interrupt.signal,
    });
    return result.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof Error && error.name === 'EmptyRunError') {
      console.error(`demo: ${error.message}`);
      return 1;
    }
    console.error('demo failed:', error);
    return 1;
  }
}

process.exitCode = await main();
