import { all, any } from './combinators.js';
import { time } from './time.js';
import { volume } from './volume.js';

export { type BatchCaps, isTrigger, type LaneState, type Trigger } from './types.js';
export type { VolumeOptions } from './volume.js';

/** Flush policies. Combine them with `any` (whichever comes first) and `all`. */
export const triggers = { time, volume, any, all };
