import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';

/** The column types microbatch writes to Parquet, and the Arrow type each becomes. */
export type ParquetType =
  /** Utf8 (Parquet `BYTE_ARRAY` / `STRING`). */
  | 'string'
  /** Float64 (`DOUBLE`). */
  | 'float64'
  /** Int32 (`INT32`). */
  | 'int32'
  /** Int64 (`INT64`); values are bigints or safe-integer numbers. */
  | 'int64'
  /** Bool (`BOOLEAN`). */
  | 'boolean'
  /** Timestamp(ms, 'UTC') (`INT64` `TIMESTAMP(MILLIS, isAdjustedToUTC)`). */
  | 'timestamp'
  /** Utf8 restricted to `values`; Parquet's dictionary encoding stores each distinct value once. */
  | 'enum'
  /** Struct of `fields`. */
  | 'struct'
  /** List of `items`. */
  | 'list';

/** One column (or a struct field, or a list's items) as microbatch describes it; plain data, no Arrow. */
export interface ParquetColumn {
  /** The column name (`'item'` for a list's items). */
  readonly name: string;
  readonly type: ParquetType;
  /** Whether `null`/`undefined` is allowed (written as a Parquet null). */
  readonly nullable: boolean;
  /** The fields of a `struct`. */
  readonly fields?: readonly ParquetColumn[];
  /** The items of a `list`. */
  readonly items?: ParquetColumn;
  /** The allowed values of an `enum`. */
  readonly values?: readonly string[];
}

/**
 * A column given explicitly, as {@link parquetSchema} accepts it: like {@link ParquetColumn}, but
 * `nullable` defaults to `false` and nested parts are inputs too.
 */
export interface ParquetColumnInput {
  readonly name: string;
  readonly type: ParquetType;
  /** @default false */
  readonly nullable?: boolean;
  readonly fields?: readonly ParquetColumnInput[];
  /** A list's items; its `name` may be omitted (it is `'item'`). */
  readonly items?: Omit<ParquetColumnInput, 'name'> & { readonly name?: string };
  readonly values?: readonly string[];
}

/** A checked schema for {@link encodeParquet} and the lake sink: top-level columns, in order. */
export interface ParquetSchema {
  readonly columns: readonly ParquetColumn[];
}

const TYPES: readonly ParquetType[] = [
  'string',
  'float64',
  'int32',
  'int64',
  'boolean',
  'timestamp',
  'enum',
  'struct',
  'list',
];
const BRAND = Symbol.for('microbatch.parquet-schema');
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Describes the Parquet columns for records, from a zod 4 object schema or from explicit columns.
 *
 * From zod (read through its public `def`, so zod is not a dependency of microbatch):
 * `string` → string; `number` → float64; `z.int32()` or an integer whose bounds fit int32 → int32;
 * `z.int()`, `.int()` without such bounds, `z.uint32()`, `z.bigint()`, `z.int64()` → int64;
 * `boolean` → boolean; `z.date()`, `z.iso.datetime()`, `z.string().datetime()` → timestamp;
 * `z.enum([...])` → enum; `.optional()`, `.nullable()`, `.default()` → nullable; `z.object` →
 * struct; `z.array` → list; a pipe (`z.string().pipe(z.int())`) → its output. Anything else (union,
 * record, any, a transform whose output is unknown) is `MB_INVALID_OPTIONS` naming the path, e.g.
 * `items[].price`; give that column explicitly instead:
 *
 * ```ts
 * parquetSchema([
 *   { name: 'id', type: 'string' },
 *   { name: 'price', type: 'float64', nullable: true },
 *   { name: 'tags', type: 'list', items: { type: 'string' } },
 * ]);
 * ```
 *
 * A schema already returned by `parquetSchema` is returned as it is.
 */
