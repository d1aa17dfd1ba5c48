import type { SourceRejection } from '../sources/types.js';
import type { LaneState } from '../triggers/types.js';

/**
 * The buffer of one source partition: parallel arrays of values and offsets (plus event times, keys
 * and headers once a record brings one), and the source's rejects that fall in the same range.
 * Records stay in offset order; a cut hands the arrays over and starts new ones.
 */
export class Lane<T> implements LaneState {
  readonly partition: string;
  values: T[] = [];
  offsets: number[] = [];
  eventTimes: (number | undefined)[] | undefined;
  keys: (string | undefined)[] | undefined;
  headers: (Readonly<Record<string, string>> | undefined)[] | undefined;
  /** Source rejects (malformed, too large) inside the lane's range. */
  rejected: SourceRejection[] = [];
  /** Records in `values`: what the sink will get (triggers count these). */
  records = 0;
  /** Bytes of `values` (what byte caps measure). */
  bytes = 0;
  /** Bytes held for the memory budget: values and rejects. */
  heldBytes = 0;
  openedAt: number | undefined;
  firstOffset = -1;
  lastOffset = -1;
  /** The trigger's time deadline passed and it still declined: only volume can fire now. */
  timePassed = false;
  /** Records still to append before the trigger must be asked again. */
  untilCheck = 0;
  /** Offset of the last record ever taken into this lane, across cuts (for ordering checks). */
  highestOffset = -1;

  constructor(partition: string) {
    this.partition = partition;
  }

  get empty(): boolean {
    return this.records === 0 && this.rejected.length === 0;
  }

  /** Marks the start of a window when the lane receives its first record. */
  open(offset: number, now: number): void {
    if (this.openedAt === undefined) {
      this.openedAt = now;
      this.firstOffset = offset;
    }
  }

  /** Empties the lane; the caller already took the arrays. */
  reset(): void {
    this.values = [];
    this.offsets = [];
    this.eventTimes = undefined;
    this.keys = undefined;
    this.headers = undefined;
    this.rejected = [];
    this.records = 0;
    this.bytes = 0;
    this.heldBytes = 0;
    this.openedAt = undefined;
    this.firstOffset = -1;
    this.lastOffset = -1;
    this.timePassed = false;
    this.untilCheck = 0;
  }
}
