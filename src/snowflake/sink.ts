import { createHash } from 'node:crypto';
import type { Batch } from '../core/batch.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { show } from '../core/units.js';
import type { ObjectStorage, PutIfAbsentResult } from '../lake/storage.js';
import { screenRecords } from '../parquet/check.js';
import {
  type EncodeParquetOptions,
  encodeColumns,
  type ParquetSchemaInput,
  resolveEncodeOptions,
} from '../parquet/encode.js';
import { requireParquetPeers } from '../parquet/peers.js';
import { parquetSchema } from '../parquet/schema.js';
import type { Sink, SinkContext, WriteOptions } from '../sinks/types.js';
import type { SchemaLike, SchemaOutput } from '../transforms/validate.js';
import {
  column,
  copyStatement,
  readCopyResult,
  stagedFileName,
  stagedFileNameWithDigest,
  stagedKey,
} from './copy.js';
import {
  createTableDDL,
  defaultLedger,
  ledgerDDL,
  type SnowflakeColumn,
  type SnowflakeTimestamps,
  snowflakeColumns,
} from './ddl.js';
import { classifyCode, scrubSecrets, snowflakeError } from './errors.js';
import { parseStage, qualifiedName, type SnowflakeTableName } from './identifiers.js';
import { exclusive, execute, isConnection } from './session.js';
import type { SnowflakeBind, SnowflakeConnectionLike } from './types.js';

/**
 * Where the sink stages files: the part of an {@link ObjectStorage} it uses. `s3Storage(…)` from
 * `microbatch/s3` for an external stage (its root is the stage's URL), `snowflakeInternalStage(…)`
 * for an internal one, `fileStorage(dir)` for a test double.
 */
export type StageStorage = Pick<ObjectStorage, 'kind' | 'url' | 'putIfAbsent'> &
  Partial<Pick<ObjectStorage, 'open'>>;

/** What happened to one batch, for logs and traces (see the `onLoad` option). */
export interface SnowflakeLoad {
  readonly batchId: string;
  readonly partition: string;
  readonly firstOffset: number;
  readonly lastOffset: number;
  /** The staged file's URL (`s3://bucket/stage/…/part-….parquet`). */
  readonly url: string;
  /** The stage write: a new file, or the file an earlier attempt staged. */
  readonly staged: 'created' | 'exists';
  /**
   * What the transaction did: `loaded` (COPY loaded the file), `loaded-before` (COPY said the file
   * was loaded before: `LOAD_SKIPPED` or "0 files processed"; the ledger row was added), or
   * `in-ledger` (the ledger already held the batch: nothing ran but the lookup).
   */
  readonly copy: 'loaded' | 'loaded-before' | 'in-ledger';
  /** Records of the batch as the sink got it (after the transforms). */
  readonly records: number;
  /** Rows COPY loaded now. */
  readonly rows: number;
  /** The Parquet file's size in bytes. */
  readonly bytes: number;
  /** Milliseconds (the pipeline's clock): encoding and staging, the transaction up to COMMIT. */
  readonly stageMs: number;
  readonly transactionMs: number;
}

/** Options of {@link snowflakeSink}. */
export interface SnowflakeSinkOptions extends EncodeParquetOptions {
  /**
   * A connected `snowflake-sdk` `Connection` (or anything with its `execute({ sqlText, binds,
   * complete })`). The sink runs one transaction at a time on it. Give this, `connect`, or both.
   */
  connection?: SnowflakeConnectionLike;
  /**
   * Opens a new connected connection: used when there is no `connection`, and after the session is
   * lost (`390114` master token expired, a disconnected connection), which no connection object
   * survives. Without it, such a failure is fatal.
   */
  connect?: () => SnowflakeConnectionLike | Promise<SnowflakeConnectionLike>;
  /** The table the records load into: `'DB.SCHEMA.EVENTS'` or `{ database, schema, name }`. */
  table: SnowflakeTableName;
  /**
   * The stage: `name` as Snowflake sees it (`'@DB.SCHEMA.STAGE/events'`), `storage` where the files
   * go, rooted at the stage's location (for an external stage, its `URL`; the path after the stage
   * name is a prefix inside it).
   */
  stage: { readonly name: string; readonly storage: StageStorage };
  /** A zod object schema, explicit Parquet columns or a `parquetSchema(…)` result. */
  schema: ParquetSchemaInput;
  /** The ledger table. @default 'MICROBATCH_LEDGER' in the table's database and schema */
  ledgerTable?: SnowflakeTableName;
  /** Create the records table when missing (`snowflakeTableDDL`); the ledger is always created when missing. @default false */
  createTable?: boolean;
  /** With `createTable`: the type of timestamp columns. @default 'TIMESTAMP_TZ' */
  timestamps?: SnowflakeTimestamps;
  /** Called after each batch's transaction (or ledger hit), for logs and traces; what it throws is logged and ignored. */
  onLoad?: (load: SnowflakeLoad) => void;
}

