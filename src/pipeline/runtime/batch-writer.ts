import PQueue from 'p-queue';
import type { Batch, DeadLetter, RejectReason } from '../../core/batch.js';
import { describeError, type ErrorCode, MicrobatchError } from '../../core/errors.js';
import type { WriteResult } from '../../sinks/types.js';
import { applyTransforms, type TransformedBatch } from '../../transforms/apply.js';
import { type RetryContext, withRetry } from '../retry.js';
import { RetryVisibility } from '../retry-visibility.js';
import type { InFlightBatch } from './commit-tracker.js';
import { isDroppedLate } from './event-time-tracker.js';
import type { Parts } from './parts.js';

/**
 * The write queue: transforms each flushed batch, writes its dead letters and then the batch with
 * bounded concurrency and retries, and hands it to the commit tracker. Invariants: with a
 * checkpoint, a batch's range is saved before its first write attempt; dead letters are stored
 * before the batch (a replay after a crash between the two cannot lose them); with a ledger the
 * runtime relies on, a partition's writes go one at a time, in order; nothing of a revoked
 * partition is counted.
 */
export class BatchWriter {
  readonly #parts: Parts;
  readonly #queue: PQueue;
  /**
   * Skipping by the sink's ledger is only sound if the ledger is a prefix: without a durable
   * checkpoint, each partition's writes then go in order, one at a time.
   */
  readonly #orderedWrites: boolean;
  /** Sink writes running (attempts and the waits between them). */
  #writesInFlight = 0;
  /** Operations retrying now, for the rate-limited warning and `metrics().sink.retryingBatches`. */
  readonly retryLog = new RetryVisibility();

