import { MicrobatchError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import type { ResolvedEventTime } from '../../event-time/options.js';
import type { RevokeOptions, SourceReader } from '../../sources/types.js';
import { transformWarnings } from '../../transforms/privacy.js';
import { isAdaptive } from '../../triggers/adaptive.js';
import { EventHub, type Listener, type PipelineEventName } from '../events.js';
import { flushNow, type IdleView, ReadLoopState, whenIdle } from '../idle.js';
import { prepareParts } from '../prepare.js';
import type {
  AdaptiveMetrics,
  DeliveryReport,
  Guarantee,
  PipelineMetrics,
  PipelineStatus,
  UndeliveredRange,
} from '../report.js';
import type { Pipeline, StopOptions } from '../types.js';
import { Accounting } from './accounting.js';
import { BatchWriter } from './batch-writer.js';
import { CommitTracker } from './commit-tracker.js';
import { EventTimeTracker } from './event-time-tracker.js';
import { Ingest } from './ingest.js';
import { Lanes } from './lanes.js';
import { Lifecycle } from './lifecycle.js';
import { MemoryBudget } from './memory-budget.js';
import { Ownership } from './ownership.js';
import type { Parts, RuntimeParts, Settings } from './parts.js';
import { collectLeftovers, readLoop } from './read-loop.js';
import { Recovery } from './recovery.js';
import { buildReport, countRecords } from './report-builder.js';
import { WindowScheduler } from './window-scheduler.js';

/** Something the pipeline opened, and how to close it. */
interface Closer {
  what: string;
  close: () => unknown;
}

/**
 * The pipeline: opens the checkpoint store, the sinks and the source, runs the read loop until the
 * source ends or the pipeline halts, drains, closes what it opened in reverse order, and reports.
 * The work itself is done by the parts it wires together (see `src/pipeline/README.md`).
 */
export class PipelineRuntime implements Pipeline<unknown> {
  readonly name: string;
  readonly #parts: Parts;
  readonly #signal: AbortSignal | undefined;
  readonly #eventTime: ResolvedEventTime | undefined;
  /** What was opened, in order: closed from the top. */
  readonly #closers: Closer[] = [];
  /** Where the read loop is, for flush() and onIdle() (../idle.ts). */
  readonly #readState = new ReadLoopState();
  #reader: SourceReader<unknown> | undefined;
  #started: Promise<void> | undefined;
  #finished: Promise<DeliveryReport> | undefined;
  #report: DeliveryReport | undefined;

  constructor(parts: RuntimeParts) {
    this.name = parts.options.name;
    const { options, trigger, sink, source } = parts;
    const adaptive = isAdaptive(trigger) ? trigger.controller : undefined;
    const settings: Settings = {
      name: this.name,
      options,
      clock: parts.clock,
      logger: parts.logger,
      events: new EventHub(this.name, parts.logger),
      source,
      trigger,
      transforms: parts.transforms,
      sink,
      deadLetter: parts.deadLetter,
      checkpoint: parts.checkpoint,
      adaptive,
      recordLimit: Math.min(options.maxRecordBytes, trigger.caps.bytes),
      sizeEach: options.sizeRecords || trigger.usesBytes,
      // Offsets of a source that cannot replay restart from scratch every run: they name no record
      // across runs, so a ledger of an earlier run says nothing about them.
      ledger: typeof sink.committed === 'function' && source.replayable,
    };
    // Each part keeps this record and reads its siblings when it calls them; built in order.
    const wiring = { settings } as { -readonly [K in keyof Parts]: Parts[K] };
    wiring.lifecycle = new Lifecycle(wiring);
    wiring.accounting = new Accounting();
    wiring.budget = new MemoryBudget(options.maxBufferBytes);
    wiring.commits = new CommitTracker(wiring);
    wiring.writer = new BatchWriter(wiring);
    wiring.scheduler = new WindowScheduler(wiring);
    wiring.lanes = new Lanes(wiring);
    wiring.eventTime =
      parts.eventTime === undefined ? undefined : new EventTimeTracker(wiring, parts.eventTime);
    wiring.recovery = new Recovery(wiring);
    wiring.ingest = new Ingest(wiring);
    wiring.ownership = new Ownership(wiring);
    this.#parts = wiring;
    this.#signal = parts.signal;
    this.#eventTime = parts.eventTime;
    this.#signal?.addEventListener('abort', () => void this.stop().catch(() => {}), { once: true });
  }

  get status(): PipelineStatus {
    return this.#parts.lifecycle.status;
  }

  on<E extends PipelineEventName>(event: E, listener: Listener<E>): () => void {
    return this.#parts.settings.events.on(event, listener);
  }

  start(): Promise<void> {
    // Once stopped (or settled), a pipeline does not start again (docs/shutdown.md).
    const { lifecycle } = this.#parts;
    if (this.#started !== undefined && (lifecycle.stopRequested || lifecycle.settled)) {
      const was =
        lifecycle.status === 'failed' || lifecycle.status === 'completed' ? lifecycle.status : 'stopped';
      return Promise.reject(
        new MicrobatchError(
          'MB_CLOSED',
          `pipeline '${this.name}' was already ${was}; build a new one to run again`,
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
    const { lifecycle } = this.#parts;
    if (lifecycle.status === 'failed' && lifecycle.error !== undefined) throw lifecycle.error;
    return report;
  }

  async stop(options: StopOptions = {}): Promise<DeliveryReport> {
    const { settings, lifecycle } = this.#parts;
    const drain = options.drain ?? true;
    const deadline = parseDuration(options.deadline ?? 30_000, `pipeline '${this.name}': stop({ deadline })`);
    if (lifecycle.status === 'idle' && this.#started === undefined) {
      lifecycle.setStatus('stopped');
      this.#report = this.#buildReport();
      return this.#report;
    }
    try {
      await this.#begin();
    } catch {
      // start() failed: the report below says why.
    }
    if (this.#finished === undefined) return this.#report ?? this.#buildReport();
    if (!lifecycle.stopRequested && !lifecycle.settled) {
      settings.logger.info({ pipeline: this.name, drain, deadlineMs: deadline }, 'stopping');
      lifecycle.requestStop(drain);
      this.#reader?.stop?.();
      const timer = settings.clock.setTimeout(() => lifecycle.missDeadline(deadline), deadline);
      const clear = () => settings.clock.clearTimeout(timer);
      this.#finished.then(clear, clear);
    }
    return this.#finished.catch(() => this.#report ?? this.#buildReport());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  flush(): Promise<void> {
    return flushNow(this.#idleView(), this.#readState);
  }

  onIdle(): Promise<void> {
    return whenIdle(this.#idleView(), this.#readState);
  }

  /** What `flush()` and `onIdle()` (../idle.ts) see of the runtime. */
  #idleView(): IdleView {
    const { settings, lifecycle, lanes, commits, ingest } = this.#parts;
    return {
      name: this.name,
      status: () => lifecycle.status,
      error: () => lifecycle.error,
      paused: () => ingest.paused,
      buffered: () => {
        let records = 0;
        for (const lane of lanes.all()) records += lane.count;
        return records;
      },
      uncommitted: () => commits.pending,
      committed: (partition) =>
        commits.partitions.has(partition) ? commits.committedOf(partition) : Number.POSITIVE_INFINITY,
      cutAll: () => {
        for (const lane of lanes.all()) lanes.flush(lane, 'flush');
        const targets = new Map<string, number>();
        for (const partition of commits.partitions.values()) {
          const last = partition.batches.at(-1);
          if (last !== undefined) targets.set(partition.partition, last.batch.lastOffset);
        }
        return targets;
      },
      on: (event, listener) => settings.events.on(event, listener),
    };
  }

  /** Opens the checkpoint store, the sinks and the source, each pushed on the stack of closers. */
  async #open(): Promise<void> {
    const { settings, lifecycle, accounting, recovery, ownership, commits } = this.#parts;
    const { checkpoint, sink, deadLetter, source, logger, clock, adaptive, options } = settings;
    if (lifecycle.status !== 'idle') {
      throw new MicrobatchError(
        'MB_CLOSED',
        `pipeline '${this.name}' was already ${lifecycle.status === 'stopped' ? 'stopped' : 'started'}; build a new one to run again`,
      );
    }
    accounting.startedAt = clock.now();
    const context = { pipeline: this.name, clock, logger };
    try {
      // Optional peers of every part, before anything is opened or read (../prepare.ts).
      await prepareParts(this.name, [
        { what: 'the sink', code: 'MB_SINK_FAILED', part: sink },
        { what: 'the dead-letter sink', code: 'MB_DEAD_LETTER_FAILED', part: deadLetter },
        { what: 'the source', code: 'MB_SOURCE_FAILED', part: source },
      ]);
    } catch (error) {
      throw await this.#failOpen('MB_SINK_FAILED', 'a part could not be prepared', error);
    }
    try {
      await checkpoint?.open?.(context);
      if (checkpoint?.close)
        this.#closers.push({ what: 'checkpoint store', close: () => checkpoint.close!() });
    } catch (error) {
      throw await this.#failOpen('MB_CHECKPOINT_FAILED', 'the checkpoint store could not be opened', error);
    }
    try {
      const eventTime = this.#eventTime;
      await sink.open?.(
        eventTime === undefined
          ? context
          : {
              ...context,
              eventTime: { partitionBy: eventTime.partitionBy, allowedLateness: eventTime.allowedLateness },
            },
      );
      if (sink.close) this.#closers.push({ what: 'sink', close: () => sink.close!() });
      await deadLetter?.open?.(context);
      // The two sinks close as a pair, the data sink first (the order they have always closed in).
      if (deadLetter?.close) {
        const sinkCloser = sink.close ? this.#closers.pop() : undefined;
        this.#closers.push({ what: 'dead-letter sink', close: () => deadLetter.close!() });
        if (sinkCloser !== undefined) this.#closers.push(sinkCloser);
      }
    } catch (error) {
      throw await this.#failOpen('MB_SINK_FAILED', 'the sink could not be opened', error);
    }
    const sourceAbort = lifecycle.sourceAbort;
    this.#closers.push({ what: 'source signal', close: () => sourceAbort.abort(lifecycle.error) });
    try {
      this.#reader = await source.open({
        ...context,
        signal: sourceAbort.signal,
        resumeAfter: async (partition: string) => (await recovery.loadState(String(partition)))?.committed,
        resumeAt: async (partition: string) => {
          const state = await recovery.loadState(String(partition));
          if (state === undefined) return undefined;
          return state.committed !== undefined ? state.committed + 1 : state.plans[0]?.firstOffset;
        },
        revoke: (partitions: readonly string[], revokeOptions?: RevokeOptions) =>
          ownership.revoke(partitions, revokeOptions),
        resumeState: (partition: string) => recovery.loadState(String(partition)),
        memoryBudget: settings.options.maxBufferBytes,
      });
    } catch (error) {
      throw await this.#failOpen('MB_SOURCE_FAILED', 'the source could not be opened', error);
    }
    const reader = this.#reader;
    // The source's signal is aborted first: a source waiting on it stops before it is closed.
    this.#closers.push({
      what: 'source',
      close: () => {
        sourceAbort.abort();
        return reader.close();
      },
    });
    commits.reader = reader;
    if (adaptive !== undefined && options.concurrencySet) {
      logger.warn(
        { pipeline: this.name, concurrency: options.concurrency, maxConcurrency: adaptive.maxConcurrency },
        'the adaptive trigger sets write concurrency itself (1 … maxConcurrency): the concurrency option is not used',
      );
    }
    if (deadLetter === undefined) {
      logger.warn(
        { pipeline: this.name },
        'no dead-letter sink configured: rejected records are kept in memory and returned in the report',
      );
    }
    lifecycle.setStatus('running');
    logger.info(
      { pipeline: this.name, source: source.kind, trigger: settings.trigger.description },
      'pipeline started',
    );
    this.#finished = this.#run(reader);
    // A signal that was aborted before the start never fires its event: stop now.
    if (this.#signal?.aborted) void this.stop().catch(() => {});
    // run() and stop() observe the outcome; nobody else must see an unhandled rejection.
    this.#finished.catch(() => {});
  }

  /** A part could not be opened: fail, close what was opened, and return the error to throw. */
  async #failOpen(code: MicrobatchError['code'], what: string, error: unknown): Promise<MicrobatchError> {
    const failure = this.#parts.lifecycle.failOpen(error, code, what);
    this.#report = this.#buildReport();
    await this.#closeAll();
    return failure;
  }

  /** Reads until the source ends or the pipeline halts, drains, closes, and reports. */
  async #run(reader: SourceReader<unknown>): Promise<DeliveryReport> {
    const parts = this.#parts;
    const { settings, lifecycle, lanes, commits, recovery, eventTime, scheduler } = parts;
    await readLoop(parts, reader, this.#readState);
    if (lifecycle.halted) await collectLeftovers(parts, reader);
    const drain = lifecycle.fatal === undefined && !lifecycle.halted;
    if (drain) {
      if (lifecycle.status === 'running') lifecycle.setStatus('draining');
      for (const lane of lanes.all()) {
        // A plan the source ended inside of (records gone): written as far as it goes, with its id.
        // A stop leaves it to the next run instead, which replays it whole.
        if (lane.replay !== undefined && !lifecycle.stopRequested) {
          recovery.endReplay(lane, commits.partitions.get(lane.partition)!);
        }
        lanes.flush(lane, 'drain');
      }
    }
    await commits.whenIdle();
    // The source ended and everything is committed: no event time can come any more.
    if (drain && lifecycle.fatal === undefined && !lifecycle.sourceFailed && !lifecycle.stopRequested) {
      eventTime?.finish();
    }
    await eventTime?.sinkNotices();
    await this.#closeAll();
    scheduler.disarm();
    const end = lifecycle.end();
    this.#report = this.#buildReport();
    settings.logger.info(
      {
        pipeline: this.name,
        status: end.kind,
        records: this.#report.records,
        undelivered: this.#report.undelivered.length,
      },
      'pipeline finished',
    );
    if (end.kind !== 'completed' && end.error !== undefined) {
      (end.error.details as Record<string, unknown>).report = this.#report;
      if (end.kind === 'failed') throw end.error;
    }
    return this.#report;
  }

  /** Closes what was opened, last first; a close that fails is logged, the others still run. */
  async #closeAll(): Promise<void> {
    const { logger } = this.#parts.settings;
    for (let closer = this.#closers.pop(); closer !== undefined; closer = this.#closers.pop()) {
      try {
        await closer.close();
      } catch (error) {
        logger.warn({ pipeline: this.name, err: error }, `${closer.what} close failed`);
      }
    }
  }

  metrics(): PipelineMetrics {
    const { settings, lifecycle, accounting, budget, commits, lanes, ingest, writer, eventTime } =
      this.#parts;
    const { source, checkpoint, sink, trigger, adaptive } = settings;
    const now = settings.clock.now();
    const laneMetrics = lanes.metrics(now);
    const undelivered = this.#undelivered();
    return {
      pipeline: this.name,
      status: lifecycle.status,
      paused: ingest.paused,
      guarantee: this.#guarantee(),
      source: { kind: source.kind, replayable: source.replayable },
      checkpoint:
        checkpoint === undefined
          ? undefined
          : { kind: checkpoint.kind, durable: checkpoint.durable === true },
      sink: {
        kind: sink.kind ?? 'custom',
        backpressure: accounting.sinkHealth.backpressure,
        lastWriteMs: accounting.sinkHealth.lastWriteMs,
        retrying: accounting.retrying,
        retryingBatches: writer.retryLog.snapshot(),
      },
      trigger: {
        mode: trigger.mode,
        description: trigger.description,
        maxRecords: trigger.caps.records,
        maxBytes: trigger.caps.bytes,
        lastFlushReason: accounting.lastFlush?.reason,
        ...(adaptive !== undefined && this.#adaptiveMetrics()),
      },
      buffer: {
        records: laneMetrics.reduce((n, l) => n + l.records, 0),
        bytes: laneMetrics.reduce((n, l) => n + l.bytes, 0),
        budgetBytes: budget.limit,
        heldBytes: budget.held,
        lanes: laneMetrics.length,
      },
      lanes: laneMetrics,
      inFlight: { ...commits.inFlight, concurrency: writer.concurrency },
      lastFlush: accounting.lastFlush,
      counts: {
        ...countRecords(accounting.counts, undelivered),
        batches: accounting.counts.batches,
        retries: accounting.counts.retries,
        commits: accounting.counts.commits,
        rejected: { ...accounting.rejected },
        late: accounting.counts.late,
      },
      latency: accounting.latency.snapshot(),
      eventTime: eventTime?.metrics(now),
      committed: commits.committed(),
      transforms: { warnings: transformWarnings(this.#parts.settings.transforms) },
    };
  }

  #adaptiveMetrics(): AdaptiveMetrics {
    const controller = this.#parts.settings.adaptive!;
    const signals = controller.signals();
    return {
      window: controller.window,
      volumeThreshold: controller.volumeThreshold,
      concurrency: this.#parts.writer.concurrency,
      rttMs: signals.rttMs,
      backpressure: signals.backpressure,
      inputRate: signals.inputRate,
    };
  }

  #guarantee(): Guarantee {
    const { source, checkpoint, sink } = this.#parts.settings;
    if (!source.replayable) return 'best-effort';
    // A sink whose ledger commits with its rows (`atomicLedger`) is exactly-once on its own.
    const ledger = sink.atomicLedger === true && typeof sink.committed === 'function';
    return checkpoint?.durable === true || ledger ? 'exactly-once' : 'at-least-once';
  }

  /** Batches not written, then what lanes hold, then what a halt left behind. */
  #undelivered(): UndeliveredRange[] {
    const { commits, lanes, accounting } = this.#parts;
    const ranges: UndeliveredRange[] = [];
    commits.undelivered(ranges);
    lanes.undelivered(ranges);
    ranges.push(...accounting.abandoned);
    return ranges;
  }

  #buildReport(): DeliveryReport {
    const { settings, lifecycle, accounting, commits } = this.#parts;
    return buildReport({
      pipeline: this.name,
      status: lifecycle.status,
      guarantee: this.#guarantee(),
      startedAt: accounting.startedAt,
      endedAt: settings.clock.now(),
      counts: accounting.counts,
      rejected: accounting.rejected,
      batchesByReason: accounting.batchesByReason,
      committed: commits.committed(),
      undelivered: this.#undelivered(),
      error: lifecycle.error,
      keptDeadLetters: settings.deadLetter === undefined ? accounting.keptDeadLetters : undefined,
    });
  }
}
