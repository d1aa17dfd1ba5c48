import type { LaneTime } from '../event-time/watermarks.js';
import type { SourceRejection } from '../sources/types.js';
import type { LaneState } from '../triggers/types.js';

/**
 * The buffer of one source partition: parallel arrays of values and offsets (plus event times, keys
 * and headers once a record brings one), and the source's rejects that fall in the same range.
 * Records stay in offset order; a cut hands the arrays over and starts new ones.
 */
export class Lane<T> implements LaneState {
  readonly partition: string;
  /** Cached start of this lane's batch ids. */
  idPrefix: string | undefined;
  /** The lane's values, as runs to be joined at the cut (a native copy, not a loop per record). */
  #runs: T[][] = [];
  /** The run that single values are pushed onto. */
  #tail: T[] | undefined;
  /**
   * Offset of each value; `undefined` while they are consecutive from `firstOffset` (the common
   * case, which then costs nothing per record).
   */
  offsets: number[] | undefined;
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
  /**
   * The plan of an earlier run this lane is filling again: it is cut exactly at the plan's end, and
   * no trigger or memory cut may split it.
   */
  replay: { readonly firstOffset: number; readonly lastOffset: number } | undefined;
  /** The lane's event-time clock, with `.eventTime()`. */
  time: LaneTime | undefined;
  /** The source gave the partition up: the lane is forgotten and takes no more records. */
  revoked = false;

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

  /** Appends one value. */
  pushValue(value: T): void {
    if (this.#tail === undefined) this.#runs.push((this.#tail = []));
    this.#tail.push(value);
  }

  /**
   * Appends `values[from..to)`. A whole array the source gave away (`owned`) is kept as it is; a part
   * is copied with one native `slice`; a short run goes onto the tail.
   */
  appendRun(values: T[], from: number, to: number, owned: boolean): void {
    if (to - from < 64) {
      for (let i = from; i < to; i++) this.pushValue(values[i]!);
      return;
    }
    this.#tail = undefined;
    this.#runs.push(owned && from === 0 && to === values.length ? values : values.slice(from, to));
  }

  /** The values in order, as one array. */
  takeValues(): T[] {
    const runs = this.#runs;
    if (runs.length === 1) return runs[0]!;
    return runs.length === 0 ? [] : (Array.prototype.concat.apply([], runs) as T[]);
  }

  /** The offsets as a list, written out from the consecutive range when they were implicit. */
  listOffsets(): number[] {
    if (this.offsets === undefined) {
      this.offsets = new Array<number>(this.records);
      for (let i = 0; i < this.records; i++) this.offsets[i] = this.firstOffset + i;
    }
    return this.offsets;
  }

  /** Empties the lane; the caller already took the arrays. */
  reset(): void {
    this.#runs = [];
    this.#tail = undefined;
    this.offsets = undefined;
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
    this.replay = undefined;
  }
}
