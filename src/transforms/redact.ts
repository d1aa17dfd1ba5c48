import { invalidOptions } from '../core/errors.js';
import { parseCount, show } from '../core/units.js';
import { DETECTORS, type Detector, replaceDetected } from './detect.js';
import { Hmac } from './hmac.js';
import { scanStrings } from './privacy.js';
import { errorMessage, Sorter } from './sort.js';
import type { Transform, TransformWarning } from './types.js';

/** Keep the last `keepLast` characters and replace the others with `char`. */
export interface MaskAction {
  mask: {
    /** Characters kept at the end; a value of this length or shorter is masked entirely. */
    keepLast: number;
    /** One character. @default '*' */
    char?: string;
  };
}

/** Replace the value with this one (the same value for every record: prefer a primitive). */
export interface ReplaceAction {
  replace: unknown;
}

/** What replaces an e-mail address or phone number found in free text. */
export type TextAction = 'hash' | MaskAction | { replace: string };

/** Find e-mail addresses and phone numbers inside a free-text field and redact just those. */
export interface DetectAction {
  /** What to look for: `'email'`, `'phone'` (see docs/transforms.md for what each matches). */
  detect: readonly Detector[];
  /** What each match becomes. @default { replace: '[redacted]' } */
  with?: TextAction;
}

/**
 * What happens to a field:
 * - `'drop'`: the field is removed;
 * - `'hash'`: HMAC-SHA-256 of the value under `options.secret` (see {@link RedactOptions});
 * - `{ mask: { keepLast } }`: `'************1234'`;
 * - `{ replace: value }`: the field is set to `value`;
 * - `{ detect, with }`: matches inside the text are redacted, the rest is kept.
 */
export type RedactAction = 'drop' | 'hash' | MaskAction | ReplaceAction | DetectAction;

/** Values a path does not go into: a rule names them whole. */
type PathLeaf =
  | string
  | number
  | boolean
  | bigint
  | symbol
  | null
  | undefined
  | Date
  | RegExp
  | ArrayBufferView
  | ArrayBuffer
  | ((...args: never[]) => unknown);
/** Path depth limit: keeps the type finite for recursive record types. */
type Deeper = [never, 0, 1, 2, 3, 4, 5, 6, 7, 8];
/** What may follow a key whose value is `V`: `[]` into an array, `.key` into an object. */
type PathTail<V, D extends number> = [D] extends [never]
  ? never
  : V extends PathLeaf
    ? never
    : V extends readonly (infer E)[]
      ? '[]' | `[]${PathTail<NonNullable<E>, Deeper[D]>}`
      : V extends object
        ? `.${PathsOf<V, Deeper[D]>}`
        : never;
type PathsOf<T, D extends number> = [D] extends [never]
  ? never
  : { [K in keyof T & string]-?: K | `${K}${PathTail<NonNullable<T[K]>, D>}` }[keyof T & string];

/**
 * The field paths of a record type `T` as {@link redact} writes them: `'email'`, `'user.email'`,
 * `'contacts[].email'`, `'tags[]'` (up to 9 levels deep). Any string when `T` is unknown.
 */
export type RedactPath<T> = unknown extends T ? string : PathsOf<T, 9>;

/** {@link redact}'s rules: an action by field path; with a record type, only its paths compile. */
export type RedactRules<T> = { readonly [P in RedactPath<T>]?: RedactAction };

/** Options of {@link redact}. */
export interface RedactOptions {
  /**
   * Reject a record in which a rule's path is absent (a key missing where the record has an
   * object, a scalar where the path goes deeper) as `unknown_field`, with the rule in the details,
   * instead of passing it on untouched. A value that is `null` along the path is not absent.
   * @default false
   */
  strict?: boolean;
  /**
   * After this many records, each rule whose path was in none of them is reported once: a warning
   * through the pipeline's logger and in `metrics().transforms.warnings` (a typo such as `notes`
   * for `note` otherwise lets the data through silently). `false` turns the check off.
   * @default 1_000 (records)
   */
  warnUnmatchedAfter?: number | false;
  /**
   * How the value of a dead letter of this pipeline is stored. `'redacted'`: these rules are applied
   * to it, best effort (a value a rule cannot redact becomes `'[redacted]'`), and a value that is
   * raw text (a malformed record) has its e-mail addresses and phone numbers replaced by
   * `'[redacted]'`, as have strings in the letter's details. `'raw'`: letters keep the value as the
   * source gave it — only for a dead-letter store as protected as the source.
   * @default 'redacted'
   */
  deadLetterValue?: 'redacted' | 'raw';
  /**
   * The HMAC key, at least 16 bytes (a string is taken as UTF-8). Required when a rule hashes.
   * Keep it secret and stable: the same value under the same key gives the same hash, so hashed
   * fields can still be joined and counted; without the key, short values such as e-mail addresses
   * cannot be recovered by hashing guesses.
   */
  secret?: string | Uint8Array;
  /** How a hash is written: 64 hex digits, or 43 base64url characters. @default 'hex' */
  encoding?: 'hex' | 'base64url';
  /**
   * Most recent values whose hash is remembered (values up to 256 characters), so that a value
   * seen again costs a lookup instead of an HMAC; `0` turns it off. The cache holds the plain values
   * in memory, as the batches in flight do.
   * @default 10_000
   */
  hashCache?: number;
}

