/**
 * PostgreSQL benchmark (issue 17): scraper records (8 columns, ~200 bytes) into an unlogged and a
 * logged table on the local server, five ways, each run in a fresh process, rounds interleaved (the
 * first variant rotates), medians reported:
 * one-row INSERT in autocommit; one-row INSERTs in one transaction; multi-row INSERTs of 1,000; raw
 * COPY by hand (pg-copy-streams, text format); `postgresSink` at 10,000-record batches (COPY + ledger
 * row per batch, one transaction each). The one-row variants run on fewer records (they are two orders
 * of magnitude slower): rates, not totals, are compared.
 */
import os from 'node:os';
import pg from 'pg';
import { serverSettings } from '../../test/integration/postgres/database.js';
import { runWorker } from '../lib/child.js';
import { median } from '../lib/stats.js';
import { PG_VARIANTS, type PgRunResult, type PgVariant } from './worker.js';

export const POSTGRES_HEADING = '## PostgreSQL: postgresSink vs COPY and INSERTs by hand';

const LABELS: Record<(typeof PG_VARIANTS)[number], string> = {
  autocommit: 'one-row `INSERT`, autocommit',
  'one-txn': 'one-row `INSERT`s in one transaction',
  'multi-row': 'multi-row `INSERT` of 1,000 rows',
  copy: 'raw `COPY … FROM STDIN` by hand (pg-copy-streams, text)',
  postgresSink: '`postgresSink`, 10,000-record batches, up to 4 writes in flight (the default `concurrency`)',
  'postgresSink-serial':
    '`postgresSink`, 10,000-record batches, one write at a time (one partition, exactly-once without a checkpoint store)',
};

