/**
 * The demo as a function: a simulated scraper fleet → a microbatch pipeline → a Parquet lake and a
 * dead-letter directory, traced as it runs; then the lake is read back with DuckDB, checked against
 * the delivery report, compacted, and read again. `demo/main.ts` is its command line; the tests call
 * it with a test clock.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Clock,
  type CompactionReport,
  compactLake,
  type DeliveryReport,
  dedupe,
  jsonLinesDeadLetter,
  MicrobatchError,
  parquetLakeSink,
  pipeline,
  pushSource,
  redact,
  systemClock,
  triggers,
  validate,
} from '../src/index.js';
import { seededRandom } from '../src/testing/index.js';
import { type FleetStats, runFleet } from './fleet.js';
import { LakeRow, PriceV3, PriceV4, type Scraped } from './records.js';
import {
  balanceCheck,
  type Check,
  deadLettersByReason,
  type HourRows,
  type LakeFiles,
  LakeReader,
  lakeFiles,
} from './summary.js';
import { bytes, duration, tally, traceDemo } from './trace.js';

/** The lake table the demo writes. */
export const TABLE = 'prices';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where the lake (`<out>/lake/prices/…`) and the dead letters (`<out>/dead-letters/`) go; must be empty or missing. */
  out: string;
  /** How long the scrapers run, in ms of `clock` time. @default 20_000 */
  duration?: number;
  /** Records per second the fleet aims at, in bursts of pages. @default 400 */
  rate?: number;
  /** Seeds the fleet: the same seed sends the same records. @default 1 */
  seed?: number;
  /** The clock the fleet and the pipeline run on. @default the system clock */
  clock?: Clock;
  /** Where the trace and the summary go, one line at a time. @default console.log */
  print?: (line: string) => void;
  /**
   * The HMAC key that hashes sellers' e-mail addresses (at least 16 bytes). @default 32 random bytes
   * per run, so hashes are not comparable across runs
   */
  secret?: string | Uint8Array;
  /** Ends the scraping early; the pipeline still drains and the summary still runs. @default none */
  signal?: AbortSignal;
}

/** What {@link runDemo} found. */
export interface DemoResult {
  /** Every check passed. */
  ok: boolean;
  /** The summary's checks, in the order printed. */
  checks: Check[];
  /** The pipeline's delivery report. */
  report: DeliveryReport;
  /** What the fleet sent. */
  fleet: FleetStats;
  /** Rows the pipeline kept, per schema version. */
  versions: Record<string, number>;
  /** The lake as DuckDB reads it, before compaction. */
  lake: { rows: number; hours: HourRows[]; files: LakeFiles };
  /** Dead letters on disk: lines, files, lines by reason. */
  deadLetters: { total: number; files: number; byReason: Record<string, number> };
  /** Notes still holding an e-mail address, and sellers that are not HMACs (both 0 when redaction worked). */
  leaks: { emailsInNotes: number; plainSellers: number };
  /** Up to three distinct redacted notes. */
  redactedSample: string[];
  /** What `compactLake` reported. */
  compaction: CompactionReport;
  /** After compaction. */
  compacted: { rows: number; files: LakeFiles };
}

/** The run wrote nothing to the lake (too short a `duration`): there is nothing to check. */
export class EmptyRunError extends Error {
  override readonly name = 'EmptyRunError';
}

