import type { DeadLetter, FlushReason, RejectReason } from '../../core/batch.js';
import { LatencyWindow } from '../latency.js';
import type { PipelineMetrics, UndeliveredRange } from '../report.js';

/** The running counters; {@link countRecords} turns them into the report's balance. */
export interface Counters {
  /** Records read (values and source rejects), counted once, when taken or given up. */
  in: number;
  written: number;
  deadLettered: number;
  duplicates: number;
  filtered: number;
  /** Batches flushed. */
  batches: number;
  retries: number;
  commits: number;
  skipped: number;
  /** Records that arrived late, whatever the policy did with them. */
  late: number;
  droppedLate: number;
  handedOver: number;
}

/**
 * Every count the report and metrics show, kept in one place. Each record read lands in exactly one
 * of: written, dead-lettered, duplicate, filtered, dropped late, handed over, or (still) undelivered
 * — the balance `in = written + deadLettered + duplicates + filtered + droppedLate + undelivered +
 * handedOver` that the property tests check.
 */
export class Accounting {
  readonly counts: Counters = {
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
  /** Dead-lettered records by reason. */
  readonly rejected: Partial<Record<RejectReason, number>> = {};
  readonly batchesByReason: Partial<Record<FlushReason, number>> = {};
  lastFlush: PipelineMetrics['lastFlush'];
  /** Ranges read but dropped when the pipeline halted mid-chunk or after it halted. */
  readonly abandoned: UndeliveredRange[] = [];
  /** Dead letters kept for the report when no dead-letter sink is configured. */
  readonly keptDeadLetters: DeadLetter[] = [];
  /** Arrival in a lane → commit, per record. */
  readonly latency = new LatencyWindow();
  /** What the sink said about itself: its last back-pressure hint and how long the last write took. */
  readonly sinkHealth: { backpressure: number | undefined; lastWriteMs: number | undefined } = {
    backpressure: undefined,
    lastWriteMs: undefined,
  };
  /** Writes currently waiting to retry. */
  retrying = 0;
  startedAt: number | undefined;

  /** Records read and handed to the next owner of their partition at once (a revoked partition). */
  handedOver(records: number): void {
    this.counts.in += records;
    this.counts.handedOver += records;
  }

  /** Records read but left behind by a halt: reported undelivered (`buffered`). */
  abandon(range: UndeliveredRange): void {
    this.counts.in += range.records;
    this.abandoned.push(range);
  }

  /** A batch was flushed. */
  flushed(flush: NonNullable<PipelineMetrics['lastFlush']>): void {
    this.counts.batches++;
    this.batchesByReason[flush.reason] = (this.batchesByReason[flush.reason] ?? 0) + 1;
    this.lastFlush = flush;
  }

  /** Dead letters were stored (or kept). */
  deadLettered(count: number, reasons: Partial<Record<RejectReason, number>>): void {
    this.counts.deadLettered += count;
    for (const [reason, n] of Object.entries(reasons))
      this.rejected[reason as RejectReason] = (this.rejected[reason as RejectReason] ?? 0) + n!;
  }
}
