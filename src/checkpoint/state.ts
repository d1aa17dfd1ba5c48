import { show } from '../core/units.js';
import type { PartitionCheckpoint, PlannedBatch } from './types.js';

/**
 * Checks a partition state (given to `save()` or read from disk) and returns a copy that shares
 * nothing with it. Throws a `TypeError` saying what is wrong: offsets must be safe integers and
 * plans ordered, non-overlapping, and after `committed`;
 * `source` marks a flat object of strings and numbers.
 */
export function checkPartitionCheckpoint(value: unknown): PartitionCheckpoint {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`expected { committed?, plans }; got ${show(value)}`);
  }
  const { committed, plans, source } = value as { committed?: unknown; plans?: unknown; source?: unknown };
  // Offsets are never negative (every source counts from 0): a negative one in a file was edited
  // or corrupted, and resuming after it would cut batches at offsets that are not record starts.
  if (committed !== undefined && !(Number.isSafeInteger(committed) && (committed as number) >= 0)) {
    throw new TypeError(`committed must be a non-negative safe integer; got ${show(committed)}`);
  }
  if (!Array.isArray(plans)) throw new TypeError(`plans must be an array; got ${show(plans)}`);
  const copy: PlannedBatch[] = [];
  let after = committed as number | undefined;
  for (let i = 0; i < plans.length; i++) {
    const plan = plans[i] as { firstOffset?: unknown; lastOffset?: unknown } | null;
    const first = plan?.firstOffset;
    const last = plan?.lastOffset;
    if (
      !Number.isSafeInteger(first) ||
      !Number.isSafeInteger(last) ||
      (first as number) < 0 ||
      (first as number) > (last as number)
    ) {
      throw new TypeError(
        `plans[${i}] must be { firstOffset, lastOffset } with non-negative safe integers, firstOffset ≤ lastOffset; got ${JSON.stringify(plan)}`,
      );
    }
    if (after !== undefined && (first as number) <= after) {
      throw new TypeError(
        `plans[${i}] (${first}-${last}) must start after ${i === 0 ? 'committed' : `plans[${i - 1}]`} (${after}): plans are ordered and do not overlap`,
      );
    }
    after = last as number;
    copy.push({ firstOffset: first as number, lastOffset: last as number });
  }
  const marks = source === undefined ? undefined : checkSourceMarks(source);
  return {
    ...(committed !== undefined && { committed: committed as number }),
    plans: copy,
    ...(marks !== undefined && { source: marks }),
  };
}

/** Checks `source` marks: a flat object of strings and finite numbers; returns a copy. */
function checkSourceMarks(value: unknown): Readonly<Record<string, string | number>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`source must be an object of strings and numbers; got ${show(value)}`);
  }
  const copy: Record<string, string | number> = {};
  for (const [key, mark] of Object.entries(value)) {
    if (typeof mark !== 'string' && !(typeof mark === 'number' && Number.isFinite(mark))) {
      throw new TypeError(`source.${key} must be a string or a finite number; got ${show(mark)}`);
    }
    copy[key] = mark;
  }
  return copy;
}
