// Type-only: erased from the build, so fast-check stays an optional peer (loaded in sinkConformance).
import type * as FastCheck from 'fast-check';
import { type Batch, batchIdPrefix, batchIdRange } from '../core/batch.js';
import { systemClock } from '../core/clock.js';
import { describeError, invalidOptions, isRetryable, MicrobatchError, retryAfterOf } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { show } from '../core/units.js';
import type { Sink } from '../sinks/types.js';
import { isViolation, PROPERTIES, type Violation, violation } from './conformance-properties.js';

/** Where a record came from: what the default records hold and what `identify` returns. */
export interface ConformancePosition {
  partition: string;
  offset: number;
}

/** Options of {@link sinkConformance}. `R` is a row as `read()` returns it. */
export interface SinkConformanceOptions<T, R> {
  /**
   * Reads back everything the sinks made durable, in any order: `SELECT * FROM t`, the lines of
   * every file in a directory. Called once at the end of each run, after the sinks are closed.
   */
  read: () => readonly R[] | Promise<readonly R[]>;
  /** Empties the destination before each run: `TRUNCATE`, `rm -r dir`, a fresh bucket prefix. */
  reset: () => void | Promise<void>;
  /**
   * The record written at `offset` of `partition`. It must let `identify` find the position again.
   * @default (partition, offset) => ({ partition, offset })
   */
  record?: (partition: string, offset: number) => T;
  /**
   * The position of a row read back.
   * @default (row) => ({ partition: row.partition, offset: row.offset })
   */
  identify?: (row: R) => ConformancePosition;
  /** The pipeline name given to `open()` and used in batch ids. @default 'conformance' */
  pipeline?: string;
  /** The partitions written to; include odd names if your sink derives names from them. @default ['0', '1'] */
  partitions?: readonly string[];
  /** Random command sequences to try. Raise it in a nightly job. @default 30 */
  numRuns?: number;
  /** Longest command sequence of a run. @default 8 */
  maxCommands?: number;
  /** Most records in a batch. @default 4 */
  maxBatchSize?: number;
  /** Most writes started at once by a `concurrent` command. @default 4 */
  maxConcurrency?: number;
  /**
   * Simulate crashes: abort a write after a random number of microtask and event-loop turns,
   * abandon the sink instance without `close()`, and rewrite the batch with a fresh one.
   * @default true
   */
  crash?: boolean;
  /** How many times a write that fails with a retryable error is retried (as the pipeline would). @default 3 */
  retries?: number;
  /**
   * How long an aborted write may take to settle, in ms of real time, before it is reported as
   * ignoring its `AbortSignal`.
   * @default 5_000
   */
  abortTimeout?: number;
  /** The fast-check seed, to replay a failure (the error message gives it). @default random */
  seed?: number;
  /** The fast-check path of the failing run, to replay it with `seed` (the error message gives it). */
  path?: string;
}

type Command =
  | { kind: 'write'; partition: number; size: number; holes: number }
  | { kind: 'rewrite'; partition: number; pick: number; times: number }
  | { kind: 'concurrent'; writes: ConcurrentWrite[] }
  | {
      kind: 'crash';
      partition: number;
      size: number;
      holes: number;
      existing: boolean;
      pick: number;
      microtasks: number;
      turns: number;
      overlap: boolean;
    }
  | { kind: 'restart' };

interface ConcurrentWrite {
  partition: number;
  size: number;
  holes: number;
  rewrite: boolean;
  pick: number;
}

/** A batch's range: consecutive with the previous one of its partition, records at `offsets`. */
interface Range {
  partition: string;
  first: number;
  last: number;
  offsets: number[];
}

/** Per partition: what was written, what was acknowledged, what the ledger said. */
interface Lane {
  name: string;
  next: number;
  acked: Range[];
  /** The highest lastOffset whose write was started (it may have landed even if not acknowledged). */
  attempted: number | undefined;
  /** The last ledger value read, and whether one was read. */
  ledger: number | undefined;
  ledgerRead: boolean;
}

const loopTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Checks that a custom sink keeps the {@link Sink} contract, with random command sequences
 * (fast-check, a model-based test): batches of consecutive ranges per partition, written, rewritten,
 * written concurrently across partitions, and crashed mid-write (the write's signal aborted after
 * a random number of turns, the instance abandoned without `close()`, a fresh one from `makeSink`
 * rewriting the batch). Properties:
 * - (a) rewriting a batch id any number of times has one effect;
 * - (b) a crash mid-write followed by a rewrite leaves exactly one copy;
 * - (c) the ledger, when the sink has `committed()`, never goes backwards, is ≥ the `lastOffset` of
 *   every acknowledged write, and is not beyond anything written;
 * - (d) interleaved and concurrent writes to different partitions do not interfere.
 *
 * Call it in a test; it resolves when every run passes and rejects with an `Error` holding the
 * shrunk command sequence and the `seed`/`path` that replay it. `makeSink` is called for each
 * fresh instance: it must return a sink over the same destination (same database, same directory),
 * or the same object for an in-memory sink. fast-check is an optional peer dependency; without it
 * this rejects with `MB_MISSING_PEER`.
 */
export async function sinkConformance<T = ConformancePosition, R = T>(
  makeSink: () => Sink<T> | Promise<Sink<T>>,
  options: SinkConformanceOptions<T, R>,
): Promise<void> {
  const settings = resolveOptions(makeSink, options);
  const fc = await loadFastCheck();
  const arbitrary = commandsArbitrary(fc, settings);
  let failedTrace: string[] = [];
  const property = fc.asyncProperty(arbitrary.starts, arbitrary.commands, async (starts, commands) => {
    const trace: string[] = [];
    try {
      await runCommands(settings, starts, commands, trace);
    } catch (error) {
      failedTrace = trace;
      throw error;
    }
  });
  const details = await fc.check(property, {
    numRuns: settings.numRuns,
    ...(settings.seed !== undefined && { seed: settings.seed }),
    ...(settings.path !== undefined && { path: settings.path }),
  });
  if (!details.failed) return;
  const cause = details.errorInstance;
  const property_ = isViolation(cause) ? cause.property : undefined;
  const sinkKind = settings.kind;
  const lines = [
    `sinkConformance: sink${sinkKind === undefined ? '' : ` '${sinkKind}'`} broke the contract after ${details.numRuns} run(s): ${describeError(cause)}`,
    ...(property_ === undefined ? [] : [`Property: ${PROPERTIES[property_]}.`]),
    `Counterexample (shrunk ${details.numShrinks} time(s)), as run:`,
    ...failedTrace.map((line, i) => `  ${i + 1}. ${line}`),
    `Generated: ${fc.stringify(details.counterexample)}`,
    `Replay it: sinkConformance(makeSink, { ...options, seed: ${details.seed}, path: ${JSON.stringify(details.counterexamplePath)} })`,
  ];
  const error = new Error(lines.join('\n'), { cause });
  error.name = 'SinkConformanceError';
  throw error;
}

interface Settings<T, R> {
  makeSink: () => Sink<T> | Promise<Sink<T>>;
  read: () => readonly R[] | Promise<readonly R[]>;
  reset: () => void | Promise<void>;
  record: (partition: string, offset: number) => T;
  identify: (row: R) => ConformancePosition;
  pipeline: string;
  partitions: readonly string[];
  numRuns: number;
  maxCommands: number;
  maxBatchSize: number;
  maxConcurrency: number;
  crash: boolean;
  retries: number;
  abortTimeout: number;
  seed: number | undefined;
  path: string | undefined;
  /** The sink's kind, once an instance was made. */
  kind: string | undefined;
}

