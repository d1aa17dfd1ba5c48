/**
 * microbatch/postgres: a PostgreSQL sink that writes each batch with COPY and its ledger row in one
 * transaction, so a pipeline with a replayable source is exactly-once without a checkpoint store.
 * Bring your own `pg` Pool; `pg` and `pg-copy-streams` are optional peers, loaded by the sink's
 * `open()`.
 * @packageDocumentation
 */
export {
  type PostgresColumn,
  type PostgresColumnInput,
  type PostgresTableName,
  type PostgresType,
  postgresColumns,
} from './columns.js';
export { DEFAULT_LEDGER_TABLE, type PostgresTableDDLOptions, postgresTableDDL } from './ddl.js';
export { type PostgresSink, type PostgresSinkOptions, postgresSink } from './sink.js';
export type { PgClientLike, PgPoolLike, PgQueryResultLike } from './types.js';