/** Smallest secret accepted: 128 bits, so that the key cannot be guessed. */
const MIN_SECRET_BYTES = 16;
const ACTIONS_HELP =
  "'drop', 'hash', { mask: { keepLast } }, { replace: value } or { detect: ['email', 'phone'], with }";

/** A field step's answer meaning "remove this field". */
const DROP: unique symbol = Symbol('drop');
/** Maps a value to its redacted form, or the same value when nothing changes. */
type Step = (value: unknown) => unknown;

/** A value a rule cannot redact (an object under `'hash'`); the record is rejected. */
class Unredactable {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {}
}

/** The rules as a tree of path segments; `each` is the `[]` step into array elements. */
interface PathNode {
  rule?: string;
  action?: Step;
  fields?: Map<string, PathNode>;
  each?: PathNode;
}

/**
 * Redacts fields, copying on write: the input records are never changed, and a record no rule
 * touches is passed on as it is. Paths are dot-separated keys; `[]` after a key steps into every
 * element of an array: `'user.email'`, `'contacts[].email'`, `'tags[]'`, `'matrix[][]'`. A path that
 * does not match the record (missing, `null`, a scalar where an object is expected, an object where
 * an array is expected) leaves the record alone. A value a rule cannot redact (an object or array
 * under `'hash'`, `mask` or `detect`) rejects the record as `unredactable` rather than letting it
 * through.
 *
 * `'hash'` and `mask` take strings as they are and numbers, booleans and bigints as their text
 * (the result is a string); `null` and `undefined` stay as they are. `detect` looks inside strings,
 * and numbers as their text (a phone number stored as a number).
 */
