/**
 * The demo end to end on a test clock: 20 s of simulated scraping go through the pipeline into a
 * Parquet lake in a temporary directory, then the lake is read back here with DuckDB, on its own,
 * and held against the delivery report. Nothing here depends on wall time.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoResult, runDemo, TABLE } from '../../demo/run.js';
import { testClock } from '../../src/testing/clock.js';

/** 2026-11-25 14:20 UTC: the retry queue's records (10–85 minutes old) fall in hours 13 and 12. */
const START = Date.UTC(2026, 10, 25, 14, 20);
const START_HOUR = 'dt=2026-11-25/hr=14';

let out: string;
let result: DemoResult;
let lines: string[];
let db: DuckDBInstance;

/** Runs `sql` over the lake table, `FROM lake` standing for it; bigints as numbers. */
async function query(sql: string): Promise<Record<string, unknown>[]> {
  const glob = join(out, 'lake', TABLE, '**', '*.parquet').replaceAll("'", "''");
  const connection = await db.connect();
  try {
    const reader = await connection.runAndReadAll(
      sql.replace(
        'FROM lake',
        `FROM read_parquet('${glob}', hive_partitioning = true, hive_types_autocast = false)`,
      ),
    );
    return reader
      .getRowObjectsJS()
      .map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
      );
  } finally {
    connection.closeSync();
  }
}

/** Partition directories below the table (paths such as `dt=2026-11-25/hr=14`) and their file names. */
async function partitions(): Promise<Map<string, string[]>> {
  const root = join(out, 'lake', TABLE);
  const found = new Map<string, string[]>();
  for (const dt of await readdir(root)) {
    for (const hr of await readdir(join(root, dt)))
      found.set(`${dt}/${hr}`, await readdir(join(root, dt, hr)));
  }
  return found;
}

const dataFiles = (names: string[]) => names.filter((n) => n.endsWith('.parquet') && !/^[._]/.test(n));

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'mb-demo-'));
  db = await DuckDBInstance.create(':memory:');
  lines = [];
  const clock = testClock(START);
  result = await clock.runUntil(
    runDemo({ out, duration: 20_000, rate: 400, seed: 7, clock, print: (line) => lines.push(line) }),
    { maxRealMs: 120_000 },
  );
}, 180_000);

afterAll(async () => {
  db?.closeSync();
  if (out !== undefined) await rm(out, { recursive: true, force: true });
});

