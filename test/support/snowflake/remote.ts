/**
 * The double across a process boundary, for tests whose worker runs in a child process and is
 * SIGKILLed. `serveSnowflakeDouble(double)` listens on 127.0.0.1 (a free port); each client TCP
 * connection is one session of the double, and when the socket closes (the client destroyed the
 * connection, or its process died) the session ends and its open transaction rolls back, as
 * Snowflake does for a dropped session. Messages are JSON lines (values that JSON cannot carry,
 * Dates, bigints and bytes, are tagged).
 *
 * `remoteSnowflakeConnection(url)` is the client side: a connection with snowflake-sdk's callback
 * API forwarding `execute()`. It imports nothing but Node, so a plain worker script can use it.
 */
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import type {
  Bind,
  ExecuteOptions,
  SnowflakeConnectionLike,
  SnowflakeDouble,
  StatementHandle,
} from './double.js';
import {
  connectionStateError,
  type ErrorFields,
  errorFields,
  errorFromFields,
  networkError,
} from './errors.js';

/** A running server. */
export interface SnowflakeDoubleServer {
  /** `snowflake-double://127.0.0.1:<port>`, for {@link remoteSnowflakeConnection}. */
  readonly url: string;
  /** Stops listening and drops every client (their sessions end, open transactions roll back). */
  close(): Promise<void>;
}

interface ExecRequest {
  readonly id: number;
  readonly sqlText: string;
  readonly binds: unknown[];
  readonly requestId?: string;
}

interface ExecAnswer {
  readonly id: number;
  readonly queryId: string;
  readonly error?: ErrorFields;
  readonly rows?: unknown;
  readonly updated: number;
}

/** Serves `double` to other processes; see the module comment. */
export async function serveSnowflakeDouble(double: SnowflakeDouble): Promise<SnowflakeDoubleServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const connection = double.connection();
    let closed = false;
    const end = () => {
      if (closed) return;
      closed = true;
      sockets.delete(socket);
      connection.destroy();
    };
    socket.on('close', end);
    socket.on('error', end);
    lines(socket, (line) => {
      const request = JSON.parse(line) as ExecRequest;
      connection.execute({
        sqlText: request.sqlText,
        binds: decode(request.binds) as Bind[],
        ...(request.requestId === undefined ? {} : { requestId: request.requestId }),
        complete: (error, statement, rows) => {
          if (closed) return;
          const answer: ExecAnswer = {
            id: request.id,
            queryId: statement.getQueryId(),
            ...(error === undefined ? { rows: encode(rows) } : { error: errorFields(error) }),
            updated: statement.getNumUpdatedRows(),
          };
          socket.write(`${JSON.stringify(answer)}\n`);
        },
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address() as { port: number };
  return {
    url: `snowflake-double://127.0.0.1:${address.port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A connection to a served double: already connecting when returned (its session starts when the
 * socket connects). A lost socket fails the statements in flight with a 401001 network error;
 * after `destroy()` a statement gets 407002.
 */
export function remoteSnowflakeConnection(url: string): SnowflakeConnectionLike {
  const match = /^snowflake-double:\/\/([^:/]+):(\d+)\/?$/.exec(url);
  if (match === null) throw new Error(`remoteSnowflakeConnection: not a double's url: ${url}`);
  const socket = connect({ host: match[1]!, port: Number(match[2]) });
  socket.setNoDelay(true);
  const id = `remote-${randomUUID()}`;
  let state: 'open' | 'lost' | 'destroyed' = 'open';
  let next = 0;
  const pending = new Map<number, (answer: ExecAnswer | Error) => void>();
  const lose = () => {
    if (state === 'open') state = 'lost';
    for (const [key, settle] of pending) {
      pending.delete(key);
      settle(networkError('ECONNRESET'));
    }
  };
  socket.on('error', lose);
  socket.on('close', lose);
  lines(socket, (line) => {
    const answer = JSON.parse(line) as ExecAnswer;
    const settle = pending.get(answer.id);
    pending.delete(answer.id);
    settle?.(answer);
  });
  const connection: SnowflakeConnectionLike = {
    getId: () => id,
    isUp: () => state === 'open',
    connect(callback) {
      queueMicrotask(() => callback?.(undefined, connection));
      return connection;
    },
    connectAsync: () => Promise.resolve(connection),
    destroy(callback) {
      state = 'destroyed';
      socket.end(() => callback?.(undefined, connection));
    },
    execute(options: ExecuteOptions): StatementHandle {
      const requestId = options.requestId ?? randomUUID();
      let queryId = requestId;
      let rows: Record<string, unknown>[] | undefined;
      let updated = 0;
      const handle: StatementHandle = {
        getSqlText: () => options.sqlText,
        getStatementId: () => queryId,
        getQueryId: () => queryId,
        getRequestId: () => requestId,
        getNumRows: () => rows?.length ?? 0,
        getNumUpdatedRows: () => updated,
        getColumns: () => Object.keys(rows?.[0] ?? {}).map((name) => ({ getName: () => name })),
        cancel: (callback) => queueMicrotask(() => callback?.()),
      };
      const settle = (answer: ExecAnswer | Error) => {
        if (answer instanceof Error) {
          options.complete?.(answer, handle, undefined);
          return;
        }
        queryId = answer.queryId;
        updated = answer.updated;
        if (answer.error !== undefined) options.complete?.(errorFromFields(answer.error), handle, undefined);
        else {
          rows = decode(answer.rows) as Record<string, unknown>[];
          options.complete?.(undefined, handle, rows);
        }
      };
      if (state !== 'open') {
        const error = state === 'destroyed' ? connectionStateError('terminated') : networkError('ECONNRESET');
        setImmediate(() => settle(error));
        return handle;
      }
      const request: ExecRequest = {
        id: ++next,
        sqlText: options.sqlText,
        binds: encode(options.binds ?? []) as unknown[],
        requestId,
      };
      pending.set(request.id, settle);
      socket.write(`${JSON.stringify(request)}\n`);
      return handle;
    },
  };
  return connection;
}

/** Calls `onLine` for each complete line that arrives on `socket`. */
function lines(socket: Socket, onLine: (line: string) => void): void {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let at = buffer.indexOf('\n'); at >= 0; at = buffer.indexOf('\n')) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      if (line !== '') onLine(line);
    }
  });
}

/** Tags what JSON cannot carry: Dates, bigints, bytes. */
function encode(value: unknown): unknown {
  if (value instanceof Date) return { $date: value.toISOString() };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(encode);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value;
}

function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.$date === 'string') return new Date(o.$date);
    if (typeof o.$bigint === 'string') return BigInt(o.$bigint);
    if (typeof o.$bytes === 'string') return new Uint8Array(Buffer.from(o.$bytes, 'base64'));
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}
