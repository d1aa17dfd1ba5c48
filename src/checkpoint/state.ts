import { show } from '../core/units.js';
import type { PartitionCheckpoint, PlannedBatch } from './types.js';

/**
 * Checks a partition state (given to `save()` or read from disk) and returns a copy that shares
 * nothing with it. Throws a `TypeError` saying what is wrong: offsets must be safe integers and
 * plans ordered, non-overlapping, and after `committed`.
 */
export function checkPartitionCheckpoint(value: unknown): PartitionCheckpoint {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`expected { committed?, plans }; got ${show(value)}`);
  }
  const { committed, plans } = value as { committed?: unknown; plans?: unknown };
  if (committed !== undefined && !Number.isSafeInteger(committed)) {
    throw new TypeError(`committed must be a safe integer; got ${show(committed)}`);
  }
  if (!Array.isArray(plans)) throw new TypeError(`plans must be an array; got ${show(plans)}`);
  const copy: PlannedBatch[] = [];
  let after = committed as number | undefined;
  for (let i = 0; i < plans.length; i++) {
    const plan = plans[i] as { firstOffset?: unknown; lastOffset?: unknown } | null;
    const first = plan?.firstOffset;
    const last = plan?.lastOffset;
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || (first as number) > (last as number)) {
      throw new TypeError(
        `plans[${i}] must be { firstOffset, lastOffset } with safe integers, firstOffset ≤ lastOffset; got ${JSON.stringify(plan)}`,
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
  return committed === undefined ? { plans: copy } : { committed: committed as number, plans: copy };
}