function resolveOptions<T, R>(
  makeSink: () => Sink<T> | Promise<Sink<T>>,
  options: SinkConformanceOptions<T, R>,
): Settings<T, R> {
  const at = 'sinkConformance';
  if (typeof makeSink !== 'function') {
    throw invalidOptions(
      `${at}(makeSink, options): makeSink must be a function returning a sink; got ${show(makeSink)}`,
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `${at}(makeSink, options): options must be an object with read and reset; got ${show(options)}`,
    );
  }
  const known = [
    'read',
    'reset',
    'record',
    'identify',
    'pipeline',
    'partitions',
    'numRuns',
    'maxCommands',
    'maxBatchSize',
    'maxConcurrency',
    'crash',
    'retries',
    'abortTimeout',
    'seed',
    'path',
  ];
  for (const key of Object.keys(options)) {
    if (!known.includes(key))
      throw invalidOptions(`${at}: unknown option '${key}' (known: ${known.join(', ')})`);
  }
  for (const key of ['read', 'reset'] as const) {
    if (typeof options[key] !== 'function') {
      throw invalidOptions(`${at}: ${key} must be a function; got ${show(options[key])}`, { option: key });
    }
  }
  for (const key of ['record', 'identify'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw invalidOptions(`${at}: ${key} must be a function; got ${show(options[key])}`, { option: key });
    }
  }
  const integer = (key: keyof SinkConformanceOptions<T, R>, fallback: number, min: number): number => {
    const value = options[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) < min) {
      throw invalidOptions(`${at}: ${key} must be an integer ≥ ${min}; got ${show(value)}`, { option: key });
    }
    return value as number;
  };
  const pipeline = options.pipeline ?? 'conformance';
  if (typeof pipeline !== 'string' || pipeline.length === 0) {
    throw invalidOptions(`${at}: pipeline must be a non-empty string; got ${show(pipeline)}`, {
      option: 'pipeline',
    });
  }
  const partitions = options.partitions ?? ['0', '1'];
  if (
    !Array.isArray(partitions) ||
    partitions.length === 0 ||
    partitions.some((p) => typeof p !== 'string') ||
    new Set(partitions).size !== partitions.length
  ) {
    throw invalidOptions(
      `${at}: partitions must be a non-empty list of distinct strings; got ${show(partitions)}`,
      {
        option: 'partitions',
      },
    );
  }
  if (options.crash !== undefined && typeof options.crash !== 'boolean') {
    throw invalidOptions(`${at}: crash must be a boolean; got ${show(options.crash)}`, { option: 'crash' });
  }
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
    throw invalidOptions(`${at}: seed must be an integer; got ${show(options.seed)}`, { option: 'seed' });
  }
  if (options.path !== undefined && (typeof options.path !== 'string' || options.seed === undefined)) {
    throw invalidOptions(
      `${at}: path must be a string, given with the seed it came from; got ${show(options.path)}`,
      {
        option: 'path',
      },
    );
  }
  return {
    makeSink,
    read: options.read,
    reset: options.reset,
    record: options.record ?? ((partition, offset) => ({ partition, offset }) as T),
    identify: options.identify ?? defaultIdentify,
    pipeline,
    partitions,
    numRuns: integer('numRuns', 30, 1),
    maxCommands: integer('maxCommands', 8, 1),
    maxBatchSize: integer('maxBatchSize', 4, 1),
    maxConcurrency: integer('maxConcurrency', 4, 2),
    crash: options.crash ?? true,
    retries: integer('retries', 3, 0),
    abortTimeout: integer('abortTimeout', 5_000, 1),
    seed: options.seed,
    path: options.path,
    kind: undefined,
  };
}

function defaultIdentify(row: unknown): ConformancePosition {
  return row as ConformancePosition;
}

async function loadFastCheck(): Promise<typeof FastCheck> {
  try {
    return (await import('fast-check')) as typeof FastCheck;
  } catch (error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new MicrobatchError(
      'MB_MISSING_PEER',
      'sinkConformance needs fast-check, an optional peer dependency of microbatch: npm install --save-dev fast-check',
      { cause: error, details: { peer: 'fast-check' } },
    );
  }
}

