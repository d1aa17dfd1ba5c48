/**
 * A contract double of Snowflake for the tests (SNOWFLAKE-S3.md §10): connections with
 * snowflake-sdk's callback API, sessions with transactions (BEGIN/COMMIT/ROLLBACK, DDL commits
 * implicitly, autocommit outside BEGIN), tables in DuckDB (one database; one DuckDB connection per
 * session, so transactions are isolated), `COPY INTO … FROM @stage` over ObjectStorage stages with
 * per-table load history, table locks, injectable errors and latencies, and a record of every
 * statement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { ObjectStorage } from '../../../src/lake/storage.js';
import type { LoadRecord, StageEntry, TableHistory } from './copy.js';
import {
  connectionStateError,
  DriverError,
  networkError,
  OperationFailedError,
  reconnectError,
  serverError,
} from './errors.js';
import { Session } from './session.js';
import { type StatementKind, stageKey } from './sql.js';

export type { StatementKind } from './sql.js';

/** What a statement may be bound to: `?` placeholders, in order. */
export type Bind = string | number | boolean | null | bigint | Date;

/**
 * A statement's status (snowflake-sdk's `QueryStatus` names): QUEUED during an injected latency,
 * BLOCKED while it waits for a table lock, RUNNING, then SUCCESS or FAILED_WITH_ERROR.
 */
export type QueryStatus = 'QUEUED' | 'BLOCKED' | 'RUNNING' | 'SUCCESS' | 'FAILED_WITH_ERROR';

/** The `execute` options the double honours (the rest of snowflake-sdk's are accepted and ignored). */
export interface ExecuteOptions {
  readonly sqlText: string;
  readonly binds?: readonly Bind[];
  readonly requestId?: string;
  /** Call `complete` once the statement is submitted (rows: `[]`); read it later with `getResultsFromQueryId`. */
  readonly asyncExec?: boolean;
  complete?(
    error: Error | undefined,
    statement: StatementHandle,
    rows: Record<string, unknown>[] | undefined,
  ): void;
}

/** The statement object `execute` returns at once. */
export interface StatementHandle {
  getSqlText(): string;
  getStatementId(): string;
  getQueryId(): string;
  getRequestId(): string;
  getNumRows(): number;
  getNumUpdatedRows(): number;
  getColumns(): { getName(): string }[];
  cancel(callback?: (error?: Error) => void): void;
}

/** A connection with snowflake-sdk's shape. */
export interface SnowflakeConnectionLike {
  execute(options: ExecuteOptions): StatementHandle;
  connect(
    callback?: (error: Error | undefined, connection: SnowflakeConnectionLike) => void,
  ): SnowflakeConnectionLike;
  connectAsync(): Promise<SnowflakeConnectionLike>;
  destroy(callback?: (error: Error | undefined, connection: SnowflakeConnectionLike) => void): void;
  isUp(): boolean;
  getId(): string;
  /** The statement's status (see {@link QueryStatus}); in-process connections only. */
  getQueryStatus?(queryId: string): Promise<QueryStatus>;
  /** Like getQueryStatus, but rejects with the statement's error when it failed. */
  getQueryStatusThrowIfError?(queryId: string): Promise<QueryStatus>;
  /** The rows of a statement (waits for it to finish; rejects with its error). */
  getResultsFromQueryId?(options: { queryId: string }): Promise<Record<string, unknown>[]>;
}

