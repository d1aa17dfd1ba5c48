/**
 * The double's SQL layer: a tokenizer that knows Snowflake's quoting, the rewrite of a statement for
 * DuckDB (unquoted identifiers folded to upper case as Snowflake stores them, Snowflake type names
 * mapped to DuckDB's), the statement kind, and parsers for the two statements DuckDB cannot run:
 * `COPY INTO <table> FROM @stage…` and `PUT 'file://…' @stage…`.
 */

export type TokenType = 'word' | 'quoted' | 'string' | 'number' | 'stage' | 'bind' | 'punct' | 'space';

export interface Token {
  readonly type: TokenType;
  /** The source text of the token. */
  readonly text: string;
  /** For `quoted` and `string`: the value without quotes and escapes; for `word`: the text. */
  readonly value: string;
}

/** Splits `sql` into tokens (comments become spaces). Throws a plain Error on an unterminated quote. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const start = i;
    if (/\s/.test(c)) {
      while (i < n && /\s/.test(sql[i]!)) i++;
      tokens.push({ type: 'space', text: sql.slice(start, i), value: ' ' });
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
      tokens.push({ type: 'space', text: ' ', value: ' ' });
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 2;
      tokens.push({ type: 'space', text: ' ', value: ' ' });
    } else if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) throw new Error('unterminated string literal');
        const d = sql[i]!;
        if (d === '\\' && i + 1 < n) {
          const e = sql[i + 1]!;
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e === '0' ? '\0' : e;
          i += 2;
        } else if (d === "'" && sql[i + 1] === "'") {
          value += "'";
          i += 2;
        } else if (d === "'") {
          i++;
          break;
        } else {
          value += d;
          i++;
        }
      }
      tokens.push({ type: 'string', text: sql.slice(start, i), value });
    } else if (c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted identifier');
        if (sql[i] === '"' && sql[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (sql[i] === '"') {
          i++;
          break;
        } else value += sql[i++];
      }
      tokens.push({ type: 'quoted', text: sql.slice(start, i), value });
    } else if (/[A-Za-z_]/.test(c)) {
      while (i < n && /[A-Za-z0-9_$]/.test(sql[i]!)) i++;
      const text = sql.slice(start, i);
      tokens.push({ type: 'word', text, value: text });
    } else if (/[0-9]/.test(c)) {
      while (i < n && /[0-9.eE]/.test(sql[i]!)) i++;
      const text = sql.slice(start, i);
      tokens.push({ type: 'number', text, value: text });
    } else if (c === '@') {
      // A stage reference runs to the next blank, `)`, `,` or `;` outside double quotes.
      let quoted = false;
      i++;
      while (i < n && (quoted || !/[\s),;]/.test(sql[i]!))) {
        if (sql[i] === '"') quoted = !quoted;
        i++;
      }
      const text = sql.slice(start, i);
      tokens.push({ type: 'stage', text, value: text });
    } else if (c === '?') {
      i++;
      tokens.push({ type: 'bind', text: '?', value: '?' });
    } else if (c === ':' && sql[i + 1] === ':') {
      i += 2;
      tokens.push({ type: 'punct', text: '::', value: '::' });
    } else {
      i++;
      tokens.push({ type: 'punct', text: c, value: c });
    }
  }
  return tokens;
}

/** The tokens without blanks. */
export function solid(tokens: readonly Token[]): Token[] {
  return tokens.filter((t) => t.type !== 'space');
}

