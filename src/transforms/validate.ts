import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';
import { clip, errorMessage, Sorter } from './sort.js';
import type { Transform, TransformInput, TransformOutput } from './types.js';

/**
 * A schema, typed structurally so that no validation library is a dependency of microbatch: any
 * [Standard Schema](https://standardschema.dev) v1 object, which zod 4 (`z.object(…)`), valibot and
 * ArkType schemas are. When the schema also has zod's synchronous `safeParse`, that is used (it is
 * faster and its issues carry a `code`); otherwise `~standard.validate`, which may be async.
 */
export interface SchemaLike<Output = unknown> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => unknown;
    readonly types?: { readonly output: Output } | undefined;
  };
}

/** The type a schema outputs (`z.output<S>` for zod); for a union of schemas, the union of outputs. */
export type SchemaOutput<S> = S extends { readonly '~standard': { readonly types?: infer T } }
  ? NonNullable<T> extends { readonly output: infer O }
    ? O
    : unknown
  : unknown;

/** A registry of schema versions for {@link validate}: each record is checked by the version `pick` names. */
export interface VersionedSchemas<V extends Record<string, SchemaLike>> {
  /** The schemas by version name, e.g. `{ v3: PriceV3, v4: PriceV4 }`. */
  versions: V;
  /**
   * The version of a record, e.g. `(r) => r.schemaVersion`; a number is looked up as its decimal
   * text. It sees the raw, unvalidated record. A version not in `versions`, or a `pick` that throws,
   * rejects the record as `unknown_schema`.
   */
  pick: (record: any) => unknown;
}

/** One schema issue as dead-letter details carry it: JSON-safe and bounded in size. */
export interface SchemaIssue {
  /** Where in the record: keys and array indices (at most 20 of them). */
  path: (string | number)[];
  /** The validator's issue code (`invalid_type`, `too_big`…) when it gives one. */
  code?: string;
  message: string;
  /** What was expected (`string`, `number`, `date`…) when the validator says. */
  expected?: string;
}

/** `details` of a record rejected by {@link validate} as `type_mismatch` or `missing_field`. */
export interface SchemaRejection {
  /** The version `pick` chose, with a registry. */
  version?: string;
  /** The first 10 issues. */
  issues: SchemaIssue[];
  /** How many more issues there were. */
  omitted?: number;
}

/** Most issues kept per rejected record. */
export const MAX_ISSUES = 10;
/** Most path segments kept per issue (a 10,000-level record must not make a 10,000-key path). */
export const MAX_PATH = 20;

/**
 * Checks every record against a schema, keeping the parsed output (for zod: with unknown keys
 * stripped, defaults applied, transforms run) and rejecting the others, in order:
 * - `missing_field`: a required field is absent or `undefined` (when any issue is one);
 * - `type_mismatch`: any other issue: a wrong type, `NaN` or `±Infinity` for a number, an invalid
 *   `Date`, a failed refinement (`.max()`, `.email()`…), a value that is not an object at all;
 * - `schema_error`: the schema threw instead of reporting issues (an async refinement run
 *   synchronously, a bug in a refinement); the pipeline goes on.
 *
 * Details are a {@link SchemaRejection}. `validate({ versions, pick })` picks a schema per record
 * and rejects records whose version is unknown as `unknown_schema`.
 */
