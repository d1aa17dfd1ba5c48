/**
 * Errors of the Snowflake contract double, shaped as snowflake-sdk shapes them (SNOWFLAKE-S3.md
 * §1.6): a server error is an `OperationFailedError` with a six-digit *string* `code`, a `sqlState`
 * and `data: { queryId, sqlState, errorCode }`; a driver error has a *numeric* code (401001 for a
 * network failure, 407001/407002 for a pristine or terminated connection).
 */

/** Server error codes the double knows a message and SQL state for. */
export const SERVER_ERRORS: Readonly<Record<string, { sqlState?: string; message: string }>> = {
  '000603': {
    sqlState: 'XX000',
    message: 'SQL execution internal error:\nProcessing aborted due to error 300005:4035122063; incident 1.',
  },
  '000604': { sqlState: '57014', message: 'SQL execution canceled' },
  '000606': {
    sqlState: '57P03',
    message:
      "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command.",
  },
  '000610': {
    message:
      'Exceeded number of allowed concurrent requests per user. You may try again later. If the problem persists, contact your local administrator.',
  },
  '000625': {
    sqlState: '57014',
    message:
      'Statement has locked table in transaction and this lock has not yet been released. Your statement was aborted because the number of waiters for this lock exceeds the 20 statements limit.',
  },
  '000630': {
    sqlState: '57014',
    message: 'Statement reached its statement or warehouse timeout of 120 second(s) and was canceled.',
  },
  '001003': {
    sqlState: '42000',
    message: "SQL compilation error:\nsyntax error line 1 at position 0 unexpected '<EOF>'.",
  },
  '002003': {
    sqlState: '42S02',
    message: "SQL compilation error:\nObject 'UNKNOWN' does not exist or not authorized.",
  },
  '002019': {
    sqlState: '0A000',
    message:
      'SQL compilation error:\nPARQUET file format can produce one and only one column of type variant, object, or array. Load data into separate columns using the MATCH_BY_COLUMN_NAME copy option or copy with transformation.',
  },
  '003001': {
    sqlState: '42501',
    message: "SQL access control error:\nInsufficient privileges to operate on table 'UNKNOWN'",
  },
  '091016': { sqlState: '22000', message: 'Remote file was not found.' },
  '100038': { sqlState: '22018', message: "Numeric value '' is not recognized" },
  '100072': { sqlState: '22000', message: 'NULL result in a non-nullable column' },
  '100080': {
    sqlState: '22000',
    message: 'Number of columns in file does not match that of the corresponding table',
  },
  '390114': {
    sqlState: '08001',
    message: 'Authentication token has expired.  The user must authenticate again.',
  },
};

/** A server-side failure, as the driver reports it. */
export class OperationFailedError extends Error {
  override readonly name = 'OperationFailedError';
  readonly sqlState: string | undefined;
  readonly data: { queryId: string; sqlState?: string; errorCode: string; type?: string };
  constructor(
    readonly code: string,
    message: string,
    queryId: string,
    sqlState?: string,
  ) {
    super(message);
    this.sqlState = sqlState;
    this.data = { queryId, errorCode: code, ...(sqlState === undefined ? {} : { sqlState }) };
  }
}

/** A driver-side failure: a numeric code, like snowflake-sdk's own errors. */
export class DriverError extends Error {
  constructor(
    override readonly name: string,
    readonly code: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A server error for `code`, with the known message and SQL state unless given. */
export function serverError(
  code: string,
  queryId: string,
  message?: string,
  sqlState?: string,
): OperationFailedError {
  const known = SERVER_ERRORS[code];
  return new OperationFailedError(
    code,
    message ?? known?.message ?? `Snowflake error ${code}`,
    queryId,
    sqlState ?? known?.sqlState,
  );
}

/** 401001: the driver could not reach Snowflake (after its own retries); `cause` is the socket error. */
export function networkError(errno = 'ECONNRESET'): DriverError {
  const cause = Object.assign(new Error(`read ${errno}`), { code: errno, errno, syscall: 'read' });
  return new DriverError('NetworkError', 401001, 'Network error. Could not reach Snowflake.', { cause });
}

/** 407001 / 407002: a statement on a connection that never connected, or that was terminated. */
export function connectionStateError(state: 'pristine' | 'terminated'): DriverError {
  return state === 'pristine'
    ? new DriverError(
        'ClientError',
        407001,
        'Unable to perform operation because a connection was not established.',
      )
    : new DriverError('ClientError', 407002, 'Unable to perform operation using terminated connection.');
}

/** 405503: connect() on a connection that was terminated (it can never reconnect). */
export function reconnectError(): DriverError {
  return new DriverError('ClientError', 405503, 'Connection already terminated. Cannot connect again.');
}

/** A compile error naming the problem (001003 with the double's own message). */
export function compileError(detail: string, queryId: string): OperationFailedError {
  return new OperationFailedError('001003', `SQL compilation error:\n${detail}`, queryId, '42000');
}

/** 002003 for an object the double does not know. */
export function unknownObject(kind: string, name: string, queryId: string): OperationFailedError {
  return new OperationFailedError(
    '002003',
    `SQL compilation error:\n${kind} '${name}' does not exist or not authorized.`,
    queryId,
    '42S02',
  );
}

/** The plain fields of an error, for sending it over the remote protocol. */
export interface ErrorFields {
  readonly name: string;
  readonly code: string | number | undefined;
  readonly message: string;
  readonly sqlState?: string;
  readonly data?: unknown;
  readonly cause?: { message: string; code?: string };
}

export function errorFields(error: unknown): ErrorFields {
  const e = error as {
    name?: string;
    code?: string | number;
    message?: string;
    sqlState?: string;
    data?: unknown;
    cause?: { message?: string; code?: string };
  };
  return {
    name: e.name ?? 'Error',
    code: e.code,
    message: e.message ?? String(error),
    ...(e.sqlState === undefined ? {} : { sqlState: e.sqlState }),
    ...(e.data === undefined ? {} : { data: e.data }),
    ...(e.cause === undefined
      ? {}
      : {
          cause: {
            message: e.cause.message ?? '',
            ...(e.cause.code === undefined ? {} : { code: e.cause.code }),
          },
        }),
  };
}

/** Rebuilds an error from {@link errorFields} (the same class, code, state and data). */
export function errorFromFields(fields: ErrorFields): Error {
  if (fields.name === 'OperationFailedError' && typeof fields.code === 'string') {
    const error = new OperationFailedError(fields.code, fields.message, '', fields.sqlState);
    if (fields.data !== undefined) Object.assign(error, { data: fields.data });
    return error;
  }
  if (typeof fields.code === 'number') {
    const cause =
      fields.cause === undefined
        ? undefined
        : Object.assign(new Error(fields.cause.message), { code: fields.cause.code });
    return new DriverError(fields.name, fields.code, fields.message, { cause });
  }
  return Object.assign(new Error(fields.message), {
    name: fields.name,
    ...(fields.code === undefined ? {} : { code: fields.code }),
  });
}
