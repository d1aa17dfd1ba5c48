/**
 * `COPY INTO <table> FROM @stage…` in the double (SNOWFLAKE-S3.md §2 and §10): the staged Parquet
 * files are read from the stage's ObjectStorage, checked against the table's columns (matched by
 * name), and inserted through the session's DuckDB connection, so the rows commit or roll back with
 * the session's transaction. Load history is per table, keyed by the file and its content checksum,
 * and expires after 64 days on the double's clock.
 */
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ObjectStorage } from '../../../src/lake/storage.js';
import { compileError, OperationFailedError, serverError, unknownObject } from './errors.js';
import type { CopyStatement, ObjectName } from './sql.js';

/** How long load metadata lasts. */
export const LOAD_HISTORY_MS = 64 * 24 * 60 * 60 * 1000;

/** One file in a table's load history. */
export interface LoadRecord {
  /** The file as COPY's result names it (`s3://bucket/prefix/key` or `stage/key`). */
  readonly file: string;
  /** MD5 of the file's bytes (hex). */
  readonly checksum: string;
  /** When it was loaded (the double's clock). */
  readonly at: number;
  readonly rows: number;
}

/** A table's load history: the files and the time of the table's first load. */
export interface TableHistory {
  firstLoad?: number;
  readonly files: Map<string, LoadRecord>;
}

/** A stage as the double knows it. */
export interface StageEntry {
  readonly storage: ObjectStorage;
  /** The stage's name as given, lower case, without `@` and quotes. */
  readonly name: string;
}

/** What a COPY needs from the double and the session. */
export interface CopyEnv {
  readonly queryId: string;
  readonly stage: StageEntry | undefined;
  /** The session's connection (its transaction). */
  readonly session: DuckDBConnection;
  /** A connection outside any transaction, for reading Parquet files (a failed read never aborts the session's transaction). */
  readonly scratch: DuckDBConnection;
  readonly now: number;
  /** The table's load history as the session sees it (committed plus its own pending changes). */
  readonly history: TableHistory | undefined;
  readonly tmpDir: string;
  /** `rows`: LOAD_SKIPPED rows for explicitly listed files loaded before; `omit`: leave them out. */
  readonly skipped: 'rows' | 'omit';
  readonly columnCase: 'lower' | 'upper';
}

/** What a COPY did. */
export interface CopyOutcome {
  readonly rows: Record<string, unknown>[];
  /** Files to record in the table's load history. */
  readonly loaded: LoadRecord[];
  /** Keys to delete from the stage (PURGE = TRUE), after the statement. */
  readonly purge: string[];
  readonly rowsLoaded: number;
}

export const ZERO_FILES = 'Copy executed with 0 files processed.';
export const LOADED_BEFORE = 'File was loaded before.';

interface TableColumn {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
}

let tmpCounter = 0;