function commandsArbitrary<T, R>(fc: typeof FastCheck, settings: Settings<T, R>) {
  const partition = fc.nat(settings.partitions.length - 1);
  const size = fc.integer({ min: 1, max: settings.maxBatchSize });
  // Mostly consecutive offsets; sometimes gaps (records a transform removed), trailing when size is 1.
  const holes = fc.oneof(
    { weight: 4, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) },
  );
  const pick = fc.nat(1_000);
  const command: FastCheck.Arbitrary<Command>[] = [
    fc.record({ kind: fc.constant('write' as const), partition, size, holes }),
    fc.record({
      kind: fc.constant('rewrite' as const),
      partition,
      pick,
      times: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({
      kind: fc.constant('concurrent' as const),
      writes: fc.array(fc.record({ partition, size, holes, rewrite: fc.boolean(), pick }), {
        minLength: 2,
        maxLength: settings.maxConcurrency,
      }),
    }),
    fc.constant({ kind: 'restart' as const }),
  ];
  if (settings.crash) {
    command.push(
      fc.record({
        kind: fc.constant('crash' as const),
        partition,
        size,
        holes,
        existing: fc.boolean(),
        pick,
        microtasks: fc.nat(20),
        turns: fc.nat(20),
        overlap: fc.boolean(),
      }),
    );
  }
  // Room above the start for every offset a run can use, so that offsets stay safe integers.
  const room = settings.maxCommands * settings.maxConcurrency * (settings.maxBatchSize + 3) + 1;
  // Offsets from 0 (what a shrunk counterexample shows), anywhere, or near 2^53 (padding, parsing).
  const start = fc
    .tuple(fc.constantFrom('zero', 'any', 'huge'), fc.nat(1_000_000))
    .map(([kind, n]) => (kind === 'zero' ? 0 : kind === 'any' ? n : Number.MAX_SAFE_INTEGER - room));
  return {
    starts: fc.array(start, { minLength: settings.partitions.length, maxLength: settings.partitions.length }),
    // Cross-shrinking turns any command into the first kind (a plain write) when that still fails.
    commands: fc.array(fc.oneof({ withCrossShrink: true }, ...command), {
      minLength: 1,
      maxLength: settings.maxCommands,
    }),
  };
}

/** One run: reset, execute the commands against fresh sink instances, then check what was read back. */
async function runCommands<T, R>(
  settings: Settings<T, R>,
  starts: number[],
  commands: Command[],
  trace: string[],
): Promise<void> {
  const lanes: Lane[] = settings.partitions.map((name, i) => ({
    name,
    next: starts[i]!,
    acked: [],
    attempted: undefined,
    ledger: undefined,
    ledgerRead: false,
  }));
  /** Aborted writes still settling: each resolves with a violation if it ignored its signal. */
  const abandoned: Promise<Violation | undefined>[] = [];
  await settings.reset();
  let sink = await freshSink(settings);
  let closed = false;
  try {
    for (const command of commands) {
      sink = await runCommand(settings, lanes, command, sink, abandoned, trace);
      await checkLedgers(sink, lanes, trace);
    }
    for (const problem of await Promise.all(abandoned)) if (problem !== undefined) throw problem;
    abandoned.length = 0;
    // A restart before reading: what the ledger says must survive the instance.
    await closeSink(sink);
    sink = await freshSink(settings);
    trace.push('restart (final: fresh instance)');
    await checkLedgers(sink, lanes, trace);
    closed = true;
    await closeSink(sink);
    await checkReadBack(settings, lanes, trace);
  } finally {
    // After a failure: let abandoned writes finish (bounded) and close, so the next reset is clean.
    await Promise.all(abandoned);
    if (!closed) await Promise.resolve(sink.close?.()).catch(() => {});
  }
}

async function freshSink<T, R>(settings: Settings<T, R>): Promise<Sink<T>> {
  const sink = await settings.makeSink();
  if (typeof sink !== 'object' || sink === null || typeof sink.write !== 'function') {
    throw violation('write', `makeSink() must return a sink (an object with write()); got ${show(sink)}`);
  }
  settings.kind ??= sink.kind;
  await sink.open?.({ pipeline: settings.pipeline, clock: systemClock, logger: silentLogger });
  return sink;
}

async function closeSink<T>(sink: Sink<T>): Promise<void> {
  await sink.close?.();
}

function allocate(lane: Lane, size: number, holes: number): Range {
  const first = lane.next;
  const offsets = [first];
  // The gap follows the first record: inside the batch, or after it when the batch has one record.
  for (let i = 1; i < size; i++) offsets.push(first + holes + i);
  const last = size === 1 ? first + holes : offsets[offsets.length - 1]!;
  lane.next = last + 1;
  lane.attempted = lane.attempted === undefined ? last : Math.max(lane.attempted, last);
  return { partition: lane.name, first, last, offsets };
}

function describeRange(range: Range): string {
  const span = `'${range.partition}' ${range.first}..${range.last}`;
  return range.offsets.length === range.last - range.first + 1
    ? span
    : `${span} (records at ${range.offsets.join(', ')})`;
}

function toBatch<T, R>(settings: Settings<T, R>, range: Range, reason: 'records' | 'replay'): Batch<T> {
  const records = range.offsets.map((offset) => settings.record(range.partition, offset));
  const consecutive = range.offsets.length === range.last - range.first + 1;
  // Rewrites come later, with another reason and times, as after a restart: only the id and the
  // records are the same. A sink must not derive names from the clock.
  const now = Date.now();
  return {
    id: batchIdPrefix(settings.pipeline, range.partition) + batchIdRange(range.first, range.last),
    partition: range.partition,
    firstOffset: range.first,
    lastOffset: range.last,
    records,
    // The runtime leaves `offsets` out when they are consecutive; sinks must read both forms.
    ...(!consecutive && { offsets: range.offsets.slice() }),
    bytes: records.length * 32,
    reason,
    openedAt: now,
    closedAt: now,
  };
}

/** Writes like the pipeline: retryable errors are retried (a few times, short pauses). */
async function write<T, R>(
  settings: Settings<T, R>,
  sink: Sink<T>,
  range: Range,
  reason: 'records' | 'replay',
) {
  const batch = toBatch(settings, range, reason);
  for (let attempt = 1; ; attempt++) {
    try {
      await sink.write(batch, { signal: new AbortController().signal, attempt });
      return;
    } catch (error) {
      if (attempt > settings.retries || !isRetryable(error)) {
        throw violation(
          'write',
          `write of ${batch.id} failed (attempt ${attempt}, ${isRetryable(error) ? 'retryable' : 'fatal'}): ${describeError(error)}`,
          error,
        );
      }
      await delay(Math.min(1_000, retryAfterOf(error) ?? 5 * attempt));
    }
  }
}

function pickAcked(lane: Lane, pick: number): Range | undefined {
  return lane.acked.length === 0 ? undefined : lane.acked[pick % lane.acked.length];
}

async function runCommand<T, R>(
  settings: Settings<T, R>,
  lanes: Lane[],
  command: Command,
  sink: Sink<T>,
  abandoned: Promise<Violation | undefined>[],
  trace: string[],
): Promise<Sink<T>> {
  switch (command.kind) {
    case 'write': {
      const lane = lanes[command.partition]!;
      const range = allocate(lane, command.size, command.holes);
      trace.push(`write ${describeRange(range)}`);
      await write(settings, sink, range, 'records');
      lane.acked.push(range);
      return sink;
    }
    case 'rewrite': {
      const lane = lanes[command.partition]!;
      const range = pickAcked(lane, command.pick);
      if (range === undefined) {
        trace.push(`rewrite '${lane.name}': nothing written yet, skipped`);
        return sink;
      }
      trace.push(`rewrite ${describeRange(range)} ×${command.times}`);
      for (let i = 0; i < command.times; i++) await write(settings, sink, range, 'replay');
      return sink;
    }
    case 'concurrent': {
      const jobs = command.writes.map((w) => {
        const lane = lanes[w.partition]!;
        const existing = w.rewrite ? pickAcked(lane, w.pick) : undefined;
        return { lane, range: existing ?? allocate(lane, w.size, w.holes), fresh: existing === undefined };
      });
      trace.push(
        `concurrently: ${jobs.map((j) => `${j.fresh ? 'write' : 'rewrite'} ${describeRange(j.range)}`).join(' | ')}`,
      );
      const results = await Promise.allSettled(
        jobs.map((j) => write(settings, sink, j.range, j.fresh ? 'records' : 'replay')),
      );
      for (const result of results) if (result.status === 'rejected') throw result.reason;
      for (const job of jobs) if (job.fresh) job.lane.acked.push(job.range);
      return sink;
    }
    case 'crash': {
      const lane = lanes[command.partition]!;
      const existing = command.existing ? pickAcked(lane, command.pick) : undefined;
      const range = existing ?? allocate(lane, command.size, command.holes);
      trace.push(
        `crash while ${existing === undefined ? 'writing' : 'rewriting'} ${describeRange(range)}: abort after ${command.microtasks} microtask(s) + ${command.turns} loop turn(s), abandon the instance, rewrite with a fresh one${command.overlap ? ' while the aborted write may still run' : ' once the aborted write settled'}`,
      );
      const controller = new AbortController();
      const batch = toBatch(settings, range, 'records');
      // Its outcome does not matter (a crashed process never sees it); handled now, so that an early
      // rejection is not reported as unhandled.
      const attempt = (async () => sink.write(batch, { signal: controller.signal, attempt: 1 }))().then(
        () => {},
        () => {},
      );
      for (let i = 0; i < command.microtasks; i++) await Promise.resolve();
      for (let i = 0; i < command.turns; i++) await loopTurn();
      controller.abort(new MicrobatchError('MB_ABORTED', 'sinkConformance: simulated crash'));
      const settled = settleWithin(attempt, settings.abortTimeout, batch.id);
      abandoned.push(settled);
      // The instance is abandoned without close(), as a crashed process would leave it.
      const fresh = await freshSink(settings);
      if (!command.overlap) {
        const problem = await settled;
        if (problem !== undefined) throw problem;
      }
      await write(settings, fresh, range, 'replay');
      if (existing === undefined) lane.acked.push(range);
      return fresh;
    }
    case 'restart': {
      trace.push('restart: close the instance, open a fresh one');
      await closeSink(sink);
      return freshSink(settings);
    }
  }
}

/** Resolves (never rejects) once `attempt` settles, or with a violation after `ms`. */
function settleWithin(attempt: Promise<void>, ms: number, id: string): Promise<Violation | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(
      () =>
        resolve(
          violation(
            'abort',
            `the write of ${id} did not settle within ${ms} ms after its AbortSignal was aborted: a write must honour its signal`,
          ),
        ),
      ms,
    );
    attempt.then(() => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

async function checkLedgers<T>(sink: Sink<T>, lanes: Lane[], trace: string[]): Promise<void> {
  if (typeof sink.committed !== 'function') return;
  for (const lane of lanes) {
    let value: number | undefined;
    try {
      value = await sink.committed(lane.name);
    } catch (error) {
      throw violation('ledger', `committed('${lane.name}') threw: ${describeError(error)}`, error);
    }
    const at = `committed('${lane.name}') returned ${String(value)}`;
    if (value !== undefined && !Number.isSafeInteger(value)) {
      throw violation('ledger', `${at}: not a safe integer or undefined`);
    }
    if (lane.ledgerRead && lane.ledger !== undefined && (value === undefined || value < lane.ledger)) {
      throw violation('ledger', `${at}: it went backwards from ${lane.ledger}`);
    }
    const acked = lane.acked.reduce<number | undefined>(
      (m, r) => (m === undefined || r.last > m ? r.last : m),
      undefined,
    );
    if (acked !== undefined && (value === undefined || value < acked)) {
      throw violation('ledger', `${at}, but a write of that partition ending at ${acked} was acknowledged`);
    }
    if (value !== undefined && (lane.attempted === undefined || value > lane.attempted)) {
      throw violation(
        'ledger',
        `${at}, beyond anything written to that partition (${lane.attempted === undefined ? 'nothing' : `up to ${lane.attempted}`})`,
      );
    }
    if (value !== lane.ledger || !lane.ledgerRead) trace.push(`  ${at}`);
    lane.ledger = value;
    lane.ledgerRead = true;
  }
}

async function checkReadBack<T, R>(settings: Settings<T, R>, lanes: Lane[], trace: string[]): Promise<void> {
  const expected = new Map<string, { batch: string; count: number }>();
  const key = (partition: string, offset: number) => `${partition}\u0000${offset}`;
  for (const lane of lanes) {
    for (const range of lane.acked) {
      for (const offset of range.offsets)
        expected.set(key(lane.name, offset), { batch: describeRange(range), count: 0 });
    }
  }
  let rows: readonly R[];
  try {
    rows = await settings.read();
  } catch (error) {
    throw violation('read', `read() threw: ${describeError(error)}`, error);
  }
  if (!Array.isArray(rows)) throw violation('read', `read() must return an array of rows; got ${show(rows)}`);
  const unexpected: string[] = [];
  for (const row of rows) {
    let position: ConformancePosition;
    try {
      position = settings.identify(row);
    } catch (error) {
      throw violation('read', `identify() threw on a row: ${describeError(error)}`, error);
    }
    if (typeof position?.partition !== 'string' || !Number.isSafeInteger(position.offset)) {
      throw violation(
        'read',
        `identify(row) must return { partition: string, offset: number }; got ${JSON.stringify(position)} (pass identify for your row shape)`,
      );
    }
    const entry = expected.get(key(position.partition, position.offset));
    if (entry === undefined) unexpected.push(`'${position.partition}'@${position.offset}`);
    else entry.count++;
  }
  const missing: string[] = [];
  const duplicated: string[] = [];
  for (const [k, entry] of expected) {
    const [partition, offset] = k.split('\u0000');
    const where = `'${partition}'@${offset} (batch ${entry.batch})`;
    if (entry.count === 0) missing.push(where);
    else if (entry.count > 1) duplicated.push(`${where} ×${entry.count}`);
  }
  trace.push(`read back ${rows.length} row(s); expected ${expected.size}`);
  const problems = [
    duplicated.length > 0 && `${duplicated.length} record(s) read back more than once: ${list(duplicated)}`,
    missing.length > 0 && `${missing.length} acknowledged record(s) missing: ${list(missing)}`,
    unexpected.length > 0 && `${unexpected.length} row(s) that were never written: ${list(unexpected)}`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw violation('exactly-once', problems.join('; '));
}

const list = (items: string[]) =>
  items.length > 5 ? `${items.slice(0, 5).join(', ')}, …` : items.join(', ');