export function redact<T = unknown>(rules: RedactRules<T>, options: RedactOptions = {}): Transform<T, T> {
  if (typeof rules !== 'object' || rules === null || Array.isArray(rules)) {
    throw invalidOptions(
      `redact(rules): rules must be an object of actions by field path; got ${show(rules)}`,
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`redact(rules, options): options must be an object; got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      throw invalidOptions(`redact(rules, options): unknown option '${key}'`, { option: key });
    }
  }
  const encoding = options.encoding ?? 'hex';
  if (encoding !== 'hex' && encoding !== 'base64url') {
    throw invalidOptions(
      `redact(rules, { encoding }): encoding must be 'hex' or 'base64url'; got ${show(encoding)}`,
    );
  }
  const hashCache = parseCount(options.hashCache ?? 10_000, 'redact(rules, { hashCache })', { min: 0 });
  const strict = options.strict ?? false;
  if (typeof strict !== 'boolean') {
    throw invalidOptions(`redact(rules, { strict }): strict must be true or false; got ${show(strict)}`);
  }
  const warnAfter =
    options.warnUnmatchedAfter === false
      ? Number.POSITIVE_INFINITY
      : parseCount(options.warnUnmatchedAfter ?? 1_000, 'redact(rules, { warnUnmatchedAfter })', { min: 1 });
  const deadLetterValue = options.deadLetterValue ?? 'redacted';
  if (deadLetterValue !== 'redacted' && deadLetterValue !== 'raw') {
    throw invalidOptions(
      `redact(rules, { deadLetterValue }): deadLetterValue must be 'redacted' or 'raw'; got ${show(deadLetterValue)}`,
    );
  }
  const entries = Object.entries(rules as Record<string, RedactAction>);
  if (entries.length === 0) throw invalidOptions('redact(rules): rules must name at least one field path');
  let hmac: Hmac | undefined;
  const hasher = (rule: string): Hmac => {
    if (hmac !== undefined) return hmac;
    if (options.secret === undefined) {
      throw invalidOptions(
        `redact(rules): rule '${rule}' hashes, so options.secret is required: redact(rules, { secret })`,
      );
    }
    const key = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret;
    if (!(key instanceof Uint8Array)) {
      throw invalidOptions(
        // The type only: the value is a secret, whatever its type (a number must not be echoed).
        `redact(rules, { secret }): secret must be a string or a Uint8Array; got ${kindOf(key)}`,
      );
    }
    if (key.length < MIN_SECRET_BYTES) {
      throw invalidOptions(
        `redact(rules, { secret }): secret must be at least ${MIN_SECRET_BYTES} bytes, so that it cannot be guessed; got ${key.length}`,
      );
    }
    hmac = new Hmac(Uint8Array.from(key), encoding, hashCache);
    return hmac;
  };

  const root: PathNode = {};
  for (const [rule, action] of entries) insert(root, rule, compileAction(rule, action, hasher));
  // Rules whose path some record had, while the first `warnAfter` records are looked at.
  const hit = new Set<string>();
  let seen = 0;
  let tracking = Number.isFinite(warnAfter);
  const warnings: TransformWarning[] = [];
  const step = compileNode(root, {
    strict,
    lenient: false,
    hit: (rule) => {
      if (tracking) hit.add(rule);
    },
  });
  const scrub = compileNode(root, { strict: false, lenient: true, hit: () => {} });

  return {
    name: 'redact',
    apply({ records }) {
      const sorter = new Sorter<T>();
      for (let i = 0; i < records.length; i++) {
        try {
          sorter.keep(step(records[i]) as T, i);
        } catch (error) {
          if (error instanceof Absent) {
            sorter.reject(i, 'unknown_field', { path: error.path, error: error.why });
            continue;
          }
          sorter.reject(
            i,
            'unredactable',
            error instanceof Unredactable
              ? { path: error.path, error: error.why }
              : { error: `redaction failed: ${errorMessage(error)}` },
          );
        }
      }
      if (tracking) {
        seen += records.length;
        if (seen >= warnAfter) {
          tracking = false;
          for (const [rule] of entries) {
            if (hit.has(rule)) continue;
            warnings.push({
              transform: 'redact',
              code: 'rule_unmatched',
              rule,
              records: seen,
              message: `redact: rule '${rule}' matched none of the first ${seen} records: check the path (a typo lets the field through unredacted), or use redact(rules, { strict: true })`,
            });
          }
        }
      }
      return sorter.output(records.length);
    },
    warnings: () => warnings,
    scrubDeadLetter(letter) {
      if (deadLetterValue === 'raw') return letter;
      let value: unknown;
      if (typeof letter.value === 'string' || letter.value instanceof Uint8Array)
        value = scanStrings(letter.value);
      else {
        try {
          value = scrub(letter.value);
        } catch {
          // A value that cannot even be walked (a throwing getter): nothing of it is kept.
          value = REDACTED;
        }
      }
      const details = scanStrings(letter.details);
      return value === letter.value && details === letter.details ? letter : { ...letter, value, details };
    },
  };
}

const OPTION_KEYS = ['secret', 'encoding', 'hashCache', 'strict', 'warnUnmatchedAfter', 'deadLetterValue'];
const REDACTED = '[redacted]';

/** A rule's path absent from a record, under `strict`: the record is rejected as `unknown_field`. */
class Absent {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {}
}

/** How a rule tree is compiled: for records (strict or not, noting hits) or for dead letters (lenient). */
interface Mode {
  strict: boolean;
  /** A value a rule cannot redact becomes `'[redacted]'` instead of rejecting the record. */
  lenient: boolean;
  /** Called with a rule each time its path is found in a record. */
  hit: (rule: string) => void;
}

/** A type's name for messages about secrets, never the value. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

const SEGMENT = /^([^.[\]]+)((?:\[\])*)$/;

/** Adds `rule` to the tree, refusing malformed paths and rules inside other rules. */
function insert(root: PathNode, rule: string, action: Step): void {
  const segments = rule.split('.');
  let node = root;
  for (const segment of segments) {
    const match = SEGMENT.exec(segment);
    if (match === null) {
      throw invalidOptions(
        `redact(rules): '${rule}' is not a field path: use keys separated by dots, with [] after a key for the elements of an array ('user.email', 'contacts[].email', 'tags[]')`,
        { option: rule },
      );
    }
    const steps: (string | null)[] = [match[1]!];
    for (let k = 0; k < match[2]!.length / 2; k++) steps.push(null);
    for (const key of steps) {
      if (node.action !== undefined) throw overlap(node.rule!, rule);
      let next: PathNode | undefined;
      if (key === null) next = node.each ??= {};
      else {
        node.fields ??= new Map();
        next = node.fields.get(key);
        if (next === undefined) node.fields.set(key, (next = {}));
      }
      node = next;
    }
  }
  if (node.action !== undefined || node.fields !== undefined || node.each !== undefined) {
    throw overlap(node.rule ?? firstRuleUnder(node), rule);
  }
  node.rule = rule;
  node.action = action;
}

function firstRuleUnder(node: PathNode): string {
  if (node.rule !== undefined) return node.rule;
  for (const child of node.fields?.values() ?? []) return firstRuleUnder(child);
  return firstRuleUnder(node.each!);
}

function overlap(a: string, b: string) {
  return invalidOptions(`redact(rules): rules '${a}' and '${b}' overlap: one path is inside the other`, {
    option: b,
  });
}

/** One function per tree node, so a record costs a walk down the rule paths and nothing else. */
function compileNode(node: PathNode, mode: Mode): Step {
  if (node.action !== undefined) {
    const { action, rule } = node;
    const hit = mode.hit;
    if (!mode.lenient) {
      return (value) => {
        hit(rule!);
        return action(value);
      };
    }
    return (value) => {
      try {
        return action(value);
      } catch {
        return REDACTED;
      }
    };
  }
  // Parallel arrays rather than [key, step] pairs: no destructuring on the hot path.
  const keys = node.fields === undefined ? [] : [...node.fields.keys()];
  const children = node.fields === undefined ? [] : [...node.fields.values()];
  const steps = children.map((child) => compileNode(child, mode));
  const each = node.each === undefined ? undefined : compileNode(node.each, mode);
  const { strict, lenient } = mode;
  const absent = (why: string, child: PathNode = node) => new Absent(firstRuleUnder(child), why);
  // A value of another shape than the path expects (a string where 'user.email' expects an object):
  // strict rejects the record; a dead letter (lenient) keeps nothing of it, since what the rule
  // protects may be inside; otherwise the record passes as it is.
  const misshapen = (value: unknown, why: () => string) => {
    if (strict) throw absent(why());
    return lenient ? REDACTED : value;
  };
  return (value) => {
    if (typeof value !== 'object' || value === null) {
      if (value === null || value === undefined) return value;
      return misshapen(
        value,
        () => `expected ${each === undefined ? 'an object' : 'an array'}, got ${kindOf(value)}`,
      );
    }
    if (Array.isArray(value)) {
      if (each === undefined) return misshapen(value, () => 'expected an object, got an array');
      let copy: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const before = value[i];
        const after = each(before);
        if (!Object.is(after, before)) (copy ??= value.slice())[i] = after;
      }
      return copy ?? value;
    }
    if (each !== undefined && keys.length === 0)
      return misshapen(value, () => 'expected an array, got an object');
    let copy: Record<string, unknown> | undefined;
    for (let f = 0; f < keys.length; f++) {
      const key = keys[f]!;
      if (!Object.hasOwn(value, key)) {
        if (strict) throw absent(`the record has no field '${key}' there`, children[f]);
        continue;
      }
      const before = (value as Record<string, unknown>)[key];
      const after = steps[f]!(before);
      if (Object.is(after, before)) continue;
      copy ??= { ...(value as Record<string, unknown>) };
      if (after === DROP) delete copy[key];
      // `copy.__proto__ = x` would set the copy's prototype: define the own property instead.
      else if (key === '__proto__')
        Object.defineProperty(copy, key, {
          value: after,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      else copy[key] = after;
    }
    return copy ?? value;
  };
}

/** A field action, checked and turned into a {@link Step}. */
function compileAction(rule: string, action: unknown, hasher: (rule: string) => Hmac): Step {
  if (action === 'drop') {
    if (rule.endsWith('[]')) {
      throw invalidOptions(
        `redact(rules): rule '${rule}': 'drop' cannot remove array elements; drop the array ('${rule.replace(/(\[\])+$/, '')}') or use { replace }`,
        { option: rule },
      );
    }
    return () => DROP;
  }
  if (action === 'hash') {
    const hmac = hasher(rule);
    return (value) => {
      const text = scalarText(value, rule, 'hash');
      return text === undefined ? value : hmac.digest(text);
    };
  }
  if (typeof action === 'object' && action !== null) {
    const keys = Object.keys(action);
    if (keys.length === 1 && keys[0] === 'replace') {
      const replacement = (action as ReplaceAction).replace;
      return () => replacement;
    }
    if (keys.length === 1 && keys[0] === 'mask') {
      const mask = masker(rule, (action as MaskAction).mask);
      return (value) => {
        const text = scalarText(value, rule, 'mask');
        return text === undefined ? value : mask(text);
      };
    }
    if (keys.includes('detect') && keys.every((k) => k === 'detect' || k === 'with')) {
      return detector(rule, action as DetectAction, hasher);
    }
  }
  throw invalidOptions(
    `redact(rules): rule '${rule}': unknown action ${show(action)}; expected ${ACTIONS_HELP}`,
    {
      option: rule,
    },
  );
}

function masker(rule: string, options: unknown): (text: string) => string {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `redact(rules): rule '${rule}': mask must be { keepLast, char? }; got ${show(options)}`,
    );
  }
  const { keepLast, char = '*', ...rest } = options as MaskAction['mask'];
  const extra = Object.keys(rest)[0];
  if (extra !== undefined)
    throw invalidOptions(`redact(rules): rule '${rule}': unknown mask option '${extra}'`);
  if (typeof keepLast !== 'number' || !Number.isInteger(keepLast) || keepLast < 0) {
    throw invalidOptions(
      `redact(rules): rule '${rule}': mask.keepLast must be an integer ≥ 0; got ${show(keepLast)}`,
    );
  }
  if (typeof char !== 'string' || [...char].length !== 1) {
    throw invalidOptions(`redact(rules): rule '${rule}': mask.char must be one character; got ${show(char)}`);
  }
  return (text) => {
    // Count characters, not UTF-16 units, so an emoji is never cut in half.
    const chars = /[\uD800-\uDFFF]/.test(text) ? Array.from(text) : undefined;
    const length = chars?.length ?? text.length;
    if (length <= keepLast) return char.repeat(length);
    const kept =
      chars === undefined ? text.slice(length - keepLast) : chars.slice(length - keepLast).join('');
    return char.repeat(length - keepLast) + (keepLast === 0 ? '' : kept);
  };
}

function detector(rule: string, action: DetectAction, hasher: (rule: string) => Hmac): Step {
  const { detect } = action;
  if (!Array.isArray(detect) || detect.length === 0 || !detect.every((d) => DETECTORS.includes(d))) {
    throw invalidOptions(
      `redact(rules): rule '${rule}': detect must list one or more of ${DETECTORS.map((d) => `'${d}'`).join(', ')}; got ${show(detect)}`,
    );
  }
  const kinds = { email: detect.includes('email'), phone: detect.includes('phone') };
  const using = action.with ?? { replace: '[redacted]' };
  let replace: (match: string) => string;
  if (using === 'hash') {
    const hmac = hasher(rule);
    replace = (match) => hmac.digest(match);
  } else if (typeof using === 'object' && using !== null && Object.keys(using).join() === 'mask') {
    replace = masker(rule, (using as MaskAction).mask);
  } else if (
    typeof using === 'object' &&
    using !== null &&
    Object.keys(using).join() === 'replace' &&
    typeof (using as { replace: unknown }).replace === 'string'
  ) {
    const text = (using as { replace: string }).replace;
    replace = () => text;
  } else {
    throw invalidOptions(
      `redact(rules): rule '${rule}': with must be 'hash', { mask: { keepLast } } or { replace: 'text' }; got ${show(using)}`,
    );
  }
  return (value) => {
    if (typeof value === 'string') return replaceDetected(value, kinds, replace);
    const text = scalarText(value, rule, 'detect');
    if (text === undefined) return value;
    const redacted = replaceDetected(text, kinds, replace);
    return redacted === text ? value : redacted;
  };
}

/** The text of a scalar, `undefined` for null and undefined; throws for values that have no text. */
function scalarText(value: unknown, rule: string, what: string): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'undefined':
      return undefined;
    default:
      if (value === null) return undefined;
      throw new Unredactable(rule, `${what} needs a string, number or boolean; got ${show(value)}`);
  }
}