/** An injected fault: which statements it hits and what it does to them. */
export interface FaultSpec {
  /** Statement kinds it applies to (default: all). */
  readonly kind?: StatementKind | readonly StatementKind[];
  /** A pattern the statement text must match. */
  readonly sql?: RegExp;
  /** Only statements of this session (the connection's `getId()`). */
  readonly session?: string;
  /** Only while this returns true (called for each statement that matched the rest, before it counts as a hit). */
  readonly when?: (statement: {
    readonly kind: StatementKind;
    readonly sqlText: string;
    readonly session: string;
  }) => boolean;
  /**
   * The error: a six-digit server code ('000610', '000625', '000630', '390114', '001003', '003001',
   * …), `'network'` or a Node errno like `'ECONNRESET'` (a driver 401001 NetworkError with that
   * cause), or an Error to throw as it is. None: only the latency.
   */
  readonly error?: string | Error;
  /** Delay before the statement runs (or fails), through the double's `sleep`. */
  readonly latencyMs?: number;
  /** How many statements it hits (default: until cleared). */
  readonly times?: number;
  /**
   * For an error: run the statement first, then report the error (the server did the work and the
   * answer was lost: the ambiguous case). Default false: the statement does not run.
   */
  readonly ran?: boolean;
  /**
   * After the fault, end the session as if the client process died: its open transaction rolls back,
   * later statements on the connection get 407002. The statement reports `error`, or a network error.
   */
  readonly terminate?: boolean;
}

/** A fault in place. */
export interface Fault {
  readonly spec: FaultSpec;
  /** How many statements it hit so far. */
  readonly hits: number;
  /** Removes it. */
  clear(): void;
}

/** One statement as the double saw it. */
export interface StatementRecord {
  readonly queryId: string;
  readonly requestId: string;
  /** The connection's id. */
  readonly session: string;
  readonly sqlText: string;
  readonly binds: readonly Bind[];
  readonly kind: StatementKind;
  /** When it arrived (the double's clock). */
  readonly at: number;
  /** Set when it completed. */
  outcome?: 'ok' | 'error';
  error?: { readonly code: string | number | undefined; readonly message: string };
  /** Rows returned. */
  rows?: number;
  /** True when an injected fault decided the outcome. */
  injected: boolean;
}

export interface SnowflakeDoubleOptions {
  /** Stages by name (`'@db.schema.stage'`, case-insensitive, quotes ignored) → where their files are. */
  readonly stages?: Readonly<Record<string, ObjectStorage>>;
  /** Databases and schemas to create up front: `'DB'` or `'DB.SCHEMA'`. */
  readonly schemas?: readonly string[];
  /** The clock (ms since the epoch). Default: wall-clock time, moved by `advance()` and `setTime()`. */
  readonly now?: () => number;
  /** How latencies wait. Default: setTimeout. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Statements in flight over all sessions above which a new one gets 000610. Default: unlimited. */
  readonly maxConcurrentStatements?: number;
  /** Waiters on one table lock above which a statement gets 000625. Default 20. */
  readonly maxLockWaiters?: number;
  /**
   * Explicitly listed files loaded before: `'rows'` (default) answers a `LOAD_SKIPPED` row per file
   * (shape C); `'omit'` leaves them out, so a COPY of only such files answers shape B.
   */
  readonly skippedFiles?: 'rows' | 'omit';
  /** Case of COPY's result columns: `'lower'` (default, as Snowflake returns them) or `'upper'`. */
  readonly copyColumns?: 'lower' | 'upper';
}

let doubles = 0;

/** The double: create with {@link SnowflakeDouble.create}, close with {@link SnowflakeDouble.close}. */
export class SnowflakeDouble {
  readonly statements: StatementRecord[] = [];
  /** Committed load history per table key (`DB.SCH.T`). */
  readonly history = new Map<string, TableHistory>();
  readonly stages = new Map<string, StageEntry>();
  readonly tmpDir: string;
  readonly options: SnowflakeDoubleOptions;
  readonly sessions = new Map<string, Session>();
  /** Statements in flight. */
  active = 0;
  /** Each statement's status, as `getQueryStatus` reports it. */
  readonly status = new Map<string, QueryStatus>();
  private readonly results = new Map<string, Promise<Record<string, unknown>[]>>();
  private readonly faults: { spec: FaultSpec; hits: number; cleared: boolean }[] = [];
  private offset = 0;
  private fixed: number | undefined;
  private nextSession = 0;
  private nextQuery = 0;
  private readonly id = ++doubles;
  private closed = false;
  private helper: SnowflakeConnectionLike | undefined;