export function validate<S extends SchemaLike>(schema: S): Transform<unknown, SchemaOutput<S>>;
export function validate<V extends Record<string, SchemaLike>>(
  registry: VersionedSchemas<V>,
): Transform<unknown, SchemaOutput<V[keyof V]>>;
export function validate(
  arg: SchemaLike | VersionedSchemas<Record<string, SchemaLike>>,
): Transform<unknown, unknown> {
  if (isSchema(arg)) {
    const safeParse = (arg as { safeParse?: SafeParse }).safeParse;
    if (typeof safeParse === 'function')
      return { name: 'validate', apply: (input) => parseAll(input, arg, safeParse) };
    const check = checker(arg);
    return { name: 'validate', apply: (input) => run(input, () => check) };
  }
  if (typeof arg !== 'object' || arg === null || !('versions' in arg)) {
    throw invalidOptions(
      `validate(schema): expected a zod schema, a Standard Schema object or { versions, pick }; got ${show(arg)}`,
    );
  }
  for (const key of Object.keys(arg)) {
    if (key !== 'versions' && key !== 'pick') {
      throw invalidOptions(`validate({ versions, pick }): unknown option '${key}'`, { option: key });
    }
  }
  const { versions, pick } = arg;
  if (typeof versions !== 'object' || versions === null || Array.isArray(versions)) {
    throw invalidOptions(
      `validate({ versions }): versions must be an object of schemas by version; got ${show(versions)}`,
    );
  }
  if (typeof pick !== 'function') {
    throw invalidOptions(`validate({ pick }): pick must be a function returning the record's version`);
  }
  // A Map over own keys only: a record saying its version is 'constructor' or '__proto__' must
  // not find Object.prototype's members.
  const registry = new Map<string, Check>();
  for (const [name, schema] of Object.entries(versions)) {
    if (!isSchema(schema)) {
      throw invalidOptions(
        `validate({ versions }): versions.${name} must be a zod schema or a Standard Schema object; got ${show(schema)}`,
        { option: `versions.${name}` },
      );
    }
    registry.set(name, checker(schema, name));
  }
  if (registry.size === 0)
    throw invalidOptions('validate({ versions }): versions must name at least one schema');
  const known = [...registry.keys()];
  return {
    name: 'validate',
    apply: (input) =>
      run(input, (record) => {
        let version: unknown;
        try {
          version = pick(record);
        } catch (error) {
          return {
            reason: 'unknown_schema',
            details: { error: `pick threw: ${errorMessage(error)}`, known },
          };
        }
        const check =
          typeof version === 'string' || typeof version === 'number'
            ? registry.get(String(version))
            : undefined;
        return check ?? { reason: 'unknown_schema', details: { version: clip(show(version), 80), known } };
      }),
  };
}

/** A verdict on one record: kept with its parsed value, or refused. */
type Verdict = { ok: true; value: unknown } | { ok: false; reason: string; details: unknown };
type Check = (record: unknown) => Verdict | Promise<Verdict>;
type Refusal = { reason: string; details: unknown };

function isSchema(value: unknown): value is SchemaLike {
  if (typeof value !== 'object' && typeof value !== 'function') return false;
  if (value === null) return false;
  const standard = (value as Partial<SchemaLike>)['~standard'];
  return (
    typeof (value as { safeParse?: unknown }).safeParse === 'function' ||
    (typeof standard === 'object' && standard !== null && typeof standard.validate === 'function')
  );
}

type SafeParse = (value: unknown) => SafeParseResult;
interface SafeParseResult {
  success: boolean;
  data?: unknown;
  error?: { issues?: readonly RawIssue[] };
}
interface RawIssue {
  code?: unknown;
  path?: readonly unknown[];
  message?: unknown;
  expected?: unknown;
}

/** The fastest way to check a record against `schema`: zod's `safeParse`, else the standard one. */
function checker(schema: SchemaLike, version?: string): Check {
  const safeParse = (schema as { safeParse?: SafeParse }).safeParse;
  if (typeof safeParse === 'function') {
    return (record) => {
      let result: SafeParseResult;
      try {
        result = safeParse.call(schema, record);
      } catch (error) {
        return thrown(error, version);
      }
      return result.success
        ? { ok: true, value: result.data }
        : refuse(record, result.error?.issues ?? [], version);
    };
  }
  const standard = schema['~standard'];
  const settle = (record: unknown, result: unknown): Verdict => {
    const issues = (result as { issues?: readonly RawIssue[] } | null)?.issues;
    return issues === undefined
      ? { ok: true, value: (result as { value: unknown }).value }
      : refuse(record, issues, version);
  };
  return (record) => {
    let result: unknown;
    try {
      result = standard.validate(record);
    } catch (error) {
      return thrown(error, version);
    }
    return result instanceof Promise
      ? result.then(
          (r) => settle(record, r),
          (error) => thrown(error, version),
        )
      : settle(record, result);
  };
}

function thrown(error: unknown, version: string | undefined): Verdict {
  return {
    ok: false,
    reason: 'schema_error',
    details: { ...(version !== undefined && { version }), error: `the schema threw: ${errorMessage(error)}` },
  };
}