  constructor(parts: Parts) {
    this.#parts = parts;
    const { options, adaptive, checkpoint, ledger } = parts.settings;
    this.#orderedWrites = ledger && checkpoint?.durable !== true;
    // Adaptive concurrency starts at 1 (ARC) and moves within [1, maxConcurrency].
    this.#queue = new PQueue({
      concurrency: adaptive === undefined ? options.concurrency : Math.floor(adaptive.concurrency),
    });
  }

  get concurrency(): number {
    return this.#queue.concurrency;
  }

  set concurrency(to: number) {
    if (to !== this.#queue.concurrency) this.#queue.concurrency = to;
  }

  /** Queues the delivery of a flushed batch. */
  enqueue(entry: InFlightBatch): void {
    void this.#queue.add(() => this.#deliver(entry));
  }

  /** Resolves once no delivery is running or queued. */
  onIdle(): Promise<void> {
    return this.#queue.onIdle();
  }

  /** Transforms, writes the batch and its dead letters, then lets the partition commit. */
  async #deliver(entry: InFlightBatch): Promise<void> {
    const { settings, lifecycle, commits, accounting, scheduler } = this.#parts;
    const { clock, sink, adaptive, logger, name, events } = settings;
    const abort = lifecycle.writeAbort.signal;
    if (lifecycle.fatal !== undefined || abort.aborted || entry.handedOver) return;
    const started = clock.now();
    const partition = commits.partitions.get(entry.batch.partition)!;
    let previousWrite: Promise<void> | undefined;
    let writeDone: (() => void) | undefined;
    if (this.#orderedWrites) {
      previousWrite = partition.lastWrite;
      partition.lastWrite = new Promise<void>((resolve) => {
        writeDone = resolve;
      });
    }
    try {
      // Write-ahead: the batch's range is durable before its first write attempt.
      if (settings.checkpoint !== undefined) await commits.save(partition, entry);
      if (lifecycle.fatal !== undefined || abort.aborted || entry.handedOver) return;
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
        let attemptStarted = clock.now();
        // Sink writes in flight (not whole deliveries, which also transform and commit).
        this.#writesInFlight++;
        adaptive?.writeStarted(this.#writesInFlight, this.#queue.concurrency);
        const written = await withRetry(
          this.retryContext(entry, 'MB_SINK_FAILED', `sink write of batch ${entry.batch.id}`),
          (options) => {
            attemptStarted = clock.now();
            return sink.write(out.batch, options);
          },
        ).finally(() => {
          this.#writesInFlight--;
        });
        attempts = written.attempts;
        const hint = (written.result as WriteResult | undefined)?.backpressure;
        const validHint = typeof hint === 'number' && Number.isFinite(hint);
        if (validHint) accounting.sinkHealth.backpressure = Math.min(1, Math.max(0, hint));
        if (adaptive !== undefined) {
          const rtt = clock.now() - attemptStarted;
          scheduler.adapt(adaptive.writeDone(rtt, attempts > 1, validHint ? hint : undefined, clock.now()));
        }
      }
      writeDone?.();
      // Revoked during the write: the write stands (one effect per id), but the batch was counted
      // as handed over and its memory released then.
      if (entry.handedOver) return;
      entry.written = true;
      accounting.counts.written += out.batch.records.length;
      accounting.counts.duplicates += out.duplicates;
      accounting.counts.filtered += out.filtered;
      if (this.#parts.eventTime?.dropsLate === true) {
        for (const r of entry.rejected) if (isDroppedLate(r)) accounting.counts.droppedLate++;
      }
      commits.landed(entry);
      const durationMs = clock.now() - started;
      accounting.sinkHealth.lastWriteMs = durationMs;
      events.emit('write', { batch: entry.summary, written: out.batch.records.length, attempts, durationMs });
      logger.debug(
        { pipeline: name, batch: entry.batch.id, written: out.batch.records.length, attempts, durationMs },
        'batch written',
      );
      await commits.advance(partition);
    } catch (error) {
      // Aborted because the pipeline is already failing or stopping: still in flight, not the culprit.
      if (lifecycle.fatal !== undefined || abort.aborted) return;
      if (entry.handedOver) {
        // A revoked partition's save or write failed (the source refuses to act for a partition it
        // no longer owns): the next owner replays it; not a pipeline failure.
        logger.debug(
          { pipeline: name, batch: entry.batch.id, err: describeError(error) },
          'a write of a revoked partition failed; its next owner replays it',
        );
        return;
      }
      entry.failed = true;
      const code: ErrorCode = MicrobatchError.is(error) ? error.code : 'MB_SINK_FAILED';
      lifecycle.fail(error, code, `batch ${entry.batch.id} failed`);
    } finally {
      writeDone?.();
    }
  }

  /** Retries of a batch's save, write, dead-letter write or commit: counted, logged, announced. */
  retryContext(entry: InFlightBatch, failure: ErrorCode, what: string): RetryContext {
    const { settings, lifecycle, accounting, scheduler } = this.#parts;
    const { options, clock, name, logger, events, adaptive } = settings;
    return {
      clock,
      policy: options.retry,
      ...(options.retry.random !== undefined && { random: options.retry.random }),
      signal: lifecycle.writeAbort.signal,
      failure,
      what: `pipeline '${name}': ${what}`,
      onRetry: (attempt: number, delayMs: number, error: unknown) => {
        accounting.counts.retries++;
        accounting.retrying++;
        // Warned on the first retry, then at most every 30 s while it keeps failing.
        if (this.retryLog.failed(what, entry.batch.id, attempt, error, clock.now()))
          logger.warn(
            { pipeline: name, batch: entry.batch.id, attempt, delayMs, err: describeError(error) },
            `${what}: retrying`,
          );
        events.emit('retry', { batch: entry.summary, attempt, delayMs, error });
        if (failure === 'MB_SINK_FAILED') {
          const timeout = MicrobatchError.is(error, 'MB_TIMEOUT');
          scheduler.adapt(adaptive?.congested(timeout ? 'timeout' : 'retry', clock.now()));
        }
      },
      onWaited: () => {
        accounting.retrying--;
      },
      onSettled: () => this.retryLog.settled(what),
    };
  }

  /** Runs the transforms over a batch; source rejects and transform rejects become dead letters. */
  #transform(entry: InFlightBatch): Promise<TransformedBatch> {
    const { settings } = this.#parts;
    const rejected =
      this.#parts.eventTime?.dropsLate === true
        ? entry.rejected.filter((r) => !isDroppedLate(r))
        : entry.rejected;
    return applyTransforms(settings.transforms, entry.batch, rejected, {
      pipeline: settings.name,
      at: settings.clock.now(),
      sink: settings.sink,
      logger: settings.logger,
    });
  }

  async #writeDeadLetters(entry: InFlightBatch, deadLetters: DeadLetter[]): Promise<void> {
    const { settings, accounting } = this.#parts;
    const { batch } = entry;
    // Source rejects come before transform rejects: in offset order, like every batch.
    deadLetters.sort((a, b) => a.cursor.offset - b.cursor.offset);
    const reasons: Partial<Record<RejectReason, number>> = {};
    for (const d of deadLetters) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    const deadLetter = settings.deadLetter;
    if (deadLetter === undefined) {
      if (entry.handedOver) return;
      accounting.keptDeadLetters.push(...deadLetters);
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
        this.retryContext(entry, 'MB_DEAD_LETTER_FAILED', `dead-letter write of batch ${batch.id}`),
        (options) => deadLetter.write(letters, options),
      );
      if (entry.handedOver) return;
    }
    entry.deadCounted = deadLetters.length;
    accounting.deadLettered(deadLetters.length, reasons);
    settings.events.emit('dead-letter', { batch: entry.summary, count: deadLetters.length, reasons });
    settings.logger.warn({ pipeline: settings.name, batch: batch.id, reasons }, 'records dead-lettered');
  }
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
