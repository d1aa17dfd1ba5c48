import PQueue from 'p-queue';
import { checkPartitionCheckpoint } from '../checkpoint/state.js';
import type { CheckpointStore, PartitionCheckpoint, PlannedBatch } from '../checkpoint/types.js';
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
import { type Duration, parseDuration, show } from '../core/units.js';
import { type Bucket, bucketOf, toEventTime } from '../event-time/buckets.js';
import type { ResolvedEventTime } from '../event-time/options.js';
import { type LaneTime, Watermarks } from '../event-time/watermarks.js';
import type { PartitionComplete, Sink, WriteResult } from '../sinks/types.js';
import type {
  RevokeOptions,
  RevokeResult,
  Source,
  SourceChunk,
  SourceReader,
  SourceRejection,
} from '../sources/types.js';
import { applyTransforms, type TransformedBatch } from '../transforms/apply.js';
import type { Transform } from '../transforms/types.js';
import { type AdaptiveController, isAdaptive, type WindowChange } from '../triggers/adaptive.js';
import type { Trigger } from '../triggers/types.js';
import { type BatchSummary, EventHub, type Listener, type PipelineEventName } from './events.js';
import { flushNow, type IdleView, ReadLoopState, whenIdle } from './idle.js';
import { Lane } from './lane.js';
import { LatencyWindow } from './latency.js';
import type { ResolvedOptions } from './options.js';
import { prepareParts } from './prepare.js';
import type {
  AdaptiveMetrics,
  DeliveryReport,
  Guarantee,
  PipelineMetrics,
  PipelineStatus,
  UndeliveredRange,
} from './report.js';
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
  /**
   * Cuts every lane now (`reason: 'flush'`) and resolves once those batches are committed. Records
   * a source has ready (a `pushSource`'s accepted records) are read first, so
   * `await src.push(r); await p.flush()` commits `r`. Rejects with `MB_CLOSED` before `start()`,
   * or when the pipeline stops or fails before the commit (a failure is the `cause`).
   */
  flush(): Promise<void>;
  /**
   * Resolves the next time the pipeline has nothing to do: the source has nothing ready, no lane
   * holds records and every batch is committed (like p-queue's `onIdle()`). It cuts nothing: with a
   * long time window it waits for the window; call `flush()` to cut now. Resolves once the pipeline
   * has completed or stopped; rejects with `MB_CLOSED` (the failure as `cause`) if it failed.
   */
  onIdle(): Promise<void>;
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
  checkpoint?: CheckpointStore | undefined;
  eventTime?: ResolvedEventTime | undefined;
}

/** A reject the lane holds; `drop`: a late record under `late: 'drop'`, counted, not dead-lettered. */
type LaneReject = SourceRejection & { drop?: true };

/** An event-time partition with records not yet declared complete. */
interface OpenBucket {
  bucket: Bucket;
  records: number;
  /** Highest offset of a record in the bucket, per source partition: complete once committed. */
  offsets: Map<string, number>;
  /** The bucket was declared complete before, and a late record (`late: 'include'`) reopened it. */
  reopened: boolean;
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
  /** Dead letters of this entry already counted (they were stored before the batch was written). */
  deadCounted: number;
  /** Its partition was revoked before it was written or committed: nothing of it counts or commits. */
  handedOver: boolean;
}

/** Commit order of one partition: entries in cut order; commits go up to the first unwritten one. */
interface Track {
  partition: string;
  entries: Entry[];
  committing: boolean;
  committed: number | undefined;
  /** Batches cut and not yet committed, as the checkpoint holds them, in offset order. */
  plans: PlannedBatch[];
  /** Plans of an earlier run still to be written again, in offset order. */
  replays: PlannedBatch[];
  /** Offsets at or below this were delivered by an earlier run (the sink's ledger): dropped. */
  skipThrough: number;
  /** The checkpoint's committed offset, until the run's first record is checked against it. */
  resumeAfter: number | undefined;
  /** The next chunk needs {@link PipelineRuntime.guard}: a check, records to skip, or plans to replay. */
  guarded: boolean;
  /** The state changed since the last save began. */
  dirty: boolean;
  /** The save in progress, which also takes every change made while it runs. */
  saving: Promise<void> | undefined;
  /** With a ledger the runtime relies on, writes of a partition go one at a time: the last one. */
  lastWrite: Promise<void> | undefined;
  /** The source gave the partition up: the track is forgotten and commits nothing more. */
  revoked: boolean;
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
  readonly #checkpoint: CheckpointStore | undefined;
  /** Partition states loaded from the checkpoint store, once each. */
  readonly #states = new Map<string, Promise<PartitionCheckpoint | undefined>>();
  /** Counts calls of `revoke`; `#revokedAt` holds the count at each partition's last revocation. */
  #revokeSerial = 0;
  /** A chunk that arrived before its partition was revoked belongs to the ownership that ended. */
  readonly #revokedAt = new Map<string, number>();
  /** A partition's first chunk waits for its checkpoint state and the sink's ledger. */
  readonly #preparePartitions: boolean;
  /**
   * Skipping by the sink's ledger is only sound if the ledger is a prefix: without a durable
   * checkpoint, each partition's writes then go in order, one at a time.
   */
  readonly #orderedWrites: boolean;
  readonly #keptDeadLetters: DeadLetter[] = [];
  readonly #eventTime: ResolvedEventTime | undefined;
  /** The sink's `partitionComplete` calls, chained. */
  #sinkNotices: Promise<void> = Promise.resolve();
  readonly #watermarks: Watermarks | undefined;
  /** Event-time partitions with records, by start; the last one looked up is cached. */
  readonly #buckets = new Map<number, OpenBucket>();
  readonly #completed = new Set<number>();
  #lastBucket: OpenBucket | undefined;
  /** Event time → commit, per record (sampled). */
  readonly #eventLatency = new LatencyWindow();
  /** The event time #judge admitted (a field, so the hot path allocates nothing). */
  #admitted = 0;
  readonly #queue: PQueue;
  /** The adaptive trigger's controller, fed by the runtime; `undefined` for other triggers. */
  readonly #adaptive: AdaptiveController | undefined;
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
  /** Where the read loop is, for flush() and onIdle() (./idle.ts). */
  readonly #readLoop = new ReadLoopState();
  readonly #writeAbort = new AbortController();
  readonly #signal: AbortSignal | undefined;
  readonly #sourceAbort = new AbortController();