  private constructor(
    readonly instance: DuckDBInstance,
    readonly scratch: DuckDBConnection,
    options: SnowflakeDoubleOptions,
  ) {
    this.options = options;
    this.tmpDir = mkdtempSync(join(tmpdir(), 'snowflake-double-'));
    for (const [name, storage] of Object.entries(options.stages ?? {})) this.addStage(name, storage);
  }

  static async create(options: SnowflakeDoubleOptions = {}): Promise<SnowflakeDouble> {
    const instance = await DuckDBInstance.create(':memory:');
    const scratch = await instance.connect();
    const double = new SnowflakeDouble(instance, scratch, options);
    for (const name of options.schemas ?? []) {
      const [db, schema] = name.split('.');
      await scratch.run(`ATTACH IF NOT EXISTS ':memory:' AS "${db!.toUpperCase()}"`);
      if (schema !== undefined)
        await scratch.run(`CREATE SCHEMA IF NOT EXISTS "${db!.toUpperCase()}"."${schema.toUpperCase()}"`);
    }
    return double;
  }

  /** Adds (or replaces) a stage. */
  addStage(name: string, storage: ObjectStorage): void {
    const key = stageKey(name);
    this.stages.set(key, { storage, name: key });
  }

  // ---- clock ----

  /** The double's time (ms since the epoch). */
  now(): number {
    if (this.options.now !== undefined) return this.options.now() + this.offset;
    return (this.fixed ?? Date.now()) + this.offset;
  }

  /** Moves the double's clock forward by `ms`. */
  advance(ms: number): void {
    this.offset += ms;
  }

  /** Sets the double's clock to `ms` (it then stands still until moved again). */
  setTime(ms: number): void {
    this.offset = 0;
    this.fixed = ms;
  }

