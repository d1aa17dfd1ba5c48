import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';
import {
  type PostgresColumn,
  type PostgresTableName,
  postgresColumns,
  qualifiedName,
  quoteIdentifier,
  siblingName,
} from './columns.js';

/** The default ledger table: one per database, shared by every pipeline (keyed by pipeline name). */
export const DEFAULT_LEDGER_TABLE = 'microbatch_ledger';

/** Options of {@link postgresTableDDL}. */
export interface PostgresTableDDLOptions {
  /** The ledger table to create too. @default 'microbatch_ledger' */
  ledgerTable?: PostgresTableName;
  /** The dead-letter table for `onRowError: 'dead-letter'` (created only when given). */
  deadLetterTable?: PostgresTableName | boolean;
  /**
   * `CREATE UNLOGGED TABLE`: no WAL, several times faster to load, but emptied after a server crash
   * and not replicated. For staging tables only. @default false
   */
  unlogged?: boolean;
}

/**
 * The `CREATE TABLE IF NOT EXISTS` statements for the records' table and the ledger (and the
 * dead-letter table when asked), as one SQL text to run with `pool.query(…)`. Columns come from a zod
 * object schema or explicit columns, as in {@link postgresSink}; every identifier is quoted.
 *
 * ```ts
 * await pool.query(postgresTableDDL(Price, 'prices'));
 * ```
 */
export function postgresTableDDL(
  schema: unknown,
  table: PostgresTableName,
  options: PostgresTableDDLOptions = {},
): string {
  const columns = postgresColumns(schema, 'postgresTableDDL(schema)');
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `postgresTableDDL(schema, table, options): options must be an object; got ${show(options)}`,
    );
  }
  const statements = [createTable(columns, table, options.unlogged === true)];
  statements.push(...ledgerDDL(options.ledgerTable ?? DEFAULT_LEDGER_TABLE));
  if (options.deadLetterTable !== undefined && options.deadLetterTable !== false) {
    const dead = options.deadLetterTable === true ? defaultDeadLetterTable(table) : options.deadLetterTable;
    statements.push(deadLetterDDL(dead));
  }
  return `${statements.join(';\n')};\n`;
}

/** `<table>_dead_letters` in the table's schema. */
export function defaultDeadLetterTable(table: PostgresTableName): PostgresTableName {
  return siblingName(table, '_dead_letters');
}

export function createTable(
  columns: readonly PostgresColumn[],
  table: PostgresTableName,
  unlogged: boolean,
): string {
  const name = qualifiedName(table, 'postgresTableDDL(table)');
  const lines = columns.map(
    (c) => `  ${quoteIdentifier(c.name, 'column name')} ${c.type}${c.nullable ? '' : ' NOT NULL'}`,
  );
  return `CREATE ${unlogged ? 'UNLOGGED ' : ''}TABLE IF NOT EXISTS ${name} (\n${lines.join(',\n')}\n)`;
}

/**
 * The ledger: one row per batch written, inserted in the same transaction as the batch's rows. The
 * primary key makes a second write of a batch id wait for the first and then find it (one effect per
 * id); batch ids sort in offset order within a partition, so the ledger's highest offset is the last
 * row of the primary key's index.
 */
export function ledgerDDL(ledger: PostgresTableName): string[] {
  const name = qualifiedName(ledger, 'ledgerTable');
  return [
    `CREATE TABLE IF NOT EXISTS ${name} (
  "pipeline" text NOT NULL,
  "partition" text NOT NULL,
  "batch_id" text NOT NULL,
  "first_offset" bigint NOT NULL,
  "last_offset" bigint NOT NULL,
  "records" integer NOT NULL,
  "dead_letters" integer NOT NULL DEFAULT 0,
  "written_at" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY ("pipeline", "partition", "batch_id")
)`,
  ];
}

/** Rows that a constraint or a type refused, with the reason, when `onRowError` is `'dead-letter'`. */
export function deadLetterDDL(table: PostgresTableName): string {
  const name = qualifiedName(table, 'deadLetterTable');
  return `CREATE TABLE IF NOT EXISTS ${name} (
  "pipeline" text NOT NULL,
  "partition" text NOT NULL,
  "offset" bigint NOT NULL,
  "batch_id" text NOT NULL,
  "reason" text NOT NULL,
  "constraint" text,
  "message" text NOT NULL,
  "value" jsonb,
  "rejected_at" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY ("pipeline", "partition", "offset")
)`;
}
