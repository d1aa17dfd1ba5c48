import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';

/**
 * A table (or the ledger) as the sink takes it: `'EVENTS'`, `'ANALYTICS.RAW.EVENTS'` (dot-separated
 * parts) or `{ database?, schema?, name }` (parts taken whole, so a part may hold a dot).
 */
export type SnowflakeTableName =
  | string
  | { readonly database?: string; readonly schema?: string; readonly name: string };

/** An identifier Snowflake resolves unquoted (stored in upper case). */
const UNQUOTED = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const MAX_IDENTIFIER = 255;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The name Snowflake stores for `name`: a name it would accept unquoted (`events`, `user_id`) is
 * folded to upper case, as Snowflake does (so `events` and `EVENTS` are one table); any other name
 * (`event time`, `Région`) is kept exactly, and so is a name given in double quotes (`'"events"'` for
 * a table created as `"events"`, inner quotes doubled). Empty names, names longer than 255 characters and
 * names with control characters are `MB_INVALID_OPTIONS`.
 */
export function snowflakeName(name: unknown, what: string): string {
  const quoted = typeof name === 'string' && /^"(?:[^"]|"")+"$/.test(name);
  const stored = quoted ? (name as string).slice(1, -1).replace(/""/g, '"') : name;
  if (
    typeof stored !== 'string' ||
    stored.length === 0 ||
    stored.length > MAX_IDENTIFIER ||
    CONTROL.test(stored)
  ) {
    throw invalidOptions(
      `${what} must be 1 to ${MAX_IDENTIFIER} characters without control characters; got ${show(name)}`,
    );
  }
  return !quoted && UNQUOTED.test(stored) ? stored.toUpperCase() : stored;
}

/** `name` as a quoted identifier: the stored name (see {@link snowflakeName}) in double quotes, inner quotes doubled. */
export function quoteIdentifier(name: unknown, what: string): string {
  return `"${snowflakeName(name, what).replace(/"/g, '""')}"`;
}

/** The parts of a table name, each checked. */
export function tableParts(table: SnowflakeTableName, what: string): string[] {
  if (typeof table === 'string') {
    const parts = table.split('.');
    if (parts.length > 3) {
      throw invalidOptions(
        `${what} must be 'table', 'schema.table' or 'database.schema.table'; got ${show(table)} (use { database, schema, name } for a name holding a dot)`,
      );
    }
    return parts.map((p) => snowflakeName(p, `${what} (${show(table)})`));
  }
  if (typeof table !== 'object' || table === null) {
    throw invalidOptions(`${what} must be a table name or { database?, schema?, name }; got ${show(table)}`);
  }
  if (table.database !== undefined && table.schema === undefined) {
    throw invalidOptions(`${what}: a database needs a schema ({ database, schema, name })`);
  }
  const parts: string[] = [];
  if (table.database !== undefined) parts.push(snowflakeName(table.database, `${what}.database`));
  if (table.schema !== undefined) parts.push(snowflakeName(table.schema, `${what}.schema`));
  parts.push(snowflakeName(table.name, `${what}.name`));
  return parts;
}

/** The quoted, qualified name of a table: `"DB"."SCH"."EVENTS"`. */
export function qualifiedName(table: SnowflakeTableName, what: string): string {
  return tableParts(table, what)
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
}

/** The table `name` in the same database and schema as `table` (the default ledger next to the table). */
export function siblingName(table: SnowflakeTableName, name: string, what: string): SnowflakeTableName {
  const parts = tableParts(table, what).map((p) => `"${p.replace(/"/g, '""')}"`);
  if (parts.length === 3) return { database: parts[0]!, schema: parts[1]!, name };
  if (parts.length === 2) return { schema: parts[0]!, name };
  return name;
}

// A stage reference: @name, @schema.name, @db.schema.name (unquoted identifiers), the user stage @~
// or a table stage @%table, then an optional path of safe segments.
const STAGE_NAME =
  /^@(~|%[A-Za-z_][A-Za-z0-9_$]*|[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*){0,2})$/;
const PATH_SEGMENT = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]*$/;

/** A checked stage reference: the stage (`@db.schema.stage`) and the path inside it (`events/v1`, or `''`). */
export interface StageRef {
  /** `@db.schema.stage`, as given. */
  readonly stage: string;
  /** The path after the stage, without leading or trailing `/`; `''` for the stage's root. */
  readonly path: string;
}

/**
 * Parses `@db.schema.stage/path/inside` strictly: the stage is one to three unquoted identifiers (or
 * `@~`, `@%table`), the path is segments of letters, digits, `_`, `=`, `-` and `.` (not starting
 * with `.`). Anything else is `MB_INVALID_OPTIONS`: a stage reference cannot be bound, so it goes
 * into the statement as text and must not be able to carry anything but a name.
 */
export function parseStage(name: unknown, what: string): StageRef {
  const problem = `${what} must look like '@db.schema.stage' or '@db.schema.stage/path/inside' (unquoted identifiers; path segments of letters, digits, '_', '=', '-', '.'); got ${show(name)}`;
  if (typeof name !== 'string' || name.length > 1024) throw invalidOptions(problem);
  const slash = name.indexOf('/');
  const stage = slash === -1 ? name : name.slice(0, slash);
  const path = slash === -1 ? '' : name.slice(slash + 1).replace(/\/$/, '');
  if (!STAGE_NAME.test(stage)) throw invalidOptions(problem);
  if (path !== '' && !path.split('/').every((s) => PATH_SEGMENT.test(s))) throw invalidOptions(problem);
  return { stage, path };
}

/** The stage location of `ref` as COPY's `FROM` takes it: `@db.schema.stage/path`. */
export function stageLocation(ref: StageRef): string {
  return ref.path === '' ? ref.stage : `${ref.stage}/${ref.path}`;
}

const FILE_NAME = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]*(?:\/[A-Za-z0-9_=-][A-Za-z0-9._=-]*)*$/;

/**
 * Checks a staged file name (relative to the stage path) for a `FILES = ('…')` list: `/`-separated
 * segments of `[A-Za-z0-9._=-]`, none starting with `.`, so the name needs no escaping in a
 * single-quoted literal and cannot leave its folder. Returns it quoted.
 */
export function fileLiteral(name: string): string {
  if (!FILE_NAME.test(name) || name.length > 1024) {
    throw invalidOptions(`snowflakeSink: the staged file name ${show(name)} is not a safe name`);
  }
  return `'${name}'`;
}
