import { invalidOptions } from '../core/errors.js';
import { formatBytes, parseCount, parseSize, type Size } from '../core/units.js';
import type { Trigger } from './types.js';

/** Options of `triggers.volume`; give at least one. */
export interface VolumeOptions {
  /** Flush when the lane holds this many records. A batch never holds more. */
  records?: number;
  /**
   * Flush before the lane would pass this many bytes (encoded size where the source knows it, else
   * an estimate of the JSON size). A batch never holds more; a single larger record is dead-lettered
   * as `too_large`.
   */
  bytes?: Size;
}

/** Flushes a lane when it reaches a record count or a byte size, whichever comes first. */
export function volume(options: VolumeOptions): Trigger {
  if (
    typeof options !== 'object' ||
    options === null ||
    (options.records === undefined && options.bytes === undefined)
  ) {
    throw invalidOptions('triggers.volume() needs { records } and/or { bytes }', { value: options });
  }
  const records =
    options.records === undefined
      ? Number.POSITIVE_INFINITY
      : parseCount(options.records, 'triggers.volume({ records })');
  const bytes =
    options.bytes === undefined
      ? Number.POSITIVE_INFINITY
      : parseSize(options.bytes, 'triggers.volume({ bytes })');
  const parts: string[] = [];
  if (Number.isFinite(records)) parts.push(`${records} records`);
  if (Number.isFinite(bytes)) parts.push(formatBytes(bytes));
  return {
    description: `volume(${parts.join(', ')})`,
    mode: 'volume',
    usesBytes: Number.isFinite(bytes),
    caps: { records, bytes },
    check: (lane) => (lane.records >= records ? 'records' : lane.bytes >= bytes ? 'bytes' : undefined),
    deadline: () => Number.POSITIVE_INFINITY,
    headroom: (lane) => Math.max(1, records - lane.records),
  };
}
