/**
 * A real single-node Apache Kafka broker (KRaft, broker and controller in one JVM) for the
 * integration tests, run from jars fetched from Maven Central: no Docker, no installed Kafka.
 *
 * `fetchKafkaJars()` copies the classpath described by `pom.xml` next to this file into
 * `.cache/kafka/libs` (git-ignored) once; `startKafka()` formats a data directory and runs
 * `kafka.Kafka` on free loopback ports. Every broker started here dies with the process that
 * started it; one left behind by a process that was SIGKILLed is killed by the next `startKafka()`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverProcesses } from '../server-processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');

/** The POM whose runtime dependencies are the broker's classpath. */
export const KAFKA_POM = join(here, 'pom.xml');

/** Where the jars and the bookkeeping of running brokers live: `<repo>/.cache/kafka`. */
export const KAFKA_CACHE_DIR = join(repoRoot, '.cache', 'kafka');

/** What to install, or what to set instead, when the broker cannot be provided. */
const HOW_TO_FIX =
  'install Java 17 and Maven (Debian/Ubuntu: apt-get install openjdk-17-jre-headless maven), ' +
  'or set MICROBATCH_KAFKA_BROKERS=host:port to run the Kafka tests against an existing broker';

/** Options of {@link fetchKafkaJars}. */
export interface FetchKafkaJarsOptions {
  /**
   * Directory holding `libs/` (the jars) and `libs.stamp` (the hash of the POM they came from).
   * @default `<repo>/.cache/kafka`
   */
  cacheDir?: string;
  /**
   * Environment of the `mvn` and `java` processes (its PATH decides which are found).
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
}

/**
 * Makes sure the broker's jars are in `<cacheDir>/libs` and returns that directory. Runs Maven
 * (`maven-dependency-plugin` `copy-dependencies`) only when the jars are missing or `pom.xml`
 * changed since they were fetched; otherwise it returns at once. The jars are fetched into a
 * temporary directory and renamed into place, so an interrupted fetch never looks complete.
 * Throws an error saying what is missing and how to fix it when `java` or `mvn` is not installed
 * or the download fails.
 */
export async function fetchKafkaJars(options: FetchKafkaJarsOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? KAFKA_CACHE_DIR;
  const env = options.env ?? process.env;
  const libs = join(cacheDir, 'libs');
  const stampFile = join(cacheDir, 'libs.stamp');
  const pom = await readFile(KAFKA_POM);
  const stamp = createHash('sha256').update(pom).digest('hex');
  const current = await readFile(stampFile, 'utf8').catch(() => '');
  if (current.trim() === stamp && hasKafkaJar(libs)) return libs;

  requireTool('java', ['-version'], env);
  requireTool('mvn', ['-v'], env);
  await mkdir(cacheDir, { recursive: true });
  const staging = join(cacheDir, `libs.${process.pid}.tmp`);
  await rm(staging, { recursive: true, force: true });
  const result = spawnSync(
    'mvn',
    [
      '-B',
      '-q',
      '-f',
      KAFKA_POM,
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${staging}`,
    ],
    { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.status !== 0 || !hasKafkaJar(staging)) {
    await rm(staging, { recursive: true, force: true });
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(
      `could not download the Kafka broker jars from Maven Central with ${KAFKA_POM} ` +
        `(mvn exited with ${result.status ?? result.signal ?? result.error?.message}); check network ` +
        `access to https://repo.maven.apache.org, or ${HOW_TO_FIX}.\n${output}`,
    );
  }
  await rm(libs, { recursive: true, force: true });
  await rename(staging, libs);
  await writeFile(stampFile, `${stamp}\n`);
  return libs;
}

function hasKafkaJar(dir: string): boolean {
  try {
    return readdirSync(dir).some((name) => /^kafka_2\.13-.*\.jar$/.test(name));
  } catch {
    return false;
  }
}

function requireTool(command: string, args: string[], env: NodeJS.ProcessEnv): void {
  const result = spawnSync(command, args, { env, stdio: 'ignore' });
  if (result.error === undefined && result.status === 0) return;
  const why =
    (result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
      ? 'is not installed (not found on PATH)'
      : `does not run (${result.error?.message ?? `exit status ${result.status}`})`;
  throw new Error(`the Kafka integration tests need \`${command}\`, which ${why}: ${HOW_TO_FIX}.`);
}

/** Options of {@link startKafka}. */
export interface StartKafkaOptions {
  /**
   * The node's directory: `server.properties`, the log directory `data/` and `broker.log`. A
   * directory already formatted is reused as it is. When omitted, a fresh temporary directory is
   * created and removed again by `stop()`.
   * @default a new directory under the OS temporary directory
   */
  dataDir?: string;
  /**
   * TCP port of the PLAINTEXT listener on 127.0.0.1 (the controller gets another free port).
   * @default a free port chosen by the OS
   */
  port?: number;
  /**
   * How long to wait for the broker to answer, in milliseconds, before giving up with an error
   * that quotes the broker's last log lines.
   * @default 90_000
   */
  startTimeoutMs?: number;
  /**
   * Directory holding the jars, as returned by {@link fetchKafkaJars}.
   * @default `<repo>/.cache/kafka/libs`, fetched first when missing
   */
  libs?: string;
}

/** A running single-node broker. */
export interface KafkaBroker {
  /** Bootstrap addresses for clients, e.g. `['127.0.0.1:40123']`. */
  readonly brokers: string[];
  /** Process id of the broker's JVM (changes on `restart()`); undefined while it is not running. */
  readonly pid: number | undefined;
  /** The node's directory (see {@link StartKafkaOptions.dataDir}). */
  readonly dataDir: string;
  /**
   * Shuts the broker down cleanly (SIGTERM, then SIGKILL after 30 s) and removes its directory
   * when `startKafka()` created it. The broker cannot be restarted afterwards.
   */
  stop(): Promise<void>;
  /**
   * Stops the broker cleanly when it runs (or after `kill()`) and starts the same node again on the
   * same ports and data directory; resolves when it answers again.
   */
  restart(): Promise<void>;
  /** Kills the broker with SIGKILL, as a crash would, and waits for it to exit. `restart()` works afterwards. */
  kill(): Promise<void>;
}

/**
 * Starts one Apache Kafka node in KRaft mode (broker and controller combined) on 127.0.0.1 and
 * resolves once a client can list its topics. Internal topics have replication factor 1, topics
 * are never created automatically, and consumer groups rebalance without the initial delay.
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const libs = options.libs ?? (await fetchKafkaJars());
  requireTool('java', ['-version'], process.env);
  brokers.killStale();
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'mb-kafka-')));
  await mkdir(dataDir, { recursive: true });
  const [port, controllerPort] = await freePorts(options.port);
  const propertiesFile = join(dataDir, 'server.properties');
  await writeFile(propertiesFile, serverProperties(join(dataDir, 'data'), port, controllerPort));
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const address = `127.0.0.1:${port}`;
  let node: RunningNode | undefined;
  try {
    await formatStorage(libs, propertiesFile);
    node = await launch(libs, dataDir, propertiesFile, address, timeoutMs, ownsDir);
  } catch (error) {
    if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  let stopped = false;

  const halt = async (signal: 'SIGTERM' | 'SIGKILL') => {
    const current = node;
    node = undefined;
    if (current !== undefined) await current.halt(signal);
  };
  return {
    brokers: [address],
    dataDir,
    get pid() {
      return node?.child.pid;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt('SIGTERM');
      if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    },
    async restart() {
      if (stopped) throw new Error(`the Kafka broker at ${address} was stopped; start a new one`);
      await halt('SIGTERM');
      node = await launch(libs, dataDir, propertiesFile, address, timeoutMs, ownsDir);
    },
    async kill() {
      await halt('SIGKILL');
    },
  };
}

/** The properties of one combined KRaft node listening on loopback only. */
function serverProperties(logDir: string, port: number, controllerPort: number): string {
  return `${[
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${logDir}`,
    // One node: every internal topic must be satisfiable by it alone.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // __consumer_offsets is created on the first group join; 50 partitions take seconds, 3 do not.
    'offsets.topic.num.partitions=3',
    'transaction.state.log.num.partitions=3',
    // Tests start consumers one after another; the default 3 s delay only slows every join.
    'group.initial.rebalance.delay.ms=0',
    // Crash tests restart killed consumers: a member is evicted after its session timeout, which the
    // broker otherwise floors at 6 s.
    'group.min.session.timeout.ms=1000',
    // A topic must exist because a test created it, never because a client asked for it.
    'auto.create.topics.enable=false',
    'num.partitions=1',
  ].join('\n')}\n`;
}

/** JVM flags: a small heap, the serial collector, and slf4j-simple quiet except for the start line. */
function jvmArgs(libs: string): string[] {
  return [
    '-Xmx512m',
    '-XX:+UseSerialGC',
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    '-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info',
    '-cp',
    join(libs, '*'),
  ];
}

async function formatStorage(libs: string, propertiesFile: string): Promise<void> {
  // A cluster id is a UUID written as 22 characters of unpadded base64url. One starting with '-' would
  // be read by StorageTool as an option, so draw again (1 time in 64).
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  const result = spawnSync(
    'java',
    [
      ...jvmArgs(libs),
      'kafka.tools.StorageTool',
      'format',
      '--ignore-formatted',
      '-t',
      clusterId,
      '-c',
      propertiesFile,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new Error(
      `formatting the Kafka storage with ${propertiesFile} failed (exit ${result.status ?? result.signal}):\n` +
        `${result.stdout}${result.stderr}`,
    );
  }
}

interface RunningNode {
  readonly child: ChildProcess;
  halt(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/** Spawns the broker's JVM and resolves once it serves metadata requests. */
async function launch(
  libs: string,
  dataDir: string,
  propertiesFile: string,
  address: string,
  timeoutMs: number,
  ownsDir: boolean,
): Promise<RunningNode> {
  const child = spawn('java', [...jvmArgs(libs), 'kafka.Kafka', propertiesFile], {
    cwd: dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  const tail: string[] = [];
  const logFile = join(dataDir, 'broker.log');
  const remember = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    writeFileSync(logFile, text, { flag: 'a' });
    for (const line of text.split('\n')) if (line.trim() !== '') tail.push(line);
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  const exited = new Promise<string>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit(`exited with ${code ?? signal}`));
    child.once('error', (error) => resolveExit(`could not be started: ${error.message}`));
  });
  if (pid !== undefined) brokers.track(pid, propertiesFile, ownsDir ? dataDir : undefined);

  const halt = async (signal: 'SIGTERM' | 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const escalate = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(escalate);
    }
    if (pid !== undefined) brokers.untrack(pid);
  };

  const failure = await Promise.race([
    waitUntilReady(address, timeoutMs).then(
      () => undefined,
      (error: Error) => error.message,
    ),
    exited.then((how) => `the broker process ${how}`),
  ]);
  if (failure !== undefined) {
    await halt('SIGKILL');
    throw new Error(
      `Kafka broker at ${address} did not start: ${failure}. Last lines of ${logFile}:\n${tail.join('\n')}`,
    );
  }
  return { child, halt };
}

/** Polls until the port accepts connections and a kafkajs admin can list topics and find a group coordinator. */
async function waitUntilReady(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const [host, port] = [address.split(':')[0]!, Number(address.split(':')[1])];
  // kafkajs is loaded only here, so that a test run without Kafka tests never loads it.
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    clientId: 'mb-kafka-ready',
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 2_000,
  });
  let last = 'no attempt yet';
  while (Date.now() < deadline) {
    if (await portAnswers(host, port)) {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.listTopics();
        // Finding a group coordinator creates __consumer_offsets; doing it here keeps the first
        // consumer of a test from logging "The group coordinator is not available" while it waits.
        await admin.describeGroups(['mb-kafka-ready']);
        return;
      } catch (error) {
        last = `listTopics() failed: ${(error as Error).message}`;
      } finally {
        await admin.disconnect().catch(() => {});
      }
    } else {
      last = `port ${port} does not accept connections`;
    }
    await new Promise((wake) => setTimeout(wake, 250));
  }
  throw new Error(`not ready after ${timeoutMs} ms (${last})`);
}

function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((answer) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      answer(true);
    });
    socket.once('error', () => answer(false));
  });
}

/** Two distinct free loopback ports (broker, controller); the broker's is `first` when given. */
async function freePorts(first: number | undefined): Promise<[number, number]> {
  // Both listeners stay open until both ports are known, so the OS cannot hand out one port twice.
  const servers = await Promise.all(
    (first === undefined ? [0, 0] : [0]).map(
      (wanted) =>
        new Promise<ReturnType<typeof createServer>>((opened, failed) => {
          const server = createServer();
          server.once('error', failed);
          server.listen(wanted, '127.0.0.1', () => opened(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((closed) => server.close(closed))));
  return first === undefined ? [ports[0]!, ports[1]!] : [first, ports[0]!];
}

// --- Brokers die with this process ------------------------------------------------------------
// Shared with the S3Proxy helper (../server-processes.ts): every broker JVM is killed on exit and
// on signals, and a later startKafka() kills brokers whose owner was SIGKILLed. The pid files under
// .cache/kafka/pids keep the field `propertiesFile`, so files written by older runs are still found.

const brokers = serverProcesses({
  pidsDir: join(KAFKA_CACHE_DIR, 'pids'),
  propertiesKey: 'propertiesFile',
  commandMarker: 'kafka.Kafka',
  tempDirPrefix: 'mb-kafka-',
});
