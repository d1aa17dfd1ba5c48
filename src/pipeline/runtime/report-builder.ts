import type { DeadLetter, FlushReason, RejectReason } from '../../core/batch.js';
import type { MicrobatchError } from '../../core/errors.js';
import type { DeliveryReport, Guarantee, PipelineStatus, RecordCounts, UndeliveredRange } from '../report.js';
import type { Counters } from './accounting.js';

/** Everything a delivery report is made of, gathered by the facade. */
export interface ReportInput {
  pipeline: string;
  status: PipelineStatus;
  guarantee: Guarantee;
  startedAt: number | undefined;
  endedAt: number;
  counts: Readonly<Counters>;
  rejected: Partial<Record<RejectReason, number>>;
  batchesByReason: Partial<Record<FlushReason, number>>;
  committed: Record<string, number>;
  /** Batches flushed and not written (in flight or failed), then lanes' buffers, then abandoned ranges. */
  undelivered: UndeliveredRange[];
  error: MicrobatchError | undefined;
  /** Dead letters kept in memory (no dead-letter sink): copied into the report. */
  keptDeadLetters: readonly DeadLetter[] | undefined;
}

/** The record counts, with `undelivered` summed from the ranges. */
export function countRecords(
  counts: Readonly<Counters>,
  undelivered: readonly UndeliveredRange[],
): RecordCounts {
  return {
    in: counts.in,
    written: counts.written,
    deadLettered: counts.deadLettered,
    duplicates: counts.duplicates,
    filtered: counts.filtered,
    droppedLate: counts.droppedLate,
    undelivered: undelivered.reduce((n, r) => n + r.records, 0),
    handedOver: counts.handedOver,
    skipped: counts.skipped,
  };
}

/** Builds the delivery report; a pure function of its input. */
export function buildReport(input: ReportInput): DeliveryReport {
  const report: DeliveryReport = {
    pipeline: input.pipeline,
    status: input.status,
    guarantee: input.guarantee,
    startedAt: input.startedAt,
    endedAt: input.endedAt,
    records: countRecords(input.counts, input.undelivered),
    rejected: { ...input.rejected },
    batches: {
      // Flushed batches, less those not written (buffered ranges were never flushed).
      written: input.counts.batches - input.undelivered.filter((r) => r.state !== 'buffered').length,
      byReason: { ...input.batchesByReason },
    },
    committed: input.committed,
    undelivered: input.undelivered,
  };
  if (input.error !== undefined) report.error = { code: input.error.code, message: input.error.message };
  if (input.keptDeadLetters !== undefined) report.deadLetters = input.keptDeadLetters.slice();
  return report;
}