export function parquetSchema(schema: unknown): ParquetSchema {
  if (isParquetSchema(schema)) return schema;
  let columns: ParquetColumn[];
  if (Array.isArray(schema)) {
    if (schema.length === 0) throw invalidOptions('parquetSchema(columns): needs at least one column');
    columns = schema.map((column, i) => checkColumn(column, `[${i}]`));
  } else {
    const def = zodDef(schema);
    if (def === undefined) {
      throw invalidOptions(
        `parquetSchema(schema): expected a zod object schema or an array of columns ({ name, type, nullable? }); got ${show(schema)}`,
      );
    }
    const root = fromZod(schema, '', 'root');
    if (root.type !== 'struct' || root.nullable) {
      throw invalidOptions(
        `parquetSchema(schema): the schema must be a (non-optional) z.object(…) describing one record; got ${root.nullable ? 'an optional value' : root.type}`,
      );
    }
    columns = [...root.fields!];
    if (columns.length === 0) throw invalidOptions('parquetSchema(schema): the object has no fields');
  }
  uniqueNames(columns, 'parquetSchema');
  const result: ParquetSchema = { columns };
  Object.defineProperty(result, BRAND, { value: true });
  return Object.freeze(result);
}

function isParquetSchema(value: unknown): value is ParquetSchema {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

// ── explicit columns ─────────────────────────────────────────────────────────────────────────────

function checkColumn(input: unknown, where: string, defaultName?: string): ParquetColumn {
  if (typeof input !== 'object' || input === null) {
    throw invalidOptions(
      `parquetSchema(columns): column ${where} must be an object { name, type }; got ${show(input)}`,
    );
  }
  const c = input as Partial<ParquetColumnInput>;
  const name = c.name ?? defaultName;
  if (typeof name !== 'string' || name.length === 0) {
    throw invalidOptions(`parquetSchema(columns): column ${where} needs a non-empty name; got ${show(name)}`);
  }
  const at = `column ${where} ('${name}')`;
  if (!TYPES.includes(c.type as ParquetType)) {
    throw invalidOptions(
      `parquetSchema(columns): ${at}: type must be one of ${TYPES.join(', ')}; got ${show(c.type)}`,
    );
  }
  if (c.nullable !== undefined && typeof c.nullable !== 'boolean') {
    throw invalidOptions(
      `parquetSchema(columns): ${at}: nullable must be a boolean; got ${show(c.nullable)}`,
    );
  }
  const column: { -readonly [K in keyof ParquetColumn]: ParquetColumn[K] } = {
    name,
    type: c.type as ParquetType,
    nullable: c.nullable ?? false,
  };
  if (column.type === 'struct') {
    if (!Array.isArray(c.fields) || c.fields.length === 0) {
      throw invalidOptions(`parquetSchema(columns): ${at}: a struct needs a non-empty fields array`);
    }
    column.fields = c.fields.map((f, i) => checkColumn(f, `${where}.fields[${i}]`));
    uniqueNames(column.fields, `parquetSchema(columns): ${at}`);
  } else if (column.type === 'list') {
    if (typeof c.items !== 'object' || c.items === null) {
      throw invalidOptions(`parquetSchema(columns): ${at}: a list needs items: { type }`);
    }
    column.items = checkColumn(c.items, `${where}.items`, 'item');
  } else if (column.type === 'enum') {
    if (!Array.isArray(c.values) || c.values.length === 0 || c.values.some((v) => typeof v !== 'string')) {
      throw invalidOptions(
        `parquetSchema(columns): ${at}: an enum needs values: a non-empty array of strings`,
      );
    }
    column.values = [...c.values];
  }
  return Object.freeze(column);
}

function uniqueNames(columns: readonly ParquetColumn[], what: string): void {
  const seen = new Set<string>();
  for (const { name } of columns) {
    if (seen.has(name)) throw invalidOptions(`${what}: the column name '${name}' appears twice`);
    seen.add(name);
  }
}

// ── zod 4 ────────────────────────────────────────────────────────────────────────────────────────

interface ZodDef {
  type: string;
  format?: string;
  checks?: { _zod?: { def?: ZodCheckDef } }[];
  [key: string]: unknown;
}
interface ZodCheckDef {
  check?: string;
  format?: string;
  value?: unknown;
  inclusive?: boolean;
}

/** zod 4 keeps a schema's definition in `_zod.def` (also exposed as `.def`). */
function zodDef(schema: unknown): ZodDef | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const def = (schema as { _zod?: { def?: unknown } })._zod?.def;
  if (typeof def !== 'object' || def === null || typeof (def as ZodDef).type !== 'string') return undefined;
  return def as ZodDef;
}

