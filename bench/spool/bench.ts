/**
 * spoolSource intake (issue 13) against pushSource, in the same run: a producer with `await push()`
 * and one with `pushMany(500)`, records of about 200 bytes, each variant in a fresh process,
 * interleaved round by round (the machine is shared: medians of the rounds are reported).
 *
 * Goals: `pushMany` with durability 'process' ≥ 0.5× pushSource's; with 'machine' ≥ 100,000
 * records/s; peak RSS independent of the spool's size on disk (a backlog 10× larger spooled before
 * the pipeline starts leaves peak RSS within 25% or 32 MB).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorker } from '../lib/child.js';
import { median } from '../lib/stats.js';

export const SPOOL_HEADING = '## Spool source intake';

interface Result {
  wall: number;
  cpu: number;
  recordsPerSecond: number;
  peakRssMB: number;
  bytesPerRecord: number;
}

const VARIANTS = [
  ['push', 'await-push'],
  ['spool-process', 'await-push'],
  ['spool-machine', 'await-push'],
  ['push', 'pushMany500'],
  ['spool-process', 'pushMany500'],
  ['spool-machine', 'pushMany500'],
  ['spool-machine', 'pushMany500x2'],
] as const;

const worker = join(import.meta.dirname, 'worker.ts');

async function once(args: string[]): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'mb-bench-spool-'));
  try {
    return await runWorker<Result>(worker, [...args.slice(0, 3), dir, ...args.slice(3)], 600_000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function spoolBench({ quick }: { quick: boolean }) {
  const rounds = quick ? 1 : 3;
  const records = quick ? 50_000 : 100_000;
  const backlogs = quick ? [20_000, 200_000] : [50_000, 500_000];
  const results = new Map<string, Result[]>();
  const add = (key: string, r: Result) => results.set(key, [...(results.get(key) ?? []), r]);
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round, so no variant always runs first or last.
    for (let k = 0; k < VARIANTS.length; k++) {
      const [source, producer] = VARIANTS[(k + round) % VARIANTS.length]!;
      add(`${source} ${producer}`, await once([source, producer, String(records)]));
    }
    for (const backlog of backlogs) {
      add(
        `backlog ${backlog}`,
        await once(['spool-process', 'pushMany500', String(records), String(backlog)]),
      );
    }
    process.stderr.write(`  spool round ${round + 1}/${rounds} done\n`);
  }
  const med = (key: string, f: (r: Result) => number) => median(results.get(key)!.map(f));
  const rate = (key: string) => med(key, (r) => r.recordsPerSecond);
  const rss = (key: string) => med(key, (r) => r.peakRssMB);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const ratio = rate('spool-process pushMany500') / rate('push pushMany500');
  const cpuRatio = med('push pushMany500', (r) => r.cpu) / med('spool-process pushMany500', (r) => r.cpu);
  const machine = rate('spool-machine pushMany500');
  const small = rss(`backlog ${backlogs[0]}`);
  const large = rss(`backlog ${backlogs[1]}`);
  const rssOk = large <= small * 1.25 || large - small <= 32;
  const goals = [
    {
      goal: "pushMany, durability 'process' ≥ 0.5× pushSource",
      value: `${ratio.toFixed(2)}× by wall time (${cpuRatio.toFixed(2)}× by CPU time)`,
      pass: ratio >= 0.5,
    },
    {
      goal: "pushMany, durability 'machine' ≥ 100,000 records/s",
      value: `${fmt(machine)} records/s`,
      pass: machine >= 100_000,
    },
    {
      goal: 'peak RSS independent of the spool size',
      value: `${small.toFixed(0)} MB (backlog ${fmt(backlogs[0]!)}) vs ${large.toFixed(0)} MB (backlog ${fmt(backlogs[1]!)})`,
      pass: rssOk,
    },
  ];
  const bytes = results.get('push await-push')![0]!.bytesPerRecord;
  const section = [
    SPOOL_HEADING,
    '',
    `\`npm run bench -- --only spool${quick ? ' --quick' : ''}\` — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the end (a machine shared with other test suites).`,
    '',
    `${fmt(records)} records of ${bytes} bytes (as stored) per variant, each variant in a fresh process, ${rounds} interleaved round(s), medians; time from the first push until \`run()\` resolved with every record delivered to a sink that keeps nothing (volume trigger, 10,000 records).`,
    '',
    '| source | producer | records/s (wall) | CPU s | peak RSS MB |',
    '| --- | --- | ---: | ---: | ---: |',
    ...VARIANTS.map(([source, producer]) => {
      const key = `${source} ${producer}`;
      const how = {
        'await-push': '`await push()`',
        pushMany500: '`pushMany(500)`',
        pushMany500x2: '2 producers × `pushMany(500)`',
      }[producer];
      return `| ${source} | ${how} | ${fmt(rate(key))} | ${med(key, (r) => r.cpu).toFixed(2)} | ${rss(key).toFixed(0)} |`;
    }),
    ...backlogs.map(
      (b) =>
        `| spool-process, ${fmt(b)} records spooled first (~${fmt((b * bytes) / 1e6)} MB on disk) | \`pushMany(500)\` | ${fmt(rate(`backlog ${b}`))} (new records only) | ${med(`backlog ${b}`, (r) => r.cpu).toFixed(2)} | ${rss(`backlog ${b}`).toFixed(0)} |`,
    ),
    '',
    '| goal | measured | |',
    '| --- | --- | --- |',
    ...goals.map((g) => `| ${g.goal} | ${g.value} | ${g.pass ? 'PASS' : 'FAIL'} |`),
    '',
  ];
  return { section, goals, raw: Object.fromEntries(results) };
}
