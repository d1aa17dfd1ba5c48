import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';
import type { ParquetSchemaInput } from '../parquet/encode.js';
import { type ParquetColumn, parquetSchema } from '../parquet/schema.js';
import { qualifiedName, quoteIdentifier, type SnowflakeTableName, siblingName } from './identifiers.js';

/** The ledger's default name, created next to the table (same database and schema). */
export const DEFAULT_LEDGER_TABLE = 'MICROBATCH_LEDGER';

/** The Snowflake column types the sink's Parquet files load into. */
export type SnowflakeType =
  | 'VARCHAR'
  | 'NUMBER(38,0)'
  | 'FLOAT'
  | 'BOOLEAN'
  | 'TIMESTAMP_TZ'
  | 'TIMESTAMP_NTZ'
  | 'VARIANT'
  | 'ARRAY';

/** How timestamps are stored: with their offset (`+00:00`), or as UTC wall-clock time without one. */
export type SnowflakeTimestamps = 'TIMESTAMP_TZ' | 'TIMESTAMP_NTZ';

/** One column of the table, as {@link snowflakeColumns} describes it. */
export interface SnowflakeColumn {
  /** The name Snowflake stores (`USER_ID` for a field `user_id`; see docs/snowflake.md, "Type map"). */
  readonly name: string;
  /** The record field (and Parquet column) it loads from; COPY matches them case-insensitively. */
  readonly field: string;
  readonly type: SnowflakeType;
  readonly nullable: boolean;
}

function checkTimestamps(value: unknown, what: string): SnowflakeTimestamps {
  if (value === undefined) return 'TIMESTAMP_TZ';
  if (value !== 'TIMESTAMP_TZ' && value !== 'TIMESTAMP_NTZ') {
    throw invalidOptions(
      `${what}: timestamps must be 'TIMESTAMP_TZ' or 'TIMESTAMP_NTZ'; got ${show(value)}`,
      {
        option: 'timestamps',
      },
    );
  }
  return value;
}

/** The Snowflake type a Parquet column the sink writes loads into. */
export function snowflakeType(column: ParquetColumn, timestamps: SnowflakeTimestamps): SnowflakeType {
  switch (column.type) {
    case 'string':
    case 'enum':
      return 'VARCHAR';
    case 'int32':
    case 'int64':
      return 'NUMBER(38,0)';
    case 'float64':
      return 'FLOAT';
    case 'boolean':
      return 'BOOLEAN';
    case 'timestamp':
      return timestamps;
    case 'struct':
      return 'VARIANT';
    case 'list':
      return 'ARRAY';
  }
}

/**
 * The table's columns for a schema: the columns of the Parquet files the sink stages (see
 * `parquetSchema`), each with its Snowflake type. Numbers follow the rule the Parquet and PostgreSQL
 * mappings share (`zodNumberType`): integers → `NUMBER(38,0)`, other numbers → `FLOAT`; strings and
 * enums → `VARCHAR`; booleans → `BOOLEAN`; dates and ISO date-times → `TIMESTAMP_TZ` (or
 * `TIMESTAMP_NTZ` with `timestamps: 'TIMESTAMP_NTZ'`); nested objects → `VARIANT`; arrays → `ARRAY`.
 */
export function snowflakeColumns(
  schema: ParquetSchemaInput,
  options: { timestamps?: SnowflakeTimestamps } = {},
): SnowflakeColumn[] {
  const timestamps = checkTimestamps(options.timestamps, 'snowflakeColumns');
  const seen = new Map<string, string>();
  return parquetSchema(schema).columns.map((c) => {
    const name = quoteIdentifier(c.name, 'snowflakeColumns: column name').slice(1, -1).replace(/""/g, '"');
    const other = seen.get(name.toUpperCase());
    if (other !== undefined) {
      // COPY matches columns case-insensitively: two fields differing in case would load into one.
      throw invalidOptions(
        `snowflakeColumns: the fields '${other}' and '${c.name}' differ only in case; MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE cannot tell them apart`,
      );
    }
    seen.set(name.toUpperCase(), c.name);
    return Object.freeze({ name, field: c.name, type: snowflakeType(c, timestamps), nullable: c.nullable });
  });
}

/** Options of {@link snowflakeTableDDL}. */
export interface SnowflakeTableDDLOptions {
  /** The ledger table. @default 'MICROBATCH_LEDGER' next to the table */
  ledgerTable?: SnowflakeTableName;
  /** The type of timestamp columns. @default 'TIMESTAMP_TZ' */
  timestamps?: SnowflakeTimestamps;
}

/**
 * The `CREATE TABLE IF NOT EXISTS` statements for the records' table and the ledger, as one SQL text
 * to paste into a worksheet (or to run statement by statement: the driver runs one statement per
 * `execute` unless `MULTI_STATEMENT_COUNT` is set). Every identifier is quoted.
 *
 * ```ts
 * console.log(snowflakeTableDDL(Event, 'ANALYTICS.RAW.EVENTS'));
 * ```
 */
export function snowflakeTableDDL(
  schema: ParquetSchemaInput,
  table: SnowflakeTableName,
  options: SnowflakeTableDDLOptions = {},
): string {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `snowflakeTableDDL(schema, table, options): options must be an object; got ${show(options)}`,
    );
  }
  const columns = snowflakeColumns(schema, {
    timestamps: checkTimestamps(options.timestamps, 'snowflakeTableDDL'),
  });
  const ledger = options.ledgerTable ?? defaultLedger(table);
  return `${[createTableDDL(columns, table), ledgerDDL(ledger)].join(';\n')};\n`;
}

/** The default ledger: `MICROBATCH_LEDGER` in the table's database and schema. */
export function defaultLedger(table: SnowflakeTableName): SnowflakeTableName {
  return siblingName(table, DEFAULT_LEDGER_TABLE, 'table');
}

/** `CREATE TABLE IF NOT EXISTS` for the records. */
export function createTableDDL(columns: readonly SnowflakeColumn[], table: SnowflakeTableName): string {
  const name = qualifiedName(table, 'table');
  const lines = columns.map(
    (c) => `  "${c.name.replace(/"/g, '""')}" ${c.type}${c.nullable ? '' : ' NOT NULL'}`,
  );
  return `CREATE TABLE IF NOT EXISTS ${name} (\n${lines.join(',\n')}\n)`;
}

/**
 * The ledger: one row per batch written, inserted in the same transaction as the batch's COPY. The
 * primary key is informational in Snowflake (not enforced): the sink's insert checks the id itself.
 */
export function ledgerDDL(ledger: SnowflakeTableName): string {
  const name = qualifiedName(ledger, 'ledgerTable');
  return `CREATE TABLE IF NOT EXISTS ${name} (
  "PIPELINE" VARCHAR NOT NULL,
  "PARTITION" VARCHAR NOT NULL,
  "BATCH_ID" VARCHAR NOT NULL,
  "FIRST_OFFSET" NUMBER(38,0) NOT NULL,
  "LAST_OFFSET" NUMBER(38,0) NOT NULL,
  "RECORDS" NUMBER(38,0) NOT NULL,
  "WRITTEN_AT" TIMESTAMP_TZ NOT NULL,
  PRIMARY KEY ("PIPELINE", "PARTITION", "BATCH_ID")
)`;
}