/** Snowflake type names and their DuckDB stand-ins; `args` says what happens to `(…)` after the name. */
const TYPES: Readonly<Record<string, { duck: string; args: 'keep' | 'drop' }>> = {
  NUMBER: { duck: 'DECIMAL', args: 'keep' },
  NUMERIC: { duck: 'DECIMAL', args: 'keep' },
  DECIMAL: { duck: 'DECIMAL', args: 'keep' },
  INT: { duck: 'DECIMAL(38,0)', args: 'drop' },
  INTEGER: { duck: 'DECIMAL(38,0)', args: 'drop' },
  BIGINT: { duck: 'DECIMAL(38,0)', args: 'drop' },
  SMALLINT: { duck: 'DECIMAL(38,0)', args: 'drop' },
  TINYINT: { duck: 'DECIMAL(38,0)', args: 'drop' },
  BYTEINT: { duck: 'DECIMAL(38,0)', args: 'drop' },
  FLOAT: { duck: 'DOUBLE', args: 'drop' },
  FLOAT4: { duck: 'DOUBLE', args: 'drop' },
  FLOAT8: { duck: 'DOUBLE', args: 'drop' },
  REAL: { duck: 'DOUBLE', args: 'drop' },
  DOUBLE: { duck: 'DOUBLE', args: 'drop' },
  STRING: { duck: 'VARCHAR', args: 'drop' },
  TEXT: { duck: 'VARCHAR', args: 'drop' },
  VARCHAR: { duck: 'VARCHAR', args: 'drop' },
  CHAR: { duck: 'VARCHAR', args: 'drop' },
  CHARACTER: { duck: 'VARCHAR', args: 'drop' },
  BINARY: { duck: 'BLOB', args: 'drop' },
  VARBINARY: { duck: 'BLOB', args: 'drop' },
  TIMESTAMP_TZ: { duck: 'TIMESTAMPTZ', args: 'drop' },
  TIMESTAMP_LTZ: { duck: 'TIMESTAMPTZ', args: 'drop' },
  TIMESTAMP_NTZ: { duck: 'TIMESTAMP', args: 'drop' },
  DATETIME: { duck: 'TIMESTAMP', args: 'drop' },
  VARIANT: { duck: 'JSON', args: 'drop' },
  OBJECT: { duck: 'JSON', args: 'drop' },
  ARRAY: { duck: 'JSON', args: 'drop' },
};

/**
 * `sql` as DuckDB should run it: unquoted words in upper case (Snowflake folds unquoted identifiers
 * to upper case; keywords do not care), Snowflake type names replaced, `CURRENT_TIMESTAMP()` without
 * its parentheses. Strings, quoted identifiers and binds are left as they are.
 */
export function toDuckSql(sql: string): string {
  const tokens = tokenize(sql);
  let out = '';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type !== 'word') {
      out += t.text;
      continue;
    }
    const upper = t.text.toUpperCase();
    const previous = lastSolid(tokens, i);
    // A word after `.` is a name part (`t.NUMBER` stays a column), never a type.
    const type = previous?.text === '.' ? undefined : TYPES[upper];
    if (type !== undefined && isTypePosition(tokens, i)) {
      out += type.duck;
      if (type.args === 'drop') i = skipArgs(tokens, i);
      else if (nextSolid(tokens, i)?.text !== '(' && type.duck === 'DECIMAL') out += '(38,0)';
      continue;
    }
    if ((upper === 'CURRENT_TIMESTAMP' || upper === 'CURRENT_DATE') && nextSolid(tokens, i)?.text === '(') {
      const close = skipArgs(tokens, i);
      out += upper;
      i = close;
      continue;
    }
    out += upper;
  }
  return out;
}

function lastSolid(tokens: readonly Token[], i: number): Token | undefined {
  for (let j = i - 1; j >= 0; j--) if (tokens[j]!.type !== 'space') return tokens[j];
  return undefined;
}

function nextSolid(tokens: readonly Token[], i: number): Token | undefined {
  for (let j = i + 1; j < tokens.length; j++) if (tokens[j]!.type !== 'space') return tokens[j];
  return undefined;
}

/** A type name appears after `::`, `AS` (in a CAST), or after a column name in a column list. */
function isTypePosition(tokens: readonly Token[], i: number): boolean {
  const previous = lastSolid(tokens, i);
  if (previous === undefined) return false;
  if (previous.text === '::') return true;
  if (previous.type === 'word' && previous.text.toUpperCase() === 'AS') return true;
  // `<column> <TYPE>` in a CREATE TABLE column list.
  return (
    previous.type === 'quoted' || (previous.type === 'word' && !KEYWORDS.has(previous.text.toUpperCase()))
  );
}

const KEYWORDS = new Set([
  'SELECT',
  'FROM',
  'WHERE',
  'AND',
  'OR',
  'NOT',
  'SET',
  'VALUES',
  'BY',
  'ON',
  'THEN',
  'WHEN',
  'ELSE',
  'INTO',
  'TABLE',
  'JOIN',
  'USING',
  'IS',
  'NULL',
  'IN',
  'CASE',
  'END',
  'RETURN',
  'DISTINCT',
]);

