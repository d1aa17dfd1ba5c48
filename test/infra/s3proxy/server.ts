/**
 * A real S3 server for the integration tests: S3Proxy (org.gaul:s3proxy, Java, from Maven Central;
 * REFERENCE.md §7/§9) with its in-memory `transient` or on-disk `filesystem` backend, on a free
 * loopback port. No Docker, no installed S3.
 *
 * `fetchS3Proxy()` downloads the one jar (`jar-with-dependencies`) into `.cache/s3proxy` once;
 * `startS3Proxy()` runs it and resolves when it answers. Every server started here dies with the
 * process that started it (exit and signal handlers); one left by a SIGKILLed test process is
 * killed by the next `startS3Proxy()`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverProcesses } from '../server-processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');

/** The S3Proxy release the tests run. */
export const S3PROXY_VERSION = '4.0.0';
/** `<repo>/.cache/s3proxy`: the jar and the bookkeeping of running servers. */
export const S3PROXY_CACHE_DIR = join(repoRoot, '.cache', 's3proxy');
const JAR_NAME = `s3proxy-${S3PROXY_VERSION}-jar-with-dependencies.jar`;

const HOW_TO_FIX =
  'install Java 17 and Maven (Debian/Ubuntu: apt-get install openjdk-17-jre-headless maven), ' +
  'or set MICROBATCH_S3_ENDPOINT=http://host:port (with MICROBATCH_S3_ACCESS_KEY_ID and ' +
  'MICROBATCH_S3_SECRET_ACCESS_KEY) to run the S3 tests against another S3-compatible server';

/**
 * Makes sure `<cacheDir>/s3proxy-<version>-jar-with-dependencies.jar` exists and returns its path.
 * Runs Maven (`maven-dependency-plugin` `copy`) only when the jar is missing; the jar is fetched
 * into a temporary directory and renamed into place, so an interrupted fetch never looks complete.
 */
export async function fetchS3Proxy(cacheDir = S3PROXY_CACHE_DIR): Promise<string> {
  const jar = join(cacheDir, JAR_NAME);
  if (existsSync(jar)) return jar;
  requireTool('java', ['-version']);
  requireTool('mvn', ['-v']);
  const staging = join(cacheDir, `fetch.${process.pid}.tmp`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const result = spawnSync(
    'mvn',
    [
      '-B',
      '-q',
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy',
      `-Dartifact=org.gaul:s3proxy:${S3PROXY_VERSION}:jar:jar-with-dependencies`,
      `-DoutputDirectory=${staging}`,
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, cwd: staging },
  );
  const fetched = join(staging, JAR_NAME);
  if (result.status !== 0 || !existsSync(fetched)) {
    await rm(staging, { recursive: true, force: true });
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(
      `could not download org.gaul:s3proxy:${S3PROXY_VERSION} (jar-with-dependencies) from Maven Central ` +
        `(mvn exited with ${result.status ?? result.signal ?? result.error?.message}); check network access to ` +
        `https://repo.maven.apache.org, or ${HOW_TO_FIX}.\n${output}`,
    );
  }
  await rename(fetched, jar);
  await rm(staging, { recursive: true, force: true });
  return jar;
}

function requireTool(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  if (result.error === undefined && result.status === 0) return;
  const why =
    (result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
      ? 'is not installed (not found on PATH)'
      : `does not run (${result.error?.message ?? `exit status ${result.status}`})`;
  throw new Error(`the S3 integration tests need \`${command}\`, which ${why}: ${HOW_TO_FIX}.`);
}

/** How a test reaches an S3 server. */
export interface S3Endpoint {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Options of {@link startS3Proxy}. */
export interface StartS3ProxyOptions {
  /**
   * `transient` keeps objects in memory (lost on restart); `filesystem` under `dataDir`, so that a
   * restarted server still has them.
   * @default 'transient'
   */
  backend?: 'transient' | 'filesystem';
  /** The server's directory (properties, log, and the objects with `filesystem`). @default a new temporary directory */
  dataDir?: string;
  /** @default a free loopback port */
  port?: number;
  /** @default 60_000 */
  startTimeoutMs?: number;
}

/** A running S3Proxy. */
export interface S3ProxyServer extends S3Endpoint {
  readonly pid: number | undefined;
  /** Stops it (SIGTERM) and removes its directory when this module created it. */
  stop(): Promise<void>;
  /** Stops it (if running) and starts it again on the same port and directory. */
  restart(): Promise<void>;
  /** SIGTERM without restarting: the port refuses connections until `restart()`. */
  halt(): Promise<void>;
}

/** Starts S3Proxy on 127.0.0.1 and resolves once it answers HTTP. */
export async function startS3Proxy(options: StartS3ProxyOptions = {}): Promise<S3ProxyServer> {
  const jar = await fetchS3Proxy();
  requireTool('java', ['-version']);
  servers.killStale();
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'mb-s3proxy-')));
  await mkdir(dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: 'microbatch-test', secretAccessKey: randomBytes(12).toString('hex') };
  const backend = options.backend ?? 'transient';
  const properties = join(dataDir, 's3proxy.conf');
  await writeFile(
    properties,
    `${[
      `s3proxy.endpoint=${endpoint}`,
      's3proxy.authorization=aws-v2-or-v4',
      `s3proxy.identity=${credentials.accessKeyId}`,
      `s3proxy.credential=${credentials.secretAccessKey}`,
      `jclouds.provider=${backend}`,
      ...(backend === 'filesystem' ? [`jclouds.filesystem.basedir=${join(dataDir, 'objects')}`] : []),
    ].join('\n')}\n`,
  );
  if (backend === 'filesystem') await mkdir(join(dataDir, 'objects'), { recursive: true });
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  let node: Running | undefined = await launch(jar, properties, dataDir, endpoint, timeoutMs, ownsDir);
  let stopped = false;
  const halt = async () => {
    const current = node;
    node = undefined;
    await current?.halt();
  };
  return {
    endpoint,
    region: 'us-east-1',
    ...credentials,
    get pid() {
      return node?.child.pid;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt();
      if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    },
    async restart() {
      if (stopped) throw new Error(`S3Proxy at ${endpoint} was stopped; start a new one`);
      await halt();
      node = await launch(jar, properties, dataDir, endpoint, timeoutMs, ownsDir);
    },
    halt,
  };
}