  sleep(ms: number): Promise<void> {
    if (this.options.sleep !== undefined) return this.options.sleep(ms);
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // ---- connections ----

  /** A connection that is already connected (its session starts now). */
  connection(): SnowflakeConnectionLike {
    const connection = this.createConnection();
    connection.connect();
    return connection;
  }

  /** A pristine connection, as `snowflake.createConnection()` gives: `connect()` before `execute()`. */
  createConnection(): SnowflakeConnectionLike {
    const id = `double-${this.id}-session-${++this.nextSession}`;
    let session: Session | undefined;
    let state: 'pristine' | 'connected' | 'terminated' = 'pristine';
    const double = this;
    const connection: SnowflakeConnectionLike = {
      getId: () => id,
      isUp: () => state === 'connected' && session?.state === 'open',
      connect(callback) {
        if (state === 'terminated' || session?.state === 'closed') {
          const error = reconnectError();
          queueMicrotask(() => callback?.(error, connection));
          return connection;
        }
        if (state === 'pristine') {
          session = new Session(double, id);
          double.sessions.set(id, session);
          state = 'connected';
        }
        queueMicrotask(() => callback?.(undefined, connection));
        return connection;
      },
      connectAsync: () =>
        new Promise((resolve, reject) =>
          connection.connect((error) => (error ? reject(error) : resolve(connection))),
        ),
      destroy(callback) {
        state = 'terminated';
        const done = session === undefined ? Promise.resolve() : session.terminate();
        void done.then(() => callback?.(undefined, connection));
      },
      execute(options) {
        return double.execute(id, state === 'pristine' ? 'pristine' : session, options);
      },
      getQueryStatus: (queryId) => double.queryStatus(queryId),
      getQueryStatusThrowIfError: async (queryId) => {
        const status = await double.queryStatus(queryId);
        if (status === 'FAILED_WITH_ERROR') await double.results.get(queryId);
        return status;
      },
      getResultsFromQueryId: ({ queryId }) =>
        double.results.get(queryId) ?? Promise.reject(new Error(`no statement with query id ${queryId}`)),
    };
    return connection;
  }

  /** The status of a statement by its query id (rejects for an unknown id). */
  queryStatus(queryId: string): Promise<QueryStatus> {
    const status = this.status.get(queryId);
    return status === undefined
      ? Promise.reject(new Error(`no statement with query id ${queryId}`))
      : Promise.resolve(status);
  }

  /** Ends a session as a dropped client would: its open transaction rolls back, its locks go. */
  async dropSession(id: string): Promise<void> {
    await this.sessions.get(id)?.terminate();
  }

  // ---- faults ----

  /** Injects a fault; it stays until `times` statements were hit or it is cleared. */
  inject(spec: FaultSpec): Fault {
    const entry = { spec, hits: 0, cleared: false };
    this.faults.push(entry);
    return {
      spec,
      get hits() {
        return entry.hits;
      },
      clear: () => {
        entry.cleared = true;
      },
    };
  }

  /** Removes every fault. */
  clearFaults(): void {
    for (const f of this.faults) f.cleared = true;
    this.faults.length = 0;
  }

  private takeFault(kind: StatementKind, sqlText: string, session: string): FaultSpec | undefined {
    for (const f of this.faults) {
      if (f.cleared || (f.spec.times !== undefined && f.hits >= f.spec.times)) continue;
      const kinds = f.spec.kind === undefined ? undefined : ([] as StatementKind[]).concat(f.spec.kind);
      if (kinds !== undefined && !kinds.includes(kind)) continue;
      if (f.spec.sql !== undefined && !f.spec.sql.test(sqlText)) continue;
      if (f.spec.session !== undefined && f.spec.session !== session) continue;
      if (f.spec.when !== undefined && !f.spec.when({ kind, sqlText, session })) continue;
      f.hits++;
      return f.spec;
    }
    return undefined;
  }

  // ---- statements ----

  private execute(
    sessionId: string,
    session: Session | 'pristine' | undefined,
    options: ExecuteOptions,
  ): StatementHandle {
    const queryId = `01b${String(this.id).padStart(3, '0')}-${String(++this.nextQuery).padStart(8, '0')}-double`;
    const requestId = options.requestId ?? queryId;
    const sqlText = String(options.sqlText);
    const binds = [...(options.binds ?? [])];
    const kind = session === 'pristine' || session === undefined ? 'OTHER' : session.kindOf(sqlText);
    const record: StatementRecord = {
      queryId,
      requestId,
      session: sessionId,
      sqlText,
      binds,
      kind,
      at: this.now(),
      injected: false,
    };
    this.statements.push(record);
    let rows: Record<string, unknown>[] | undefined;
    let updated = 0;
    const handle: StatementHandle = {
      getSqlText: () => sqlText,
      getStatementId: () => queryId,
      getQueryId: () => queryId,
      getRequestId: () => requestId,
      getNumRows: () => rows?.length ?? 0,
      getNumUpdatedRows: () => updated,
      getColumns: () => Object.keys(rows?.[0] ?? {}).map((name) => ({ getName: () => name })),
      cancel: (callback) => queueMicrotask(() => callback?.()),
    };
    this.status.set(queryId, 'QUEUED');
    let settle: { resolve(rows: Record<string, unknown>[]): void; reject(error: Error): void } | undefined;
    const result = new Promise<Record<string, unknown>[]>((resolve, reject) => {
      settle = { resolve, reject };
    });
    result.catch(() => {});
    this.results.set(queryId, result);
    const finish = (error: Error | undefined) => {
      this.status.set(queryId, error === undefined ? 'SUCCESS' : 'FAILED_WITH_ERROR');
      if (error === undefined) settle!.resolve(rows ?? []);
      else settle!.reject(error);
      if (options.asyncExec === true) return;
      record.outcome = error === undefined ? 'ok' : 'error';
      if (error !== undefined)
        record.error = { code: (error as { code?: string | number }).code, message: error.message };
      else record.rows = rows?.length ?? 0;
      options.complete?.(error, handle, error === undefined ? rows : undefined);
    };
    const run = async () => {
      if (session === 'pristine') throw connectionStateError('pristine');
      if (session === undefined || session.state !== 'open') throw connectionStateError('terminated');
      if (this.closed) throw connectionStateError('terminated');
      const max = this.options.maxConcurrentStatements;
      if (max !== undefined && this.active >= max) {
        record.injected = false;
        throw serverError('000610', queryId);
      }
      this.active++;
      try {
        const fault = this.takeFault(kind, sqlText, sessionId);
        if (fault !== undefined) {
          record.injected = true;
          if (fault.latencyMs !== undefined && fault.latencyMs > 0) await this.sleep(fault.latencyMs);
          if (fault.error === undefined && fault.terminate !== true) record.injected = false;
          else {
            if (fault.ran) await session.run(queryId, sqlText, binds);
            // A terminated session without an error of its own: the client lost the connection.
            const error = fault.error === undefined ? networkError() : this.faultError(fault.error, queryId);
            if (fault.terminate === true || (error as { code?: unknown }).code === '390114')
              await session.terminate();
            throw error;
          }
        }
        this.status.set(queryId, 'RUNNING');
        const result = await session.run(queryId, sqlText, binds, (blocked) =>
          this.status.set(queryId, blocked ? 'BLOCKED' : 'RUNNING'),
        );
        rows = result.rows;
        updated = result.updated;
      } finally {
        this.active--;
      }
    };
    // complete is always called asynchronously, once: at submission with asyncExec, else at the end.
    if (options.asyncExec === true) {
      setImmediate(() => options.complete?.(undefined, handle, []));
      result.then(
        () => {
          record.outcome = 'ok';
          record.rows = rows?.length ?? 0;
        },
        (error: Error) => {
          record.outcome = 'error';
          record.error = { code: (error as { code?: string | number }).code, message: error.message };
        },
      );
    }
    setImmediate(() => {
      run().then(
        () => finish(undefined),
        (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
      );
    });
    return handle;
  }

  private faultError(error: string | Error, queryId: string): Error {
    if (error instanceof Error) return error;
    if (error === 'network') return networkError();
    if (/^E[A-Z]+$/.test(error)) return networkError(error);
    if (/^\d{6}$/.test(error)) return serverError(error, queryId);
    return new DriverError('Error', 0, error);
  }

  // ---- load history ----

  /** A table's committed load history (`table` as `DB.SCH.T`, any case). */
  loadHistory(table: string): LoadRecord[] {
    return [...(this.history.get(table.toUpperCase())?.files.values() ?? [])];
  }

  // ---- convenience for tests ----

  /** Runs `sql` on a fresh session of its own (committed data only) and returns the rows. */
  async query(sql: string, binds: readonly Bind[] = []): Promise<Record<string, unknown>[]> {
    this.helper ??= this.connection();
    const helper = this.helper;
    return new Promise((resolve, reject) => {
      helper.execute({
        sqlText: sql,
        binds,
        complete: (error, _statement, rows) => (error ? reject(error) : resolve(rows ?? [])),
      });
    });
  }

  /** The recorded statements of `kind`. */
  statementsOf(kind: StatementKind): StatementRecord[] {
    return this.statements.filter((s) => s.kind === kind);
  }

  /** Ends every session (open transactions roll back) and frees DuckDB. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const session of this.sessions.values()) await session.terminate();
    this.scratch.closeSync();
    this.instance.closeSync();
    rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

/** Runs one statement on `connection` and resolves with its rows (for tests). */
export function exec(
  connection: SnowflakeConnectionLike,
  sqlText: string,
  binds: readonly Bind[] = [],
): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    connection.execute({
      sqlText,
      binds,
      complete: (error, _statement, rows) => (error ? reject(error) : resolve(rows ?? [])),
    });
  });
}

export { OperationFailedError };