export async function copyInto(env: CopyEnv, copy: CopyStatement): Promise<CopyOutcome> {
  if (copy.format !== 'PARQUET')
    throw compileError(`the double loads TYPE = PARQUET only, got ${copy.format}`, env.queryId);
  if (copy.files !== undefined && copy.files.length > 1000)
    throw compileError(`FILES takes at most 1000 file names, got ${copy.files.length}`, env.queryId);
  const columns = await tableColumns(env.session, copy.table);
  if (columns === undefined) throw unknownObject('Table', copy.table.display, env.queryId);
  if (env.stage === undefined) throw unknownObject('Stage', copy.stage, env.queryId);
  const storage = env.stage.storage;
  if (copy.match === 'NONE' && !(columns.length === 1 && columns[0]!.type === 'JSON'))
    throw serverError('002019', env.queryId);

  const base = copy.path === '' || copy.path.endsWith('/') ? copy.path : `${copy.path}/`;
  let keys: string[];
  if (copy.files !== undefined) keys = copy.files.map((f) => (copy.path === '' ? f : `${base}${f}`));
  else {
    keys = [];
    let after: string | undefined;
    for (;;) {
      const page = await storage.list(copy.path, after === undefined ? {} : { after });
      keys.push(...page.objects.map((o) => o.key));
      if (page.next === undefined || page.objects.length === 0) break;
      after = page.next;
    }
    if (copy.pattern !== undefined) keys = keys.filter((k) => copy.pattern!.test(k));
  }

  const fileName = (key: string) =>
    storage.kind === 'file' ? `${lastPart(env.stage!.name)}/${key}` : storage.url(key);
  // Result rows by key, answered in the order of the files.
  const answers = new Map<string, Record<string, unknown>>();
  const loaded: LoadRecord[] = [];
  const toLoad: { key: string; file: string; checksum: string; path: string }[] = [];
  const temps: string[] = [];
  try {
    for (const key of keys) {
      const file = fileName(key);
      const [head, body] = [await storage.head(key), await storage.get(key)];
      if (head === undefined || body === undefined) {
        throw new OperationFailedError(
          '091016',
          `Remote file '${file}' was not found. There are several potential causes. The file might not exist. The required credentials may be missing or invalid.`,
          env.queryId,
          '22000',
        );
      }
      const checksum = createHash('md5').update(body).digest('hex');
      if (!copy.force && copy.validation === undefined) {
        const before = env.history?.files.get(file);
        const fresh = before !== undefined && env.now - before.at < LOAD_HISTORY_MS;
        if (fresh && before.checksum === checksum) {
          if (copy.files !== undefined && env.skipped === 'rows') answers.set(key, skippedRow(file));
          continue;
        }
        // Load status unknown: no load in the last 64 days, the file older than 64 days and the
        // table's first load more than 64 days ago. Skipped unless LOAD_UNCERTAIN_FILES = TRUE.
        const uncertain =
          !fresh &&
          env.now - head.modified > LOAD_HISTORY_MS &&
          env.history?.firstLoad !== undefined &&
          env.now - env.history.firstLoad > LOAD_HISTORY_MS;
        if (uncertain && !copy.loadUncertain) continue;
      }
      const path = join(env.tmpDir, `copy-${process.pid}-${++tmpCounter}.parquet`);
      await writeFile(path, body);
      temps.push(path);
      toLoad.push({ key, file, checksum, path });
    }

    // Check every file before loading any: ABORT_STATEMENT loads nothing when one file is bad.
    const checked = [];
    for (const f of toLoad) checked.push({ ...f, check: await checkFile(env, copy, columns, f.path) });
    if (copy.validation !== undefined)
      return { rows: await validate(env, copy, checked), loaded: [], purge: [], rowsLoaded: 0 };
    if (copy.onError.mode === 'ABORT_STATEMENT') {
      const bad = checked.find((c) => c.check.errors > 0);
      if (bad !== undefined) throw dataError(env.queryId, copy.table, bad.file, bad.check);
    }

    let rowsLoaded = 0;
    const purge: string[] = [];
    for (const { key, file, checksum, path, check } of checked) {
      const limit = copy.onError.mode === 'SKIP_FILE' ? copy.onError.limit : undefined;
      const skipFile =
        copy.onError.mode === 'SKIP_FILE' &&
        check.errors > 0 &&
        (copy.onError.percent
          ? (check.errors * 100) / Math.max(1, check.total) >= copy.onError.limit
          : check.errors >= copy.onError.limit);
      let n = 0;
      if (!skipFile && check.readable) {
        const where = check.errors > 0 ? ` WHERE ${check.ok}` : '';
        const result = await env.session.run(
          `INSERT INTO ${copy.table.duck} (${check.targets.join(', ')}) SELECT ${check.exprs.join(', ')} FROM read_parquet('${path}') AS P${where}`,
        );
        n = Number(result.rowsChanged);
      }
      rowsLoaded += n;
      const status =
        skipFile || !check.readable ? 'LOAD_FAILED' : check.errors > 0 ? 'PARTIALLY_LOADED' : 'LOADED';
      if (status !== 'LOAD_FAILED') {
        loaded.push({ file, checksum, at: env.now, rows: n });
        if (copy.purge) purge.push(key);
      }
      answers.set(key, {
        file,
        status,
        rows_parsed: check.total,
        rows_loaded: n,
        error_limit: copy.onError.mode === 'CONTINUE' ? Math.max(1, check.total) : (limit ?? 1),
        errors_seen: check.errors,
        first_error: check.firstError ?? null,
        first_error_line: check.firstLine ?? null,
        first_error_character: check.firstError === undefined ? null : 1,
        first_error_column_name: check.firstColumn ?? null,
      });
    }
    const rows = [...new Set(keys)].flatMap((k) => {
      const answer = answers.get(k);
      return answer === undefined ? [] : [answer];
    });
    const out: Record<string, unknown>[] = rows.length === 0 ? [{ status: ZERO_FILES }] : rows;
    return { rows: out.map((r) => withCase(r, env.columnCase)), loaded, purge, rowsLoaded };
  } finally {
    await Promise.all(temps.map((p) => rm(p, { force: true })));
  }
}

function skippedRow(file: string): Record<string, unknown> {
  return {
    file,
    status: 'LOAD_SKIPPED',
    rows_parsed: 0,
    rows_loaded: 0,
    error_limit: null,
    errors_seen: 1,
    first_error: LOADED_BEFORE,
    first_error_line: null,
    first_error_character: null,
    first_error_column_name: null,
  };
}

function withCase(row: Record<string, unknown>, columnCase: 'lower' | 'upper'): Record<string, unknown> {
  if (columnCase === 'lower') return row;
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k.toUpperCase(), v]));
}