export async function postgresBench(options: { quick: boolean }): Promise<{
  section: string[];
  goals: { goal: string; value: string; pass: boolean }[];
}> {
  const { quick } = options;
  const bulk = quick ? 20_000 : 200_000;
  const counts: Record<(typeof PG_VARIANTS)[number], number> = {
    autocommit: quick ? 2_000 : 5_000,
    'one-txn': quick ? 2_000 : 10_000,
    'multi-row': bulk,
    copy: bulk,
    postgresSink: bulk,
    'postgresSink-serial': bulk,
  };
  const rounds = quick ? 1 : 3;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const database = `mb_bench_pg_${process.pid}`;
  const admin = new pg.Client({ ...serverSettings(), database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  const date = new Date();
  const version = (await admin.query('SHOW server_version')).rows[0].server_version as string;
  const runs: Record<string, PgRunResult[]> = {};
  try {
    for (let round = 1; round <= rounds; round++) {
      for (let k = 0; k < PG_VARIANTS.length; k++) {
        const variant = PG_VARIANTS[(round - 1 + k) % PG_VARIANTS.length]!;
        for (const table of ['unlogged', 'logged'] as const) {
          const result = await runWorker<PgRunResult>(
            'bench/postgres/worker.ts',
            [variant, table, String(counts[variant]), database],
            900_000,
          );
          (runs[`${variant}/${table}`] ??= []).push(result);
          log(
            `  postgres ${round}/${rounds} ${variant.padEnd(13)} ${table.padEnd(8)} ${Math.round(result.recordsPerSecond).toString().padStart(8)} records/s  peak RSS ${(result.peakRss / 2 ** 20).toFixed(0)} MiB`,
          );
        }
      }
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    await admin.end();
  }
  const rate = (v: PgVariant, t: string) => median(runs[`${v}/${t}`]!.map((r) => r.recordsPerSecond));
  const rss = (v: PgVariant, t: string) => median(runs[`${v}/${t}`]!.map((r) => r.peakRss));
  const int = (n: number) => Math.round(n).toLocaleString('en-US');
  const section = [
    POSTGRES_HEADING,
    '',
    `\`npm run bench -- --only postgres\`${quick ? ' --quick' : ''} · ${date.toISOString().slice(0, 10)} · PostgreSQL ${version} on the same machine (Unix socket) · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GB · load average at the start ${os.loadavg()[0]!.toFixed(1)} (the machine is shared with other agents: noisy) · median of ${rounds} interleaved round(s), each variant in a fresh process.`,
    '',
    `Records: ${int(bulk)} for COPY, multi-row and postgresSink; ${int(counts['one-txn'])} for one-row INSERTs in one transaction; ${int(counts.autocommit)} for one-row autocommit INSERTs (rates are compared, not totals). 8 columns (4 text, double, bigint, boolean, timestamptz), ~200 bytes a row as COPY text.`,
    '',
    '| variant | unlogged records/s | logged records/s | unlogged ×autocommit | logged ×autocommit | peak RSS (logged) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...PG_VARIANTS.map(
      (v) =>
        `| ${LABELS[v]} | ${int(rate(v, 'unlogged'))} | ${int(rate(v, 'logged'))} | ${(rate(v, 'unlogged') / rate('autocommit', 'unlogged')).toFixed(1)}× | ${(rate(v, 'logged') / rate('autocommit', 'logged')).toFixed(1)}× | ${(rss(v, 'logged') / 2 ** 20).toFixed(0)} MiB |`,
    ),
    '',
  ];
  const goals: { goal: string; value: string; pass: boolean }[] = [];
  for (const t of ['unlogged', 'logged']) {
    const vsCopy = rate('postgresSink', t) / rate('copy', t);
    const vsAuto = rate('postgresSink', t) / rate('autocommit', t);
    goals.push({
      goal: `postgresSink ≥ 0.8× raw COPY (${t})`,
      value: `${vsCopy.toFixed(2)}×`,
      pass: vsCopy >= 0.8,
    });
    goals.push({
      goal: `postgresSink ≥ 30× one-row autocommit INSERT (${t})`,
      value: `${vsAuto.toFixed(1)}×`,
      pass: vsAuto >= 30,
    });
  }
  // The pipeline's default memory budget is 64 MB; the goal allows 64 MB more over the process baseline.
  const sinkRss = Math.max(...['unlogged', 'logged'].map((t) => rss('postgresSink', t)));
  const baseline = median(runs['postgresSink/logged']!.map((r) => r.baselineRss));
  goals.push({
    goal: 'postgresSink peak RSS ≤ baseline + 64 MB budget + 64 MB',
    value: `${((sinkRss - baseline) / 2 ** 20).toFixed(0)} MiB over a ${(baseline / 2 ** 20).toFixed(0)} MiB baseline`,
    pass: sinkRss - baseline <= 128 * 2 ** 20,
  });
  section.push(
    '| goal | measured | met |',
    '| --- | --- | --- |',
    ...goals.map((g) => `| ${g.goal} | ${g.value} | ${g.pass ? 'yes' : 'no'} |`),
    '',
  );
  return { section, goals };
}

export const POSTGRES_FORMAT_HEADING = '## PostgreSQL: COPY text vs binary format';

/**
 * The COPY format, measured by hand-written COPYs of the same records into an unlogged table: text
 * (what postgresSink sends) vs binary (PostgreSQL's send formats: float8/int8 big-endian, timestamptz
 * as µs since 2000). Rounds interleaved, medians.
 */
export async function postgresFormatBench(options: { quick: boolean }): Promise<{
  section: string[];
  goals: { goal: string; value: string; pass: boolean }[];
}> {
  const records = options.quick ? 20_000 : 200_000;
  const rounds = options.quick ? 1 : 5;
  const database = `mb_bench_pgfmt_${process.pid}`;
  const admin = new pg.Client({ ...serverSettings(), database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  const runs: Record<'copy' | 'copy-binary', number[]> = { copy: [], 'copy-binary': [] };
  try {
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? (['copy', 'copy-binary'] as const) : (['copy-binary', 'copy'] as const);
      for (const variant of order) {
        const result = await runWorker<PgRunResult>('bench/postgres/worker.ts', [
          variant,
          'unlogged',
          String(records),
          database,
        ]);
        runs[variant].push(result.recordsPerSecond);
        process.stderr.write(
          `  postgres-format ${round}/${rounds} ${variant.padEnd(12)} ${Math.round(result.recordsPerSecond)} records/s\n`,
        );
      }
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    await admin.end();
  }
  const text = median(runs.copy);
  const binary = median(runs['copy-binary']);
  const int = (n: number) => Math.round(n).toLocaleString('en-US');
  return {
    section: [
      POSTGRES_FORMAT_HEADING,
      '',
      `\`npm run bench -- --only postgres-format\` · ${new Date().toISOString().slice(0, 10)} · same machine and server as above · ${int(records)} records into an unlogged table, ${rounds} interleaved rounds, medians · runs: text ${runs.copy.map(int).join(', ')}; binary ${runs['copy-binary'].map(int).join(', ')}.`,
      '',
      '| COPY format (hand-written, pg-copy-streams) | records/s | vs text |',
      '| --- | ---: | ---: |',
      `| text | ${int(text)} | 1.00× |`,
      `| binary | ${int(binary)} | ${(binary / text).toFixed(2)}× |`,
      '',
    ],
    goals: [],
  };
}
