import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';
import { zodNumberType } from '../parquet/schema.js';

/** The PostgreSQL column types postgresSink writes; see docs/postgres.md for the JS values of each. */
export type PostgresType =
  | 'text'
  | 'integer'
  | 'bigint'
  | 'numeric'
  | 'double precision'
  | 'boolean'
  | 'timestamptz'
  | 'date'
  | 'jsonb'
  | 'text[]';

/** One column as postgresSink writes it. */
export interface PostgresColumn {
  /** The column name in the table. */
  readonly name: string;
  readonly type: PostgresType;
  /** Whether `null`/`undefined` is allowed (`NOT NULL` otherwise). */
  readonly nullable: boolean;
  /** The record property the value comes from. @default name */
  readonly field: string;
}

/** A column given explicitly: like {@link PostgresColumn}, with `nullable` (default false) and `field` optional. */
export interface PostgresColumnInput {
  readonly name: string;
  readonly type: PostgresType;
  /** @default false */
  readonly nullable?: boolean;
  /** @default name */
  readonly field?: string;
}

export const POSTGRES_TYPES: readonly PostgresType[] = [
  'text',
  'integer',
  'bigint',
  'numeric',
  'double precision',
  'boolean',
  'timestamptz',
  'date',
  'jsonb',
  'text[]',
];

/** PostgreSQL truncates longer identifiers silently, which would point at another table or column. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * Quotes an identifier the way `pg`'s `escapeIdentifier` does (double quotes, inner quotes doubled),
 * after checking it is one PostgreSQL keeps as given: non-empty, no NUL, at most 63 bytes.
 */
export function quoteIdentifier(name: string, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\u0000')) {
    throw invalidOptions(`${what} must be a non-empty string without NUL characters; got ${show(name)}`);
  }
  if (Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw invalidOptions(
      `${what} ${show(name)} is longer than ${MAX_IDENTIFIER_BYTES} bytes; PostgreSQL would truncate it to another name`,
    );
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** A table name: `'prices'` (the search path decides the schema) or `{ schema: 'staging', name: 'prices' }`. */
export type PostgresTableName = string | { readonly schema?: string; readonly name: string };

/** The quoted, schema-qualified name of a table. */
export function qualifiedName(table: PostgresTableName, what: string): string {
  if (typeof table === 'string') return quoteIdentifier(table, what);
  if (typeof table !== 'object' || table === null) {
    throw invalidOptions(`${what} must be a table name or { schema, name }; got ${show(table)}`);
  }
  const name = quoteIdentifier(table.name, `${what}.name`);
  return table.schema === undefined ? name : `${quoteIdentifier(table.schema, `${what}.schema`)}.${name}`;
}

/** The unqualified name of a table, for derived names. */
export function baseName(table: PostgresTableName): string {
  return typeof table === 'string' ? table : table.name;
}

/** The table name with a suffix on its base name, in the same schema. */
export function siblingName(table: PostgresTableName, suffix: string): PostgresTableName {
  return typeof table === 'string'
    ? `${table}${suffix}`
    : { ...(table.schema !== undefined && { schema: table.schema }), name: `${table.name}${suffix}` };
}

/**
 * The columns for records, from a zod 4 object schema or from explicit columns.
 *
 * From zod (read through its public `def`, so zod is not a dependency): `string` → text (with
 * `z.iso.datetime()` → timestamptz, `z.iso.date()` → date); `number` → double precision, integers
 * (`z.int()`, `.int()`) → bigint, `z.int32()` or integers whose bounds fit → integer; `bigint` →
 * bigint; `boolean` → boolean; `z.date()` → timestamptz; `z.enum` and string literals → text;
 * `z.array(z.string())` → text[]; other arrays, objects, records, unions, `unknown` → jsonb.
 * `.optional()`, `.nullable()` and `.default()` make the column nullable. `numeric` has no zod
 * counterpart: give such columns explicitly (`{ name: 'amount', type: 'numeric' }`).
 */
export function postgresColumns(schema: unknown, what = 'postgresColumns(schema)'): PostgresColumn[] {
  let columns: PostgresColumn[];
  if (Array.isArray(schema)) {
    if (schema.length === 0) throw invalidOptions(`${what}: needs at least one column`);
    columns = schema.map((column, i) => checkColumn(column, `${what}: column [${i}]`));
  } else {
    const def = zodDef(schema);
    if (def === undefined || def.type !== 'object') {
      throw invalidOptions(
        `${what}: expected a zod object schema (z.object({…})) or an array of columns ({ name, type, nullable? }); got ${show(schema)}`,
      );
    }
    const shape = (def.shape ?? {}) as Record<string, unknown>;
    columns = Object.entries(shape).map(([name, field]) => {
      const { type, nullable } = fromZod(field);
      return Object.freeze({ name, type, nullable, field: name });
    });
    if (columns.length === 0) throw invalidOptions(`${what}: the object has no fields`);
  }
  const seen = new Set<string>();
  for (const { name } of columns) {
    quoteIdentifier(name, `${what}: column name`);
    if (seen.has(name)) throw invalidOptions(`${what}: the column name '${name}' appears twice`);
    seen.add(name);
  }
  return columns;
}

function checkColumn(input: unknown, at: string): PostgresColumn {
  if (typeof input !== 'object' || input === null) {
    throw invalidOptions(`${at} must be an object { name, type, nullable? }; got ${show(input)}`);
  }
  const c = input as Partial<PostgresColumnInput>;
  if (typeof c.name !== 'string' || c.name.length === 0) {
    throw invalidOptions(`${at} needs a non-empty name; got ${show(c.name)}`);
  }
  if (!POSTGRES_TYPES.includes(c.type as PostgresType)) {
    throw invalidOptions(
      `${at} ('${c.name}'): type must be one of ${POSTGRES_TYPES.join(', ')}; got ${show(c.type)}`,
    );
  }
  if (c.nullable !== undefined && typeof c.nullable !== 'boolean') {
    throw invalidOptions(`${at} ('${c.name}'): nullable must be a boolean; got ${show(c.nullable)}`);
  }
  if (c.field !== undefined && typeof c.field !== 'string') {
    throw invalidOptions(`${at} ('${c.name}'): field must be a string; got ${show(c.field)}`);
  }
  return Object.freeze({
    name: c.name,
    type: c.type as PostgresType,
    nullable: c.nullable ?? false,
    field: c.field ?? c.name,
  });
}

interface ZodDef {
  type: string;
  format?: string;
  checks?: { _zod?: { def?: { check?: string; format?: string; value?: unknown } } }[];
  [key: string]: unknown;
}

function zodDef(schema: unknown): ZodDef | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const def = (schema as { _zod?: { def?: unknown } })._zod?.def;
  if (typeof def !== 'object' || def === null || typeof (def as ZodDef).type !== 'string') return undefined;
  return def as ZodDef;
}