function lastPart(stage: string): string {
  return stage.split('.').at(-1) ?? stage;
}

/** The table's columns, or undefined when it does not exist (never throws for a missing table). */
export async function tableColumns(
  conn: DuckDBConnection,
  table: ObjectName,
): Promise<TableColumn[] | undefined> {
  const where = (['database_name', 'schema_name', 'table_name'] as const).slice(3 - table.parts.length);
  const defaults = ['current_database()', 'current_schema()'].slice(0, 3 - table.parts.length);
  const conditions = [
    ...defaults.map((d, i) => `${['database_name', 'schema_name'][i]} = ${d}`),
    ...where.map((column) => `upper(${column}) = upper(?)`),
  ];
  const reader = await conn.runAndReadAll(
    `SELECT column_name AS name, data_type AS type, is_nullable AS nullable FROM duckdb_columns() WHERE ${conditions.join(' AND ')} ORDER BY column_index`,
    [...table.parts],
  );
  const rows = reader.getRowObjectsJS() as { name: string; type: string; nullable: boolean }[];
  if (rows.length === 0) return undefined;
  return rows.map((r) => ({ name: r.name, type: r.type, nullable: r.nullable }));
}

interface FileCheck {
  readonly readable: boolean;
  readonly total: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly firstLine?: number;
  readonly firstColumn?: string;
  readonly firstCode?: string;
  /** Quoted target columns and the matching SELECT expressions over the file (alias `P`). */
  readonly targets: string[];
  readonly exprs: string[];
  /** A predicate true for rows that load cleanly. */
  readonly ok: string;
  /** The checks `ok` is made of, in column order. */
  readonly checks: readonly { column: string; index: number; ok: string; what: string; code: string }[];
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Reads the file's columns and counts the rows that would not convert or break NOT NULL. */
async function checkFile(
  env: CopyEnv,
  copy: CopyStatement,
  columns: readonly TableColumn[],
  path: string,
): Promise<FileCheck> {
  let fields: { name: string; type: string }[];
  try {
    const reader = await env.scratch.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`);
    fields = (reader.getRowObjectsJS() as { column_name: string; column_type: string }[]).map((r) => ({
      name: r.column_name,
      type: r.column_type,
    }));
  } catch (error) {
    const message = `Invalid parquet file: ${(error as Error).message.split('\n')[0]}`;
    return {
      readable: false,
      total: 0,
      errors: 1,
      firstError: message,
      targets: [],
      exprs: [],
      ok: 'TRUE',
      checks: [],
      firstCode: '100080',
    };
  }
  const targets: string[] = [];
  const exprs: string[] = [];
  const checks: { column: string; index: number; ok: string; what: string; code: string }[] = [];
  if (copy.match === 'NONE') {
    targets.push(quote(columns[0]!.name));
    exprs.push('to_json(P)');
  } else {
    columns.forEach((column, index) => {
      const field = fields.find((f) =>
        copy.match === 'CASE_SENSITIVE'
          ? f.name === column.name
          : f.name.toUpperCase() === column.name.toUpperCase(),
      );
      if (field === undefined) {
        if (!column.nullable)
          checks.push({
            column: column.name,
            index,
            ok: 'FALSE',
            what: 'NULL result in a non-nullable column',
            code: '100072',
          });
        return;
      }
      const src = `P.${quote(field.name)}`;
      const expr = column.type === 'JSON' ? `to_json(${src})` : `TRY_CAST(${src} AS ${column.type})`;
      targets.push(quote(column.name));
      exprs.push(expr);
      checks.push({
        column: column.name,
        index,
        ok: `(${src} IS NULL OR ${expr} IS NOT NULL)`,
        what: `Cannot convert the value of ${field.name} (${field.type}) to ${column.type}`,
        code: '100038',
      });
      if (!column.nullable)
        checks.push({
          column: column.name,
          index,
          ok: `(${src} IS NOT NULL)`,
          what: 'NULL result in a non-nullable column',
          code: '100072',
        });
    });
  }
  const ok = checks.length === 0 ? 'TRUE' : checks.map((c) => c.ok).join(' AND ');
  const perCheck = checks.map((c, i) => `min(RN) FILTER (WHERE NOT ${c.ok}) AS F${i}`);
  const reader = await env.scratch.runAndReadAll(
    `SELECT count(*) AS TOTAL, count(*) FILTER (WHERE NOT (${ok})) AS BAD${perCheck.map((p) => `, ${p}`).join('')} FROM (SELECT *, row_number() OVER () AS RN FROM read_parquet('${path}')) AS P`,
  );
  const row = reader.getRowObjectsJS()[0] as Record<string, unknown>;
  const errors = Number(row.BAD);
  let first: { line: number; check: (typeof checks)[number] } | undefined;
  checks.forEach((c, i) => {
    const line = row[`F${i}`];
    if (line !== null && line !== undefined && (first === undefined || Number(line) < first.line))
      first = { line: Number(line), check: c };
  });
  return {
    readable: true,
    total: Number(row.TOTAL),
    errors,
    ...(first === undefined
      ? {}
      : {
          firstError: first.check.what,
          firstLine: first.line,
          firstColumn: `"${copy.table.parts.at(-1)}"["${first.check.column}":${first.check.index + 1}]`,
          firstCode: first.check.code,
        }),
    targets,
    exprs,
    ok,
    checks,
  };
}

/**
 * VALIDATION_MODE: loads nothing. RETURN_ERRORS / RETURN_ALL_ERRORS answer one row per rejected
 * record (its first error), in the columns of VALIDATE(); RETURN_<n>_ROWS answers the first n rows
 * as they would load, or fails like ABORT_STATEMENT when one of them is bad.
 */
async function validate(
  env: CopyEnv,
  copy: CopyStatement,
  checked: readonly { file: string; path: string; check: FileCheck }[],
): Promise<Record<string, unknown>[]> {
  const mode = copy.validation!;
  if (mode.mode === 'RETURN_ROWS') {
    const out: Record<string, unknown>[] = [];
    for (const { file, path, check } of checked) {
      if (out.length >= mode.rows) break;
      const need = mode.rows - out.length;
      if (check.errors > 0 && (check.firstLine ?? 1) <= need)
        throw dataError(env.queryId, copy.table, file, check);
      if (check.exprs.length === 0) continue;
      const reader = await env.scratch.runAndReadAll(
        `SELECT ${check.exprs.map((e, i) => `${e} AS ${check.targets[i]}`).join(', ')} FROM read_parquet('${path}') AS P LIMIT ${need}`,
      );
      // VARIANT columns come back parsed, as the driver gives them.
      const json = check.targets
        .filter((_, i) => check.exprs[i]!.startsWith('to_json('))
        .map((t) => t.slice(1, -1));
      for (const row of (await reader.getRowObjectsJS()) as Record<string, unknown>[]) {
        for (const name of json)
          if (typeof row[name] === 'string') row[name] = JSON.parse(row[name] as string);
        for (const [k, v] of Object.entries(row)) if (typeof v === 'bigint') row[k] = Number(v);
        out.push(row);
      }
    }
    return out;
  }
  const rows: Record<string, unknown>[] = [];
  for (const { file, path, check } of checked) {
    if (check.errors === 0) continue;
    const row = (line: number | null, what: string, code: string, column: string | null) => ({
      ERROR: what,
      FILE: file,
      LINE: line,
      CHARACTER: line === null ? null : 1,
      BYTE_OFFSET: null,
      CATEGORY: code === '100072' ? 'conversion' : code === '100080' ? 'parsing' : 'conversion',
      CODE: Number(code),
      SQL_STATE: code === '100038' ? '22018' : '22000',
      COLUMN_NAME: column,
      ROW_NUMBER: line,
      ROW_START_LINE: line,
      REJECTED_RECORD: null,
    });
    if (!check.readable) {
      rows.push(row(null, check.firstError ?? 'Invalid parquet file', check.firstCode ?? '100080', null));
      continue;
    }
    const flags = check.checks.map((c, i) => `(${c.ok}) AS OK${i}`);
    const reader = await env.scratch.runAndReadAll(
      `SELECT RN, ${flags.join(', ')} FROM (SELECT *, row_number() OVER () AS RN FROM read_parquet('${path}')) AS P WHERE NOT (${check.ok}) ORDER BY RN`,
    );
    for (const bad of reader.getRowObjectsJS() as Record<string, unknown>[]) {
      const i = check.checks.findIndex((_, k) => bad[`OK${k}`] !== true);
      const c = check.checks[i]!;
      rows.push(
        row(Number(bad.RN), c.what, c.code, `"${copy.table.parts.at(-1)}"["${c.column}":${c.index + 1}]`),
      );
    }
  }
  return rows;
}

/** The error ABORT_STATEMENT raises for a bad file. */
function dataError(queryId: string, table: ObjectName, file: string, check: FileCheck): OperationFailedError {
  const code = check.firstCode ?? '100038';
  return new OperationFailedError(
    code,
    `${check.firstError ?? 'Data error'}\n  File '${file}', line ${check.firstLine ?? 1}, character 1\n  Row ${check.firstLine ?? 1}, column ${check.firstColumn ?? `"${table.parts.at(-1)}"`}\n  If you would like to continue loading when an error is encountered, use other values such as 'SKIP_FILE' or 'CONTINUE' for the ON_ERROR option. For more information on loading options, please run 'info loading_data' in a SQL client.`,
    queryId,
    code === '100038' ? '22018' : '22000',
  );
}
