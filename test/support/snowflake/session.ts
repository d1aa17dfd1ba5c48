/**
 * A session of the Snowflake double: one DuckDB connection, statements one at a time, the
 * transaction state (Snowflake's rules: BEGIN inside a transaction is ignored, DDL commits the open
 * transaction and runs on its own, a statement outside BEGIN autocommits, a failed statement leaves
 * the transaction open), the table locks it holds, and its uncommitted load-history changes.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DuckDBConnection, DuckDBMaterializedResult } from '@duckdb/node-api';
import { type CopyOutcome, copyInto, type LoadRecord, type TableHistory } from './copy.js';
import type { Bind, SnowflakeDouble } from './double.js';
import {
  compileError,
  connectionStateError,
  OperationFailedError,
  serverError,
  unknownObject,
} from './errors.js';
import {
  ddlTarget,
  dmlTarget,
  mergeParts,
  type ObjectName,
  parseCopy,
  parsePut,
  readName,
  type StatementKind,
  solid,
  statementKind,
  toDuckSql,
  tokenize,
  withoutKeyConstraints,
} from './sql.js';

type HistoryChange =
  | { readonly table: string; readonly op: 'load'; readonly record: LoadRecord }
  | { readonly table: string; readonly op: 'clear' };

interface TableLock {
  holder: Session | undefined;
  readonly waiters: { session: Session; grant: () => void; fail: (e: Error) => void }[];
}

const locksOf = new WeakMap<SnowflakeDouble, Map<string, TableLock>>();

export interface RunResult {
  readonly rows: Record<string, unknown>[];
  readonly updated: number;
}

const ok = (status = 'Statement executed successfully.'): RunResult => ({ rows: [{ status }], updated: 0 });

export class Session {
  state: 'open' | 'closed' = 'open';
  inTransaction = false;
  /** DuckDB aborted the transaction after a failed statement (a DuckDB rule Snowflake does not have). */
  private aborted = false;
  private connection: DuckDBConnection | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly pending: HistoryChange[] = [];
  private readonly held = new Set<string>();
  /** Told when the running statement starts and stops waiting for a lock. */
  private onBlocked: ((blocked: boolean) => void) | undefined;

  constructor(
    private readonly double: SnowflakeDouble,
    readonly id: string,
  ) {}

  kindOf(sql: string): StatementKind {
    return statementKind(sql);
  }

  /** Runs one statement after the ones before it on this session. */
  run(
    queryId: string,
    sql: string,
    binds: readonly Bind[],
    onBlocked?: (blocked: boolean) => void,
  ): Promise<RunResult> {
    const next = this.queue.then(() => {
      this.onBlocked = onBlocked;
      return this.runNow(queryId, sql, binds);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the session: the open transaction rolls back, locks are released, waiters fail. */
  terminate(): Promise<void> {
    if (this.state === 'closed') return this.queue.then(() => undefined);
    this.state = 'closed';
    this.double.sessions.delete(this.id);
    for (const lock of this.locks().values()) {
      for (const w of lock.waiters.filter((w) => w.session === this)) {
        lock.waiters.splice(lock.waiters.indexOf(w), 1);
        w.fail(connectionStateError('terminated'));
      }
    }
    const done = this.queue.then(async () => {
      if (this.inTransaction && this.connection !== undefined)
        await this.connection.run('ROLLBACK').catch(() => {});
      this.endTransaction(false);
      this.connection?.closeSync();
      this.connection = undefined;
    });
    this.queue = done.catch(() => undefined);
    return done;
  }

  private async duck(): Promise<DuckDBConnection> {
    this.connection ??= await this.double.instance.connect();
    return this.connection;
  }

  private async runNow(queryId: string, sql: string, binds: readonly Bind[]): Promise<RunResult> {
    if (this.state !== 'open') throw connectionStateError('terminated');
    const kind = statementKind(sql);
    const conn = await this.duck();
    switch (kind) {
      case 'BEGIN':
        if (!this.inTransaction) {
          await conn.run('BEGIN TRANSACTION');
          this.inTransaction = true;
          this.aborted = false;
        }
        return ok();
      case 'COMMIT':
        if (this.inTransaction) {
          if (this.aborted) {
            await conn.run('ROLLBACK');
            this.endTransaction(false);
            throw new OperationFailedError(
              '000603',
              'SQL execution internal error: the double cannot commit a transaction after a statement in it failed inside DuckDB; it was rolled back',
              queryId,
              'XX000',
            );
          }
          await conn.run('COMMIT');
          this.endTransaction(true);
        }
        return ok();
      case 'ROLLBACK':
        if (this.inTransaction) {
          await conn.run('ROLLBACK');
          this.endTransaction(false);
        }
        return ok();
      case 'DDL':
        await this.implicitCommit(conn);
        return this.ddl(conn, queryId, sql);
      case 'PUT':
        return this.put(queryId, sql);
      case 'COPY':
        return this.withLocks(queryId, sql, kind, () => this.copy(conn, queryId, sql));
      case 'INSERT':
      case 'UPDATE':
      case 'DELETE':
      case 'MERGE':
      case 'TRUNCATE':
        return this.withLocks(queryId, sql, kind, () => this.dml(conn, queryId, sql, kind, binds));
      default:
        return this.other(conn, queryId, sql, binds);
    }
  }

  private endTransaction(commit: boolean): void {
    if (commit) this.applyHistory(this.pending);
    this.pending.length = 0;
    this.inTransaction = false;
    this.aborted = false;
    this.release();
  }

  private async implicitCommit(conn: DuckDBConnection): Promise<void> {
    if (!this.inTransaction) return;
    if (this.aborted) {
      await conn.run('ROLLBACK');
      this.endTransaction(false);
    } else {
      await conn.run('COMMIT');
      this.endTransaction(true);
    }
  }

  // ---- table locks ----

  private locks(): Map<string, TableLock> {
    let locks = locksOf.get(this.double);
    if (locks === undefined) locksOf.set(this.double, (locks = new Map()));
    return locks;
  }

  /** Takes the write lock of the statement's table (held to the end of the transaction), runs `body`. */
  private async withLocks(
    queryId: string,
    sql: string,
    kind: StatementKind,
    body: () => Promise<RunResult>,
  ): Promise<RunResult> {
    const target = dmlTarget(kind, sql);
    if (target !== undefined) await this.lock(queryId, target.key);
    if (this.inTransaction) return this.inStatement(body);
    // Autocommit: the statement is a transaction of its own.
    const conn = await this.duck();
    await conn.run('BEGIN TRANSACTION');
    this.inTransaction = true;
    try {
      const result = await body();
      await conn.run('COMMIT');
      this.endTransaction(true);
      return result;
    } catch (error) {
      await conn.run('ROLLBACK').catch(() => {});
      this.endTransaction(false);
      throw error;
    }
  }

  private lock(queryId: string, key: string): Promise<void> {
    const locks = this.locks();
    let lock = locks.get(key);
    if (lock === undefined) locks.set(key, (lock = { holder: undefined, waiters: [] }));
    if (lock.holder === undefined || lock.holder === this) {
      lock.holder = this;
      this.held.add(key);
      return Promise.resolve();
    }
    if (lock.waiters.length >= (this.double.options.maxLockWaiters ?? 20)) {
      return Promise.reject(serverError('000625', queryId));
    }
    const l = lock;
    const onBlocked = this.onBlocked;
    onBlocked?.(true);
    return new Promise((resolve, reject) =>
      l.waiters.push({
        session: this,
        grant: () => {
          l.holder = this;
          this.held.add(key);
          onBlocked?.(false);
          resolve();
        },
        fail: reject,
      }),
    );
  }

  private release(): void {
    const locks = this.locks();
    for (const key of this.held) {
      const lock = locks.get(key);
      if (lock === undefined || lock.holder !== this) continue;
      lock.holder = undefined;
      const next = lock.waiters.shift();
      if (next !== undefined) next.grant();
    }
    this.held.clear();
  }

  // ---- load history ----

  private applyHistory(changes: readonly HistoryChange[]): void {
    for (const change of changes) {
      if (change.op === 'clear') {
        this.double.history.delete(change.table);
        continue;
      }
      let h = this.double.history.get(change.table);
      if (h === undefined) this.double.history.set(change.table, (h = { files: new Map() }));
      h.firstLoad ??= change.record.at;
      h.files.set(change.record.file, change.record);
    }
  }

  /** The table's load history as this session sees it: committed, then its own pending changes. */
  private historyView(table: string): TableHistory | undefined {
    const committed = this.double.history.get(table);
    let view: TableHistory | undefined =
      committed === undefined
        ? undefined
        : { firstLoad: committed.firstLoad, files: new Map(committed.files) };
    for (const change of this.pending) {
      if (change.table !== table) continue;
      if (change.op === 'clear') view = undefined;
      else {
        view ??= { files: new Map() };
        view.firstLoad ??= change.record.at;
        view.files.set(change.record.file, change.record);
      }
    }
    return view;
  }

  // ---- statements ----

  /** Runs `body` inside the open transaction; a DuckDB failure that aborts it is noted. */
  private async inStatement<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (this.inTransaction && this.connection !== undefined) {
        const alive = await this.connection.run('SELECT 1').then(
          () => true,
          () => false,
        );
        if (!alive) this.aborted = true;
      }
      throw error;
    }
  }

  private async copy(conn: DuckDBConnection, queryId: string, sql: string): Promise<RunResult> {
    let copy: ReturnType<typeof parseCopy>;
    try {
      copy = parseCopy(sql);
    } catch (error) {
      throw compileError((error as Error).message, queryId);
    }
    const outcome: CopyOutcome = await copyInto(
      {
        queryId,
        stage: this.double.stages.get(copy.stage),
        session: conn,
        scratch: this.double.scratch,
        now: this.double.now(),
        history: this.historyView(copy.table.key),
        tmpDir: this.double.tmpDir,
        skipped: this.double.options.skippedFiles ?? 'rows',
        columnCase: this.double.options.copyColumns ?? 'lower',
      },
      copy,
    ).catch((error: unknown) => {
      throw translate(error, queryId);
    });
    for (const record of outcome.loaded) this.pending.push({ table: copy.table.key, op: 'load', record });
    if (outcome.purge.length > 0) await this.double.stages.get(copy.stage)!.storage.delete(outcome.purge);
    return { rows: outcome.rows, updated: outcome.rowsLoaded };
  }

  private async dml(
    conn: DuckDBConnection,
    queryId: string,
    sql: string,
    kind: StatementKind,
    binds: readonly Bind[],
  ): Promise<RunResult> {
    const target = dmlTarget(kind, sql);
    const count = async () =>
      target === undefined
        ? 0
        : Number(
            (await conn.runAndReadAll(`SELECT count(*) AS N FROM ${target.duck}`)).getRowObjectsJS()[0]!
              .N as bigint,
          );
    const before = kind === 'MERGE' ? await count() : 0;
    if (kind === 'MERGE') await this.mergeDuplicates(conn, queryId, sql, binds);
    const result = await this.duckRun(conn, queryId, sql, binds);
    const changed = Number(result.rowsChanged);
    if (kind === 'TRUNCATE' && target !== undefined) this.pending.push({ table: target.key, op: 'clear' });
    switch (kind) {
      case 'INSERT':
        return { rows: [{ 'number of rows inserted': changed }], updated: changed };
      case 'UPDATE':
        return {
          rows: [{ 'number of rows updated': changed, 'number of multi-joined rows updated': 0 }],
          updated: changed,
        };
      case 'DELETE':
        return { rows: [{ 'number of rows deleted': changed }], updated: changed };
      case 'MERGE': {
        const inserted = (await count()) - before;
        return {
          rows: [{ 'number of rows inserted': inserted, 'number of rows updated': changed - inserted }],
          updated: changed,
        };
      }
      default:
        return ok();
    }
  }

  /**
   * Snowflake refuses a MERGE in which two source rows match one target row (ERROR_ON_NONDETERMINISTIC_MERGE,
   * on by default) with 100090; DuckDB would apply both. Checked before the MERGE runs.
   */
  private async mergeDuplicates(
    conn: DuckDBConnection,
    queryId: string,
    sql: string,
    binds: readonly Bind[],
  ): Promise<void> {
    const parts = mergeParts(sql);
    if (parts === undefined) return;
    const check = `SELECT count(*) AS N FROM (SELECT 1 FROM ${parts.target} JOIN ${parts.source} ON ${parts.condition} GROUP BY ${parts.target.split(/\s+/).at(-1)}.ROWID HAVING count(*) > 1) AS D`;
    const reader = await this.duckRun(conn, queryId, check, binds.slice(0, parts.binds));
    const rows = await readRows(reader);
    if (Number(rows[0]?.N ?? 0) > 0) {
      throw new OperationFailedError('100090', 'Duplicate row detected during DML action', queryId, '42P18');
    }
  }

  private async ddl(conn: DuckDBConnection, queryId: string, sql: string): Promise<RunResult> {
    const t = solid(tokenize(sql));
    const words = t.slice(0, 6).map((x) => (x.type === 'word' ? x.value.toUpperCase() : ''));
    const orReplace = words[1] === 'OR' && words[2] === 'REPLACE';
    const what = words[orReplace ? 3 : 1];
    if (words[0] === 'CREATE' && what === 'DATABASE') {
      const at = orReplace ? 4 : words[2] === 'IF' ? 5 : 2;
      const name = readName(t, at)?.name;
      if (name === undefined) throw compileError('CREATE DATABASE: expected a name', queryId);
      if (orReplace) await conn.run(`DETACH DATABASE IF EXISTS ${name.duck}`);
      await this.duckRun(conn, queryId, `ATTACH IF NOT EXISTS ':memory:' AS ${name.duck}`, []);
      return ok(`Database ${name.display} successfully created.`);
    }
    if (['STAGE', 'FILE', 'WAREHOUSE', 'ROLE', 'USER'].includes(what ?? '') || words[0] === 'ALTER') {
      // Stages are configured on the double (`stages`); the rest has no meaning here.
      return ok();
    }
    const effect = ddlTarget(sql);
    await this.duckRun(conn, queryId, effect === undefined ? sql : withoutKeyConstraints(sql), []);
    if (effect !== undefined && effect.action !== 'create')
      this.applyHistory([{ table: effect.table.key, op: 'clear' }]);
    return ok(effect === undefined ? undefined : `Table ${effect.table.parts.at(-1)} successfully created.`);
  }

  private async other(
    conn: DuckDBConnection,
    queryId: string,
    sql: string,
    binds: readonly Bind[],
  ): Promise<RunResult> {
    const first = solid(tokenize(sql))[0]?.value.toUpperCase();
    if (first === 'GRANT' || first === 'REVOKE') return ok();
    if (first === 'USE') {
      const t = solid(tokenize(sql));
      const skip = ['DATABASE', 'SCHEMA', 'WAREHOUSE', 'ROLE'].includes(t[1]?.value.toUpperCase() ?? '')
        ? 2
        : 1;
      if (t[1]?.value.toUpperCase() === 'WAREHOUSE' || t[1]?.value.toUpperCase() === 'ROLE') return ok();
      const name = readName(t, skip)?.name;
      if (name === undefined) throw compileError('USE: expected a name', queryId);
      await this.duckRun(conn, queryId, `USE ${name.duck}`, []);
      return ok();
    }
    const run = () => this.duckRun(conn, queryId, sql, binds);
    const result = this.inTransaction ? await this.inStatement(run) : await run();
    const reader = await readRows(result);
    return { rows: reader, updated: 0 };
  }

  private async duckRun(
    conn: DuckDBConnection,
    queryId: string,
    sql: string,
    binds: readonly Bind[],
  ): Promise<DuckDBMaterializedResult> {
    let duckSql: string;
    try {
      duckSql = toDuckSql(sql);
    } catch (error) {
      throw compileError((error as Error).message, queryId);
    }
    const values = binds.map((b) => (b instanceof Date ? b.toISOString() : b));
    try {
      return await (values.length === 0 ? conn.run(duckSql) : conn.run(duckSql, values as never));
    } catch (error) {
      throw translate(error, queryId);
    }
  }

  private async put(queryId: string, sql: string): Promise<RunResult> {
    let put: ReturnType<typeof parsePut>;
    try {
      put = parsePut(sql);
    } catch (error) {
      throw compileError((error as Error).message, queryId);
    }
    const stage = this.double.stages.get(put.stage);
    if (stage === undefined) throw unknownObject('Stage', put.stage, queryId);
    let body: Uint8Array;
    try {
      body = await readFile(put.source);
    } catch {
      throw new OperationFailedError('253006', `File doesn't exist: ['${put.source}']`, queryId);
    }
    const name = basename(put.source) + (put.autoCompress ? '.gz' : '');
    const content = put.autoCompress ? gzipSync(body) : body;
    const key = put.path === '' ? name : `${put.path}/${name}`;
    let status = 'UPLOADED';
    if (put.overwrite) await stage.storage.put(key, content);
    else if ((await stage.storage.putIfAbsent(key, content)).outcome === 'exists') status = 'SKIPPED';
    return {
      rows: [
        {
          source: basename(put.source),
          target: name,
          sourceSize: body.length,
          targetSize: status === 'SKIPPED' ? 0 : content.length,
          sourceCompression: 'NONE',
          targetCompression: put.autoCompress ? 'GZIP' : 'NONE',
          status,
          message: '',
        },
      ],
      updated: 0,
    };
  }
}

