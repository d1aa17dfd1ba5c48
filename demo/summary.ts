/**
 * What the demo reports after the run: the lake read back by DuckDB (a reader microbatch did not
 * write), checked against the pipeline's delivery report, then compacted and read again.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { DeliveryReport } from '../src/index.js';
import { EMAIL_PATTERN } from './records.js';

/** One check of the summary: printed as a line ending in OK or MISMATCH. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Rows of one hour partition, by schema version. */
export interface HourRows {
  /** `dt=2026-11-25/hr=14`. */
  path: string;
  rows: number;
  versions: Record<string, number>;
  /** `_SUCCESS` is present. */
  success: boolean;
}

/** The data files of a table on disk. */
export interface LakeFiles {
  files: number;
  bytes: number;
  /** Partition directories holding data files, as paths below the table. */
  partitions: string[];
}

/** Lists the data files of `<root>`: `.parquet` files whose names do not start with `.` or `_`. */
export async function lakeFiles(root: string): Promise<LakeFiles> {
  const result: LakeFiles = { files: 0, bytes: 0, partitions: [] };
  const walk = async (dir: string, path: string): Promise<void> => {
    let hasData = false;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory())
        await walk(join(dir, entry.name), path === '' ? entry.name : `${path}/${entry.name}`);
      else if (entry.name.endsWith('.parquet') && !/^[._]/.test(entry.name)) {
        result.files++;
        result.bytes += (await stat(join(dir, entry.name))).size;
        hasData = true;
      }
    }
    if (hasData) result.partitions.push(path);
  };
  await walk(root, '');
  result.partitions.sort();
  return result;
}

/** Dead letters on disk, by reason, read from the JSON-lines files of `dir`. */
export async function deadLettersByReason(
  dir: string,
): Promise<{ total: number; files: number; byReason: Record<string, number> }> {
  const byReason: Record<string, number> = {};
  let total = 0;
  let files = 0;
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  }
  for (const name of names.filter((n) => n.endsWith('.jsonl') && !n.startsWith('.'))) {
    files++;
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
      if (line.length === 0) continue;
      const { reason } = JSON.parse(line) as { reason: string };
      byReason[reason] = (byReason[reason] ?? 0) + 1;
      total++;
    }
  }
  return { total, files, byReason };
}

/** A DuckDB connection over one table of the lake. */
export class LakeReader {
  readonly #instance: DuckDBInstance;
  readonly #connection: DuckDBConnection;
  readonly #from: string;

  private constructor(instance: DuckDBInstance, connection: DuckDBConnection, root: string) {
    this.#instance = instance;
    this.#connection = connection;
    // The partition columns stay text (`hr=05`, not 5): they are shown as the directories read.
    const glob = `${root.replaceAll('\\', '/')}/**/*.parquet`.replaceAll("'", "''");
    this.#from = `read_parquet('${glob}', hive_partitioning = true, hive_types_autocast = false)`;
  }

  /** Opens an in-memory DuckDB over `<root>/**\/*.parquet`. */
  static async open(root: string): Promise<LakeReader> {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    return new LakeReader(instance, connection, root);
  }

  /** Rows of a query; `FROM lake` stands for the table. Bigints become numbers. */
  async query(sql: string): Promise<Record<string, unknown>[]> {
    const reader = await this.#connection.runAndReadAll(sql.replaceAll('FROM lake', `FROM ${this.#from}`));
    return reader
      .getRowObjectsJS()
      .map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
      );
  }

  /** Rows in the table. */
  async count(): Promise<number> {
    const [row] = await this.query('SELECT count(*) AS n FROM lake');
    return Number(row?.n ?? 0);
  }

  /** Rows per hour partition and schema version. */
  async hours(root: string): Promise<HourRows[]> {
    const rows = await this.query(
      'SELECT dt, hr, schemaVersion AS version, count(*) AS n FROM lake GROUP BY ALL ORDER BY dt, hr, version',
    );
    const byPath = new Map<string, HourRows>();
    for (const row of rows) {
      const path = `dt=${row.dt}/hr=${row.hr}`;
      let hour = byPath.get(path);
      if (hour === undefined) byPath.set(path, (hour = { path, rows: 0, versions: {}, success: false }));
      hour.rows += Number(row.n);
      hour.versions[String(row.version)] = Number(row.n);
    }
    for (const hour of byPath.values()) {
      hour.success = await stat(join(root, hour.path, '_SUCCESS')).then(
        () => true,
        () => false,
      );
    }
    return [...byPath.values()];
  }

  /** Notes that still hold an e-mail address, and sellers that are not hashes. */
  async leaks(): Promise<{ emailsInNotes: number; plainSellers: number }> {
    const [row] = await this.query(
      `SELECT count(*) FILTER (WHERE regexp_matches(notes, '${EMAIL_PATTERN}')) AS emails,
              count(*) FILTER (WHERE seller IS NOT NULL AND NOT regexp_full_match(seller, '[0-9a-f]{64}')) AS sellers
       FROM lake`,
    );
    return { emailsInNotes: Number(row?.emails ?? 0), plainSellers: Number(row?.sellers ?? 0) };
  }

  /** A few redacted notes, to see what redaction left. */
  async redactedSample(limit: number): Promise<string[]> {
    const rows = await this.query(
      `SELECT DISTINCT notes FROM lake WHERE notes LIKE '%[redacted]%' ORDER BY notes LIMIT ${limit}`,
    );
    return rows.map((r) => String(r.notes));
  }

  /** Closes the connection and the database. */
  close(): void {
    this.#connection.closeSync();
    this.#instance.closeSync();
  }
}

/** `in = written + dead-lettered + duplicates (+ dropped late, filtered, undelivered)`. */
export function balanceCheck(report: DeliveryReport): Check {
  const r = report.records;
  const sum = r.written + r.deadLettered + r.duplicates + r.droppedLate + r.filtered + r.undelivered;
  const extras = [
    r.droppedLate > 0 ? ` + dropped late ${r.droppedLate}` : '',
    r.filtered > 0 ? ` + filtered ${r.filtered}` : '',
    r.undelivered > 0 ? ` + undelivered ${r.undelivered}` : '',
  ].join('');
  return {
    name: 'balance',
    ok: sum === r.in && r.undelivered === 0,
    detail: `in ${r.in} = written ${r.written} + dead-lettered ${r.deadLettered} + duplicates ${r.duplicates}${extras}${sum === r.in ? '' : ` (sum ${sum})`}`,
  };
}
