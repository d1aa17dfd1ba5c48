/**
 * A fault-injecting HTTP proxy for S3 tests: it sits between the S3 client and the server and, per
 * request, answers `503 SlowDown` itself, resets the connection (before forwarding, or after the
 * server answered, so that the write happened but the client never hears of it), or delays the
 * request. Requests are forwarded byte for byte with their Host header, so SigV4 signatures stay
 * valid. A policy function chooses the fault of each request.
 */
import { createServer, type IncomingMessage, request, type Server } from 'node:http';

/** What happens to one request. */
export type Fault =
  | { kind: 'slowdown' }
  | { kind: 'reset-before' }
  | { kind: 'reset-after' }
  | { kind: 'delay'; ms: number };

/** A request as the policy sees it. */
export interface ProxiedRequest {
  method: string;
  /** Path and query (`/bucket/key?uploadId=…`). */
  url: string;
}

/** Chooses the fault of a request; `undefined` forwards it untouched. */
export type FaultPolicy = (request: ProxiedRequest) => Fault | undefined;

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: give it to the client as its endpoint. */
  readonly endpoint: string;
  /** Replaces the policy (initially: no faults). */
  setPolicy(policy: FaultPolicy): void;
  /** Faults injected so far, by kind, and requests seen. */
  readonly counts: Record<Fault['kind'] | 'requests', number>;
  close(): Promise<void>;
}

const SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>';

/** Starts a proxy in front of `target` (`http://127.0.0.1:<port>`) on a free loopback port. */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let policy: FaultPolicy = () => undefined;
  const counts = { slowdown: 0, 'reset-before': 0, 'reset-after': 0, delay: 0, requests: 0 };
  const forward = (req: IncomingMessage, onResponse: (res: IncomingMessage) => void, onError: () => void) => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      onResponse,
    );
    out.once('error', onError);
    req.pipe(out);
  };
  const server: Server = createServer((req, res) => {
    counts.requests++;
    const fault = policy({ method: req.method ?? 'GET', url: req.url ?? '/' });
    if (fault !== undefined) counts[fault.kind]++;
    const reset = () => req.socket.destroy();
    const pass = () =>
      forward(
        req,
        (answer) => {
          if (fault?.kind === 'reset-after') {
            // The server has done the work; the client sees a dead connection.
            answer.resume();
            answer.once('end', reset);
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
        reset,
      );
    if (fault === undefined || fault.kind === 'reset-after') return pass();
    if (fault.kind === 'reset-before') return reset();
    if (fault.kind === 'delay') {
      setTimeout(pass, fault.ms);
      return;
    }
    // slowdown: read the body (the client is sending it), then answer 503 as S3 does.
    req.resume();
    req.once('end', () => {
      res.writeHead(503, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(SLOW_DOWN),
      });
      res.end(SLOW_DOWN);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setPolicy(next) {
      policy = next;
    },
    counts,
    async close() {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
}