function fromZod(schema: unknown): { type: PostgresType; nullable: boolean } {
  const def = zodDef(schema);
  if (def === undefined) return { type: 'jsonb', nullable: true };
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
      return { type: fromZod(def.innerType).type, nullable: true };
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return fromZod(def.innerType);
    case 'pipe':
      return zodDef(def.out)?.type === 'transform' ? fromZod(def.in) : fromZod(def.out);
    case 'string': {
      const formats = [def.format, ...(def.checks ?? []).map((c) => c._zod?.def?.format)];
      if (formats.includes('datetime')) return { type: 'timestamptz', nullable: false };
      if (formats.includes('date')) return { type: 'date', nullable: false };
      return { type: 'text', nullable: false };
    }
    case 'number':
      return { type: numberType(def), nullable: false };
    case 'bigint':
      return { type: 'bigint', nullable: false };
    case 'boolean':
      return { type: 'boolean', nullable: false };
    case 'date':
      return { type: 'timestamptz', nullable: false };
    case 'enum':
      return { type: 'text', nullable: false };
    case 'literal': {
      const values = (def.values ?? []) as unknown[];
      return { type: values.every((v) => typeof v === 'string') ? 'text' : 'jsonb', nullable: false };
    }
    case 'array': {
      const element = zodDef(def.element);
      return {
        type: element?.type === 'string' && element.format === undefined ? 'text[]' : 'jsonb',
        nullable: false,
      };
    }
    default:
      // Objects, records, tuples, unions, unknown, any: stored as JSON.
      return { type: 'jsonb', nullable: def.type === 'unknown' || def.type === 'any' };
  }
}

/** double precision unless the number is an integer; integer when its bounds fit int32, else bigint. */
function numberType(def: ZodDef): PostgresType {
  const type = zodNumberType(def);
  return type === 'int32' ? 'integer' : type === 'int64' ? 'bigint' : 'double precision';
}