/** The index of the `)` closing the `(…)` right after token `i`, or `i` when there is none. */
function skipArgs(tokens: readonly Token[], i: number): number {
  let j = i + 1;
  while (j < tokens.length && tokens[j]!.type === 'space') j++;
  if (tokens[j]?.text !== '(') return i;
  let depth = 0;
  for (; j < tokens.length; j++) {
    if (tokens[j]!.text === '(') depth++;
    else if (tokens[j]!.text === ')' && --depth === 0) return j;
  }
  return tokens.length - 1;
}

/** What a statement is, by its leading words. */
export type StatementKind =
  | 'BEGIN'
  | 'COMMIT'
  | 'ROLLBACK'
  | 'COPY'
  | 'PUT'
  | 'SELECT'
  | 'INSERT'
  | 'UPDATE'
  | 'DELETE'
  | 'MERGE'
  | 'TRUNCATE'
  | 'DDL'
  | 'OTHER';

/** The kind of `sql` (first word; `START TRANSACTION` is a BEGIN). */
export function statementKind(sql: string): StatementKind {
  const first = /^[\s(]*([A-Za-z]+)/
    .exec(sql.replace(/^\s*(--[^\n]*\n|\/\*[\s\S]*?\*\/)*\s*/, ''))?.[1]
    ?.toUpperCase();
  switch (first) {
    case 'BEGIN':
    case 'START':
      return 'BEGIN';
    case 'COMMIT':
    case 'ROLLBACK':
    case 'COPY':
    case 'PUT':
    case 'INSERT':
    case 'UPDATE':
    case 'DELETE':
    case 'MERGE':
    case 'TRUNCATE':
    case 'SELECT':
      return first;
    case 'WITH':
    case 'SHOW':
    case 'DESCRIBE':
    case 'DESC':
      return 'SELECT';
    case 'CREATE':
    case 'DROP':
    case 'ALTER':
      return 'DDL';
    default:
      return 'OTHER';
  }
}

/** A possibly qualified object name: `"DB"."SCH"."T"`, `db.sch.t`, `t`. */
export interface ObjectName {
  /** The parts as Snowflake resolves them: unquoted parts upper-cased, quoted parts as written. */
  readonly parts: readonly string[];
  /** The name for DuckDB: every part double-quoted. */
  readonly duck: string;
  /** A key for maps: parts joined with `.`, upper-cased (DuckDB matches names without case). */
  readonly key: string;
  /** How it reads in a message: `DB.SCH.T`. */
  readonly display: string;
}

/** Reads a name from `tokens` at `at`; returns it and the index after it, or undefined. */
export function readName(
  tokens: readonly Token[],
  at: number,
): { name: ObjectName; next: number } | undefined {
  const parts: string[] = [];
  let i = at;
  for (;;) {
    const t = tokens[i];
    if (t === undefined || (t.type !== 'word' && t.type !== 'quoted')) return undefined;
    parts.push(t.type === 'quoted' ? t.value : t.value.toUpperCase());
    i++;
    if (tokens[i]?.text !== '.') break;
    i++;
  }
  return { name: objectName(parts), next: i };
}

export function objectName(parts: readonly string[]): ObjectName {
  return {
    parts,
    duck: parts.map((p) => `"${p.replaceAll('"', '""')}"`).join('.'),
    key: parts.join('.').toUpperCase(),
    display: parts.join('.'),
  };
}

/** The table a DML statement writes (for table locks and load history), if it names one. */
export function dmlTarget(kind: StatementKind, sql: string): ObjectName | undefined {
  const t = solid(tokenize(sql));
  const word = (i: number, w: string) => t[i]?.type === 'word' && t[i]!.value.toUpperCase() === w;
  let at: number | undefined;
  if ((kind === 'INSERT' || kind === 'MERGE' || kind === 'COPY') && word(1, 'INTO')) at = 2;
  else if (kind === 'INSERT' && word(1, 'OVERWRITE') && word(2, 'INTO')) at = 3;
  else if (kind === 'UPDATE') at = 1;
  else if (kind === 'DELETE' && word(1, 'FROM')) at = 2;
  else if (kind === 'TRUNCATE') at = word(1, 'TABLE') ? (word(2, 'IF') ? 4 : 2) : 1;
  return at === undefined ? undefined : readName(t, at)?.name;
}

/** A DDL statement's effect on load history: the table it creates or replaces or drops. */
export function ddlTarget(
  sql: string,
): { action: 'replace' | 'drop' | 'create'; table: ObjectName } | undefined {
  const t = solid(tokenize(sql));
  const words: string[] = [];
  let i = 0;
  while (t[i]?.type === 'word' && words.length < 8) {
    const w = t[i]!.value.toUpperCase();
    if (
      ![
        'CREATE',
        'DROP',
        'OR',
        'REPLACE',
        'TABLE',
        'IF',
        'NOT',
        'EXISTS',
        'TRANSIENT',
        'TEMPORARY',
        'TEMP',
      ].includes(w)
    )
      break;
    words.push(w);
    i++;
  }
  if (!words.includes('TABLE')) return undefined;
  const name = readName(t, i)?.name;
  if (name === undefined) return undefined;
  const action = words[0] === 'DROP' ? 'drop' : words.includes('REPLACE') ? 'replace' : 'create';
  return { action, table: name };
}

/** `ON_ERROR` of a COPY. */
export type OnError =
  | { readonly mode: 'ABORT_STATEMENT' }
  | { readonly mode: 'CONTINUE' }
  | { readonly mode: 'SKIP_FILE'; readonly limit: number; readonly percent: boolean };

/** A parsed `COPY INTO <table> FROM @stage…`. */
export interface CopyStatement {
  readonly table: ObjectName;
  /** The stage's name (`@db.sch.stage`), lower-cased and without quotes, for the stage map. */
  readonly stage: string;
  /** The path after the stage name, without leading `/` (`prefix/path/` or ''). */
  readonly path: string;
  readonly files?: readonly string[];
  readonly pattern?: RegExp;
  readonly format: string;
  readonly match: 'CASE_INSENSITIVE' | 'CASE_SENSITIVE' | 'NONE';
  readonly onError: OnError;
  readonly force: boolean;
  readonly purge: boolean;
  readonly loadUncertain: boolean;
  /** `VALIDATION_MODE`: check the files and load nothing. */
  readonly validation?:
    | { readonly mode: 'RETURN_ERRORS' | 'RETURN_ALL_ERRORS' }
    | { readonly mode: 'RETURN_ROWS'; readonly rows: number };
}

/** The stage name of a `@…` token, normalised: no `@`, no quotes, lower case. */
export function stageKey(name: string): string {
  return name.replace(/^@/, '').replaceAll('"', '').toLowerCase();
}

/** Splits `@db.sch.stage/a/b/` into its stage key and path (`a/b/`). */
export function splitStage(ref: string): { stage: string; path: string } {
  let quoted = false;
  for (let i = 0; i < ref.length; i++) {
    if (ref[i] === '"') quoted = !quoted;
    else if (ref[i] === '/' && !quoted) return { stage: stageKey(ref.slice(0, i)), path: ref.slice(i + 1) };
  }
  return { stage: stageKey(ref), path: '' };
}

/** Parses a COPY INTO; throws a plain Error with a message for what it cannot read. */
export function parseCopy(sql: string): CopyStatement {
  const t = solid(tokenize(sql));
  const word = (i: number) => (t[i]?.type === 'word' ? t[i]!.value.toUpperCase() : undefined);
  if (word(0) !== 'COPY' || word(1) !== 'INTO') throw new Error('expected COPY INTO');
  const target = readName(t, 2);
  if (target === undefined) throw new Error('COPY INTO: expected a table name');
  let i = target.next;
  if (t[i]?.text === '(') throw new Error('COPY INTO with a column list is not supported by the double');
  if (word(i) !== 'FROM') throw new Error('COPY INTO: expected FROM');
  i++;
  const from = t[i];
  if (from?.type !== 'stage') throw new Error('COPY INTO: the double loads from a stage (@name/path) only');
  const { stage, path } = splitStage(from.value);
  i++;
  let files: string[] | undefined;
  let pattern: RegExp | undefined;
  let format = 'PARQUET';
  let match: CopyStatement['match'] = 'NONE';
  let onError: OnError = { mode: 'ABORT_STATEMENT' };
  let force = false;
  let purge = false;
  let loadUncertain = false;
  let validation: CopyStatement['validation'];
  const bool = (token: Token | undefined) => {
    const v = token?.value.toUpperCase();
    if (v !== 'TRUE' && v !== 'FALSE') throw new Error(`expected TRUE or FALSE, got ${token?.text}`);
    return v === 'TRUE';
  };
  while (i < t.length) {
    if (t[i]!.text === ';') break;
    const option = word(i);
    if (option === undefined || t[i + 1]?.text !== '=')
      throw new Error(`COPY INTO: unexpected ${t[i]!.text}`);
    const value = t[i + 2];
    i += 2;
    switch (option) {
      case 'FILES': {
        if (value?.text !== '(') throw new Error('FILES: expected (');
        files = [];
        i++;
        while (t[i] !== undefined && t[i]!.text !== ')') {
          if (t[i]!.type !== 'string')
            throw new Error(`FILES: expected a quoted file name, got ${t[i]!.text}`);
          files.push(t[i]!.value);
          i++;
          if (t[i]?.text === ',') i++;
        }
        i++;
        break;
      }
      case 'PATTERN':
        if (value?.type !== 'string') throw new Error('PATTERN: expected a quoted regular expression');
        pattern = new RegExp(`^(?:${value.value})$`);
        i++;
        break;
      case 'FILE_FORMAT': {
        if (value?.text !== '(') throw new Error('FILE_FORMAT: expected (');
        i++;
        while (t[i] !== undefined && t[i]!.text !== ')') {
          if (word(i) === 'TYPE' && t[i + 1]?.text === '=') format = t[i + 2]!.value.toUpperCase();
          i++;
        }
        i++;
        break;
      }
      case 'MATCH_BY_COLUMN_NAME': {
        const v = value?.value.toUpperCase();
        if (v !== 'CASE_INSENSITIVE' && v !== 'CASE_SENSITIVE' && v !== 'NONE')
          throw new Error(`MATCH_BY_COLUMN_NAME: unexpected ${value?.text}`);
        match = v;
        i++;
        break;
      }
      case 'ON_ERROR': {
        const v = value?.value.toUpperCase() ?? '';
        const skip = /^SKIP_FILE(?:_(\d+)(%?))?$/.exec(v);
        if (v === 'ABORT_STATEMENT' || v === 'CONTINUE') onError = { mode: v };
        else if (skip !== null)
          onError = { mode: 'SKIP_FILE', limit: Number(skip[1] ?? 1), percent: skip[2] === '%' };
        else throw new Error(`ON_ERROR: unexpected ${value?.text}`);
        i++;
        break;
      }
      case 'FORCE':
        force = bool(value);
        i++;
        break;
      case 'PURGE':
        purge = bool(value);
        i++;
        break;
      case 'LOAD_UNCERTAIN_FILES':
        loadUncertain = bool(value);
        i++;
        break;
      case 'VALIDATION_MODE': {
        const v = value?.value.toUpperCase() ?? '';
        const rows = /^RETURN_(\d+)_ROWS$/.exec(v);
        if (v === 'RETURN_ERRORS' || v === 'RETURN_ALL_ERRORS') validation = { mode: v };
        else if (rows !== null) validation = { mode: 'RETURN_ROWS', rows: Number(rows[1]) };
        else throw new Error(`VALIDATION_MODE: unexpected ${value?.text}`);
        i++;
        break;
      }
      default:
        throw new Error(`COPY INTO: the double does not support the option ${option}`);
    }
  }
  return {
    table: target.name,
    stage,
    path,
    ...(files === undefined ? {} : { files }),
    ...(pattern === undefined ? {} : { pattern }),
    format,
    match,
    onError,
    force,
    purge,
    loadUncertain,
    ...(validation === undefined ? {} : { validation }),
  };
}

/** A parsed `PUT 'file:///abs' @stage/sub [AUTO_COMPRESS=…] [OVERWRITE=…]`. */
export interface PutStatement {
  /** The local file's absolute path. */
  readonly source: string;
  readonly stage: string;
  readonly path: string;
  readonly autoCompress: boolean;
  readonly overwrite: boolean;
}

export function parsePut(sql: string): PutStatement {
  const t = solid(tokenize(sql));
  if (t[0]?.value.toUpperCase() !== 'PUT') throw new Error('expected PUT');
  const src = t[1];
  const source = src?.type === 'string' ? src.value : src?.text;
  if (source === undefined || !source.startsWith('file://'))
    throw new Error("PUT: expected the source as 'file:///absolute/path'");
  const to = t[2];
  if (to?.type !== 'stage') throw new Error('PUT: expected a stage (@name/path)');
  const { stage, path } = splitStage(to.value);
  let autoCompress = true;
  let overwrite = false;
  for (let i = 3; i < t.length; i += 3) {
    const option = t[i]!.value.toUpperCase();
    if (option === ';') break;
    const value = t[i + 2]?.value.toUpperCase();
    if (t[i + 1]?.text !== '=' || (value !== 'TRUE' && value !== 'FALSE'))
      throw new Error(`PUT: cannot read the option ${option}`);
    if (option === 'AUTO_COMPRESS') autoCompress = value === 'TRUE';
    else if (option === 'OVERWRITE') overwrite = value === 'TRUE';
    else if (option !== 'PARALLEL' && option !== 'SOURCE_COMPRESSION')
      throw new Error(`PUT: the double does not support the option ${option}`);
  }
  return {
    source: decodeURIComponent(source.replace(/^file:\/\//, '')),
    stage,
    path: path.replace(/\/+$/, ''),
    autoCompress,
    overwrite,
  };
}

/**
 * `CREATE TABLE` without PRIMARY KEY / UNIQUE constraints: Snowflake records them but enforces
 * none (only NOT NULL), so the double must not enforce them either.
 */
export function withoutKeyConstraints(sql: string): string {
  const tokens = tokenize(sql);
  const out: Token[] = [];
  const upper = (i: number) => (tokens[i]?.type === 'word' ? tokens[i]!.value.toUpperCase() : undefined);
  const after = (i: number) => {
    let j = i + 1;
    while (tokens[j]?.type === 'space') j++;
    return j;
  };
  for (let i = 0; i < tokens.length; i++) {
    const w = upper(i);
    if (w === 'CONSTRAINT') {
      // `CONSTRAINT <name>`: the name goes; the constraint after it is handled on its own.
      i = after(i);
      continue;
    }
    let end: number | undefined;
    if (w === 'PRIMARY' && upper(after(i)) === 'KEY') end = skipArgs(tokens, after(i));
    else if (w === 'UNIQUE') end = skipArgs(tokens, i);
    if (end === undefined) {
      out.push(tokens[i]!);
      continue;
    }
    // A table constraint `, PRIMARY KEY (…)`: the comma before it goes too.
    let k = out.length - 1;
    while (k >= 0 && out[k]!.type === 'space') k--;
    if (k >= 0 && out[k]!.text === ',') out.length = k;
    i = end;
  }
  return out.map((t) => t.text).join('');
}

/** The parts of a `MERGE INTO <target> [alias] USING <source> [alias] ON <condition> WHEN …`. */
export interface MergeParts {
  /** `<target> [alias]` as written. */
  readonly target: string;
  /** `<source> [alias]` as written. */
  readonly source: string;
  readonly condition: string;
  /** Binds used by the source and the condition (they come first in the statement). */
  readonly binds: number;
}

/** Splits a MERGE at USING, ON and the first WHEN (outside parentheses); undefined if it cannot. */
export function mergeParts(sql: string): MergeParts | undefined {
  const tokens = tokenize(sql);
  let depth = 0;
  const at: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    else if (depth === 0 && t.type === 'word') {
      const w = t.value.toUpperCase();
      if ((w === 'INTO' || w === 'USING' || w === 'ON' || w === 'WHEN') && at[w] === undefined) at[w] = i;
    }
  });
  const { INTO: into, USING: using, ON: on, WHEN: when } = at;
  if (into === undefined || using === undefined || on === undefined || when === undefined) return undefined;
  const text = (from: number, to: number) =>
    tokens
      .slice(from, to)
      .map((t) => t.text)
      .join('')
      .trim();
  return {
    target: text(into + 1, using),
    source: text(using + 1, on),
    condition: text(on + 1, when),
    binds: tokens.slice(0, when).filter((t) => t.type === 'bind').length,
  };
}