/** The sink {@link snowflakeSink} returns. */
export interface SnowflakeSink<T> extends Sink<T> {
  readonly kind: 'snowflake';
  readonly atomicLedger: true;
  /** The table's columns, as `snowflakeTableDDL` creates them. */
  readonly columns: readonly SnowflakeColumn[];
  open(context: SinkContext): Promise<void>;
  write(batch: Batch<T>, options: WriteOptions): Promise<void>;
  committed(partition: string): Promise<number | undefined>;
  close(): void;
}

const KNOWN = [
  'connection',
  'connect',
  'table',
  'stage',
  'schema',
  'ledgerTable',
  'createTable',
  'timestamps',
  'onLoad',
  'compression',
  'rowGroupSize',
];

/**
 * A sink that loads each batch into a Snowflake table: the batch is encoded as one Parquet file and
 * staged under a write-once key named after its id (`stage.storage.putIfAbsent`), then, on one
 * connection, as separate statements: `BEGIN`; a ledger lookup; `COPY INTO <table> FROM <stage>
 * FILES = ('part-<id>.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME =
 * CASE_INSENSITIVE`; the ledger row; `COMMIT`. `committed(partition)` reads the ledger, so with a
 * replayable source the pipeline is exactly-once without a checkpoint store. A batch id already in
 * the ledger is not loaded again; a file COPY reports as loaded before counts as written. Never
 * `FORCE`, never `PURGE`. `snowflake-sdk` itself is not needed by microbatch: bring a connection.
 *
 * ```ts
 * const sink = snowflakeSink({
 *   connection, table: 'ANALYTICS.RAW.EVENTS', schema: Event,
 *   stage: { name: '@ANALYTICS.RAW.MB_STAGE/events', storage: s3Storage({ client, bucket, prefix: 'stage/' }) },
 * });
 * ```
 */
