import { finished } from 'node:stream/promises';
import type { Batch } from '../core/batch.js';
import { recordOffset } from '../core/batch.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { loadPeer } from '../core/peers.js';
import { type Duration, parseDuration, show } from '../core/units.js';
import type { Sink, SinkContext, WriteOptions } from '../sinks/types.js';
import type { SchemaLike, SchemaOutput } from '../transforms/validate.js';
import {
  type PostgresColumn,
  type PostgresColumnInput,
  type PostgresTableName,
  postgresColumns,
  qualifiedName,
  quoteIdentifier,
} from './columns.js';
import { rowEncoder, ValueError } from './copy-text.js';
import {
  createTable,
  DEFAULT_LEDGER_TABLE,
  deadLetterDDL,
  defaultDeadLetterTable,
  ledgerDDL,
} from './ddl.js';
import {
  classify,
  copyLine,
  describeRowError,
  isConnectionError,
  isRowError,
  type PgErrorLike,
} from './errors.js';
import type { PgClientLike, PgPoolLike } from './types.js';

/** Options of {@link postgresSink}. */
export interface PostgresSinkOptions {
  /**
   * A `pg` `Pool` (or anything with the same `connect()`): the sink checks out one connection per
   * batch write and never ends the pool. Size it for the pipeline's `concurrency` plus one.
   */
  pool: PgPoolLike;
  /** The table the records go to: `'prices'` or `{ schema: 'staging', name: 'prices' }`. */
  table: PostgresTableName;
  /** A zod object schema describing the records; columns follow its fields (see `postgresColumns`). */
  schema?: unknown;
  /** The columns, explicitly, instead of `schema`: `[{ name: 'sku', type: 'text' }, …]`. */
  columns?: readonly PostgresColumnInput[];
  /**
   * The ledger table `(pipeline, partition, batch_id, first_offset, last_offset, …)`, created by
   * `open()` if missing. One table serves every pipeline of the database.
   * @default 'microbatch_ledger'
   */
  ledgerTable?: PostgresTableName;
  /** Create the records table (and the dead-letter table) when missing, from the columns. @default false */
  createTable?: boolean;
  /** With `createTable`: `CREATE UNLOGGED TABLE` (no WAL: faster, emptied by a server crash). @default false */
  unlogged?: boolean;
  /**
   * What a row the server refuses (a constraint, a value out of range: SQLSTATE classes 23 and 22)
   * or a value that does not fit its column does to its batch:
   * - `'fail'`: the batch fails, and the pipeline with it, with an `MB_SINK_FAILED` naming the
   *   constraint and the row's offset;
   * - `'dead-letter'`: the row goes to the dead-letter table with the reason, in the same
   *   transaction, and the rest of the batch is written.
   * @default 'fail'
   */
  onRowError?: 'fail' | 'dead-letter';
  /** The dead-letter table of `onRowError: 'dead-letter'`. @default `<table>_dead_letters` */
  deadLetterTable?: PostgresTableName;
  /**
   * `lock_timeout` of each write transaction: a write waiting longer for a lock (an `ALTER TABLE`, a
   * `LOCK TABLE`, a long `VACUUM FULL`) fails with a retryable error, which the adaptive trigger sees
   * as back-pressure, instead of hanging. `0` waits forever.
   * @default '5s'
   */
  lockTimeout?: Duration;
  /** `statement_timeout` of each statement of a write; `0` for none. @default 0 */
  statementTimeout?: Duration;
}

/** The sink {@link postgresSink} returns. */
export interface PostgresSink<T> extends Sink<T> {
  readonly kind: 'postgres';
  readonly atomicLedger: true;
  /** The columns written, in order. */
  readonly columns: readonly PostgresColumn[];
  open(context: SinkContext): Promise<void>;
  write(batch: Batch<T>, options: WriteOptions): Promise<void>;
  committed(partition: string): Promise<number | undefined>;
  close(): void;
}

interface CopyStreamsModule {
  from?: (text: string) => NodeJS.WritableStream;
  default?: { from: (text: string) => NodeJS.WritableStream };
}