/** Runs the fleet through the pipeline into `<out>`, then reads, checks and compacts the lake. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const clock = options.clock ?? systemClock;
  const print = options.print ?? ((line: string) => console.log(line));
  const runFor = options.duration ?? 20_000;
  const rate = options.rate ?? 400;
  const seed = options.seed ?? 1;
  const out = options.out;
  if (!(Number.isFinite(runFor) && runFor > 0)) {
    throw new MicrobatchError(
      'MB_INVALID_OPTIONS',
      `runDemo: duration must be a positive number of ms; got ${runFor}`,
    );
  }
  if (!(Number.isFinite(rate) && rate > 0)) {
    throw new MicrobatchError(
      'MB_INVALID_OPTIONS',
      `runDemo: rate must be a positive number of records/s; got ${rate}`,
    );
  }
  if (!Number.isSafeInteger(seed)) {
    throw new MicrobatchError('MB_INVALID_OPTIONS', `runDemo: seed must be an integer; got ${seed}`);
  }
  await mkdir(out, { recursive: true });
  if ((await readdir(out)).length > 0) {
    throw new MicrobatchError(
      'MB_INVALID_OPTIONS',
      `runDemo: ${out} is not empty; the checks compare the lake with this run's report, so give a new or empty directory`,
    );
  }
  const lakeDir = join(out, 'lake');
  const deadDir = join(out, 'dead-letters');
  const tableRoot = join(lakeDir, TABLE);

  const source = pushSource<Scraped>({ highWaterMark: 2_000 });
  const versions = tally();
  const p = pipeline({ name: TABLE, clock, maxBufferBytes: '32MB', retry: { random: seededRandom(seed) } })
    .source(source)
    // The scrape time is the event time. Pages finish within seconds of each other (out of order);
    // the retry queue delivers up to 85 minutes late, inside the allowed lateness, into its own
    // (earlier) hour. Anything later is dead-lettered as too_late: hour partitions are closed with
    // _SUCCESS and compacted, so a straggler goes where a person decides about it instead of
    // silently reopening an hour downstream jobs already read.
    .eventTime((r) => (r as { scrapedAt?: string }).scrapedAt, {
      maxOutOfOrderness: '10s',
      allowedLateness: '90m',
      late: 'dead-letter',
      partitionBy: 'hour',
    })
    .trigger(
      triggers.adaptive({
        minWindow: '1s',
        maxWindow: '8s',
        maxRecords: 5_000,
        minRecords: 50,
        maxConcurrency: 4,
      }),
    )
    .transform(
      validate({ versions: { v3: PriceV3, v4: PriceV4 }, pick: (r) => r?.schema }),
      // A retried page repeats records exactly: same shop, SKU and scrape time.
      dedupe((r: LakeRow) => `${r.shop}|${r.sku}|${r.scrapedAt.getTime()}`, {
        scope: { ttl: '15m', maxKeys: 200_000 },
      }),
      redact<LakeRow>(
        { notes: { detect: ['email', 'phone'], with: { replace: '[redacted]' } }, seller: 'hash' },
        { secret: options.secret ?? randomBytes(32) },
      ),
      versions.transform,
    )
    .sink(parquetLakeSink<LakeRow>({ dir: lakeDir, table: TABLE, schema: LakeRow, compression: 'zstd' }))
    .deadLetter(jsonLinesDeadLetter({ dir: deadDir }))
    .build();

  print(
    `microbatch demo · seed ${seed} · ${duration(runFor)} of scraping at ~${rate} records/s · out ${out}`,
  );
  print(
    `pipeline ${TABLE}: pushSource (5 scrapers, one lane each) → adaptive trigger (window 1s…8s, ≤ 5000 records) → validate v3|v4 → dedupe (15m) → redact notes, hash seller → Parquet lake (hour partitions, zstd) + JSON-lines dead letters`,
  );
  print('event time: scrapedAt · out of order ≤ 10s · allowed lateness 90m · later → dead letter (too_late)');
  print('');
  const stopTrace = traceDemo(p, { print, clock, tally: versions });
  let report: DeliveryReport;
  let fleet: FleetStats;
  try {
    const running = p.run();
    fleet = await runFleet({ source, clock, duration: runFor, rate, seed, signal: options.signal });
    // No more pages: the pipeline drains, and the end of input completes every hour (_SUCCESS).
    source.end();
    report = await running;
  } finally {
    stopTrace();
  }
  return summarize({
    print,
    clock,
    report,
    fleet,
    versions: versions.total,
    tableRoot,
    lakeDir,
    deadDir,
    runFor,
  });
}

async function summarize(run: {
  print: (line: string) => void;
  clock: Clock;
  report: DeliveryReport;
  fleet: FleetStats;
  versions: Record<string, number>;
  tableRoot: string;
  lakeDir: string;
  deadDir: string;
  runFor: number;
}): Promise<DemoResult> {
  const { print, report, fleet } = run;
  const checks: Check[] = [];
  const check = (c: Check) => {
    checks.push(c);
    print(`check    ${c.detail}  ${c.ok ? 'OK' : 'MISMATCH'}`);
  };
  const r = report.records;
  print('');
  print('── summary ──────────────────────────────────────────────────────────────');
  print(
    `fleet    ${fleet.pages} pages, ${fleet.records} records (v3 ${fleet.v3}, v4 ${fleet.v4}); re-sent ${fleet.resent}, from the retry queue ${fleet.delayed}, hours late ${fleet.stale}, broken ${Object.values(fleet.broken).reduce((a, b) => a + b, 0)}, contacts in notes ${fleet.contactsInNotes}`,
  );
  print(
    `pipeline ${report.status} · ${report.batches.written} batches (${Object.entries(report.batches.byReason)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ')}) · ${report.guarantee}`,
  );
  check(balanceCheck(report));
  check({
    name: 'fleet',
    ok: r.in === fleet.records,
    detail: `records in ${r.in} = records the fleet sent ${fleet.records}`,
  });

  if (r.written === 0) {
    // Nothing to read back: DuckDB and compaction would only fail on a lake that does not exist.
    print('result   EMPTY');
    throw new EmptyRunError(
      `nothing reached the lake: ${r.in} records in ${duration(run.runFor)} of scraping (${r.deadLettered} dead-lettered); run longer, e.g. --duration 10s`,
    );
  }
  const reader = await LakeReader.open(run.tableRoot);
  try {
    const files = await lakeFiles(run.tableRoot);
    const rows = await reader.count();
    check({
      name: 'lake',
      ok: rows === r.written,
      detail: `lake rows (DuckDB) ${rows} = written ${r.written}`,
    });
    const deadLetters = await deadLettersByReason(run.deadDir);
    check({
      name: 'dead-letters',
      ok: deadLetters.total === r.deadLettered,
      detail: `dead letters on disk ${deadLetters.total} = dead-lettered ${r.deadLettered}`,
    });
    const hours = await reader.hours(run.tableRoot);
    print(`rows per hour partition (DuckDB over ${files.files} files, ${bytes(files.bytes)}):`);
    for (const hour of hours) {
      const split = Object.entries(hour.versions)
        .map(([version, n]) => `${version} ${n}`)
        .join(' · ');
      print(
        `  ${hour.path}  ${String(hour.rows).padStart(6)} rows  ${split.padEnd(20)} ${hour.success ? '_SUCCESS' : 'no _SUCCESS'}`,
      );
    }
    const marked = hours.filter((h) => h.success).length;
    check({
      name: 'markers',
      ok: marked === hours.length && files.partitions.length === hours.length,
      detail: `_SUCCESS in ${marked} of ${hours.length} hour partitions`,
    });
    print(
      `dead letters by reason (${deadLetters.files} files): ${
        Object.entries(deadLetters.byReason)
          .sort(([, a], [, b]) => b - a)
          .map(([reason, n]) => `${reason} ${n}`)
          .join(' · ') || 'none'
      }`,
    );
    const leaks = await reader.leaks();
    const redactedSample = await reader.redactedSample(3);
    for (const note of redactedSample) print(`redacted ${JSON.stringify(note)}`);
    check({
      name: 'redaction',
      ok: leaks.emailsInNotes === 0 && leaks.plainSellers === 0,
      detail: `e-mail addresses left in notes ${leaks.emailsInNotes}, sellers not hashed ${leaks.plainSellers}`,
    });

    const compaction = await compactLake({
      dir: run.lakeDir,
      table: TABLE,
      targetFileBytes: '64MB',
      minInputFiles: 2,
      clock: run.clock,
    });
    const after = await lakeFiles(run.tableRoot);
    print(
      `compact  ${compaction.filesBefore} files, ${bytes(compaction.bytesBefore)} → ${compaction.filesAfter} files, ${bytes(compaction.bytesAfter)} in ${compaction.partitionsCompacted} of ${compaction.partitionsScanned} closed partitions (${compaction.rowsRewritten} rows rewritten, ${duration(compaction.durationMs)})`,
    );
    const rowsAfter = await reader.count();
    check({
      name: 'compaction',
      ok: rowsAfter === rows && after.files <= files.files,
      detail: `lake rows after compaction ${rowsAfter} = ${rows} (files ${files.files} → ${after.files})`,
    });
    const ok = checks.every((c) => c.ok);
    print(`result   ${ok ? 'OK' : 'MISMATCH'}`);
    return {
      ok,
      checks,
      report,
      fleet,
      versions: run.versions,
      lake: { rows, hours, files },
      deadLetters,
      leaks,
      redactedSample,
      compaction,
      compacted: { rows: rowsAfter, files: after },
    };
  } finally {
    reader.close();
  }
}