export function snowflakeSink<S extends SchemaLike>(
  options: SnowflakeSinkOptions & { schema: S },
): SnowflakeSink<SchemaOutput<S>>;
/** With explicit columns (or a `parquetSchema(…)` result): the record type is yours to give. */
export function snowflakeSink<T = Record<string, unknown>>(options: SnowflakeSinkOptions): SnowflakeSink<T>;
export function snowflakeSink<T = Record<string, unknown>>(options: SnowflakeSinkOptions): SnowflakeSink<T> {
  const at = 'snowflakeSink';
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `${at}(options): options must be an object with connection, table, stage and schema; got ${show(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key))
      throw invalidOptions(`${at}: unknown option '${key}' (known: ${KNOWN.join(', ')})`);
  }
  if (options.connection !== undefined && !isConnection(options.connection)) {
    throw invalidOptions(
      `${at}: connection must be a snowflake-sdk Connection (an object with execute()); got ${show(options.connection)}`,
      { option: 'connection' },
    );
  }
  if (options.connect !== undefined && typeof options.connect !== 'function') {
    throw invalidOptions(
      `${at}: connect must be a function returning a connection; got ${show(options.connect)}`,
      {
        option: 'connect',
      },
    );
  }
  if (options.connection === undefined && options.connect === undefined) {
    throw invalidOptions(
      `${at}: give connection (a connected snowflake-sdk Connection), connect (a function opening one), or both`,
      {
        option: 'connection',
      },
    );
  }
  const table = qualifiedName(options.table, `${at}: table`);
  const ledger = qualifiedName(options.ledgerTable ?? defaultLedger(options.table), `${at}: ledgerTable`);
  const what0 = `${at} ${table}`;
  if (typeof options.stage !== 'object' || options.stage === null) {
    throw invalidOptions(
      `${at}: stage must be { name: '@db.schema.stage/path', storage }; got ${show(options.stage)}`,
      {
        option: 'stage',
      },
    );
  }
  const stage = parseStage(options.stage.name, `${at}: stage.name`);
  const storage = options.stage.storage;
  if (
    typeof storage !== 'object' ||
    storage === null ||
    typeof storage.putIfAbsent !== 'function' ||
    typeof storage.url !== 'function'
  ) {
    throw invalidOptions(
      `${at}: stage.storage must be an ObjectStorage (s3Storage(…) from 'microbatch/s3' for an external stage, snowflakeInternalStage(…) for an internal one); got ${show(storage)}`,
      { option: 'stage' },
    );
  }
  if (options.createTable !== undefined && typeof options.createTable !== 'boolean') {
    throw invalidOptions(`${at}: createTable must be a boolean; got ${show(options.createTable)}`, {
      option: 'createTable',
    });
  }
  if (options.onLoad !== undefined && typeof options.onLoad !== 'function') {
    throw invalidOptions(`${at}: onLoad must be a function; got ${show(options.onLoad)}`, {
      option: 'onLoad',
    });
  }
  const parquet = parquetSchema(options.schema).columns;
  const columns = snowflakeColumns(parquetSchema(options.schema), { timestamps: options.timestamps });
  const encoding = resolveEncodeOptions(options, what0);
  const connect = options.connect;
  const canReconnect = connect !== undefined;

  const lookupSql = `SELECT "BATCH_ID", "FIRST_OFFSET", "LAST_OFFSET" FROM ${ledger} WHERE "PIPELINE" = ? AND "PARTITION" = ? AND ("BATCH_ID" = ? OR ("FIRST_OFFSET" <= ? AND "LAST_OFFSET" >= ?)) LIMIT 2`;
  const insertSql = `INSERT INTO ${ledger} ("PIPELINE", "PARTITION", "BATCH_ID", "FIRST_OFFSET", "LAST_OFFSET", "RECORDS", "WRITTEN_AT") SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM ${ledger} WHERE "PIPELINE" = ? AND "PARTITION" = ? AND "BATCH_ID" = ?)`;
  const committedSql = `SELECT MAX("LAST_OFFSET") AS "LAST" FROM ${ledger} WHERE "PIPELINE" = ? AND "PARTITION" = ?`;
  const columnList = columns.map((c) => `"${c.name.replace(/"/g, '""')}"`).join(', ');

  let connection: SnowflakeConnectionLike | undefined = options.connection;
  let opened: SnowflakeConnectionLike | undefined; // the one connect() gave, closed by close()
  let givenLost = false; // the given connection's session is gone: never use it again
  let context: SinkContext | undefined;

  const ready = (call: string): SinkContext => {
    if (context === undefined) throw new MicrobatchError('MB_CLOSED', `${at}: ${call} before open()`);
    return context;
  };

  async function current(): Promise<SnowflakeConnectionLike> {
    if (connection !== undefined) return connection;
    let c: unknown;
    try {
      c = await connect!();
    } catch (error) {
      if (MicrobatchError.is(error)) throw error;
      throw new MicrobatchError(
        'MB_SINK_FAILED',
        `${what0}: connect() failed: ${scrubSecrets(describeError(error))}`,
        { cause: error, retryable: true },
      );
    }
    if (!isConnection(c)) {
      throw invalidOptions(
        `${at}: connect() must return a connection (an object with execute()); got ${show(c)}`,
      );
    }
    connection = opened = c;
    return c;
  }

  /** One statement; a failure is classified, and a lost session drops the connection for the next attempt. */
  function run(
    c: SnowflakeConnectionLike,
    sqlText: string,
    binds: SnowflakeBind[] | undefined,
    statement: string,
    what: string,
  ): Promise<Record<string, unknown>[]> {
    return execute(c, sqlText, binds).catch((err: unknown) => {
      if (classifyCode(err) === 'reconnect' && connection === c && canReconnect) {
        if (c === options.connection) givenLost = true;
        destroy(c);
        connection = undefined;
      }
      throw snowflakeError(err, what, statement, canReconnect);
    });
  }

  function destroy(c: SnowflakeConnectionLike): void {
    if (c !== opened) return;
    opened = undefined;
    const d = (c as { destroy?: (cb: (err: unknown) => void) => void }).destroy;
    if (typeof d === 'function') {
      try {
        d.call(c, () => {});
      } catch {
        // already gone
      }
    }
  }

  async function transaction(
    c: SnowflakeConnectionLike,
    batch: Batch<T>,
    file: string,
    put: PutIfAbsentResult,
    signal: AbortSignal,
    what: string,
  ): Promise<{ copy: SnowflakeLoad['copy']; rows: number }> {
    const { pipeline, clock } = ready('write()');
    const check = () => {
      if (signal.aborted)
        throw new MicrobatchError('MB_ABORTED', `${what}: write aborted`, { cause: signal.reason });
    };
    check();
    await run(c, 'BEGIN', undefined, 'BEGIN', what);
    try {
      const found = await run(
        c,
        lookupSql,
        [pipeline, batch.partition, batch.id, batch.lastOffset, batch.firstOffset],
        'ledger lookup',
        what,
      );
      for (const row of found) {
        if (String(column(row, 'batch_id')) === batch.id) {
          // Already written (a retry after a lost COMMIT reply, a replay): one effect per id.
          await run(c, 'ROLLBACK', undefined, 'ROLLBACK', what);
          return { copy: 'in-ledger', rows: 0 };
        }
      }
      const other = found[0];
      if (other !== undefined) {
        throw new MicrobatchError(
          'MB_LEDGER_AHEAD',
          `${what}: the ledger ${ledger} already holds batch ${String(column(other, 'batch_id'))} (offsets ${String(column(other, 'first_offset'))}–${String(column(other, 'last_offset'))}), which overlaps this batch's range ${batch.firstOffset}–${batch.lastOffset}. This does not happen in normal operation (another pipeline under the same name, a source reset while a checkpoint was kept); nothing was written. To reprocess on purpose, delete the partition's ledger rows and the rows they loaded.`,
          {
            details: { partition: batch.partition, ledgerBatch: column(other, 'batch_id'), batch: batch.id },
          },
        );
      }
      check();
      const statement = `COPY INTO ${table}`;
      const outcome = readCopyResult(
        await run(c, copyStatement(table, stage, [file]), undefined, statement, what),
        what,
      );
      if (outcome.loaded > 0 && outcome.rows !== batch.records.length) {
        // ABORT_STATEMENT should make this impossible; if a COPY still drops rows, they are not written.
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `${what}: COPY loaded ${outcome.rows} rows from ${file} for a batch of ${batch.records.length} records; rolled back, nothing counted as written`,
          { details: { statement, class: 'data', rows: outcome.rows, records: batch.records.length } },
        );
      }
      if (outcome.loaded === 0 && outcome.skipped === 0 && put.outcome === 'created') {
        // The file is new, so it cannot have been loaded before: COPY does not see where we staged it.
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `${what}: COPY found nothing to load in ${stage.stage}${stage.path === '' ? '' : `/${stage.path}`} although ${storage.url(stagedKey(stage, file))} was just staged: stage.name and stage.storage must point at the same location (the storage's root is the stage's URL)`,
          { details: { statement, class: 'fatal' } },
        );
      }
      check();
      await run(
        c,
        insertSql,
        [
          pipeline,
          batch.partition,
          batch.id,
          batch.firstOffset,
          batch.lastOffset,
          batch.records.length,
          new Date(clock.now()).toISOString(),
          pipeline,
          batch.partition,
          batch.id,
        ],
        'ledger insert',
        what,
      );
      check();
      await run(c, 'COMMIT', undefined, 'COMMIT', what);
      return { copy: outcome.loaded > 0 ? 'loaded' : 'loaded-before', rows: outcome.rows };
    } catch (error) {
      // The transaction is open unless the session is gone: roll it back before the next batch.
      if (classifyCode((error as { cause?: unknown }).cause ?? error) !== 'reconnect') {
        await run(c, 'ROLLBACK', undefined, 'ROLLBACK', what).catch(() => {});
      }
      throw error;
    }
  }

  async function write(batch: Batch<T>, { signal }: WriteOptions): Promise<void> {
    const { clock, logger } = ready('write()');
    const what = `${what0}: batch ${batch.id}`;
    const started = clock.now();
    let bytes: Uint8Array;
    try {
      bytes = await encodeColumns(batch.records, parquet, encoding);
    } catch (error) {
      if (!MicrobatchError.is(error, 'MB_ENCODE_FAILED')) throw error;
      throw new MicrobatchError('MB_ENCODE_FAILED', `${what}: ${error.message}`, {
        cause: error,
        details: { ...error.details, batch: batch.id },
      });
    }
    if (signal.aborted)
      throw new MicrobatchError('MB_ABORTED', `${what}: write aborted`, { cause: signal.reason });
    let file = stagedFileName(batch.id);
    let key = stagedKey(stage, file);
    let put = await storage.putIfAbsent(key, bytes, { signal });
    if (put.outcome === 'exists' && !put.identical) {
      // Another run staged other content under this batch's name (other transforms, another
      // deployment under the same pipeline name). Loading it would load its records as this batch's:
      // stage this batch's own bytes under a name that carries their digest, and load that.
      const taken = storage.url(key);
      file = stagedFileNameWithDigest(
        batch.id,
        createHash('sha256').update(bytes).digest('hex').slice(0, 16),
      );
      key = stagedKey(stage, file);
      put = await storage.putIfAbsent(key, bytes, { signal });
      if (put.outcome === 'exists' && !put.identical) {
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `${what}: ${storage.url(key)} already exists with other content; refusing to load it as this batch`,
          { details: { statement: 'stage write', class: 'fatal' } },
        );
      }
      logger.warn(
        { taken, url: storage.url(key), batch: batch.id, bytes: bytes.length },
        'snowflakeSink: the staged file of this batch already exists with other content (not loaded); staged the batch under a name with its digest',
      );
    }
    const staged = clock.now();
    const c = await current();
    const task = exclusive(c, () => transaction(c, batch, file, put, signal, what));
    task.catch(() => {});
    const result = await abortable(task, signal, what);
    const load: SnowflakeLoad = {
      batchId: batch.id,
      partition: batch.partition,
      firstOffset: batch.firstOffset,
      lastOffset: batch.lastOffset,
      url: storage.url(key),
      staged: put.outcome,
      copy: result.copy,
      records: batch.records.length,
      rows: result.rows,
      bytes: bytes.length,
      stageMs: staged - started,
      transactionMs: clock.now() - staged,
    };
    try {
      options.onLoad?.(load);
    } catch (error) {
      // The batch is committed: a failing observer must not make the pipeline write it again.
      logger.warn({ batch: batch.id, error: describeError(error) }, 'snowflakeSink: onLoad threw');
    }
  }

  async function ensure(
    c: SnowflakeConnectionLike,
    sql: string,
    ddl: string | undefined,
    what: string,
  ): Promise<void> {
    try {
      await run(c, sql, undefined, 'check', what);
    } catch (error) {
      const code = (error as MicrobatchError).details?.snowflakeCode;
      if (ddl === undefined || code !== '002003') throw error;
      await run(c, ddl, undefined, 'CREATE TABLE', what);
    }
  }

  return {
    kind: 'snowflake',
    atomicLedger: true,
    columns,
    prepare: () => requireParquetPeers(at),
    screen: (batch) => screenRecords(batch.records, parquet),
    async open(ctx: SinkContext) {
      await requireParquetPeers(at);
      await storage.open?.();
      const c = await current();
      await exclusive(c, async () => {
        await ensure(
          c,
          `SELECT "PIPELINE" FROM ${ledger} WHERE 1 = 0`,
          ledgerDDL(options.ledgerTable ?? defaultLedger(options.table)),
          `${what0}: ledger ${ledger}`,
        );
        try {
          await ensure(
            c,
            `SELECT ${columnList} FROM ${table} WHERE 1 = 0`,
            options.createTable === true ? createTableDDL(columns, options.table) : undefined,
            what0,
          );
        } catch (error) {
          throw new MicrobatchError(
            'MB_SINK_FAILED',
            `${at}: cannot load into ${table}: ${describeError(error)}. Create it with snowflakeTableDDL(schema, table) (see docs/snowflake.md, "Set-up") or set createTable: true`,
            { cause: error, retryable: MicrobatchError.is(error) && error.retryable },
          );
        }
      });
      context = ctx;
    },
    write,
    async committed(partition: string) {
      const { pipeline } = ready('committed()');
      const c = await current();
      const rows = await exclusive(c, () =>
        run(c, committedSql, [pipeline, partition], 'ledger read', `${what0}: committed('${partition}')`),
      );
      const last = rows[0] === undefined ? undefined : column(rows[0], 'last');
      if (last === null || last === undefined) return undefined;
      const offset = Number(last);
      if (!Number.isSafeInteger(offset)) {
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `${at}: the ledger ${ledger} holds offset ${String(last)} for partition '${partition}', not a safe integer`,
        );
      }
      return offset;
    },
    close() {
      context = undefined;
      if (opened !== undefined) destroy(opened);
      connection = givenLost ? undefined : options.connection;
    },
  };
}

/** `task`, or an `MB_ABORTED` rejection as soon as `signal` aborts (the task then rolls back on its own). */
function abortable<R>(task: Promise<R>, signal: AbortSignal, what: string): Promise<R> {
  if (signal.aborted)
    return Promise.reject(
      new MicrobatchError('MB_ABORTED', `${what}: write aborted`, { cause: signal.reason }),
    );
  return new Promise<R>((resolve, reject) => {
    const onAbort = () =>
      reject(new MicrobatchError('MB_ABORTED', `${what}: write aborted`, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    task.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
