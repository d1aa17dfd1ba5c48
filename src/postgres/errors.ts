import { codeTable } from '../core/code-table.js';
import { describeError, isRetryable, MicrobatchError } from '../core/errors.js';

/** The fields of a `pg` `DatabaseError` that classification reads. */
export interface PgErrorLike {
  code?: string;
  constraint?: string;
  column?: string;
  table?: string;
  detail?: string;
  where?: string;
  message?: string;
}

/**
 * SQLSTATEs that mean "the server is busy or going away; the same transaction may succeed later":
 * back-pressure the adaptive trigger widens on. Everything else from the server is fatal, except the
 * row errors below when `onRowError` is `'dead-letter'`.
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html)
 */
const RETRYABLE_STATES = codeTable({
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
  '55P03': 'lock not available (lock_timeout)',
  '57014': 'query canceled (statement_timeout or a cancel)',
  '57P01': 'admin shutdown (the server or the backend was terminated)',
  '57P02': 'crash shutdown',
  '57P03': 'the server is starting up or shutting down',
  '53300': 'too many connections',
  '53000': 'insufficient resources',
  '53100': 'disk full',
  '53200': 'out of memory',
  '58030': 'I/O error',
});

/** Whether a `pg` error means the connection is gone: it must not go back to the pool. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as PgErrorLike | undefined)?.code;
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P'))) return true;
  const message = describeError(error);
  return /Connection terminated|connection.*(ended|closed|reset)|ECONNRESET|EPIPE|not queryable/i.test(
    message,
  );
}

/** Class 22 (data exception) and 23 (integrity constraint violation): the row is at fault, not the batch. */
export function isRowError(error: unknown): boolean {
  const code = (error as PgErrorLike | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** The 1-based COPY row an error names in its context (`COPY prices, line 3, column price: …`). */
export function copyLine(error: unknown): number | undefined {
  const where = (error as PgErrorLike | undefined)?.where;
  if (typeof where !== 'string') return undefined;
  const match = /\bCOPY [^,]*, line (\d+)/.exec(where);
  return match === null ? undefined : Number(match[1]);
}

/** What a row error says about the row, in one line: the constraint (or column) and the server's words. */
export function describeRowError(error: unknown): string {
  const e = error as PgErrorLike;
  const parts = [describeError(error)];
  if (e.constraint !== undefined) parts.push(`constraint "${e.constraint}"`);
  else if (e.column !== undefined) parts.push(`column "${e.column}"`);
  if (e.detail !== undefined) parts.push(e.detail);
  return parts.join('; ');
}

/**
 * The error a write throws: retryable back-pressure (server states above, lost connections, network
 * errors) or a fatal `MB_SINK_FAILED` whose message names the table, the constraint and the row.
 */
export function classify(error: unknown, what: string): MicrobatchError {
  if (MicrobatchError.is(error)) return error;
  const e = error as PgErrorLike | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const known = code === undefined ? undefined : RETRYABLE_STATES[code];
  const retryable =
    known !== undefined ||
    (code !== undefined && (code.startsWith('08') || code.startsWith('40'))) ||
    isConnectionError(error) ||
    // Reaching the server failed (a restart: the socket file is gone, the port refuses): try again.
    (error as { syscall?: unknown } | undefined)?.syscall === 'connect' ||
    isRetryable(error);
  const state = code === undefined ? '' : ` (SQLSTATE ${code}${known === undefined ? '' : `, ${known}`})`;
  const message = isRowError(error)
    ? `${what}: a row was refused${state}: ${describeRowError(error)}. Fix the data or the table, or set onRowError: 'dead-letter' to keep such rows in a dead-letter table and write the rest`
    : `${what} failed${state}: ${describeError(error)}`;
  return new MicrobatchError('MB_SINK_FAILED', message, {
    cause: error,
    retryable,
    details: {
      ...(code !== undefined && { sqlState: code }),
      ...(e?.constraint !== undefined && { constraint: e.constraint }),
      ...(e?.table !== undefined && { table: e.table }),
      ...(e?.column !== undefined && { column: e.column }),
    },
  });
}
