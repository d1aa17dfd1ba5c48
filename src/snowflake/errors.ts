import { codeTable } from '../core/code-table.js';
import { describeError, isRetryable, MicrobatchError } from '../core/errors.js';
import type { SnowflakeErrorLike } from './types.js';

/** How the sink treats a failed statement. */
export type SnowflakeErrorClass =
  /** The warehouse or the network is busy: the adaptive trigger widens, the write is retried. */
  | 'backpressure'
  /** The session is gone (master token expired, disconnected): a new connection is needed. */
  | 'reconnect'
  /** A value of the batch does not convert to its column: retrying cannot help. */
  | 'data'
  /** Compilation, permission, a missing object, anything else: fatal, named with the statement. */
  | 'fatal';

/**
 * Server codes that mean "busy, try again later" (see ../shared/SNOWFLAKE-S3.md §1.6, §6):
 * back-pressure for the adaptive trigger.
 */
const BACKPRESSURE = codeTable({
  '000610': 'too many concurrent requests for the user',
  '000625': 'too many statements waiting for the table lock',
  '000630': 'statement or warehouse timeout',
  '000603': 'internal error, transient',
});

/** Codes after which the connection object is unusable: the session or its master token is gone. */
const RECONNECT = codeTable({
  '390114': 'the master token expired',
  '390104': 'the session token is invalid',
  '390111': 'the session is gone',
  '407001': 'the connection is not connected',
  '407002': 'the connection was disconnected',
  '405503': 'the connection was terminated',
});

/** The driver's network failures (numeric codes, after its own retries). */
const NETWORK = codeTable({
  '401001': 'network error',
  '401002': 'HTTP failure',
  '401003': 'unexpected response',
});

/** Hints appended to fatal errors of well-known codes. */
const HINTS = codeTable({
  '002003':
    'the table, the stage or the ledger does not exist or the role cannot see it (see docs/snowflake.md, "Set-up")',
  '003001':
    'the role lacks a privilege: it needs INSERT and SELECT on the table and the ledger and USAGE (READ for internal stages) on the stage (see docs/snowflake.md, "Grants")',
  '000606': 'no warehouse is active for the session: set warehouse in the connection options',
  '001003': 'a SQL compilation error (please report it: the sink builds every statement)',
  '000904': 'an invalid identifier: a column of the schema is missing from the table',
  '002019': 'PARQUET loads into named columns only with MATCH_BY_COLUMN_NAME',
});

function codeOf(error: unknown): string | undefined {
  const code = (error as SnowflakeErrorLike | undefined)?.code;
  if (typeof code === 'number') return String(code);
  return typeof code === 'string' ? code : undefined;
}

// `password=…`, `token: …`, `"privateKey": "…"` and the like, as a driver's or a proxy's message may
// carry them; and the password of a URL's user info.
const SECRET =
  /\b(password|passwd|pwd|passcode|token|secret|private_?key(?:_?pass)?|client_?secret|authorization)(["']?\s*[:=]\s*)((?:Bearer|Basic|Snowflake Token=)\s*\S+|"[^"]*"|'[^']*'|\S+)/gi;
const URL_PASSWORD = /(\/\/[^\s/:@]+:)[^\s/@]+@/g;

/**
 * `text` with anything that looks like a credential replaced by `***`: a driver error's message may
 * quote connection options (a password, a token), and the sink's messages end up in logs.
 */
export function scrubSecrets(text: string): string {
  return text.replace(SECRET, '$1$2***').replace(URL_PASSWORD, '$1***@');
}

/** The class of a statement's failure (see {@link SnowflakeErrorClass}). */
export function classifyCode(error: unknown): SnowflakeErrorClass {
  const code = codeOf(error);
  if (code !== undefined) {
    if (code in BACKPRESSURE || code in NETWORK) return 'backpressure';
    if (code in RECONNECT) return 'reconnect';
    if (/^10\d{4}$/.test(code)) return 'data';
  }
  const state = (error as SnowflakeErrorLike | undefined)?.sqlState;
  // 57014: a statement canceled by a timeout; 08xxx: connection exceptions.
  if (state === '57014' && code !== '000604') return 'backpressure';
  if (typeof state === 'string' && state.startsWith('08')) return 'reconnect';
  if (code === 'NETWORK_ERROR' || isRetryable(error)) return 'backpressure';
  return 'fatal';
}

/** `'000610 (too many concurrent requests for the user)'`, or the bare code. */
function describeCode(code: string | undefined, state: string | undefined): string {
  if (code === undefined) return '';
  const known = BACKPRESSURE[code] ?? RECONNECT[code] ?? NETWORK[code];
  const parts = [code, ...(state === undefined ? [] : [`SQLSTATE ${state}`]), ...(known ? [known] : [])];
  return ` (${parts.join(', ')})`;
}

/**
 * The error a failed statement becomes: `MB_SINK_FAILED`, retryable for back-pressure (and for a
 * lost session when the sink can open a new connection), fatal otherwise. `statement` names what
 * failed (`COPY INTO "DB"."S"."T"`, `ledger insert`): statements carry identifiers and `?`
 * placeholders only, never credentials or record values.
 */
export function snowflakeError(
  error: unknown,
  what: string,
  statement: string,
  canReconnect: boolean,
): MicrobatchError {
  if (MicrobatchError.is(error)) return error;
  const e = error as SnowflakeErrorLike | undefined;
  const code = codeOf(error);
  const state = e?.sqlState ?? e?.data?.sqlState ?? undefined;
  const kind = classifyCode(error);
  const queryId = e?.data?.queryId;
  const details = {
    statement,
    class: kind,
    ...(code !== undefined && { snowflakeCode: code }),
    ...(state !== undefined && { sqlState: state }),
    ...(queryId !== undefined && { queryId }),
  };
  // One line: server messages may span several.
  const said = scrubSecrets(describeError(error).replace(/\s*\n\s*/g, ' '));
  const base = `${what}: ${statement} failed${describeCode(code, state)}: ${said}`;
  if (kind === 'reconnect') {
    return new MicrobatchError(
      'MB_SINK_FAILED',
      canReconnect
        ? `${base}; a new connection is opened through connect() for the next attempt`
        : `${base}. The connection cannot be used again: pass connect: () => … (a function opening a new connection) to snowflakeSink so that it can reconnect`,
      { cause: error, retryable: canReconnect, details },
    );
  }
  const hint = code === undefined ? undefined : HINTS[code];
  const message =
    kind === 'data'
      ? `${base}. A value of the batch does not convert to its column: fix the schema or the table (see docs/snowflake.md, "Type map")`
      : hint === undefined
        ? base
        : `${base}. Hint: ${hint}`;
  return new MicrobatchError('MB_SINK_FAILED', message, {
    cause: error,
    retryable: kind === 'backpressure',
    details,
  });
}