type CopyFrom = (text: string) => NodeJS.WritableStream & { rowCount?: number };

const KNOWN = [
  'pool',
  'table',
  'schema',
  'columns',
  'ledgerTable',
  'createTable',
  'unlogged',
  'onRowError',
  'deadLetterTable',
  'lockTimeout',
  'statementTimeout',
];

/** Rows per string handed to the COPY stream: ~200 KB for 200-byte rows. */
const ROWS_PER_CHUNK = 1_000;

interface Letter {
  offset: number;
  reason: 'constraint_violation' | 'invalid_value';
  constraint: string | undefined;
  message: string;
  value: unknown;
}

/**
 * A sink that writes each batch to PostgreSQL in one transaction: the batch's ledger row, then the
 * records with `COPY … FROM STDIN` (text format), then `COMMIT`. `committed(partition)` reads the
 * ledger, so with a replayable source the pipeline is exactly-once without a checkpoint store: a
 * batch id already in the ledger is skipped without touching the table, and after a crash the
 * records the ledger holds are skipped. Needs the optional peers `pg` and `pg-copy-streams`,
 * loaded by `open()`.
 *
 * ```ts
 * const sink = postgresSink({ pool, table: 'prices', schema: Price });
 * ```
 */
export function postgresSink<S extends SchemaLike>(
  options: PostgresSinkOptions & { schema: S },
): PostgresSink<SchemaOutput<S>>;
/** With explicit `columns`: the record type is yours to give. */
export function postgresSink<T = Record<string, unknown>>(options: PostgresSinkOptions): PostgresSink<T>;
export function postgresSink<T = Record<string, unknown>>(options: PostgresSinkOptions): PostgresSink<T> {
  const at = 'postgresSink';
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `${at}(options): options must be an object with pool and table; got ${show(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key))
      throw invalidOptions(`${at}: unknown option '${key}' (known: ${KNOWN.join(', ')})`);
  }
  const pool = options.pool;
  if (typeof pool !== 'object' || pool === null || typeof (pool as PgPoolLike).connect !== 'function') {
    throw invalidOptions(`${at}: pool must be a pg Pool (an object with connect()); got ${show(pool)}`, {
      option: 'pool',
    });
  }
  const table = qualifiedName(options.table, `${at}: table`);
  if ((options.schema === undefined) === (options.columns === undefined)) {
    throw invalidOptions(`${at}: give exactly one of schema (a zod object) and columns ([{ name, type }])`, {
      option: 'schema',
    });
  }
  const columns = postgresColumns(
    options.schema ?? options.columns,
    `${at}: ${options.schema !== undefined ? 'schema' : 'columns'}`,
  );
  const ledgerTable = options.ledgerTable ?? DEFAULT_LEDGER_TABLE;
  const ledger = qualifiedName(ledgerTable, `${at}: ledgerTable`);
  const onRowError = options.onRowError ?? 'fail';
  if (onRowError !== 'fail' && onRowError !== 'dead-letter') {
    throw invalidOptions(`${at}: onRowError must be 'fail' or 'dead-letter'; got ${show(onRowError)}`, {
      option: 'onRowError',
    });
  }
  const deadLetterName = options.deadLetterTable ?? defaultDeadLetterTable(options.table);
  const deadLetters = qualifiedName(deadLetterName, `${at}: deadLetterTable`);
  for (const key of ['createTable', 'unlogged'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') {
      throw invalidOptions(`${at}: ${key} must be a boolean; got ${show(options[key])}`, { option: key });
    }
  }
  const lockTimeout = parseDuration(options.lockTimeout ?? '5s', `${at}: lockTimeout`, { allowZero: true });
  const statementTimeout = parseDuration(options.statementTimeout ?? 0, `${at}: statementTimeout`, {
    allowZero: true,
  });
  const encoder = rowEncoder(columns);
  const columnList = columns.map((c) => quoteIdentifier(c.name, 'column name')).join(', ');
  const copySql = `COPY ${table} (${columnList}) FROM STDIN`;
  const beginSql = `BEGIN; SET LOCAL lock_timeout = ${lockTimeout}; SET LOCAL statement_timeout = ${statementTimeout}`;
  // One statement: the ledger row of the batch, unless the id is there (a rewrite: nothing to do) or
  // another batch of the partition overlaps its range (two pipelines under one name, a reset source).
  // The primary key makes a concurrent write of the same id wait here until the first one ends.
  const ledgerSql = `WITH overlap AS (
  SELECT "batch_id", "first_offset", "last_offset" FROM ${ledger}
  WHERE "pipeline" = $1 AND "partition" = $2 AND "batch_id" <> $3 AND "first_offset" <= $5 AND "last_offset" >= $4
  LIMIT 1
), inserted AS (
  INSERT INTO ${ledger} ("pipeline", "partition", "batch_id", "first_offset", "last_offset", "records")
  SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM overlap)
  ON CONFLICT DO NOTHING RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::int AS "inserted", o."batch_id", o."first_offset", o."last_offset"
FROM (SELECT 1) AS one LEFT JOIN overlap AS o ON true`;
  const committedSql = `SELECT max("last_offset")::text AS "last" FROM ${ledger} WHERE "pipeline" = $1 AND "partition" = $2`;
  const deadLetterSql = `INSERT INTO ${deadLetters} ("pipeline", "partition", "offset", "batch_id", "reason", "constraint", "message", "value")
SELECT $1, $2, x."offset", $3, x."reason", x."constraint", x."message", x."value"
FROM jsonb_to_recordset($4::jsonb) AS x("offset" bigint, "reason" text, "constraint" text, "message" text, "value" jsonb)`;
  const countSql = `UPDATE ${ledger} SET "records" = "records" - $4, "dead_letters" = $4 WHERE "pipeline" = $1 AND "partition" = $2 AND "batch_id" = $3`;

  let context: SinkContext | undefined;
  let copyFrom: CopyFrom | undefined;

  const opened = (what: string): { pipeline: string; copyFrom: CopyFrom } => {
    if (context === undefined || copyFrom === undefined) {
      throw new MicrobatchError('MB_CLOSED', `postgresSink: ${what} before open()`);
    }
    return { pipeline: context.pipeline, copyFrom };
  };

  /** A pooled connection; an abort while the pool is exhausted settles at once (the connection, when it comes, goes back). */
  function connect(signal: AbortSignal | undefined): Promise<PgClientLike> {
    const connecting = pool.connect();
    if (signal === undefined) return connecting;
    if (signal.aborted) {
      connecting.then(
        (c) => c.release(),
        () => {},
      );
      return Promise.reject(
        new MicrobatchError('MB_ABORTED', 'postgresSink: write aborted', { cause: signal.reason }),
      );
    }
    return new Promise<PgClientLike>((resolve, reject) => {
      const onAbort = () => {
        // The connection, when the pool hands it over, is released below (signal.aborted).
        reject(new MicrobatchError('MB_ABORTED', 'postgresSink: write aborted', { cause: signal.reason }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      connecting.then(
        (c) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) c.release();
          else resolve(c);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /** Runs `work` on a connection of its own; a connection that failed is closed, not pooled. */
  async function withClient<R>(
    signal: AbortSignal | undefined,
    work: (client: PgClientLike, guard: <V>(p: Promise<V>) => Promise<V>) => Promise<R>,
  ): Promise<R> {
    const client = await connect(signal);
    let released = false;
    const release = (error?: Error) => {
      if (released) return;
      released = true;
      client.removeListener('error', onError);
      client.release(error);
    };
    let broken: Error | undefined;
    // A checked-out pg client re-emits socket errors; without a listener they would crash the process.
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on('error', onError);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      if (signal === undefined) return;
      onAbort = () => {
        const reason = new MicrobatchError('MB_ABORTED', 'postgresSink: write aborted', {
          cause: signal.reason,
        });
        broken ??= reason;
        // Closing the connection makes the server roll the transaction back.
        release(reason);
        reject(reason);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    const guard = <V>(p: Promise<V>): Promise<V> => {
      p.catch(() => {});
      return Promise.race([p, aborted]);
    };
    try {
      const result = await work(client, guard);
      release(broken);
      return result;
    } catch (error) {
      // The transaction may be open: a rollback that fails means the connection is gone anyway.
      if (!released && broken === undefined && !isConnectionError(error)) {
        try {
          await guard(client.query('ROLLBACK'));
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
      }
      release(broken ?? (isConnectionError(error) ? (error as Error) : undefined));
      throw error;
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }

  async function copy(
    client: PgClientLike,
    from: CopyFrom,
    chunks: Iterable<string>,
    guard: <V>(p: Promise<V>) => Promise<V>,
  ): Promise<void> {
    const stream = client.query(from(copySql)) as NodeJS.WritableStream & import('node:stream').Writable;
    const done = finished(stream);
    done.catch(() => {});
    try {
      // Rows are encoded chunk by chunk while the server ingests the previous ones.
      for (const chunk of chunks) {
        if (!stream.write(chunk)) {
          await guard(Promise.race([new Promise<void>((resolve) => stream.once('drain', resolve)), done]));
        }
      }
    } catch (error) {
      // A value that does not fit (or an abort): CopyFail ends the COPY, the connection stays usable.
      stream.destroy(error as Error);
      await guard(done).catch(() => {});
      throw error;
    }
    stream.end();
    await guard(done);
  }

  /** Rows of `rows[start, end)` joined into chunks. */
  function* chunked(rows: readonly string[], start = 0, end = rows.length): Generator<string> {
    for (let i = start; i < end; i += ROWS_PER_CHUNK) {
      let chunk = '';
      const stop = Math.min(end, i + ROWS_PER_CHUNK);
      for (let k = i; k < stop; k++) chunk += rows[k];
      yield chunk;
    }
  }

  /** The batch as COPY chunks, encoded on the way; a value that fits no column is MB_ENCODE_FAILED. */
  function* encoded(batch: Batch<T>, what: string): Generator<string> {
    const records = batch.records;
    let chunk = '';
    let n = 0;
    for (let i = 0; i < records.length; i++) {
      try {
        chunk += encoder.row(records[i]);
      } catch (error) {
        if (!(error instanceof ValueError)) throw error;
        const offset = recordOffset(batch, i);
        throw new MicrobatchError(
          'MB_ENCODE_FAILED',
          `${what}: the record at offset ${offset} of partition '${batch.partition}' does not fit: column "${error.column}": ${error.message}. Fix the data (validate it upstream) or set onRowError: 'dead-letter'`,
          { details: { partition: batch.partition, offset, column: error.column } },
        );
      }
      if (++n === ROWS_PER_CHUNK) {
        yield chunk;
        chunk = '';
        n = 0;
      }
    }
    if (chunk !== '') yield chunk;
  }

  async function write(batch: Batch<T>, { signal }: WriteOptions): Promise<void> {
    const { pipeline, copyFrom: from } = opened('write()');
    const what = `postgresSink ${table}: batch ${batch.id}`;
    // With dead letters, rows are encoded first so that a refused COPY line maps back to its record;
    // otherwise they are encoded while the COPY streams (see encoded()).
    const rows: string[] = [];
    const rowOffsets: number[] = [];
    const letters: Letter[] = [];
    for (let i = 0; onRowError === 'dead-letter' && i < batch.records.length; i++) {
      const record = batch.records[i];
      try {
        rows.push(encoder.row(record));
        rowOffsets.push(recordOffset(batch, i));
      } catch (error) {
        if (!(error instanceof ValueError)) throw error;
        const offset = recordOffset(batch, i);
        const message = `column "${error.column}": ${error.message}`;
        letters.push({ offset, reason: 'invalid_value', constraint: undefined, message, value: record });
      }
    }
    try {
      await withClient(signal, async (client, guard) => {
        await guard(client.query(beginSql));
        const result = await guard(
          client.query(ledgerSql, [
            pipeline,
            batch.partition,
            batch.id,
            batch.firstOffset,
            batch.lastOffset,
            batch.records.length,
          ]),
        );
        const row = result.rows[0] ?? {};
        if (row.batch_id !== null && row.batch_id !== undefined) {
          throw new MicrobatchError(
            'MB_LEDGER_AHEAD',
            `${what}: the ledger ${ledger} already holds batch ${String(row.batch_id)} (offsets ${String(row.first_offset)}–${String(row.last_offset)}), which overlaps this batch's range ${batch.firstOffset}–${batch.lastOffset}. This does not happen in normal operation (another pipeline under the same name, a source reset while a checkpoint was kept); nothing was written. To reprocess on purpose, delete the partition's ledger rows and data.`,
            { details: { partition: batch.partition, ledgerBatch: row.batch_id, batch: batch.id } },
          );
        }
        if (row.inserted === 0) {
          // Already written (a retry after a lost COMMIT reply, a replay): one effect per id.
          await guard(client.query('ROLLBACK'));
          return;
        }
        if (onRowError === 'fail') {
          try {
            await copy(client, from, encoded(batch, what), guard);
          } catch (error) {
            throw rowFailure(error, what, batch);
          }
        } else {
          await copyKeepingGoodRows(client, from, rows, rowOffsets, batch, letters, guard);
          if (letters.length > 0) {
            await guard(
              client.query(deadLetterSql, [pipeline, batch.partition, batch.id, lettersJson(letters)]),
            );
            await guard(client.query(countSql, [pipeline, batch.partition, batch.id, letters.length]));
          }
        }
        await guard(client.query('COMMIT'));
      });
    } catch (error) {
      throw classify(error, what);
    }
    if (letters.length > 0) {
      (context?.logger ?? silentLogger).warn(
        {
          pipeline,
          partition: batch.partition,
          batch: batch.id,
          deadLetters: letters.length,
          table: deadLetterName,
        },
        'rows refused by PostgreSQL went to the dead-letter table',
      );
    }
  }

  /**
   * COPY in a savepoint; a refused row (the error names its COPY line) is set aside and the rows
   * around it are copied again, each part in its own savepoint: every refused row costs one more COPY
   * of at most the rows not yet written.
   */
  async function copyKeepingGoodRows(
    client: PgClientLike,
    from: CopyFrom,
    rows: string[],
    offsets: number[],
    batch: Batch<T>,
    letters: Letter[],
    guard: <V>(p: Promise<V>) => Promise<V>,
  ): Promise<void> {
    const parts: number[][] = [[0, rows.length]];
    while (parts.length > 0) {
      const [start, end] = parts.shift()!;
      if (start! >= end!) continue;
      await guard(client.query('SAVEPOINT microbatch_rows'));
      try {
        await copy(client, from, chunked(rows, start, end), guard);
        await guard(client.query('RELEASE SAVEPOINT microbatch_rows'));
      } catch (error) {
        const line = copyLine(error);
        if (!isRowError(error) || line === undefined || line > end! - start!) throw error;
        await guard(client.query('ROLLBACK TO SAVEPOINT microbatch_rows'));
        await guard(client.query('RELEASE SAVEPOINT microbatch_rows'));
        const bad = start! + line - 1;
        const e = error as PgErrorLike;
        letters.push({
          offset: offsets[bad]!,
          reason: e.code?.startsWith('23') ? 'constraint_violation' : 'invalid_value',
          constraint: e.constraint,
          message: describeRowError(error),
          value: batch.records[indexOfOffset(batch, offsets[bad]!)],
        });
        parts.unshift([start!, bad], [bad + 1, end!]);
      }
    }
  }

  return {
    kind: 'postgres',
    atomicLedger: true,
    columns,
    async open(ctx: SinkContext) {
      copyFrom = await loadPeers();
      context = ctx;
      await withClient(undefined, async (client) => {
        await ensureTable(client, ledgerDDL(ledgerTable)[0]!);
        if (options.createTable === true) {
          await ensureTable(client, createTable(columns, options.table, options.unlogged === true));
          if (onRowError === 'dead-letter') await ensureTable(client, deadLetterDDL(deadLetterName));
        }
        // A missing table or column is a clear error now rather than at the first batch.
        try {
          await client.query(`SELECT ${columnList} FROM ${table} WHERE false`);
          if (onRowError === 'dead-letter')
            await client.query(`SELECT "offset", "value" FROM ${deadLetters} WHERE false`);
        } catch (error) {
          throw new MicrobatchError(
            'MB_SINK_FAILED',
            `postgresSink: cannot write to ${table}${onRowError === 'dead-letter' ? ` and ${deadLetters}` : ''}: ${describeError(error)}. Create it with postgresTableDDL(schema, table${onRowError === 'dead-letter' ? ', { deadLetterTable: true }' : ''}) or set createTable: true`,
            { cause: error },
          );
        }
      });
    },
    write,
    async committed(partition: string) {
      const { pipeline } = opened('committed()');
      const result = await withClient(undefined, (client) =>
        client.query(committedSql, [pipeline, partition]),
      );
      const last = result.rows[0]?.last;
      if (last === null || last === undefined) return undefined;
      const offset = Number(last);
      if (!Number.isSafeInteger(offset)) {
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `postgresSink: the ledger ${ledger} holds offset ${String(last)} for partition '${partition}', beyond 2^53`,
        );
      }
      return offset;
    },
    close() {
      context = undefined;
    },
  };
}

function rowFailure(error: unknown, what: string, batch: Batch): unknown {
  const line = copyLine(error);
  // Without dead letters every record is a COPY line, in order: line L is records[L - 1].
  if (!isRowError(error) || line === undefined || line > batch.records.length) return error;
  const offset = recordOffset(batch, line - 1);
  const failure = classify(
    error,
    `${what} (the record at offset ${offset} of partition '${batch.partition}')`,
  );
  failure.details.offset = offset;
  return failure;
}

function indexOfOffset(batch: Batch, offset: number): number {
  if (batch.offsets === undefined) return offset - batch.firstOffset;
  return batch.offsets.indexOf(offset);
}

/** The dead letters as one JSON array; text jsonb cannot hold (U+0000, lone surrogates) becomes U+FFFD. */
function lettersJson(letters: readonly Letter[]): string {
  const json = JSON.stringify(letters, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
  return json.replace(/\\u0000|\\ud[89a-f][0-9a-f]{2}/gi, '\\ufffd');
}

async function ensureTable(client: PgClientLike, ddl: string): Promise<void> {
  try {
    await client.query(ddl);
  } catch (error) {
    // Two processes creating the same table at once: one wins, the other sees a duplicate.
    const code = (error as PgErrorLike).code;
    if (code !== '23505' && code !== '42P07') throw error;
  }
}

/** Loads both peers; a missing one (or both) is one MB_MISSING_PEER naming each. */
async function loadPeers(): Promise<CopyFrom> {
  const [pg, copyStreams] = await Promise.allSettled([
    loadPeer<unknown>('pg', 'postgresSink', () => import('pg')),
    loadPeer<CopyStreamsModule>('pg-copy-streams', 'postgresSink', () => import('pg-copy-streams')),
  ]);
  const missing: string[] = [];
  for (const [name, settled] of [
    ['pg', pg],
    ['pg-copy-streams', copyStreams],
  ] as const) {
    if (settled.status === 'rejected') {
      if (!MicrobatchError.is(settled.reason, 'MB_MISSING_PEER')) throw settled.reason;
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new MicrobatchError(
      'MB_MISSING_PEER',
      `postgresSink needs ${missing.join(' and ')}, optional peer dependenc${missing.length > 1 ? 'ies' : 'y'} of microbatch: npm install ${missing.join(' ')}`,
      { details: { peers: missing } },
    );
  }
  const module = (copyStreams as PromiseFulfilledResult<CopyStreamsModule>).value;
  const from = module.from ?? module.default?.from;
  if (typeof from !== 'function') {
    throw new MicrobatchError(
      'MB_MISSING_PEER',
      'postgresSink: pg-copy-streams has no from(); install pg-copy-streams 6 or 7',
    );
  }
  return from as CopyFrom;
}
