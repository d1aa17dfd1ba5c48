import { type Duration, formatDuration, parseDuration } from '../core/units.js';
import type { Trigger } from './types.js';

const NO_CAPS = { records: Number.POSITIVE_INFINITY, bytes: Number.POSITIVE_INFINITY };

/**
 * Flushes a lane when `window` has passed since its **first** record (not since the last flush),
 * so a record never waits longer than `window` and empty windows produce nothing.
 */
export function time(window: Duration): Trigger {
  const ms = parseDuration(window, 'triggers.time(window)');
  return {
    description: `time(${formatDuration(ms)})`,
    mode: 'time',
    usesBytes: false,
    caps: NO_CAPS,
    check: (lane, now) => (lane.openedAt !== undefined && now >= lane.openedAt + ms ? 'time' : undefined),
    deadline: (lane) => (lane.openedAt === undefined ? Number.POSITIVE_INFINITY : lane.openedAt + ms),
    headroom: () => Number.POSITIVE_INFINITY,
  };
}