interface Running {
  readonly child: ChildProcess;
  halt(): Promise<void>;
}

async function launch(
  jar: string,
  properties: string,
  dataDir: string,
  endpoint: string,
  timeoutMs: number,
  ownsDir: boolean,
): Promise<Running> {
  const child = spawn('java', ['-Xmx256m', '-XX:+UseSerialGC', '-jar', jar, '--properties', properties], {
    cwd: dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  const tail: string[] = [];
  const remember = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') tail.push(line);
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  const exited = new Promise<string>((done) => {
    child.once('exit', (code, signal) => done(`exited with ${code ?? signal}`));
    child.once('error', (error) => done(`could not be started: ${error.message}`));
  });
  if (pid !== undefined) servers.track(pid, properties, ownsDir ? dataDir : undefined);
  const halt = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const escalate = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(escalate);
    }
    if (pid !== undefined) servers.untrack(pid);
  };
  const failure = await Promise.race([
    waitUntilReady(endpoint, timeoutMs).then(
      () => undefined,
      (error: Error) => error.message,
    ),
    exited.then((how) => `the S3Proxy process ${how}`),
  ]);
  if (failure !== undefined) {
    child.kill('SIGKILL');
    await exited;
    if (pid !== undefined) servers.untrack(pid);
    throw new Error(
      `S3Proxy at ${endpoint} did not start: ${failure}. Last lines of its output:\n${tail.join('\n')}`,
    );
  }
  return { child, halt };
}

/** Polls until an HTTP request gets any answer (an anonymous request gets 403: the server is up). */
async function waitUntilReady(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await new Promise<number | undefined>((answer) => {
      const req = request(`${endpoint}/`, { method: 'GET', timeout: 2_000 }, (res) => {
        res.resume();
        answer(res.statusCode);
      });
      req.once('error', () => answer(undefined));
      req.once('timeout', () => req.destroy());
      req.end();
    });
    if (status !== undefined) return;
    await new Promise((wake) => setTimeout(wake, 200));
  }
  throw new Error(`no answer after ${timeoutMs} ms`);
}

/** A free loopback port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

// --- Servers die with this process (shared with the Kafka broker's helper) ----------------------
// See ../server-processes.ts. The pid files under .cache/s3proxy/pids keep the field `properties`,
// so servers left by older runs are still found and killed.

const servers = serverProcesses({
  pidsDir: join(S3PROXY_CACHE_DIR, 'pids'),
  propertiesKey: 'properties',
  commandMarker: 's3proxy',
  tempDirPrefix: 'mb-s3proxy-',
});
