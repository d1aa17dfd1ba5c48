import { adaptive } from './adaptive.js';
import { all, any } from './combinators.js';
import { time } from './time.js';
import { volume } from './volume.js';

export type {
  AdaptiveOptions,
  AdaptiveReason,
  AdaptiveSignals,
  AdaptiveState,
  AdaptiveTrigger,
  WindowChange,
} from './adaptive.js';
export { type BatchCaps, isTrigger, type LaneState, type Trigger } from './types.js';
export type { VolumeOptions } from './volume.js';

/**
 * Flush policies. Combine `time` and `volume` with `any` (whichever comes first) and `all`; use
 * `adaptive` on its own.
 */
export const triggers = { time, volume, any, all, adaptive };