describe('npm run demo, on a test clock', () => {
  it('accounts for every record: in = written + dead-lettered + duplicates, and in = what the fleet sent', () => {
    const r = result.report.records;
    expect(result.report.status).toBe('completed');
    expect(r.in).toBe(result.fleet.records);
    expect(r.undelivered).toBe(0);
    expect(r.in).toBe(r.written + r.deadLettered + r.duplicates + r.droppedLate + r.filtered);
    // Every kind of trouble the fleet makes shows up in the counts.
    expect(r.duplicates).toBeGreaterThan(0);
    expect(r.deadLettered).toBeGreaterThan(0);
    const check = lines.find((l) => l.startsWith('check    in '));
    expect(check).toBe(
      `check    in ${r.in} = written ${r.written} + dead-lettered ${r.deadLettered} + duplicates ${r.duplicates}  OK`,
    );
    expect(result.ok).toBe(true);
    expect(lines.at(-1)).toBe('result   OK');
  });

  it('the lake holds exactly the written records, as DuckDB counts them', async () => {
    const [row] = await query('SELECT count(*) AS n FROM lake');
    expect(row?.n).toBe(result.report.records.written);
    expect(result.report.records.written).toBeGreaterThan(1_000);
  });

  it('every hour partition has its _SUCCESS marker, written at the end of input', async () => {
    const found = await partitions();
    expect(found.size).toBeGreaterThanOrEqual(2);
    for (const [path, names] of found) {
      expect(names, path).toContain('_SUCCESS');
      const marker = JSON.parse(await readFile(join(out, 'lake', TABLE, path, '_SUCCESS'), 'utf8'));
      expect(marker).toMatchObject({ pipeline: TABLE, watermark: null });
      expect(marker.records).toBeGreaterThan(0);
    }
  });

  it('no e-mail address survives in the notes, and sellers are hashes', async () => {
    expect(result.fleet.contactsInNotes).toBeGreaterThan(0);
    const rows = await query('SELECT notes, seller FROM lake');
    const email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/;
    const notes = rows.map((r) => r.notes).filter((n): n is string => typeof n === 'string');
    expect(notes.filter((n) => email.test(n))).toEqual([]);
    expect(notes.filter((n) => n.includes('[redacted]')).length).toBeGreaterThan(0);
    const sellers = rows.map((r) => r.seller).filter((s): s is string => typeof s === 'string');
    expect(sellers.length).toBeGreaterThan(0);
    for (const seller of sellers) expect(seller).toMatch(/^[0-9a-f]{64}$/);
  });

  it('both schema versions reached the lake, as one table', async () => {
    const rows = await query('SELECT schemaVersion AS v, count(*) AS n FROM lake GROUP BY v ORDER BY v');
    expect(rows.map((r) => r.v)).toEqual(['v3', 'v4']);
    for (const row of rows) expect(row.n).toBeGreaterThan(100);
    expect(result.versions).toEqual(Object.fromEntries(rows.map((r) => [r.v, r.n])));
  });

  it('late records land in earlier hour partitions by their scrape time', async () => {
    const rows = await query(
      "SELECT 'dt=' || dt || '/hr=' || hr AS path, count(*) AS n, max(scrapedAt) AS newest FROM lake GROUP BY path ORDER BY path",
    );
    const earlier = rows.filter((r) => String(r.path) < START_HOUR);
    expect(earlier.length).toBeGreaterThan(0);
    for (const row of earlier) expect((row.newest as Date).getTime()).toBeLessThan(START);
    expect(rows.find((r) => r.path === START_HOUR)?.n).toBeGreaterThan(1_000);
  });

  it('records beyond the allowed lateness, and broken ones, are dead letters with reasons', async () => {
    const dir = join(out, 'dead-letters');
    const letters: { reason: string; details: unknown; value: unknown }[] = [];
    for (const name of await readdir(dir)) {
      const text = await readFile(join(dir, name), 'utf8');
      for (const line of text.split('\n').filter((l) => l.length > 0)) letters.push(JSON.parse(line));
    }
    expect(letters.length).toBe(result.report.records.deadLettered);
    const reasons = new Set(letters.map((l) => l.reason));
    expect(reasons).toContain('too_late');
    expect(reasons).toContain('invalid_event_time');
    expect([...reasons].some((r) => r === 'type_mismatch' || r === 'missing_field')).toBe(true);
    for (const letter of letters) {
      expect(letter.reason).toMatch(/^[a-z_]+$/);
      expect(letter.details).toBeDefined();
      expect(letter.value).toBeDefined();
    }
    const tooLate = letters.filter((l) => l.reason === 'too_late');
    for (const letter of tooLate) {
      const at = Date.parse((letter.value as { scrapedAt: string }).scrapedAt);
      expect(START - at).toBeGreaterThan(90 * 60_000);
    }
  });

  it('compaction reduced the number of files and kept every row', async () => {
    const { compaction, lake, compacted } = result;
    expect(compaction.filesAfter).toBeLessThan(compaction.filesBefore);
    expect(compacted.files.files).toBe(compaction.filesAfter);
    expect(lake.files.files).toBe(compaction.filesBefore);
    let files = 0;
    for (const names of (await partitions()).values()) files += dataFiles(names).length;
    expect(files).toBe(compaction.filesAfter);
    const [row] = await query('SELECT count(*) AS n FROM lake');
    expect(row?.n).toBe(result.report.records.written);
    expect(compacted.rows).toBe(result.report.records.written);
  });

  it('traces each window: opening, buffer, close, transform results, write, commit, latency, metrics', () => {
    const kinds = new Set(lines.map((l) => /^\S+ prices (\S+)/.exec(l)?.[1]).filter(Boolean));
    for (const kind of [
      'open',
      'buffer',
      'window',
      'dlq',
      'xform',
      'write',
      'commit',
      'latency',
      'metrics',
      'done',
    ]) {
      expect(kinds, kind).toContain(kind);
    }
    // A batch with both schema versions, and one whose dead letters are broken down by reason.
    expect(
      lines.some((l) => / xform .* v3 \d+ · v4 \d+ kept; \d+ dead-lettered.*, \d+ duplicates$/.test(l)),
    ).toBe(true);
    expect(
      lines.some((l) =>
        / xform .* kept; \d+ dead-lettered \([a-z_]+ \d+(, [a-z_]+ \d+)*\), \d+ duplicates$/.test(l),
      ),
    ).toBe(true);
    expect(
      lines.some((l) => / metrics .*adaptive window .* B \d+ .*last flush .*back-pressure /.test(l)),
    ).toBe(true);
    expect(lines.some((l) => / done +dt=2026-11-25\/hr=14 complete/.test(l))).toBe(true);
    // Timestamps come from the injected clock: 14:20 and after, not the wall clock. (The test clock
    // may move on while the pipeline loads the Parquet peers up front, before it reports running.)
    const first = lines.find((l) => / prices status /.test(l));
    expect(first?.slice(0, 8)).toMatch(/^14:20:0\d$/);
  });

  it('refuses a directory that already holds files', async () => {
    await expect(runDemo({ out, duration: 1_000, print: () => {} })).rejects.toMatchObject({
      code: 'MB_INVALID_OPTIONS',
    });
  });

  it('the data files are where the layout says: part-<batch id>.parquet, compacted-<hash>.parquet', async () => {
    for (const [path, names] of await partitions()) {
      expect(path).toMatch(/^dt=\d{4}-\d{2}-\d{2}\/hr=\d{2}$/);
      for (const name of dataFiles(names))
        expect(name).toMatch(/^(part-prices\..+|compacted-[0-9a-f]{16})\.parquet$/);
      expect((await stat(join(out, 'lake', TABLE, path, '_SUCCESS'))).isFile()).toBe(true);
    }
  });
});
