import PQueue from 'p-queue';
import {
  type Batch,
  batchIdPrefix,
  batchIdRange,
  type DeadLetter,
  type FlushReason,
  type RejectReason,
} from '../core/batch.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError, type ErrorCode, MicrobatchError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { estimateBytes } from '../core/size.js';
import { type Duration, parseDuration } from '../core/units.js';
import type { Sink, WriteResult } from '../sinks/types.js';
import type { Source, SourceChunk, SourceReader, SourceRejection } from '../sources/types.js';
import { applyTransforms, type TransformedBatch } from '../transforms/apply.js';
import type { Transform } from '../transforms/types.js';
import type { Trigger } from '../triggers/types.js';
import { type BatchSummary, EventHub, type Listener, type PipelineEventName } from './events.js';
import { Lane } from './lane.js';
import { LatencyWindow } from './latency.js';
import type { ResolvedOptions } from './options.js';
import type { DeliveryReport, PipelineMetrics, PipelineStatus, UndeliveredRange } from './report.js';
import { withRetry } from './retry.js';

/** Options of `stop()`. */
export interface StopOptions {
  /**
   * Flush every lane and wait for writes and commits (`true`), or abandon what is buffered
   * (`false`: it is reported as undelivered and, with a replayable source, read again next run).
   * @default true
   */
  drain?: boolean;
  /** Give up waiting after this long: writes still running are aborted and reported. @default '30s' */
  deadline?: Duration;
}

/** A built pipeline. */
export interface Pipeline<T = unknown> {
  readonly name: string;
  readonly status: PipelineStatus;
  /**
   * Starts and resolves with the delivery report once a finite source is exhausted and everything is
   * written and committed (or once `stop()` finishes). Rejects with the fatal `MicrobatchError` when
   * the pipeline fails; its `details.report` holds the report.
   */
  run(): Promise<DeliveryReport>;
  /** Opens the sink and the source and starts reading; resolves once running. */
  start(): Promise<void>;
  /** Stops reading; by default flushes and commits everything first. Resolves with the report. */
  stop(options?: StopOptions): Promise<DeliveryReport>;
  /** A snapshot of the pipeline's state and counters. */
  metrics(): PipelineMetrics;
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends PipelineEventName>(event: E, listener: Listener<E>): () => void;
  /** `await using p = …build()` stops (draining) when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
  /** Type marker for the records the sink receives. */
  readonly __records?: T;
}

/** Everything the builder hands the runtime. */
export interface RuntimeParts {
  options: ResolvedOptions;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal | undefined;
  source: Source<unknown>;
  trigger: Trigger;
  transforms: Transform<unknown, unknown>[];
  sink: Sink<unknown>;
  deadLetter: Sink<DeadLetter> | undefined;
}

/** A batch between its cut and its commit. */
interface Entry {
  batch: Batch<unknown>;
  summary: BatchSummary;
  rejected: SourceRejection[];
  heldBytes: number;
  /** Records read for this entry: batch records plus source rejects. */
  count: number;
  written: boolean;
  failed: boolean;
}

/** Commit order of one partition: entries in cut order; commits go up to the first unwritten one. */
interface Track {
  entries: Entry[];
  committing: boolean;
  committed: number | undefined;
}

const SAMPLE_EVERY = 64;
/** Records read from a synchronous source between two turns of the event loop (timers, I/O). */
const SYNC_RECORDS_PER_TURN = 32_768;
const NO_REJECTS: SourceRejection[] = [];

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The runtime loop: reads chunks from the source into lanes, asks the trigger when to cut, writes
 * batches through the transforms to the sink with bounded concurrency and retries, and commits the
 * source per partition in order once a batch and its dead letters are written.
 */
export class PipelineRuntime implements Pipeline<unknown> {
  readonly name: string;
  readonly #options: ResolvedOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #events: EventHub;
  readonly #source: Source<unknown>;
  readonly #trigger: Trigger;
  readonly #transforms: Transform<unknown, unknown>[];
  readonly #sink: Sink<unknown>;
  readonly #deadLetter: Sink<DeadLetter> | undefined;
  readonly #keptDeadLetters: DeadLetter[] = [];
  readonly #queue: PQueue;
  readonly #lanes = new Map<string, Lane<unknown>>();
  readonly #tracks = new Map<string, Track>();
  readonly #latency = new LatencyWindow();
  /** Largest record accepted: the configured limit, tightened by the trigger's byte cap. */
  readonly #recordLimit: number;
  /** Size every record (a byte limit needs it) or estimate from samples (only the budget does). */
  readonly #sizeEach: boolean;
  readonly #capRecords: number;
  readonly #capBytes: number;

  #status: PipelineStatus = 'idle';
  #reader: SourceReader<unknown> | undefined;
  #startedAt: number | undefined;
  #started: Promise<void> | undefined;
  #finished: Promise<DeliveryReport> | undefined;
  #report: DeliveryReport | undefined;
  #error: MicrobatchError | undefined;
  #sourceError: MicrobatchError | undefined;
  #stopRequested: { drain: boolean } | undefined;
  #deadlineMissed = false;
  /** Reading must end now (failure, stop without drain, stop deadline). */
  #halted = false;
  #interruptRead: (() => void) | undefined;
  readonly #writeAbort = new AbortController();
  readonly #signal: AbortSignal | undefined;
  readonly #sourceAbort = new AbortController();