/** Rows of a DuckDB result as the driver gives them: numbers, strings, Dates, parsed VARIANTs. */
async function readRows(result: DuckDBMaterializedResult): Promise<Record<string, unknown>[]> {
  const names = result.columnNames();
  if (names.length === 1 && names[0] === 'Count' && result.rowsChanged !== undefined) return [];
  const types = result.columnTypes();
  const json = new Set(names.filter((_, i) => (types[i] as { alias?: string }).alias === 'JSON'));
  const reader = await result.getRowObjectsJS();
  return reader.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) out[k] = convert(v, json.has(k));
    return out;
  });
}

function convert(value: unknown, json: boolean): unknown {
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (json && typeof value === 'string') return JSON.parse(value);
  return value;
}

/** A DuckDB error as the Snowflake error it stands for. */
export function translate(error: unknown, queryId: string): Error {
  if (error instanceof OperationFailedError || !(error instanceof Error)) return error as Error;
  if ((error as { code?: unknown }).code !== undefined) return error;
  const m = error.message;
  const first = m.split('\n')[0] ?? m;
  if (m.startsWith('Catalog Error'))
    return new OperationFailedError('002003', `SQL compilation error:\n${first}`, queryId, '42S02');
  if (m.startsWith('Parser Error')) return compileError(first, queryId);
  if (m.startsWith('Binder Error'))
    return new OperationFailedError('000904', `SQL compilation error:\n${first}`, queryId, '42000');
  if (m.startsWith('Constraint Error') && m.includes('NOT NULL'))
    return new OperationFailedError(
      '100072',
      `NULL result in a non-nullable column (${first})`,
      queryId,
      '22000',
    );
  if (m.startsWith('Conversion Error') || m.startsWith('Invalid Input Error'))
    return new OperationFailedError('100038', first, queryId, '22018');
  if (m.startsWith('TransactionContext Error') && m.includes('Conflict'))
    return new OperationFailedError('000625', first, queryId, '57014');
  return new OperationFailedError('000603', `SQL execution internal error: ${first}`, queryId, 'XX000');
}

export type { ObjectName };