function checksOf(def: ZodDef): ZodCheckDef[] {
  return (def.checks ?? []).map((c) => c._zod?.def ?? {});
}

/** Where a column is, for messages: `items[].price`. */
const joinPath = (path: string, name: string) => (path === '' ? name : `${path}.${name}`);

function unsupported(path: string, what: string): never {
  throw invalidOptions(
    `parquetSchema(schema): '${path || '(root)'}' is ${what}, which has no Parquet column type; give the columns explicitly, e.g. parquetSchema([{ name: 'id', type: 'string' }, { name: 'price', type: 'float64', nullable: true }]) (types: ${TYPES.join(', ')})`,
    { path },
  );
}

function fromZod(schema: unknown, path: string, name: string): ParquetColumn {
  const def = zodDef(schema);
  if (def === undefined) return unsupported(path, `not a zod schema (${show(schema)})`);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault': {
      const inner = fromZod(def.innerType, path, name);
      return Object.freeze({ ...inner, nullable: true });
    }
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return fromZod(def.innerType, path, name);
    case 'pipe': {
      // `a.pipe(b)` outputs what b outputs; a transform's output type is unknown at run time.
      const out = zodDef(def.out);
      if (out?.type === 'transform') return unsupported(path, 'a transform (its output type is unknown)');
      return fromZod(def.out, path, name);
    }
    case 'string': {
      const isDate = def.format === 'datetime' || checksOf(def).some((c) => c.format === 'datetime');
      return leaf(name, isDate ? 'timestamp' : 'string');
    }
    case 'number':
      return leaf(name, zodNumberType(def));
    case 'bigint':
      return leaf(name, 'int64');
    case 'boolean':
      return leaf(name, 'boolean');
    case 'date':
      return leaf(name, 'timestamp');
    case 'enum': {
      const values = Object.values((def.entries ?? {}) as Record<string, unknown>);
      if (values.length === 0 || values.some((v) => typeof v !== 'string')) {
        return unsupported(path, 'an enum with non-string values');
      }
      return Object.freeze({ name, type: 'enum', nullable: false, values: values as string[] });
    }
    case 'object': {
      const shape = (def.shape ?? {}) as Record<string, unknown>;
      const fields = Object.entries(shape).map(([key, value]) => fromZod(value, joinPath(path, key), key));
      if (fields.length === 0) return unsupported(path, 'an object without fields');
      return Object.freeze({ name, type: 'struct', nullable: false, fields });
    }
    case 'array': {
      const items = fromZod(def.element, `${path}[]`, 'item');
      return Object.freeze({ name, type: 'list', nullable: false, items });
    }
    default:
      return unsupported(path, `a zod '${def.type}'`);
  }
}

const leaf = (name: string, type: ParquetType): ParquetColumn =>
  Object.freeze({ name, type, nullable: false });

/**
 * A zod number's storage class: float64 unless it is an integer; int32 when its bounds fit, else
 * int64. Shared with the PostgreSQL type mapping (integer, bigint, double precision).
 */
export function zodNumberType(def: Pick<ZodDef, 'format' | 'checks'>): 'int32' | 'int64' | 'float64' {
  const checks = (def.checks ?? []).map((c) => c._zod?.def ?? {});
  const formats = [def.format, ...checks.map((c) => c.format)].filter((f) => f !== undefined);
  if (formats.includes('int32')) return 'int32';
  const integer = formats.some((f) => f === 'safeint' || f === 'uint32');
  if (!integer) return 'float64';
  let min = formats.includes('uint32') ? 0 : Number.NEGATIVE_INFINITY;
  let max = formats.includes('uint32') ? 2 ** 32 - 1 : Number.POSITIVE_INFINITY;
  for (const c of checks) {
    if (typeof c.value !== 'number') continue;
    if (c.check === 'greater_than') min = Math.max(min, c.value);
    if (c.check === 'less_than') max = Math.min(max, c.value);
  }
  return min >= INT32_MIN && max <= INT32_MAX ? 'int32' : 'int64';
}