  #heldBytes = 0;
  /** Writes currently waiting to retry. */
  #retrying = 0;
  #inFlight = { batches: 0, records: 0, bytes: 0 };
  #pending = 0; // entries not yet committed or abandoned
  #paused = false;
  #pausedAt = 0;
  #roomWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  #averageBytes = 64;
  #sampleCountdown = 0;
  #samples = 0;

  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  /** What the sink said about itself: its last back-pressure hint and how long the last write took. */
  readonly #sinkHealth: { backpressure: number | undefined; lastWriteMs: number | undefined } = {
    backpressure: undefined,
    lastWriteMs: undefined,
  };
  /** Ranges read but dropped when the pipeline halted mid-chunk. */
  readonly #abandoned: UndeliveredRange[] = [];
  #lastFlush: PipelineMetrics['lastFlush'];
  readonly #counts = {
    in: 0,
    written: 0,
    deadLettered: 0,
    duplicates: 0,
    filtered: 0,
    batches: 0,
    retries: 0,
    commits: 0,
  };
  readonly #rejected: Partial<Record<RejectReason, number>> = {};
  readonly #batchesByReason: Partial<Record<FlushReason, number>> = {};

  constructor(parts: RuntimeParts) {
    this.name = parts.options.name;
    this.#options = parts.options;
    this.#clock = parts.clock;
    this.#logger = parts.logger;
    this.#events = new EventHub(this.name, this.#logger);
    this.#source = parts.source;
    this.#trigger = parts.trigger;
    this.#transforms = parts.transforms;
    this.#sink = parts.sink;
    this.#deadLetter = parts.deadLetter;
    this.#queue = new PQueue({ concurrency: parts.options.concurrency });
    this.#capRecords = this.#trigger.caps.records;
    this.#capBytes = this.#trigger.caps.bytes;
    this.#recordLimit = Math.min(parts.options.maxRecordBytes, this.#capBytes);
    this.#sizeEach = parts.options.sizeRecords || this.#trigger.usesBytes;
    this.#signal = parts.signal;
    this.#signal?.addEventListener('abort', () => void this.stop().catch(() => {}), { once: true });
  }

  get status(): PipelineStatus {
    return this.#status;
  }

  on<E extends PipelineEventName>(event: E, listener: Listener<E>): () => void {
    return this.#events.on(event, listener);
  }

  // ─── lifecycle ────────────────────────────────────────────────────────────────────────────────

  start(): Promise<void> {
    this.#started ??= this.#open();
    return this.#started;
  }

  async run(): Promise<DeliveryReport> {
    await this.start();
    const report = await this.#finished!;
    // A stop that ran out of time is still a stop: the report says what was not delivered.
    if (this.#status === 'failed' && this.#error !== undefined) throw this.#error;
    return report;
  }

  async stop(options: StopOptions = {}): Promise<DeliveryReport> {
    const drain = options.drain ?? true;
    const deadline = parseDuration(options.deadline ?? 30_000, `pipeline '${this.name}': stop({ deadline })`);
    if (this.#status === 'idle' && this.#started === undefined) {
      this.#setStatus('stopped');
      this.#report = this.#buildReport();
      return this.#report;
    }
    try {
      await this.start();
    } catch {
      // start() failed: the report below says why.
    }
    if (this.#finished === undefined) return this.#report ?? this.#buildReport();
    if (this.#stopRequested === undefined && !this.#isSettled()) {
      this.#stopRequested = { drain };
      this.#logger.info({ pipeline: this.name, drain, deadlineMs: deadline }, 'stopping');
      if (this.#status === 'running') this.#setStatus('draining');
      this.#reader?.stop?.();
      if (!drain) this.#halt();
      const timer = this.#clock.setTimeout(() => {
        this.#deadlineMissed = true;
        this.#halt();
        this.#wakeIdle();
        this.#writeAbort.abort(
          new MicrobatchError(
            'MB_CLOSED',
            `pipeline '${this.name}': stop deadline (${deadline}ms) passed; writes aborted`,
          ),
        );
      }, deadline);
      const clear = () => this.#clock.clearTimeout(timer);
      this.#finished.then(clear, clear);
    }
    return this.#finished.catch(() => this.#report ?? this.#buildReport());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #open(): Promise<void> {
    if (this.#status !== 'idle') {
      throw new MicrobatchError(
        'MB_CLOSED',
        `pipeline '${this.name}' was already ${this.#status === 'stopped' ? 'stopped' : 'started'}; build a new one to run again`,
      );
    }
    this.#startedAt = this.#clock.now();
    const context = { pipeline: this.name, clock: this.#clock, logger: this.#logger };
    try {
      await this.#sink.open?.(context);
      await this.#deadLetter?.open?.(context);
    } catch (error) {
      throw this.#failOpen('MB_SINK_FAILED', 'the sink could not be opened', error);
    }
    try {
      this.#reader = await this.#source.open({ ...context, signal: this.#sourceAbort.signal });
    } catch (error) {
      throw this.#failOpen('MB_SOURCE_FAILED', 'the source could not be opened', error);
    }
    if (this.#deadLetter === undefined) {
      this.#logger.warn(
        { pipeline: this.name },
        'no dead-letter sink configured: rejected records are kept in memory and returned in the report',
      );
    }
    this.#setStatus('running');
    this.#logger.info(
      { pipeline: this.name, source: this.#source.kind, trigger: this.#trigger.description },
      'pipeline started',
    );
    this.#finished = this.#lifecycle();
    // A signal that was aborted before the start never fires its event: stop now.
    if (this.#signal?.aborted) void this.stop().catch(() => {});
    // run() and stop() observe the outcome; nobody else must see an unhandled rejection.
    this.#finished.catch(() => {});
  }

  #failOpen(code: ErrorCode, what: string, error: unknown): MicrobatchError {
    const failure = MicrobatchError.is(error)
      ? error
      : new MicrobatchError(code, `pipeline '${this.name}': ${what}: ${describeError(error)}`, {
          cause: error,
        });
    this.#error = failure;
    this.#setStatus('failed');
    this.#report = this.#buildReport();
    void this.#closeAll();
    return failure;
  }

  /** Reads until the source ends or the pipeline halts, drains, closes, and reports. */
  async #lifecycle(): Promise<DeliveryReport> {
    await this.#pump();
    if (this.#halted) await this.#collectLeftovers();
    const drain = this.#error === undefined && !this.#halted;
    if (drain) {
      if (this.#status === 'running') this.#setStatus('draining');
      for (const lane of this.#lanes.values()) this.#cut(lane, 'drain');
    }
    await this.#whenIdle();
    await this.#closeAll();
    this.#disarm();
    if (this.#error === undefined && this.#sourceError !== undefined) this.#error = this.#sourceError;
    if (this.#error === undefined && this.#deadlineMissed) {
      this.#error = new MicrobatchError(
        'MB_CLOSED',
        `pipeline '${this.name}': stop deadline passed before everything was delivered`,
      );
    }
    const final: PipelineStatus =
      this.#error !== undefined &&
      (this.#stopRequested === undefined || this.#sourceError !== undefined || this.#status === 'failed')
        ? 'failed'
        : this.#stopRequested !== undefined
          ? 'stopped'
          : 'completed';
    this.#setStatus(final);
    this.#report = this.#buildReport();
    this.#logger.info(
      {
        pipeline: this.name,
        status: final,
        records: this.#report.records,
        undelivered: this.#report.undelivered.length,
      },
      'pipeline finished',
    );
    if (this.#error !== undefined) {
      (this.#error.details as Record<string, unknown>).report = this.#report;
      if (final === 'failed') throw this.#error;
    }
    return this.#report;
  }

  async #closeAll(): Promise<void> {
    const close = async (what: string, fn: (() => unknown) | undefined) => {
      try {
        await fn?.();
      } catch (error) {
        this.#logger.warn({ pipeline: this.name, err: error }, `${what} close failed`);
      }
    };
    this.#sourceAbort.abort();
    await close('source', this.#reader && (() => this.#reader!.close()));
    await close('sink', this.#sink.close && (() => this.#sink.close!()));
    await close('dead-letter sink', this.#deadLetter?.close && (() => this.#deadLetter!.close!()));
  }

  #isSettled(): boolean {
    return this.#status === 'completed' || this.#status === 'stopped' || this.#status === 'failed';
  }

  #setStatus(to: PipelineStatus): void {
    const from = this.#status;
    if (from === to) return;
    this.#status = to;
    this.#events.emit('status', { from, to });
  }

  #halt(): void {
    if (this.#halted) return;
    this.#halted = true;
    this.#interruptRead?.();
    this.#wakeRoom();
  }

  /** A fatal error: stop reading, abort writes, settle with the error. */
  #fail(error: unknown, code: ErrorCode, what: string): void {
    const failure = MicrobatchError.is(error)
      ? error
      : new MicrobatchError(code, `pipeline '${this.name}': ${what}: ${describeError(error)}`, {
          cause: error,
        });
    if (this.#error !== undefined) return;
    this.#error = failure;
    this.#logger.error({ pipeline: this.name, code: failure.code, err: failure }, 'pipeline failed');
    this.#events.emit('error', { error: failure });
    this.#setStatus('failed');
    this.#halt();
    this.#writeAbort.abort(failure);
    this.#wakeIdle();
  }

  // ─── reading ──────────────────────────────────────────────────────────────────────────────────

  async #pump(): Promise<void> {
    const reader = this.#reader!;
    let syncRecords = 0;
    try {
      while (!this.#halted) {
        let result = reader.read();
        if (result !== null && typeof (result as Promise<unknown>).then === 'function') {
          syncRecords = 0;
          // A source may wait a long time for its next record; a halt must not wait for it. (One
          // interrupt slot, overwritten per read: racing a shared promise would pile up reactions.)
          const pending = result as Promise<SourceChunk<unknown> | null>;
          result = await new Promise<SourceChunk<unknown> | null>((resolve, reject) => {
            this.#interruptRead = () => resolve(null);
            pending.then(resolve, reject);
          });
          this.#interruptRead = undefined;
        } else if (syncRecords >= SYNC_RECORDS_PER_TURN) {
          // A synchronous source never gives the event loop back by itself: let timers and I/O run.
          syncRecords = 0;
          await yieldToLoop();
        } else if (this.#inFlight.batches > 0) {
          // Let cut batches be written before reading more, so they do not pile up in memory.
          // (Measured: a full loop turn here beats microtask turns, which let a write advance only
          // one promise step per read and so keep batches alive longer.)
          await yieldToLoop();
        }
        if (result === null) return;
        syncRecords += (result as SourceChunk<unknown>).values.length;
        const waiting = this.#ingest(result as SourceChunk<unknown>);
        if (waiting !== undefined) await waiting;
      }
    } catch (error) {
      const failure = MicrobatchError.is(error)
        ? error
        : new MicrobatchError(
            'MB_SOURCE_FAILED',
            `pipeline '${this.name}': the source failed: ${describeError(error)}`,
            {
              cause: error,
            },
          );
      // What was read before the failure is still delivered (drained) before the pipeline fails.
      this.#sourceError = failure;
      this.#logger.error({ pipeline: this.name, err: failure }, 'source failed; draining what was read');
      this.#events.emit('error', { error: failure });
    }
  }

  /**
   * After a halt (stop without drain, a failure, a missed deadline): takes what the source had
   * already accepted — records a push source told its producer were taken — and reports it as
   * undelivered, so nothing disappears from the accounting.
   */
  async #collectLeftovers(): Promise<void> {
    const reader = this.#reader;
    if (reader?.stop === undefined) return;
    reader.stop();
    try {
      for (let reads = 0; reads < 10_000; reads++) {
        let result = reader.read();
        if (result !== null && typeof (result as Promise<unknown>).then === 'function') {
          // Only what is already there: a source still waiting for input has nothing to hand over.
          result = await Promise.race([
            result as Promise<SourceChunk<unknown> | null>,
            new Promise<null>((resolve) => setImmediate(() => resolve(null))),
          ]);
        }
        const chunk = result as SourceChunk<unknown> | null;
        if (chunk === null) return;
        const records = chunk.values.length + (chunk.rejected?.length ?? 0);
        if (records === 0) continue;
        this.#counts.in += records;
        this.#abandoned.push({
          partition: String(chunk.partition),
          firstOffset: Math.min(
            chunk.values.length > 0 ? offsetAt(chunk, 0) : Number.POSITIVE_INFINITY,
            chunk.rejected?.[0]?.offset ?? Number.POSITIVE_INFINITY,
          ),
          lastOffset: Math.max(
            chunk.values.length > 0 ? offsetAt(chunk, chunk.values.length - 1) : -1,
            chunk.rejected?.at(-1)?.offset ?? -1,
          ),
          records,
          state: 'buffered',
        });
      }
    } catch (error) {
      this.#logger.warn(
        { pipeline: this.name, err: error },
        'source failed while handing over its leftovers',
      );
    }
  }

  /**
   * Appends a chunk. Returns `undefined` when all of it was taken at once (the common case, with no
   * promise to allocate), or a promise that takes the rest as the memory budget frees up.
   */
  #ingest(chunk: SourceChunk<unknown>): Promise<void> | undefined {
    const { values, offsets } = chunk;
    if (
      !Array.isArray(values) ||
      (offsets === undefined ? !Number.isSafeInteger(chunk.firstOffset) : offsets.length !== values.length)
    ) {
      throw new MicrobatchError(
        'MB_SOURCE_FAILED',
        `pipeline '${this.name}': source '${this.#source.kind}' returned a chunk without values and matching offsets (or a firstOffset)`,
      );
    }
    let lane = this.#lanes.get(chunk.partition);
    if (lane === undefined) {
      lane = new Lane(String(chunk.partition));
      this.#lanes.set(lane.partition, lane);
      this.#tracks.set(lane.partition, { entries: [], committing: false, committed: undefined });
    }
    const position = { value: 0, reject: 0, need: 0 };
    const rejected = chunk.rejected ?? NO_REJECTS;
    const bulk = !this.#sizeEach && rejected.length === 0 && chunk.bytes === undefined;
    if (bulk) this.#appendBulk(lane, chunk, position);
    else this.#appendEach(lane, chunk, rejected, position);
    if (position.value >= values.length && position.reject >= rejected.length) return undefined;
    return this.#ingestRest(lane, chunk, rejected, bulk, position);
  }

  /** The rest of a chunk that did not fit the budget: wait for room, append, repeat. */
  async #ingestRest(
    lane: Lane<unknown>,
    chunk: SourceChunk<unknown>,
    rejected: SourceRejection[],
    bulk: boolean,
    position: { value: number; reject: number; need: number },
  ): Promise<void> {
    const { values } = chunk;
    for (;;) {
      await this.#makeRoom(position.need);
      if (this.#halted) {
        // Halted mid-chunk: the rest was read but is not taken; it stays uncommitted.
        const left = values.length - position.value + rejected.length - position.reject;
        this.#counts.in += left;
        this.#abandoned.push({
          partition: lane.partition,
          firstOffset: Math.min(
            position.value < values.length ? offsetAt(chunk, position.value) : Number.POSITIVE_INFINITY,
            rejected[position.reject]?.offset ?? Number.POSITIVE_INFINITY,
          ),
          lastOffset: Math.max(
            offsetAt(chunk, values.length - 1),
            rejected[rejected.length - 1]?.offset ?? -1,
          ),
          records: left,
          state: 'buffered',
        });
        return;
      }
      if (bulk) this.#appendBulk(lane, chunk, position);
      else this.#appendEach(lane, chunk, rejected, position);
      if (position.value >= values.length && position.reject >= rejected.length) return;
    }
  }

  /**
   * The bulk path (no per-record sizes): records are appended in runs up to the next point where the
   * trigger, the record cap or the budget needs a look; consecutive offsets are not even stored.
   */
  #appendBulk(
    lane: Lane<unknown>,
    chunk: SourceChunk<unknown>,
    position: { value: number; need: number },
  ): void {
    const { values, offsets } = chunk;
    const n = values.length;
    let i = position.value;
    while (i < n) {
      // The very first record sets the scale before any room is computed from the estimate.
      if (this.#samples === 0) this.#sampleSizes(values, i, i + 1);
      let room = Math.floor((this.#options.maxBufferBytes - this.#heldBytes) / this.#averageBytes);
      // With nothing held, one record always fits: the estimate must never wedge the pipeline.
      if (room <= 0 && this.#heldBytes <= 0) room = 1;
      if (room <= 0) {
        position.value = i;
        position.need = this.#averageBytes;
        return;
      }
      const first = offsets === undefined ? chunk.firstOffset! + i : offsets[i]!;
      if (!(first > lane.highestOffset)) throw this.#offsetError(lane, first, lane.highestOffset);
      if (lane.empty) this.#openLane(lane, first);
      const take = Math.min(n - i, lane.untilCheck, this.#capRecords - lane.records, room);
      const end = i + take;
      lane.appendRun(values, i, end, chunk.owned === true);
      if (offsets === undefined) {
        const last = first + take - 1;
        if (lane.offsets !== undefined || (lane.records > 0 && first !== lane.highestOffset + 1)) {
          // Not consecutive with what the lane holds: list the offsets from here on.
          const laneOffsets = lane.listOffsets();
          for (let o = first; o <= last; o++) laneOffsets.push(o);
        }
        lane.highestOffset = last;
      } else {
        const laneOffsets = lane.listOffsets();
        let previous = lane.highestOffset;
        for (let k = i; k < end; k++) {
          const offset = offsets[k]!;
          if (!(offset > previous)) throw this.#offsetError(lane, offset, previous);
          laneOffsets.push(offset);
          previous = offset;
        }
        lane.highestOffset = previous;
      }
      lane.lastOffset = lane.highestOffset;
      this.#copyMeta(lane, chunk, i, end);
      this.#sampleSizes(values, i, end);
      const bytes = take * this.#averageBytes;
      lane.records += take;
      lane.bytes += bytes;
      lane.heldBytes += bytes;
      lane.untilCheck -= take;
      this.#heldBytes += bytes;
      this.#counts.in += take;
      i = end;
      this.#afterAppend(lane);
    }
    position.value = n;
  }

  /**
   * The exact path: each record is sized (known or estimated) and checked against the record limit,
   * the byte cap and the budget before it is taken; source rejects take their place in offset order.
   */
  #appendEach(
    lane: Lane<unknown>,
    chunk: SourceChunk<unknown>,
    rejected: SourceRejection[],
    position: { value: number; reject: number; need: number },
  ): void {
    const { values, bytes: sizes, offsets } = chunk;
    const base = chunk.firstOffset ?? 0;
    const n = values.length;
    const limit = this.#recordLimit;
    const capBytes = this.#capBytes;
    const capRecords = this.#capRecords;
    const sizeEach = this.#sizeEach;
    const withMeta =
      chunk.eventTimes !== undefined || chunk.keys !== undefined || chunk.headers !== undefined;
    let i = position.value;
    let r = position.reject;
    while (i < n || r < rejected.length) {
      const offset = i < n ? (offsets === undefined ? base + i : offsets[i]!) : Number.POSITIVE_INFINITY;
      const nextReject = rejected[r];
      if (nextReject !== undefined && nextReject.offset < offset) {
        const size = Math.min(nextReject.bytes ?? estimateBytes(nextReject.value, limit), limit);
        if (!this.#fits(size)) {
          this.#stopAt(position, i, r, size);
          return;
        }
        if (!(nextReject.offset > lane.highestOffset)) {
          throw this.#offsetError(lane, nextReject.offset, lane.highestOffset);
        }
        this.#addReject(lane, nextReject, size);
        r++;
        continue;
      }
      const value = values[i];
      const known = sizes?.[i];
      // Sized exactly when the source knows it or a byte limit asks for it; else the running estimate.
      const size = known ?? (sizeEach ? estimateBytes(value, limit) : this.#averageBytes);
      if (size > limit && (known !== undefined || sizeEach)) {
        // Too large for any batch: dead-letter it in place (it keeps its slot in the range).
        const held = Math.min(size, limit);
        if (!this.#fits(held)) {
          this.#stopAt(position, i, r, held);
          return;
        }
        if (!(offset > lane.highestOffset)) throw this.#offsetError(lane, offset, lane.highestOffset);
        this.#addReject(lane, { offset, reason: 'too_large', details: { bytes: size, limit }, value }, held);
        i++;
        continue;
      }
      if (lane.records > 0 && lane.bytes + size > capBytes) this.#cut(lane, 'bytes');
      if (!this.#fits(size)) {
        this.#stopAt(position, i, r, size);
        return;
      }
      if (!(offset > lane.highestOffset)) throw this.#offsetError(lane, offset, lane.highestOffset);
      if (lane.empty) this.#openLane(lane, offset);
      lane.pushValue(value);
      if (lane.offsets !== undefined) lane.offsets.push(offset);
      else if (lane.records > 0 && offset !== lane.highestOffset + 1) lane.listOffsets().push(offset);
      if (withMeta) this.#copyMeta(lane, chunk, i, i + 1);
      lane.records++;
      lane.bytes += size;
      lane.heldBytes += size;
      lane.highestOffset = offset;
      lane.lastOffset = offset;
      this.#heldBytes += size;
      this.#counts.in++;
      i++;
      if (lane.records >= capRecords) this.#cut(lane, 'records');
      else if (--lane.untilCheck <= 0) this.#checkTrigger(lane);
    }
    this.#stopAt(position, n, rejected.length, 0);
  }

  /** Records where appending stopped (and how many bytes it waits for). */
  #stopAt(
    position: { value: number; reject: number; need: number },
    value: number,
    reject: number,
    need: number,
  ): void {
    position.value = value;
    position.reject = reject;
    position.need = need;
  }

  /** Whether `size` more bytes fit the budget; with nothing held, anything fits (no deadlock). */
  #fits(size: number): boolean {
    return this.#heldBytes + size <= this.#options.maxBufferBytes || this.#heldBytes <= 0;
  }

  #addReject(lane: Lane<unknown>, rejection: SourceRejection, size: number): void {
    if (lane.empty) this.#openLane(lane, rejection.offset);
    lane.listOffsets(); // values around a reject are no longer consecutive
    lane.rejected.push(rejection);
    lane.heldBytes += size;
    lane.highestOffset = rejection.offset;
    lane.lastOffset = rejection.offset;
    this.#heldBytes += size;
    this.#counts.in++;
  }

  #openLane(lane: Lane<unknown>, offset: number): void {
    lane.open(offset, this.#clock.now());
    lane.untilCheck = this.#trigger.headroom(lane);
    this.#arm();
  }

  /** After records were appended: cut at the record cap, or when the trigger says so. */
  #afterAppend(lane: Lane<unknown>): void {
    if (lane.records >= this.#capRecords) this.#cut(lane, 'records');
    else if (lane.untilCheck <= 0) this.#checkTrigger(lane);
  }

  /** Asks the trigger about a lane whose volume headroom ran out. */
  #checkTrigger(lane: Lane<unknown>): void {
    const reason = this.#trigger.check(lane, this.#clock.now());
    if (reason !== undefined) this.#cut(lane, reason);
    else lane.untilCheck = this.#trigger.headroom(lane);
  }

  /** Keeps event times, keys and headers aligned with values once any record in the lane has one. */
  #copyMeta(lane: Lane<unknown>, chunk: SourceChunk<unknown>, from: number, to: number): void {
    if (chunk.eventTimes !== undefined || lane.eventTimes !== undefined) {
      lane.eventTimes = appendAligned(lane.eventTimes, chunk.eventTimes, from, to, lane.records + to - from);
    }
    if (chunk.keys !== undefined || lane.keys !== undefined) {
      lane.keys = appendAligned(lane.keys, chunk.keys, from, to, lane.records + to - from);
    }
    if (chunk.headers !== undefined || lane.headers !== undefined) {
      lane.headers = appendAligned(lane.headers, chunk.headers, from, to, lane.records + to - from);
    }
  }

  /**
   * Keeps an average record size from one record in every {@link SAMPLE_EVERY}: the plain mean of
   * the first samples (so the very first record already sets the scale, be it 50 bytes or 50 KB),
   * then a moving average that follows drift.
   */
  #sampleSizes(values: unknown[], from: number, to: number): void {
    let i = from + this.#sampleCountdown;
    for (; i < to; i += SAMPLE_EVERY) {
      const size = estimateBytes(values[i], 1e7);
      const weight = this.#samples < 10 ? 1 / ++this.#samples : 0.1;
      this.#averageBytes = Math.max(1, Math.round(this.#averageBytes + (size - this.#averageBytes) * weight));
    }
    this.#sampleCountdown = i - to;
  }

  #offsetError(lane: Lane<unknown>, offset: number, previous: number): MicrobatchError {
    return new MicrobatchError(
      'MB_SOURCE_FAILED',
      `pipeline '${this.name}': source '${this.#source.kind}' broke offset order in partition '${lane.partition}': offset ${offset} after ${previous}`,
      { details: { partition: lane.partition, offset, previous } },
    );
  }

  // ─── memory ───────────────────────────────────────────────────────────────────────────────────

  /** Waits until `need` more bytes fit the budget, flushing the largest lane first. */
  async #makeRoom(need: number): Promise<void> {
    const budget = this.#options.maxBufferBytes;
    while (this.#heldBytes + need > budget && !this.#halted) {
      let largest: Lane<unknown> | undefined;
      for (const lane of this.#lanes.values()) {
        if (!lane.empty && (largest === undefined || lane.heldBytes > largest.heldBytes)) largest = lane;
      }
      // Cut the largest lane when lanes hold at least half the memory, or when no write is in flight
      // (else nothing would ever free any). When writes hold most of it, cutting a small lane would
      // only make a small batch: waiting for those writes frees more.
      const laneBytes = this.#heldBytes - this.#inFlight.bytes;
      if (largest !== undefined && (this.#inFlight.batches === 0 || laneBytes * 2 >= this.#heldBytes)) {
        this.#cut(largest, 'memory');
      }
      // Nothing held at all: whatever is needed must be let in, or nothing could ever wake us.
      if (this.#heldBytes + need <= budget || this.#heldBytes <= 0) break;
      if (!this.#paused) {
        this.#paused = true;
        this.#pausedAt = this.#clock.now();
        this.#logger.debug(
          { pipeline: this.name, heldBytes: this.#heldBytes, budget },
          'paused: memory budget full',
        );
        this.#events.emit('pause', {
          heldBytes: this.#heldBytes,
          budgetBytes: budget,
          inFlight: this.#inFlight.batches,
        });
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
    if (this.#paused) {
      this.#paused = false;
      const pausedMs = this.#clock.now() - this.#pausedAt;
      this.#events.emit('resume', { heldBytes: this.#heldBytes, budgetBytes: budget, pausedMs });
    }
  }

  #release(bytes: number): void {
    this.#heldBytes -= bytes;
    if (this.#heldBytes < 1e-6) this.#heldBytes = 0;
    this.#wakeRoom();
  }

  #wakeRoom(): void {
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }

  // ─── time ─────────────────────────────────────────────────────────────────────────────────────

  /** Keeps the one timer at the earliest lane deadline still in the future. */
  #arm(): void {
    if (this.#isSettled()) return;
    const now = this.#clock.now();
    let earliest = Number.POSITIVE_INFINITY;
    for (const lane of this.#lanes.values()) {
      if (lane.openedAt === undefined || lane.timePassed) continue;
      const at = this.#trigger.deadline(lane);
      if (at < earliest) earliest = at;
    }
    if (earliest === this.#timerAt) return;
    this.#disarm();
    if (!Number.isFinite(earliest)) return;
    this.#timerAt = earliest;
    this.#timer = this.#clock.setTimeout(() => this.#onTimer(), Math.max(0, earliest - now));
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #onTimer(): void {
    // The timer was set for `#timerAt`, so that moment has come, even if the clock reads a hair
    // earlier: Node fires timers on the event loop's own millisecond count, which can run ahead of
    // `Date.now()`'s. Trusting the clock alone would re-arm for 1 ms and flush late.
    const now = Math.max(this.#clock.now(), this.#timerAt);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    for (const lane of this.#lanes.values()) {
      if (lane.empty || lane.timePassed || this.#trigger.deadline(lane) > now) continue;
      const reason = this.#trigger.check(lane, now);
      if (reason !== undefined) this.#cut(lane, reason);
      else lane.timePassed = true;
    }
    this.#arm();
  }

  // ─── writing ──────────────────────────────────────────────────────────────────────────────────

  /** Turns a lane's content into a batch and queues its write. */
  #cut(lane: Lane<unknown>, reason: FlushReason): void {
    if (lane.empty) return;
    const now = this.#clock.now();
    const batch: Batch<unknown> = {
      id: `${(lane.idPrefix ??= batchIdPrefix(this.name, lane.partition))}${batchIdRange(lane.firstOffset, lane.lastOffset)}`,
      partition: lane.partition,
      firstOffset: lane.firstOffset,
      lastOffset: lane.lastOffset,
      records: lane.takeValues(),
      ...(lane.offsets !== undefined && { offsets: lane.offsets }),
      ...(lane.eventTimes && { eventTimes: lane.eventTimes }),
      ...(lane.keys && { keys: lane.keys }),
      ...(lane.headers && { headers: lane.headers }),
      bytes: lane.bytes,
      reason,
      openedAt: lane.openedAt!,
      closedAt: now,
    };
    const summary = summarize(batch);
    const entry: Entry = {
      batch,
      summary,
      rejected: lane.rejected,
      heldBytes: lane.heldBytes,
      count: lane.records + lane.rejected.length,
      written: false,
      failed: false,
    };
    lane.reset();
    this.#tracks.get(batch.partition)!.entries.push(entry);
    this.#pending++;
    this.#inFlight.batches++;
    this.#inFlight.records += entry.count;
    this.#inFlight.bytes += entry.heldBytes;
    this.#counts.batches++;
    this.#batchesByReason[reason] = (this.#batchesByReason[reason] ?? 0) + 1;
    this.#lastFlush = {
      batchId: batch.id,
      partition: batch.partition,
      reason,
      records: batch.records.length,
      bytes: batch.bytes,
      at: now,
    };
    this.#events.emit('flush', { batch: summary, rejected: entry.rejected.length });
    this.#logger.debug(
      {
        pipeline: this.name,
        batch: batch.id,
        reason,
        records: batch.records.length,
        rejected: entry.rejected.length,
        bytes: batch.bytes,
      },
      'window closed',
    );
    void this.#queue.add(() => this.#deliver(entry));
    if (this.#timerAt !== Number.POSITIVE_INFINITY) this.#arm();
  }

  /** Transforms, writes the batch and its dead letters, then lets the partition commit. */
  async #deliver(entry: Entry): Promise<void> {
    if (this.#error !== undefined || this.#writeAbort.signal.aborted) return;
    const started = this.#clock.now();
    try {
      const out = await this.#transform(entry);
      let attempts = 0;
      if (out.batch.records.length > 0) {
        const written = await withRetry(
          this.#retryContext(entry, 'MB_SINK_FAILED', `sink write of batch ${entry.batch.id}`),
          (options) => this.#sink.write(out.batch, options),
        );
        attempts = written.attempts;
        const hint = (written.result as WriteResult | undefined)?.backpressure;
        if (typeof hint === 'number' && Number.isFinite(hint))
          this.#sinkHealth.backpressure = Math.min(1, Math.max(0, hint));
      }
      if (out.deadLetters.length > 0) await this.#writeDeadLetters(entry, out.deadLetters);
      entry.written = true;
      this.#counts.written += out.batch.records.length;
      this.#counts.duplicates += out.duplicates;
      this.#counts.filtered += out.filtered;
      this.#inFlight.batches--;
      this.#inFlight.records -= entry.count;
      this.#inFlight.bytes -= entry.heldBytes;
      this.#release(entry.heldBytes);
      const durationMs = this.#clock.now() - started;
      this.#sinkHealth.lastWriteMs = durationMs;
      this.#events.emit('write', {
        batch: entry.summary,
        written: out.batch.records.length,
        attempts,
        durationMs,
      });
      this.#logger.debug(
        {
          pipeline: this.name,
          batch: entry.batch.id,
          written: out.batch.records.length,
          attempts,
          durationMs,
        },
        'batch written',
      );
      await this.#advance(this.#tracks.get(entry.batch.partition)!);
    } catch (error) {
      // Aborted because the pipeline is already failing or stopping: still in flight, not the culprit.
      if (this.#error !== undefined || this.#writeAbort.signal.aborted) return;
      entry.failed = true;
      const code: ErrorCode = MicrobatchError.is(error) ? error.code : 'MB_SINK_FAILED';
      this.#fail(error, code, `batch ${entry.batch.id} failed`);
    }
  }

  #retryContext(entry: Entry, failure: ErrorCode, what: string) {
    return {
      clock: this.#clock,
      policy: this.#options.retry,
      signal: this.#writeAbort.signal,
      failure,
      what: `pipeline '${this.name}': ${what}`,
      onRetry: (attempt: number, delayMs: number, error: unknown) => {
        this.#counts.retries++;
        this.#retrying++;
        this.#logger.warn(
          { pipeline: this.name, batch: entry.batch.id, attempt, delayMs, err: describeError(error) },
          `${what}: retrying`,
        );
        this.#events.emit('retry', { batch: entry.summary, attempt, delayMs, error });
      },
      onWaited: () => {
        this.#retrying--;
      },
    };
  }

  /** Runs the transforms over a batch; source rejects and transform rejects become dead letters. */
  #transform(entry: Entry): Promise<TransformedBatch> {
    return applyTransforms(this.#transforms, entry.batch, entry.rejected, {
      pipeline: this.name,
      at: this.#clock.now(),
    });
  }

  async #writeDeadLetters(entry: Entry, deadLetters: DeadLetter[]): Promise<void> {
    const { batch } = entry;
    const reasons: Partial<Record<RejectReason, number>> = {};
    for (const d of deadLetters) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    if (this.#deadLetter === undefined) {
      this.#keptDeadLetters.push(...deadLetters);
    } else {
      const letters: Batch<DeadLetter> = {
        ...batch,
        id: `${batch.id}.dead`,
        records: deadLetters,
        offsets: deadLetters.map((d) => d.cursor.offset),
        eventTimes: undefined,
        keys: undefined,
        headers: undefined,
        bytes: 0,
      };
      await withRetry(
        this.#retryContext(entry, 'MB_DEAD_LETTER_FAILED', `dead-letter write of batch ${batch.id}`),
        (options) => this.#deadLetter!.write(letters, options),
      );
    }
    this.#counts.deadLettered += deadLetters.length;
    for (const [reason, n] of Object.entries(reasons))
      this.#rejected[reason] = (this.#rejected[reason] ?? 0) + n!;
    this.#events.emit('dead-letter', { batch: entry.summary, count: deadLetters.length, reasons });
    this.#logger.warn({ pipeline: this.name, batch: batch.id, reasons }, 'records dead-lettered');
  }

  /** Commits the partition up to its last written batch, in order, one commit at a time. */
  async #advance(track: Track): Promise<void> {
    if (track.committing) return;
    track.committing = true;
    try {
      while (track.entries[0]?.written === true && this.#error === undefined) {
        let k = 0;
        while (track.entries[k]?.written === true) k++;
        const last = track.entries[k - 1]!;
        const cursor = { partition: last.batch.partition, offset: last.batch.lastOffset };
        if (this.#reader?.commit !== undefined) {
          await withRetry(
            this.#retryContext(last, 'MB_COMMIT_FAILED', `commit of ${cursor.partition}@${cursor.offset}`),
            () => this.#reader!.commit!(cursor),
          );
        }
        const now = this.#clock.now();
        for (const entry of track.entries.splice(0, k)) {
          this.#latency.add(now - entry.batch.openedAt, entry.count);
        }
        track.committed = cursor.offset;
        this.#counts.commits++;
        this.#pending -= k;
        this.#events.emit('commit', {
          partition: cursor.partition,
          offset: cursor.offset,
          batchId: last.batch.id,
        });
      }
    } catch (error) {
      this.#fail(error, 'MB_COMMIT_FAILED', 'commit failed');
    } finally {
      track.committing = false;
      this.#wakeIdle();
    }
  }

  /** Resolves once every cut batch is committed, or the pipeline failed or was halted by a deadline. */
  async #whenIdle(): Promise<void> {
    while (this.#pending > 0 && this.#error === undefined && !this.#deadlineMissed) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    // Let writes that already started settle (they observe the abort and return).
    await this.#queue.onIdle();
  }

  #wakeIdle(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  // ─── reporting ────────────────────────────────────────────────────────────────────────────────

  metrics(): PipelineMetrics {
    const now = this.#clock.now();
    const lanes: PipelineMetrics['lanes'] = [];
    for (const lane of this.#lanes.values()) {
      if (lane.empty) continue;
      lanes.push({
        partition: lane.partition,
        records: lane.records + lane.rejected.length,
        bytes: lane.heldBytes,
        ageMs: now - lane.openedAt!,
      });
    }
    return {
      pipeline: this.name,
      status: this.#status,
      paused: this.#paused,
      guarantee: this.#guarantee(),
      source: { kind: this.#source.kind, replayable: this.#source.replayable },
      sink: {
        kind: this.#sink.kind ?? 'custom',
        backpressure: this.#sinkHealth.backpressure,
        lastWriteMs: this.#sinkHealth.lastWriteMs,
        retrying: this.#retrying,
      },
      trigger: {
        mode: this.#trigger.mode,
        description: this.#trigger.description,
        maxRecords: this.#capRecords,
        maxBytes: this.#capBytes,
        lastFlushReason: this.#lastFlush?.reason,
      },
      buffer: {
        records: lanes.reduce((n, l) => n + l.records, 0),
        bytes: lanes.reduce((n, l) => n + l.bytes, 0),
        budgetBytes: this.#options.maxBufferBytes,
        heldBytes: this.#heldBytes,
        lanes: lanes.length,
      },
      lanes,
      inFlight: { ...this.#inFlight, concurrency: this.#options.concurrency },
      lastFlush: this.#lastFlush,
      counts: { ...this.#countsSnapshot(), rejected: { ...this.#rejected } },
      latency: this.#latency.snapshot(),
      committed: this.#committed(),
    };
  }

  #guarantee(): 'at-least-once' | 'best-effort' {
    return this.#source.replayable ? 'at-least-once' : 'best-effort';
  }

  #committed(): Record<string, number> {
    const committed: Record<string, number> = {};
    for (const [partition, track] of this.#tracks)
      if (track.committed !== undefined) committed[partition] = track.committed;
    return committed;
  }

  #undelivered(): UndeliveredRange[] {
    const ranges: UndeliveredRange[] = [];
    for (const track of this.#tracks.values()) {
      for (const entry of track.entries) {
        if (entry.written) continue;
        ranges.push({
          partition: entry.batch.partition,
          firstOffset: entry.batch.firstOffset,
          lastOffset: entry.batch.lastOffset,
          records: entry.count,
          state: entry.failed ? 'failed' : 'in-flight',
        });
      }
    }
    for (const lane of this.#lanes.values()) {
      if (lane.empty) continue;
      ranges.push({
        partition: lane.partition,
        firstOffset: lane.firstOffset,
        lastOffset: lane.lastOffset,
        records: lane.records + lane.rejected.length,
        state: 'buffered',
      });
    }
    ranges.push(...this.#abandoned);
    return ranges;
  }

  #countsSnapshot() {
    const undelivered = this.#undelivered().reduce((n, r) => n + r.records, 0);
    const c = this.#counts;
    return {
      in: c.in,
      written: c.written,
      deadLettered: c.deadLettered,
      duplicates: c.duplicates,
      filtered: c.filtered,
      undelivered,
      batches: c.batches,
      retries: c.retries,
      commits: c.commits,
    };
  }

  #buildReport(): DeliveryReport {
    const counts = this.#countsSnapshot();
    const report: DeliveryReport = {
      pipeline: this.name,
      status: this.#status,
      guarantee: this.#guarantee(),
      startedAt: this.#startedAt,
      endedAt: this.#clock.now(),
      records: {
        in: counts.in,
        written: counts.written,
        deadLettered: counts.deadLettered,
        duplicates: counts.duplicates,
        filtered: counts.filtered,
        undelivered: counts.undelivered,
      },
      rejected: { ...this.#rejected },
      batches: {
        written: this.#counts.batches - this.#undelivered().filter((r) => r.state !== 'buffered').length,
        byReason: { ...this.#batchesByReason },
      },
      committed: this.#committed(),
      undelivered: this.#undelivered(),
    };
    if (this.#error !== undefined) report.error = { code: this.#error.code, message: this.#error.message };
    if (this.#deadLetter === undefined) report.deadLetters = this.#keptDeadLetters.slice();
    return report;
  }
}

/** Offset of the `i`-th value of a chunk. */
function offsetAt(chunk: SourceChunk<unknown>, i: number): number {
  return chunk.offsets === undefined ? chunk.firstOffset! + i : chunk.offsets[i]!;
}

function summarize(batch: Batch<unknown>): BatchSummary {
  return {
    id: batch.id,
    partition: batch.partition,
    firstOffset: batch.firstOffset,
    lastOffset: batch.lastOffset,
    records: batch.records.length,
    bytes: batch.bytes,
    reason: batch.reason,
    openedAt: batch.openedAt,
    closedAt: batch.closedAt,
  };
}

/** Appends `source[from..to)` (or undefineds) to `target`, back-filling so it stays aligned. */
function appendAligned<V>(
  target: (V | undefined)[] | undefined,
  source: (V | undefined)[] | undefined,
  from: number,
  to: number,
  alignedLength: number,
): (V | undefined)[] {
  const out = target ?? new Array<V | undefined>(alignedLength - (to - from)).fill(undefined);
  for (let i = from; i < to; i++) out.push(source?.[i]);
  return out;
}
