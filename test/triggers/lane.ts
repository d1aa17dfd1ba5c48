import type { LaneState } from '../../src/triggers/types.js';

/** A lane state for trigger tests. */
export function lane(records: number, bytes = 0, openedAt = 0): LaneState {
  return { partition: '0', records, bytes, openedAt };
}

/** An empty lane: no records, not opened. */
export const emptyLane: LaneState = { partition: '0', records: 0, bytes: 0, openedAt: undefined };