function refuse(record: unknown, issues: readonly RawIssue[], version: string | undefined): Verdict {
  let missing = false;
  for (const issue of issues) if (isMissing(record, issue)) missing = true;
  const details: SchemaRejection = {
    ...(version !== undefined && { version }),
    issues: issues.slice(0, MAX_ISSUES).map(safeIssue),
  };
  if (issues.length > MAX_ISSUES) details.omitted = issues.length - MAX_ISSUES;
  return { ok: false, reason: missing ? 'missing_field' : 'type_mismatch', details };
}

/** Path segments are keys, or `{ key }` objects in the Standard Schema form. */
function segmentKey(segment: unknown): unknown {
  return typeof segment === 'object' && segment !== null ? (segment as { key?: unknown }).key : segment;
}

/**
 * A missing field: the issue points at a key (not the record itself) whose parent object exists but
 * has no value there. Read from the record, not from the message, which a custom error map may change.
 */
function isMissing(record: unknown, issue: RawIssue): boolean {
  const path = issue.path;
  if (path === undefined || path.length === 0) return false;
  if (issue.code !== undefined && issue.code !== 'invalid_type') return false;
  let parent = record;
  for (let i = 0; i < path.length; i++) {
    if (typeof parent !== 'object' || parent === null) return false;
    const key = segmentKey(path[i]);
    if (typeof key !== 'string' && typeof key !== 'number') return false;
    if (!Object.hasOwn(parent, key)) return i === path.length - 1;
    const value = (parent as Record<string | number, unknown>)[key];
    if (i === path.length - 1) return value === undefined;
    parent = value;
  }
  return false;
}

function safeIssue(issue: RawIssue): SchemaIssue {
  const raw = Array.isArray(issue.path) ? issue.path : [];
  const path: (string | number)[] = [];
  for (let i = 0; i < raw.length && i < MAX_PATH; i++) {
    const key = segmentKey(raw[i]);
    path.push(typeof key === 'number' && Number.isFinite(key) ? key : clip(String(key), 64));
  }
  if (raw.length > MAX_PATH) path.push(`…${raw.length - MAX_PATH} more`);
  const out: SchemaIssue = { path, message: clip(String(issue.message ?? 'invalid'), 200) };
  if (typeof issue.code === 'string') out.code = clip(issue.code, 64);
  if (typeof issue.expected === 'string') out.expected = clip(issue.expected, 64);
  return out;
}

/** The hot path, for one zod schema: `safeParse` per record, sorted as it goes, no verdict objects. */
function parseAll(
  { records }: TransformInput<unknown>,
  schema: SchemaLike,
  safeParse: SafeParse,
): TransformOutput<unknown> {
  const sorter = new Sorter<unknown>();
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    let result: SafeParseResult;
    try {
      result = safeParse.call(schema, record);
    } catch (error) {
      sortOne(sorter, thrown(error, undefined), i);
      continue;
    }
    if (result.success) sorter.keep(result.data, i);
    else sortOne(sorter, refuse(record, result.error?.issues ?? [], undefined), i);
  }
  return sorter.output(records.length);
}

/**
 * Sorts a batch with the check `route` gives each record (or the refusal it returns instead),
 * synchronously and as it goes, until a check answers with a promise (an async Standard Schema):
 * from there on the verdicts are awaited together.
 */
function run(
  { records }: TransformInput<unknown>,
  route: (record: unknown) => Check | Refusal,
): TransformOutput<unknown> | Promise<TransformOutput<unknown>> {
  const sorter = new Sorter<unknown>();
  const verdictOf = (record: unknown): Verdict | Promise<Verdict> => {
    const check = route(record);
    return typeof check === 'function'
      ? check(record)
      : { ok: false, reason: check.reason, details: check.details };
  };
  for (let i = 0; i < records.length; i++) {
    const verdict = verdictOf(records[i]);
    if (verdict instanceof Promise) {
      const rest: (Verdict | Promise<Verdict>)[] = [verdict];
      for (let j = i + 1; j < records.length; j++) rest.push(verdictOf(records[j]));
      return Promise.all(rest).then((settled) => {
        for (let k = 0; k < settled.length; k++) sortOne(sorter, settled[k]!, i + k);
        return sorter.output(records.length);
      });
    }
    sortOne(sorter, verdict, i);
  }
  return sorter.output(records.length);
}

function sortOne(sorter: Sorter<unknown>, verdict: Verdict, index: number): void {
  if (verdict.ok) sorter.keep(verdict.value, index);
  else sorter.reject(index, verdict.reason, verdict.details);
}