  #heldBytes = 0;
  /** Writes currently waiting to retry. */
  #retrying = 0;
  /** Sink writes running (attempts and the waits between them). */
  #writesInFlight = 0;
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
    skipped: 0,
    late: 0,
    droppedLate: 0,
    handedOver: 0,
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
    this.#checkpoint = parts.checkpoint;
    this.#eventTime = parts.eventTime;
    if (this.#eventTime !== undefined) {
      this.#watermarks = new Watermarks(this.#eventTime.maxOutOfOrderness, this.#eventTime.idleTimeout);
    }
    // Offsets of a source that cannot replay restart from scratch every run: they name no record
    // across runs, so a ledger of an earlier run says nothing about them.
    const ledger = typeof this.#sink.committed === 'function' && this.#source.replayable;
    this.#preparePartitions = this.#checkpoint !== undefined || ledger;
    this.#orderedWrites = ledger && this.#checkpoint?.durable !== true;
    this.#adaptive = isAdaptive(parts.trigger) ? parts.trigger.controller : undefined;
    // Adaptive concurrency starts at 1 (ARC) and moves within [1, maxConcurrency].
    this.#queue = new PQueue({
      concurrency:
        this.#adaptive === undefined ? parts.options.concurrency : Math.floor(this.#adaptive.concurrency),
    });
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
    // Once stopped (or settled), a pipeline does not start again (docs/shutdown.md).
    if (this.#started !== undefined && (this.#stopRequested !== undefined || this.#isSettled())) {
      return Promise.reject(
        new MicrobatchError(
          'MB_CLOSED',
          `pipeline '${this.name}' was already ${this.#status === 'failed' ? 'failed' : this.#status === 'completed' ? 'completed' : 'stopped'}; build a new one to run again`,
        ),
      );
    }
    return this.#begin();
  }

  #begin(): Promise<void> {
    this.#started ??= this.#open();
    return this.#started;
  }

  async run(): Promise<DeliveryReport> {
    await this.#begin();
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
      await this.#begin();
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

  flush(): Promise<void> {
    return flushNow(this.#idleView(), this.#readLoop);
  }

  onIdle(): Promise<void> {
    return whenIdle(this.#idleView(), this.#readLoop);
  }

  #idleView(): IdleView {
    return {
      name: this.name,
      status: () => this.#status,
      error: () => this.#error,
      paused: () => this.#paused,
      buffered: () => {
        let records = 0;
        for (const lane of this.#lanes.values()) records += lane.records + lane.rejected.length;
        return records;
      },
      uncommitted: () => this.#pending,
      committed: (partition) =>
        this.#tracks.has(partition) ? this.#tracks.get(partition)!.committed : Number.POSITIVE_INFINITY,
      cutAll: () => {
        for (const lane of this.#lanes.values()) this.#cut(lane, 'flush');
        const targets = new Map<string, number>();
        for (const track of this.#tracks.values()) {
          const last = track.entries.at(-1);
          if (last !== undefined) targets.set(track.partition, last.batch.lastOffset);
        }
        return targets;
      },
      on: (event, listener) => this.#events.on(event, listener),
    };
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
      // Optional peers of every part, before anything is opened or read (./prepare.ts).
      await prepareParts(this.name, [
        { what: 'the sink', code: 'MB_SINK_FAILED', part: this.#sink },
        { what: 'the dead-letter sink', code: 'MB_DEAD_LETTER_FAILED', part: this.#deadLetter },
        { what: 'the source', code: 'MB_SOURCE_FAILED', part: this.#source },
      ]);
    } catch (error) {
      throw this.#failOpen('MB_SINK_FAILED', 'a part could not be prepared', error);
    }
    try {
      await this.#checkpoint?.open?.(context);
    } catch (error) {
      throw this.#failOpen('MB_CHECKPOINT_FAILED', 'the checkpoint store could not be opened', error);
    }
    try {
      const eventTime = this.#eventTime;
      await this.#sink.open?.(
        eventTime === undefined
          ? context
          : {
              ...context,
              eventTime: { partitionBy: eventTime.partitionBy, allowedLateness: eventTime.allowedLateness },
            },
      );
      await this.#deadLetter?.open?.(context);
    } catch (error) {
      throw this.#failOpen('MB_SINK_FAILED', 'the sink could not be opened', error);
    }
    try {
      this.#reader = await this.#source.open({
        ...context,
        signal: this.#sourceAbort.signal,
        resumeAfter: async (partition: string) => (await this.#loadState(String(partition)))?.committed,
        resumeAt: async (partition: string) => {
          const state = await this.#loadState(String(partition));
          if (state === undefined) return undefined;
          return state.committed !== undefined ? state.committed + 1 : state.plans[0]?.firstOffset;
        },
        revoke: (partitions: readonly string[], options?: RevokeOptions) => this.#revoke(partitions, options),
      });
    } catch (error) {
      throw this.#failOpen('MB_SOURCE_FAILED', 'the source could not be opened', error);
    }
    if (this.#adaptive !== undefined && this.#options.concurrencySet) {
      this.#logger.warn(
        {
          pipeline: this.name,
          concurrency: this.#options.concurrency,
          maxConcurrency: this.#adaptive.maxConcurrency,
        },
        'the adaptive trigger sets write concurrency itself (1 … maxConcurrency): the concurrency option is not used',
      );
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
      for (const lane of this.#lanes.values()) {
        const track = this.#tracks.get(lane.partition)!;
        // A plan the source ended inside of (records gone): written as far as it goes, with its id.
        // A stop leaves it to the next run instead, which replays it whole.
        if (lane.replay !== undefined && this.#stopRequested === undefined) this.#endReplay(lane, track);
        this.#cut(lane, 'drain');
      }
    }
    await this.#whenIdle();
    // The source ended and everything is committed: no event time can come any more.
    if (
      drain &&
      this.#error === undefined &&
      this.#sourceError === undefined &&
      this.#stopRequested === undefined
    ) {
      if (this.#watermarks?.finish()) this.#checkBuckets();
    }
    await this.#sinkNotices;
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
    this.#sourceAbort.abort(this.#error);
    await close('source', this.#reader && (() => this.#reader!.close()));
    await close('sink', this.#sink.close && (() => this.#sink.close!()));
    await close('dead-letter sink', this.#deadLetter?.close && (() => this.#deadLetter!.close!()));
    await close('checkpoint store', this.#checkpoint?.close && (() => this.#checkpoint!.close!()));
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
    // The source's signal carries the failure: a push source tells its producers why it closed.
    this.#sourceAbort.abort(failure);
    this.#wakeIdle();
  }

  // ─── reading ──────────────────────────────────────────────────────────────────────────────────

  async #pump(): Promise<void> {
    const reader = this.#reader!;
    let syncRecords = 0;
    try {
      while (!this.#halted) {
        // When the chunk arrived, in revocations: compared with its partition's last one below.
        let arrival = this.#revokeSerial;
        let result = reader.read();
        this.#readLoop.reading(result);
        if (result !== null && typeof (result as Promise<unknown>).then === 'function') {
          syncRecords = 0;
          // A source may wait a long time for its next record; a halt must not wait for it. (One
          // interrupt slot, overwritten per read: racing a shared promise would pile up reactions.)
          const pending = result as Promise<SourceChunk<unknown> | null>;
          result = await new Promise<SourceChunk<unknown> | null>((resolve, reject) => {
            this.#interruptRead = () => resolve(null);
            pending.then((chunk) => {
              arrival = this.#revokeSerial;
              resolve(chunk);
            }, reject);
          });
          this.#interruptRead = undefined;
          this.#readLoop.settled();
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
        const chunk = result as SourceChunk<unknown>;
        if (this.#preparePartitions && !this.#tracks.has(String(chunk.partition))) {
          await this.#preparePartition(String(chunk.partition));
          if (this.#halted) return;
        }
        if (this.#revokedAt.size > 0 && (this.#revokedAt.get(String(chunk.partition)) ?? -1) > arrival) {
          // Handed over before the source revoked its partition, taken after: the next owner reads
          // it again. (A track set up for it meanwhile came from the state of before the revocation.)
          const partition = String(chunk.partition);
          if (!this.#lanes.has(partition)) {
            this.#tracks.delete(partition);
            this.#states.delete(partition);
          }
          const records = chunk.values.length + (chunk.rejected?.length ?? 0);
          this.#counts.in += records;
          this.#counts.handedOver += records;
          continue;
        }
        syncRecords += chunk.values.length;
        const waiting = this.#ingest(chunk);
        if (waiting !== undefined) await waiting;
      }
    } catch (error) {
      if (MicrobatchError.is(error) && PIPELINE_FAULTS.has(error.code)) {
        // Not the source's fault: nothing read after this can be delivered safely.
        this.#fail(error, error.code, 'recovery failed');
        return;
      }
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
    let lane = this.#lanes.get(String(chunk.partition));
    if (lane === undefined) {
      lane = new Lane(String(chunk.partition));
      this.#lanes.set(lane.partition, lane);
      if (!this.#tracks.has(lane.partition)) this.#tracks.set(lane.partition, newTrack(lane.partition));
    }
    // Time moved since the last chunk: lanes may have gone idle.
    if (this.#watermarks?.recompute(this.#clock.now())) this.#checkBuckets();
    const track = this.#tracks.get(lane.partition)!;
    if (track.guarded) {
      const rest = this.#guard(lane, track, chunk);
      return rest === undefined ? undefined : this.#append(lane, rest);
    }
    return this.#append(lane, chunk);
  }

  /** Appends a chunk to its lane (see {@link #ingest}). */
  #append(lane: Lane<unknown>, chunk: SourceChunk<unknown>): Promise<void> | undefined {
    this.#adaptive?.arrived(chunk.values.length + (chunk.rejected?.length ?? 0), this.#clock.now());
    const position = { value: 0, reject: 0, need: 0 };
    const rejected = chunk.rejected ?? NO_REJECTS;
    const bulk =
      !this.#sizeEach && rejected.length === 0 && chunk.bytes === undefined && this.#watermarks === undefined;
    if (bulk) this.#appendBulk(lane, chunk, position);
    else this.#appendEach(lane, chunk, rejected, position);
    if (position.value >= chunk.values.length && position.reject >= rejected.length) return undefined;
    return this.#ingestRest(lane, chunk, rejected, bulk, position);
  }

  // ─── recovery ─────────────────────────────────────────────────────────────────────────────────

  /** A partition's state in the checkpoint store, loaded once. */
  #loadState(partition: string): Promise<PartitionCheckpoint | undefined> {
    let state = this.#states.get(partition);
    if (state === undefined) {
      const store = this.#checkpoint;
      state =
        store === undefined
          ? Promise.resolve(undefined)
          : (async () => {
              try {
                return checkState(await store.load(partition), partition, store.kind);
              } catch (error) {
                throw MicrobatchError.is(error)
                  ? error
                  : new MicrobatchError(
                      'MB_CHECKPOINT_FAILED',
                      `pipeline '${this.name}': checkpoint store '${store.kind}' could not load partition '${partition}': ${describeError(error)}`,
                      { cause: error, details: { partition } },
                    );
              }
            })();
      this.#states.set(partition, state);
    }
    return state;
  }

  /**
   * Before a partition's first record of this run: loads its checkpoint state and the sink's ledger,
   * checks that they agree, and sets up what to skip and which plans to replay.
   */
  async #preparePartition(partition: string): Promise<void> {
    const state = await this.#loadState(partition);
    let ledger: number | undefined;
    if (typeof this.#sink.committed === 'function' && this.#source.replayable) {
      try {
        ledger = (await this.#sink.committed(partition)) ?? undefined;
      } catch (error) {
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `pipeline '${this.name}': the sink could not read its ledger for partition '${partition}': ${describeError(error)}`,
          { cause: error, details: { partition } },
        );
      }
      if (ledger !== undefined && !Number.isSafeInteger(ledger)) {
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `pipeline '${this.name}': the sink's committed('${partition}') returned ${show(ledger)}; expected an integer offset or undefined`,
        );
      }
    }
    const track = newTrack(partition);
    const durable = this.#checkpoint?.durable === true;
    if (state !== undefined) {
      track.committed = state.committed;
      track.plans = state.plans.map((p) => ({ firstOffset: p.firstOffset, lastOffset: p.lastOffset }));
      track.replays = track.plans.slice();
      track.resumeAfter = state.committed;
      const known = state.plans.at(-1)?.lastOffset ?? state.committed;
      if (ledger !== undefined && (known === undefined || ledger > known)) {
        throw this.#ledgerAhead(
          partition,
          `the sink holds offset ${ledger} of partition '${partition}', past anything this pipeline planned (${known ?? 'nothing'})`,
          { ledger, planned: known },
        );
      }
    } else if (ledger !== undefined) {
      if (durable) {
        throw this.#ledgerAhead(
          partition,
          `the sink holds partition '${partition}' up to offset ${ledger}, but checkpoint store '${this.#checkpoint!.kind}' has no record of it (was the checkpoint deleted or reset?)`,
          { ledger },
        );
      }
      // No durable record of our own: the ledger is the only truth (a prefix, see #orderedWrites).
      track.skipThrough = ledger;
    }
    track.guarded = track.replays.length > 0 || track.resumeAfter !== undefined || ledger !== undefined;
    this.#tracks.set(partition, track);
    if (track.replays.length > 0) {
      this.#logger.info(
        { pipeline: this.name, partition, plans: track.replays.length, committed: state?.committed },
        'replaying batches planned before a restart',
      );
    }
  }

  #ledgerAhead(partition: string, what: string, details: Record<string, unknown>): MicrobatchError {
    return new MicrobatchError(
      'MB_LEDGER_AHEAD',
      `pipeline '${this.name}': ${what}. This does not happen in normal operation (a recreated topic, a reset offset or file, another pipeline under the same name); nothing was skipped. To reprocess on purpose, clear the checkpoint and the sink's data for the partition.`,
      { details: { partition, ...details } },
    );
  }

  /**
   * The first chunks of a partition after a restart: checks the source resumed after the committed
   * offset, drops records the sink already holds, and refills planned batches with exactly their
   * ranges, cut as `replay`. Returns the rest of the chunk for the normal path, if any.
   */
  #guard(lane: Lane<unknown>, track: Track, chunk: SourceChunk<unknown>): SourceChunk<unknown> | undefined {
    const n = chunk.values.length;
    const rejects = chunk.rejected ?? NO_REJECTS;
    let i = 0;
    let r = 0;
    const skippedBefore = this.#counts.skipped;
    while (i < n || r < rejects.length) {
      const valueOffset = i < n ? offsetAt(chunk, i) : Number.POSITIVE_INFINITY;
      const reject = rejects[r];
      const isReject = reject !== undefined && reject.offset < valueOffset;
      const offset = isReject ? reject.offset : valueOffset;
      if (track.resumeAfter !== undefined) {
        if (offset <= track.resumeAfter) {
          throw this.#ledgerAhead(
            track.partition,
            `source '${this.#source.kind}' resumed partition '${track.partition}' at offset ${offset}, at or before offset ${track.resumeAfter} which this pipeline already committed`,
            { sourceOffset: offset, committed: track.resumeAfter },
          );
        }
        track.resumeAfter = undefined;
      }
      if (offset <= track.skipThrough) {
        this.#counts.skipped++;
        if (isReject) r++;
        else i++;
        continue;
      }
      while (track.replays.length > 0 && offset > track.replays[0]!.lastOffset) this.#endReplay(lane, track);
      if (track.replays.length === 0) break;
      const plan = track.replays[0]!;
      if (offset >= plan.firstOffset && lane.replay === undefined) {
        // Records before the plan that no plan covers (not normally possible): a batch of their own.
        if (!lane.empty) this.#cut(lane, 'replay', false, true);
        lane.replay = plan;
      }
      if (!(offset > lane.highestOffset)) throw this.#offsetError(lane, offset, lane.highestOffset);
      if (isReject) {
        this.#addReject(
          lane,
          reject,
          Math.min(reject.bytes ?? estimateBytes(reject.value, this.#recordLimit), this.#recordLimit),
        );
        r++;
      } else {
        this.#appendReplayed(lane, chunk, i, offset);
        i++;
      }
      if (offset === plan.lastOffset) this.#endReplay(lane, track);
    }
    if (this.#counts.skipped > skippedBefore) {
      this.#logger.warn(
        {
          pipeline: this.name,
          partition: track.partition,
          skipped: this.#counts.skipped - skippedBefore,
          ledger: track.skipThrough,
        },
        "skipped records the sink's ledger says it already holds",
      );
    }
    if (track.replays.length === 0 && (i < n || r < rejects.length)) track.guarded = false;
    if (i >= n && r >= rejects.length) return undefined;
    if (i === 0 && r === 0) return chunk;
    return restOf(chunk, i, r);
  }

  /** Appends one record to a lane being refilled: no trigger, no budget wait (the plan fitted before). */
  #appendReplayed(lane: Lane<unknown>, chunk: SourceChunk<unknown>, i: number, offset: number): void {
    const value = chunk.values[i];
    const limit = this.#recordLimit;
    const known = chunk.bytes?.[i];
    const size = known ?? (this.#sizeEach ? estimateBytes(value, limit) : this.#averageBytes);
    if (size > limit && (known !== undefined || this.#sizeEach)) {
      this.#addReject(lane, { offset, reason: 'too_large', details: { bytes: size, limit }, value }, limit);
      return;
    }
    if (this.#watermarks !== undefined && !this.#judge(lane, chunk, i, offset, size)) return;
    if (lane.empty) {
      this.#openLane(lane, offset);
      lane.listOffsets();
    }
    lane.pushValue(value);
    lane.listOffsets().push(offset);
    this.#copyMeta(lane, chunk, i, i + 1);
    if (this.#watermarks !== undefined) this.#pushEventTime(lane);
    this.#booked(lane, offset, size);
  }

  /** Books the value just pushed onto a lane: counts, sizes, offsets, the budget. */
  #booked(lane: Lane<unknown>, offset: number, size: number): void {
    lane.records++;
    lane.bytes += size;
    lane.heldBytes += size;
    lane.highestOffset = offset;
    lane.lastOffset = offset;
    this.#heldBytes += size;
    this.#counts.in++;
  }

  /** The first plan to replay is done (or stale): cut what the lane holds of it, with its range. */
  #endReplay(lane: Lane<unknown>, track: Track): void {
    const plan = track.replays.shift()!;
    if (lane.replay === plan) {
      if (!lane.empty) {
        // The plan's range and so its batch id, even if records at its edges are gone from the source.
        lane.listOffsets();
        lane.firstOffset = plan.firstOffset;
        lane.lastOffset = plan.lastOffset;
        lane.highestOffset = Math.max(lane.highestOffset, plan.lastOffset);
        this.#cut(lane, 'replay', true, true);
      }
      lane.replay = undefined;
    } else if (!lane.empty && lane.lastOffset < plan.firstOffset) {
      this.#cut(lane, 'replay', false, true);
    }
  }

  // ─── partition ownership ──────────────────────────────────────────────────────────────────────

  /**
   * `SourceContext.revoke`: flushes and commits the partitions within the deadline if one is given,
   * then forgets them. With no deadline the partitions are forgotten before this returns its
   * promise, so a commit of theirs that fails right after is already known not to matter.
   */
  async #revoke(partitions: readonly string[], options: RevokeOptions = {}): Promise<RevokeResult> {
    const deadline = parseDuration(options.deadline ?? 0, `pipeline '${this.name}': revoke({ deadline })`, {
      allowZero: true,
    });
    const names = [...new Set(Array.from(partitions, String))];
    if (deadline > 0 && !this.#halted && this.#error === undefined) {
      for (const name of names) {
        const lane = this.#lanes.get(name);
        // A lane refilling a plan is cut only at the plan's end: the next owner replays it whole.
        if (lane !== undefined && lane.replay === undefined) this.#cut(lane, 'revoke');
      }
      let expired = false;
      const timer = this.#clock.setTimeout(() => {
        expired = true;
        this.#wakeIdle();
      }, deadline);
      try {
        while (!expired && this.#error === undefined && names.some((name) => this.#holds(name))) {
          await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
        }
      } finally {
        this.#clock.clearTimeout(timer);
      }
    }
    return this.#forget(names);
  }

  /** Whether the pipeline still holds uncommitted records of `partition`. */
  #holds(partition: string): boolean {
    const lane = this.#lanes.get(partition);
    return (lane !== undefined && !lane.empty) || (this.#tracks.get(partition)?.entries.length ?? 0) > 0;
  }

  /**
   * Forgets partitions the source gave up: what they hold uncommitted is counted as handed over
   * (its memory released, its writes no longer counted or committed), and their lane, commit order
   * and checkpoint state are dropped so that a later assignment loads them afresh.
   */
  #forget(names: string[]): RevokeResult {
    const result: RevokeResult = { committed: [], handedOver: [] };
    this.#revokeSerial++;
    for (const name of names) {
      const lane = this.#lanes.get(name);
      const track = this.#tracks.get(name);
      this.#revokedAt.set(name, this.#revokeSerial);
      if (lane === undefined && track === undefined && !this.#states.has(name)) {
        result.committed.push(name); // nothing held: nothing to hand over
        continue;
      }
      let records = 0;
      if (lane !== undefined) {
        lane.revoked = true;
        if (!lane.empty) {
          records += lane.records + lane.rejected.length;
          this.#release(lane.heldBytes);
          lane.reset();
        }
        this.#lanes.delete(name);
      }
      if (track !== undefined) {
        track.revoked = true;
        for (const entry of track.entries) {
          if (!entry.written && !entry.handedOver) {
            records += entry.count - entry.deadCounted;
            this.#inFlight.batches--;
            this.#inFlight.records -= entry.count;
            this.#inFlight.bytes -= entry.heldBytes;
            this.#release(entry.heldBytes);
          }
          entry.handedOver = true;
          this.#pending--;
        }
        track.entries = [];
        this.#tracks.delete(name);
      }
      this.#states.delete(name);
      // Event-time partitions no longer wait for this partition's commits: its next owner's do.
      for (const open of this.#buckets.values()) open.offsets.delete(name);
      this.#counts.handedOver += records;
      if (records > 0) result.handedOver.push({ partition: name, records });
      else result.committed.push(name);
    }
    if (this.#buckets.size > 0) this.#checkBuckets();
    this.#arm();
    this.#wakeIdle();
    this.#events.emit('revoke', result);
    this.#logger.info(
      { pipeline: this.name, committed: result.committed, handedOver: result.handedOver },
      'partitions revoked',
    );
    return result;
  }

  // ─── checkpoint ───────────────────────────────────────────────────────────────────────────────

  /** Saves the partition's plans and committed offset; resolves once a save that includes them is durable. */
  #saveState(track: Track, entry: Entry): Promise<void> {
    track.dirty = true;
    track.saving ??= this.#flushState(track, entry);
    return track.saving;
  }

  async #flushState(track: Track, entry: Entry): Promise<void> {
    try {
      // A revoked track saves nothing more: the partition may already be someone else's (or ours
      // again, under a new track), and an old state landing now would move its checkpoint back.
      while (track.dirty && !track.revoked) {
        track.dirty = false;
        const state: PartitionCheckpoint = {
          ...(track.committed !== undefined && { committed: track.committed }),
          plans: track.plans.slice(),
        };
        await withRetry(
          this.#retryContext(
            entry,
            'MB_CHECKPOINT_FAILED',
            `checkpoint save of partition '${track.partition}'`,
          ),
          () => {
            if (track.revoked) throw revokedTrack(track.partition);
            return this.#checkpoint!.save(track.partition, state);
          },
        );
      }
    } finally {
      track.saving = undefined;
    }
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
      if (lane.revoked) {
        // The partition was revoked while the rest waited for room: the next owner reads it again.
        const left = values.length - position.value + rejected.length - position.reject;
        this.#counts.in += left;
        this.#counts.handedOver += left;
        return;
      }
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
      // Sized at the average the room was computed with: sampling below may move it.
      const average = this.#averageBytes;
      let room = Math.floor((this.#options.maxBufferBytes - this.#heldBytes) / average);
      // With nothing held, one record always fits: the estimate must never wedge the pipeline.
      if (room <= 0 && this.#heldBytes <= 0) room = 1;
      if (room <= 0) {
        position.value = i;
        position.need = average;
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
      const bytes = take * average;
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
      (chunk.eventTimes !== undefined && this.#watermarks === undefined) ||
      chunk.keys !== undefined ||
      chunk.headers !== undefined;
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
      if (this.#watermarks !== undefined && !this.#judge(lane, chunk, i, offset, size)) {
        i++;
        continue;
      }
      if (lane.empty) this.#openLane(lane, offset);
      lane.pushValue(value);
      if (lane.offsets !== undefined) lane.offsets.push(offset);
      else if (lane.records > 0 && offset !== lane.highestOffset + 1) lane.listOffsets().push(offset);
      if (withMeta) this.#copyMeta(lane, chunk, i, i + 1);
      if (this.#watermarks !== undefined) this.#pushEventTime(lane);
      this.#booked(lane, offset, size);
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
    else {
      lane.untilCheck = this.#trigger.headroom(lane);
      // A trigger whose deadline depends on the lane (adaptive) may now want the timer earlier.
      if (this.#trigger.deadline(lane) < this.#timerAt) this.#arm();
    }
  }

  /**
   * Keeps event times, keys and headers aligned with values once any record in the lane has one.
   * With `.eventTime()`, event times are the judged ones, pushed by {@link #pushEventTime} instead.
   */
  #copyMeta(lane: Lane<unknown>, chunk: SourceChunk<unknown>, from: number, to: number): void {
    if (this.#watermarks === undefined && (chunk.eventTimes !== undefined || lane.eventTimes !== undefined)) {
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

  // ─── event time ───────────────────────────────────────────────────────────────────────────────

  /**
   * Reads a record's event time and judges it on arrival: invalid or late records become rejects in
   * the lane (by the policies); an admitted record's time is left in `#admitted`. Returns whether the
   * record goes into the batch.
   */
  #judge(lane: Lane<unknown>, chunk: SourceChunk<unknown>, i: number, offset: number, size: number): boolean {
    const config = this.#eventTime!;
    const watermarks = this.#watermarks!;
    const laneTime = (lane.time ??= watermarks.lane(lane.partition));
    const now = this.#clock.now();
    const value = chunk.values[i];
    let time: number | undefined;
    let failure: unknown;
    if (config.extract === undefined) {
      time = toEventTime(chunk.eventTimes?.[i]);
    } else {
      try {
        time = toEventTime(config.extract(value));
      } catch (error) {
        failure = error;
      }
    }
    if (time === undefined) {
      if (config.invalid === 'dead-letter') {
        if (watermarks.touch(laneTime, now)) this.#checkBuckets();
        const details =
          failure === undefined
            ? {
                message: 'the event time is missing or not a valid time (ms since epoch, Date or ISO string)',
              }
            : { message: `the event-time extractor threw: ${describeError(failure)}` };
        this.#rejectInLane(lane, { offset, reason: 'invalid_event_time', details, value }, size);
        return false;
      }
      time = now;
    }
    const limit = watermarks.watermark - config.allowedLateness;
    if (time < limit) {
      this.#counts.late++;
      if (watermarks.touch(laneTime, now)) this.#checkBuckets();
      if (config.late !== 'include') {
        const details = {
          eventTime: time,
          watermark: watermarks.watermark,
          allowedLateness: config.allowedLateness,
        };
        const reject: LaneReject = { offset, reason: 'too_late', details, value };
        if (config.late === 'drop') reject.drop = true;
        this.#rejectInLane(lane, reject, size);
        return false;
      }
      this.#noteBucket(time, lane.partition, offset);
    } else {
      // Into its partition first: the watermark this record moves must not close it under its feet.
      this.#noteBucket(time, lane.partition, offset);
      if (watermarks.observe(laneTime, time, now)) this.#checkBuckets();
    }
    this.#admitted = time;
    return true;
  }

  #rejectInLane(lane: Lane<unknown>, reject: LaneReject, size: number): void {
    this.#addReject(lane, reject, Math.min(size, this.#recordLimit));
  }

  /** Appends the admitted event time, aligned with the value just pushed. */
  #pushEventTime(lane: Lane<unknown>): void {
    const times = (lane.eventTimes ??= new Array<number | undefined>(lane.records).fill(undefined));
    times.push(this.#admitted);
  }

  /** Counts a record into its event-time partition (for `partition-complete`). */
  #noteBucket(time: number, partition: string, offset: number): void {
    let open = this.#lastBucket;
    if (
      open === undefined ||
      time < open.bucket.start ||
      time >= open.bucket.end ||
      !this.#buckets.has(open.bucket.start)
    ) {
      const bucket = bucketOf(time, this.#eventTime!.partitionBy);
      open = this.#buckets.get(bucket.start);
      if (open === undefined) {
        open = { bucket, records: 0, offsets: new Map(), reopened: this.#completed.has(bucket.start) };
        this.#buckets.set(bucket.start, open);
      }
      this.#lastBucket = open;
    }
    open.records++;
    open.offsets.set(partition, offset);
  }

  /**
   * Declares complete every event-time partition the watermark has passed (end + allowedLateness)
   * whose records are all committed.
   */
  #checkBuckets(): void {
    if (this.#buckets.size === 0) return;
    const watermarks = this.#watermarks!;
    // At the end of the input the watermark is +∞: every partition is final.
    const watermark = watermarks.ended ? Number.POSITIVE_INFINITY : watermarks.watermark;
    const lateness = this.#eventTime!.allowedLateness;
    const ready: OpenBucket[] = [];
    for (const open of this.#buckets.values()) {
      if (open.bucket.end + lateness > watermark) continue;
      let committed = true;
      for (const [partition, offset] of open.offsets) {
        const done = this.#tracks.get(partition)?.committed;
        if (done === undefined || done < offset) {
          committed = false;
          break;
        }
      }
      if (committed) ready.push(open);
    }
    ready.sort((a, b) => a.bucket.start - b.bucket.start);
    for (const open of ready) {
      this.#buckets.delete(open.bucket.start);
      this.#completed.add(open.bucket.start);
      if (this.#lastBucket === open) this.#lastBucket = undefined;
      const event = { bucket: open.bucket, watermark, records: open.records, reopened: open.reopened };
      this.#events.emit('partition-complete', event);
      if (this.#sink.partitionComplete !== undefined) this.#tellSink(event);
      this.#logger.debug(
        { pipeline: this.name, bucket: open.bucket.path, records: open.records },
        'event-time partition complete',
      );
    }
  }

  /** Hands a completed partition to the sink's hook, one call at a time (awaited before close). */
  #tellSink(event: PartitionComplete): void {
    const sink = this.#sink;
    this.#sinkNotices = this.#sinkNotices
      .then(() => sink.partitionComplete!(event))
      .catch((error: unknown) => {
        this.#logger.warn(
          { pipeline: this.name, bucket: event.bucket.path, err: error },
          'the sink failed to mark an event-time partition complete (its records are committed)',
        );
      });
  }

  // ─── memory ───────────────────────────────────────────────────────────────────────────────────

  /** Waits until `need` more bytes fit the budget, flushing the largest lane first. */
  async #makeRoom(need: number): Promise<void> {
    const budget = this.#options.maxBufferBytes;
    while (this.#heldBytes + need > budget && !this.#halted) {
      let largest: Lane<unknown> | undefined;
      for (const lane of this.#lanes.values()) {
        if (lane.empty || lane.replay !== undefined) continue; // a replay is cut only at its plan's end
        if (largest === undefined || lane.heldBytes > largest.heldBytes) largest = lane;
      }
      // Cut the largest lane when lanes hold at least half the memory, or when no write is in flight
      // (else nothing would ever free any). When writes hold most of it, cutting a small lane would
      // only make a small batch: waiting for those writes frees more.
      const laneBytes = this.#heldBytes - this.#inFlight.bytes;
      if (largest !== undefined && (this.#inFlight.batches === 0 || laneBytes * 2 >= this.#heldBytes)) {
        this.#cut(largest, 'memory');
      }
      // Nothing held at all, or only replays with no write in flight: whatever is needed must be let
      // in, or nothing could ever wake us.
      if (this.#heldBytes + need <= budget || this.#heldBytes <= 0) break;
      if (largest === undefined && this.#inFlight.batches === 0) break;
      if (!this.#paused) {
        this.#paused = true;
        this.#pausedAt = this.#clock.now();
        this.#logger.debug(
          { pipeline: this.name, heldBytes: this.#heldBytes, budget },
          'paused: memory budget full',
        );
        this.#adapt(this.#adaptive?.congested('memory'));
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

  /**
   * Keeps the one timer at the earliest lane deadline still in the future. `moved`: deadlines may
   * have moved for every lane (the adaptive window changed), so re-arm even at the same instant.
   */
  #arm(moved = false): void {
    if (this.#isSettled()) return;
    const now = this.#clock.now();
    let earliest = Number.POSITIVE_INFINITY;
    for (const lane of this.#lanes.values()) {
      if (lane.openedAt === undefined || lane.timePassed || lane.replay !== undefined) continue;
      const at = this.#trigger.deadline(lane);
      if (at < earliest) earliest = at;
    }
    if (earliest === this.#timerAt && !moved) return;
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
      if (lane.empty || lane.timePassed || lane.replay !== undefined || this.#trigger.deadline(lane) > now)
        continue;
      const reason = this.#trigger.check(lane, now);
      if (reason !== undefined) this.#cut(lane, reason);
      // Declined at its deadline: only volume can fire now — unless the deadline moved later (an
      // adaptive window that widened), which the next #arm() picks up.
      else if (this.#trigger.deadline(lane) <= now) lane.timePassed = true;
    }
    this.#arm();
  }

  // ─── writing ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Turns a lane's content into a batch and queues its write. A lane refilling a plan is only cut by
   * the replay itself (`replaying`); `planned` says the range is already in the checkpoint.
   */
  #cut(lane: Lane<unknown>, reason: FlushReason, planned = false, replaying = false): void {
    if (lane.empty || (lane.replay !== undefined && !replaying)) return;
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
      deadCounted: 0,
      handedOver: false,
    };
    lane.reset();
    const track = this.#tracks.get(batch.partition)!;
    track.entries.push(entry);
    if (this.#checkpoint !== undefined && !planned) addPlan(track.plans, batch.firstOffset, batch.lastOffset);
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
    if (this.#error !== undefined || this.#writeAbort.signal.aborted || entry.handedOver) return;
    const started = this.#clock.now();
    const track = this.#tracks.get(entry.batch.partition)!;
    let previousWrite: Promise<void> | undefined;
    let writeDone: (() => void) | undefined;
    if (this.#orderedWrites) {
      previousWrite = track.lastWrite;
      track.lastWrite = new Promise<void>((resolve) => {
        writeDone = resolve;
      });
    }
    try {
      // Write-ahead: the batch's range is durable before its first write attempt.
      if (this.#checkpoint !== undefined) await this.#saveState(track, entry);
      if (this.#error !== undefined || this.#writeAbort.signal.aborted || entry.handedOver) return;
      const out = await this.#transform(entry);
      let attempts = 0;
      if (previousWrite !== undefined) await previousWrite;
      // Dead letters first: if a crash comes between the two writes, the replay may decide a record
      // differently (lateness is judged again) — and a sink that already holds the batch id ignores
      // the rewrite, so the record must already be in the dead-letter sink, not lost between them.
      if (out.deadLetters.length > 0) await this.#writeDeadLetters(entry, out.deadLetters);
      // Revoked meanwhile: a write started now could not be committed and may no longer be planned.
      if (entry.handedOver) return;
      if (out.batch.records.length > 0) {
        let attemptStarted = this.#clock.now();
        // Sink writes in flight (not whole deliveries, which also transform and commit).
        this.#writesInFlight++;
        this.#adaptive?.writeStarted(this.#writesInFlight, this.#queue.concurrency);
        const written = await withRetry(
          this.#retryContext(entry, 'MB_SINK_FAILED', `sink write of batch ${entry.batch.id}`),
          (options) => {
            attemptStarted = this.#clock.now();
            return this.#sink.write(out.batch, options);
          },
        ).finally(() => {
          this.#writesInFlight--;
        });
        attempts = written.attempts;
        const hint = (written.result as WriteResult | undefined)?.backpressure;
        const validHint = typeof hint === 'number' && Number.isFinite(hint);
        if (validHint) this.#sinkHealth.backpressure = Math.min(1, Math.max(0, hint));
        if (this.#adaptive !== undefined) {
          const rtt = this.#clock.now() - attemptStarted;
          this.#adapt(this.#adaptive.writeDone(rtt, attempts > 1, validHint ? hint : undefined));
        }
      }
      writeDone?.();
      // Revoked during the write: the write stands (one effect per id), but the entry was counted
      // as handed over and its memory released then.
      if (entry.handedOver) return;
      entry.written = true;
      this.#counts.written += out.batch.records.length;
      this.#counts.duplicates += out.duplicates;
      this.#counts.filtered += out.filtered;
      if (this.#eventTime?.late === 'drop') {
        for (const r of entry.rejected) if ((r as LaneReject).drop) this.#counts.droppedLate++;
      }
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
      await this.#advance(track);
    } catch (error) {
      // Aborted because the pipeline is already failing or stopping: still in flight, not the culprit.
      if (this.#error !== undefined || this.#writeAbort.signal.aborted) return;
      if (entry.handedOver) {
        // A revoked partition's save or write failed (the source refuses to act for a partition it
        // no longer owns): the next owner replays it; not a pipeline failure.
        this.#logger.debug(
          { pipeline: this.name, batch: entry.batch.id, err: describeError(error) },
          'a write of a revoked partition failed; its next owner replays it',
        );
        return;
      }
      entry.failed = true;
      const code: ErrorCode = MicrobatchError.is(error) ? error.code : 'MB_SINK_FAILED';
      this.#fail(error, code, `batch ${entry.batch.id} failed`);
    } finally {
      writeDone?.();
    }
  }

  /** Applies a decision of the adaptive controller: concurrency, timers, and the event that explains it. */
  #adapt(change: WindowChange | undefined): void {
    if (change === undefined) return;
    if (change.concurrencyTo !== this.#queue.concurrency) this.#queue.concurrency = change.concurrencyTo;
    if (change.from !== change.to) this.#arm(true);
    this.#events.emit('window-change', change);
    this.#logger.debug(
      {
        pipeline: this.name,
        window: change.to,
        previous: change.from,
        concurrency: change.concurrencyTo,
        reason: change.reason,
      },
      'adaptive window changed',
    );
  }

  #retryContext(entry: Entry, failure: ErrorCode, what: string) {
    return {
      clock: this.#clock,
      policy: this.#options.retry,
      ...(this.#options.retry.random !== undefined && { random: this.#options.retry.random }),
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
        if (failure === 'MB_SINK_FAILED') {
          const timeout = MicrobatchError.is(error, 'MB_TIMEOUT');
          this.#adapt(this.#adaptive?.congested(timeout ? 'timeout' : 'retry'));
        }
      },
      onWaited: () => {
        this.#retrying--;
      },
    };
  }

  /** Runs the transforms over a batch; source rejects and transform rejects become dead letters. */
  #transform(entry: Entry): Promise<TransformedBatch> {
    const rejected =
      this.#eventTime?.late === 'drop'
        ? entry.rejected.filter((r) => !(r as LaneReject).drop)
        : entry.rejected;
    return applyTransforms(this.#transforms, entry.batch, rejected, {
      pipeline: this.name,
      at: this.#clock.now(),
    });
  }

  async #writeDeadLetters(entry: Entry, deadLetters: DeadLetter[]): Promise<void> {
    const { batch } = entry;
    // Source rejects come before transform rejects: in offset order, like every batch.
    deadLetters.sort((a, b) => a.cursor.offset - b.cursor.offset);
    const reasons: Partial<Record<RejectReason, number>> = {};
    for (const d of deadLetters) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    if (this.#deadLetter === undefined) {
      if (entry.handedOver) return;
      this.#keptDeadLetters.push(...deadLetters);
    } else {
      const letters: Batch<DeadLetter> = {
        ...batch,
        id: `${batch.id}.dead`,
        records: deadLetters,
        offsets: deadLetters.map((d) => d.cursor.offset),
        eventTimes: undefined,
        // The original message keys, so that a dead-letter topic can keep them.
        keys: keysOf(batch, deadLetters),
        headers: undefined,
        bytes: 0,
      };
      await withRetry(
        this.#retryContext(entry, 'MB_DEAD_LETTER_FAILED', `dead-letter write of batch ${batch.id}`),
        (options) => this.#deadLetter!.write(letters, options),
      );
      if (entry.handedOver) return;
    }
    entry.deadCounted = deadLetters.length;
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
            () => {
              if (track.revoked) throw revokedTrack(track.partition);
              return this.#reader!.commit!(cursor);
            },
          );
        }
        if (track.revoked) return;
        track.committed = cursor.offset;
        if (this.#checkpoint !== undefined) {
          // After the source's own commit: a crash between the two replays the batches (same ids).
          let done = 0;
          while (done < track.plans.length && track.plans[done]!.lastOffset <= cursor.offset) done++;
          track.plans.splice(0, done);
          await this.#saveState(track, last);
          if (track.revoked) return;
        }
        const now = this.#clock.now();
        for (const entry of track.entries.splice(0, k)) {
          this.#latency.add(now - entry.batch.openedAt, entry.count);
          if (this.#watermarks !== undefined) this.#sampleEventLatency(entry.batch, now);
        }
        this.#counts.commits++;
        this.#pending -= k;
        this.#events.emit('commit', {
          partition: cursor.partition,
          offset: cursor.offset,
          batchId: last.batch.id,
        });
        if (this.#buckets.size > 0) this.#checkBuckets();
      }
    } catch (error) {
      if (track.revoked) {
        // The source no longer owns the partition: its next owner replays what was not committed.
        this.#logger.debug(
          { pipeline: this.name, partition: track.partition, err: describeError(error) },
          'a commit of a revoked partition failed; its next owner replays it',
        );
        return;
      }
      this.#fail(error, MicrobatchError.is(error) ? error.code : 'MB_COMMIT_FAILED', 'commit failed');
    } finally {
      track.committing = false;
      this.#wakeIdle();
    }
  }

  /** Event time → commit of a committed batch's records: up to 64 samples per batch, weighted. */
  #sampleEventLatency(batch: Batch<unknown>, now: number): void {
    const times = batch.eventTimes;
    if (times === undefined || times.length === 0) return;
    const stride = Math.max(1, Math.floor(times.length / 64));
    for (let i = 0; i < times.length; i += stride) {
      const time = times[i];
      if (time !== undefined)
        this.#eventLatency.add(Math.max(0, now - time), Math.min(stride, times.length - i));
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
      checkpoint:
        this.#checkpoint === undefined
          ? undefined
          : { kind: this.#checkpoint.kind, durable: this.#checkpoint.durable === true },
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
        ...(this.#adaptive !== undefined && this.#adaptiveMetrics(this.#adaptive)),
      },
      buffer: {
        records: lanes.reduce((n, l) => n + l.records, 0),
        bytes: lanes.reduce((n, l) => n + l.bytes, 0),
        budgetBytes: this.#options.maxBufferBytes,
        heldBytes: this.#heldBytes,
        lanes: lanes.length,
      },
      lanes,
      inFlight: { ...this.#inFlight, concurrency: this.#queue.concurrency },
      lastFlush: this.#lastFlush,
      counts: { ...this.#countsSnapshot(), rejected: { ...this.#rejected }, late: this.#counts.late },
      latency: this.#latency.snapshot(),
      eventTime: this.#eventTimeMetrics(now),
      committed: this.#committed(),
    };
  }

  #adaptiveMetrics(controller: AdaptiveController): AdaptiveMetrics {
    const signals = controller.signals();
    return {
      window: controller.window,
      volumeThreshold: controller.volumeThreshold,
      concurrency: this.#queue.concurrency,
      rttMs: signals.rttMs,
      backpressure: signals.backpressure,
      inputRate: signals.inputRate,
    };
  }

  #eventTimeMetrics(now: number): PipelineMetrics['eventTime'] {
    const watermarks = this.#watermarks;
    if (watermarks === undefined) return undefined;
    const finite = (w: number) => (Number.isFinite(w) ? w : undefined);
    const watermark = finite(watermarks.watermark);
    const idleTimeout = this.#eventTime!.idleTimeout;
    return {
      watermark,
      lagMs: watermark === undefined ? undefined : now - watermark,
      lanes: [...watermarks.lanes()].map((lane: LaneTime) => ({
        partition: lane.partition,
        watermark: finite(watermarks.of(lane)),
        idle: now - lane.lastArrival >= idleTimeout,
      })),
      openPartitions: [...this.#buckets.values()]
        .sort((a, b) => a.bucket.start - b.bucket.start)
        .map((open) => open.bucket.path),
      latency: this.#eventLatency.snapshot(),
    };
  }

  #guarantee(): Guarantee {
    if (!this.#source.replayable) return 'best-effort';
    return this.#checkpoint?.durable === true ? 'exactly-once' : 'at-least-once';
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
      droppedLate: c.droppedLate,
      undelivered,
      handedOver: c.handedOver,
      skipped: c.skipped,
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
        droppedLate: counts.droppedLate,
        undelivered: counts.undelivered,
        handedOver: counts.handedOver,
        skipped: counts.skipped,
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

/** Errors of the pipeline's own recovery, raised while reading: they fail it without a drain. */
const PIPELINE_FAULTS = new Set<ErrorCode>(['MB_LEDGER_AHEAD', 'MB_CHECKPOINT_FAILED', 'MB_SINK_FAILED']);

function newTrack(partition: string): Track {
  return {
    partition,
    entries: [],
    committing: false,
    committed: undefined,
    plans: [],
    replays: [],
    skipThrough: Number.NEGATIVE_INFINITY,
    resumeAfter: undefined,
    guarded: false,
    dirty: false,
    saving: undefined,
    lastWrite: undefined,
    revoked: false,
  };
}

/** The message key of each dead letter's record, from its batch; `undefined` when the batch has none. */
function keysOf(batch: Batch<unknown>, letters: DeadLetter[]): (string | undefined)[] | undefined {
  const keys = batch.keys;
  if (keys === undefined) return undefined;
  const byOffset = new Map<number, string | undefined>();
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] !== undefined)
      byOffset.set(batch.offsets === undefined ? batch.firstOffset + i : batch.offsets[i]!, keys[i]);
  }
  if (byOffset.size === 0) return undefined;
  return letters.map((letter) => byOffset.get(letter.cursor.offset));
}

/** Stops a save or commit of a partition the source gave up (not retried; not a pipeline failure). */
function revokedTrack(partition: string): MicrobatchError {
  return new MicrobatchError('MB_COMMIT_FAILED', `partition '${partition}' was revoked`, {
    details: { partition, revoked: true },
  });
}

/** Adds a plan in offset order (it is almost always the last). */
function addPlan(plans: PlannedBatch[], firstOffset: number, lastOffset: number): void {
  let at = plans.length;
  while (at > 0 && plans[at - 1]!.firstOffset > firstOffset) at--;
  plans.splice(at, 0, { firstOffset, lastOffset });
}

/** Checks what a checkpoint store returned: a wrong state would skip or repeat records. */
function checkState(state: unknown, partition: string, kind: string): PartitionCheckpoint | undefined {
  if (state === undefined || state === null) return undefined;
  try {
    return checkPartitionCheckpoint(state);
  } catch (error) {
    throw new MicrobatchError(
      'MB_CHECKPOINT_FAILED',
      `checkpoint store '${kind}' returned an invalid state for partition '${partition}': ${describeError(error)}`,
      { cause: error, details: { partition, state } },
    );
  }
}

/** The part of a chunk from value `i` and reject `r` on. */
function restOf(chunk: SourceChunk<unknown>, i: number, r: number): SourceChunk<unknown> {
  const rest: SourceChunk<unknown> = {
    partition: chunk.partition,
    values: chunk.values.slice(i),
    ...(chunk.offsets === undefined
      ? { firstOffset: chunk.firstOffset! + i }
      : { offsets: chunk.offsets.slice(i) }),
  };
  if (chunk.bytes !== undefined) rest.bytes = chunk.bytes.slice(i);
  if (chunk.eventTimes !== undefined) rest.eventTimes = chunk.eventTimes.slice(i);
  if (chunk.keys !== undefined) rest.keys = chunk.keys.slice(i);
  if (chunk.headers !== undefined) rest.headers = chunk.headers.slice(i);
  if (chunk.rejected !== undefined && r < chunk.rejected.length) rest.rejected = chunk.rejected.slice(r);
  return rest;
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
