import { type Batch, type DeadLetter, recordOffset, recordOffsets } from '../core/batch.js';
import { describeError, MicrobatchError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Sink } from '../sinks/types.js';
import type { SourceRejection } from '../sources/types.js';
import { scrubDeadLetters } from './privacy.js';
import type { Transform } from './types.js';

/** A batch after its transforms, with what they took out of it. */
export interface TransformedBatch {
  /** What the sink gets; offsets, event times, keys and headers follow the records kept. */
  batch: Batch<unknown>;
  /** The source's rejects and the transforms' rejects, in that order. */
  deadLetters: DeadLetter[];
  duplicates: number;
  filtered: number;
}

/**
 * Runs `transforms` in order over `batch` (pure per batch: nothing here writes anywhere). Every
 * input record must come out kept, rejected, a duplicate or filtered: a transform that loses or
 * invents records, or throws, fails with `MB_TRANSFORM_FAILED`. A dead letter carries the value the
 * source gave (not an intermediate form), so that a fixed pipeline can replay it.
 */
export async function applyTransforms(
  transforms: readonly Transform<unknown, unknown>[],
  batch: Batch<unknown>,
  sourceRejects: readonly SourceRejection[],
  context: {
    pipeline: string;
    at: number;
    /** The pipeline's sink: its `screen`, when it has one, runs after the transforms. */
    sink?: Sink<unknown>;
    /** Where transform warnings (a redact rule that matched nothing) are reported, once each. */
    logger?: Logger;
  },
): Promise<TransformedBatch> {
  const letter = (reason: string, details: unknown, value: unknown, offset: number): DeadLetter => ({
    reason,
    details,
    value,
    cursor: { partition: batch.partition, offset },
    pipeline: context.pipeline,
    batchId: batch.id,
    at: context.at,
  });
  const deadLetters = sourceRejects.map((r) => letter(r.reason, r.details, r.value, r.offset));
  let current = batch;
  // For each current record, its index in the batch as cut.
  let origin: number[] | undefined;
  let duplicates = 0;
  let filtered = 0;
  const sink = context.sink;
  const steps = sink?.screen === undefined ? transforms : [...transforms, sinkScreen(sink, () => current)];
  for (const transform of steps) {
    if (current.records.length === 0) break;
    let out: Awaited<ReturnType<typeof transform.apply>>;
    try {
      out = await transform.apply({
        records: current.records,
        offsets: recordOffsets(current),
        partition: current.partition,
        batchId: current.id,
        at: context.at,
      });
    } catch (error) {
      throw new MicrobatchError(
        'MB_TRANSFORM_FAILED',
        `pipeline '${context.pipeline}': transform '${transform.name}' threw on batch ${batch.id}: ${describeError(error)}`,
        { cause: error },
      );
    }
    const input = current.records.length;
    const kept = out.records.length;
    const from = out.from;
    const rejects = out.rejected ?? [];
    const removed = (out.duplicates ?? 0) + (out.filtered ?? 0) + rejects.length;
    if (
      (from !== undefined && from.length !== kept) ||
      (from === undefined && kept !== input) ||
      kept + removed !== input
    ) {
      throw new MicrobatchError(
        'MB_TRANSFORM_FAILED',
        `pipeline '${context.pipeline}': transform '${transform.name}' must account for every record: ${input} in, ${kept} kept, ${rejects.length} rejected, ${out.duplicates ?? 0} duplicates, ${out.filtered ?? 0} filtered` +
          (from !== undefined && from.length !== kept ? ` (from has ${from.length} indices)` : ''),
      );
    }
    for (const r of rejects) {
      const value = batch.records[origin === undefined ? r.index : origin[r.index]!];
      deadLetters.push(letter(r.reason, r.details, value, recordOffset(current, r.index)));
    }
    duplicates += out.duplicates ?? 0;
    filtered += out.filtered ?? 0;
    if (from !== undefined) origin = from.map((i) => (origin === undefined ? i : origin[i]!));
    const previous = current;
    current = {
      ...previous,
      records: out.records,
      ...(from !== undefined
        ? { offsets: from.map((i) => recordOffset(previous, i)) }
        : previous.offsets !== undefined && { offsets: previous.offsets }),
      ...(previous.eventTimes && { eventTimes: pick(previous.eventTimes, from) }),
      ...(previous.keys && { keys: pick(previous.keys, from) }),
      ...(previous.headers && { headers: pick(previous.headers, from) }),
    };
  }
  if (context.logger !== undefined) reportWarnings(transforms, context.logger, context.pipeline);
  // One place where every letter of the batch passes the pipeline's privacy rules.
  return { batch: current, deadLetters: scrubDeadLetters(transforms, deadLetters), duplicates, filtered };
}

/**
 * The sink's `screen` as a last transform: rejected records become dead letters through the same
 * accounting as a transform's (every record kept or rejected, checked), kept ones go on in order.
 */
function sinkScreen(sink: Sink<unknown>, batch: () => Batch<unknown>): Transform<unknown, unknown> {
  return {
    name: `sink '${sink.kind ?? 'custom'}' screen`,
    async apply({ records }) {
      const rejected = (await sink.screen!(batch())) ?? [];
      if (rejected.length === 0) return { records: records as unknown[] };
      const out = new Set<number>();
      for (const r of rejected) {
        if (!Number.isInteger(r.index) || r.index < 0 || r.index >= records.length || out.has(r.index)) {
          throw new Error(
            `it rejected index ${String(r.index)}, which is not a record of the batch or was rejected twice`,
          );
        }
        out.add(r.index);
      }
      const kept: unknown[] = [];
      const from: number[] = [];
      for (let i = 0; i < records.length; i++) {
        if (out.has(i)) continue;
        kept.push(records[i]);
        from.push(i);
      }
      return {
        records: kept,
        from,
        rejected: rejected.map((r) => ({ index: r.index, reason: r.reason, details: r.details })),
      };
    },
  };
}

/** How many warnings of each transform were logged already: each is logged once. */
const logged = new WeakMap<Transform<unknown, unknown>, number>();

function reportWarnings(
  transforms: readonly Transform<unknown, unknown>[],
  logger: Logger,
  pipeline: string,
): void {
  for (const t of transforms) {
    const warnings = t.warnings?.();
    if (warnings === undefined) continue;
    const seen = logged.get(t) ?? 0;
    for (let k = seen; k < warnings.length; k++) {
      const w = warnings[k]!;
      logger.warn(
        { pipeline, transform: w.transform, rule: w.rule, records: w.records, code: w.code },
        w.message,
      );
    }
    if (warnings.length > seen) logged.set(t, warnings.length);
  }
}

function pick<V>(values: V[], from: number[] | undefined): V[] {
  return from === undefined ? values : from.map((i) => values[i]!);
}
