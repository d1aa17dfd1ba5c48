import { type Batch, batchIdPrefix, batchIdRange, type FlushReason } from '../../core/batch.js';
import type { LaneTime } from '../../event-time/watermarks.js';
import type { SourceRejection } from '../../sources/types.js';
import type { LaneState } from '../../triggers/types.js';

/** What {@link Lane.seal} hands over: the batch, the rejects in its range and what it held. */
export interface SealedLane<T> {
  batch: Batch<T>;
  /** Source rejects inside the batch's range, bound for the dead-letter sink. */
  rejected: SourceRejection[];
  /** Bytes the lane held for the memory budget (values and rejects). */
  heldBytes: number;
  /** Records read into the lane: batch records plus rejects. */
  count: number;
}

/**
 * The buffer of one source partition: parallel arrays of values and offsets (plus event times, keys
 * and headers once a record brings one), and the source's rejects that fall in the same range.
 *
 * Invariants: offsets strictly increase across the lane's whole life (checked by the caller against
 * {@link Lane.highestOffset}, which survives seals); the counts only change through the methods
 * below; {@link Lane.seal} hands every array over and leaves the lane empty.
 */
export class Lane<T> implements LaneState {
  readonly partition: string;
  readonly #pipeline: string;
  /** Cached start of this lane's batch ids. */
  #idPrefix: string | undefined;
  readonly #makeIdPrefix: (pipeline: string, partition: string) => string;
  /** The lane's values, as runs to be joined at the seal (a native copy, not a loop per record). */
  #runs: T[][] = [];
  /** The run that single values are pushed onto. */
  #tail: T[] | undefined;
  /**
   * Offset of each value; `undefined` while they are consecutive from `firstOffset` (the common
   * case, which then costs nothing per record).
   */
  offsets: number[] | undefined;
  /** Aligned with the values once any record brought one (written by the ingest's metadata copy). */
  eventTimes: (number | undefined)[] | undefined;
  keys: (string | undefined)[] | undefined;
  headers: (Readonly<Record<string, string>> | undefined)[] | undefined;
  /** Source rejects (malformed, too large, late) inside the lane's range. */
  #rejected: SourceRejection[] = [];
  #records = 0;
  #bytes = 0;
  #heldBytes = 0;
  #openedAt: number | undefined;
  #firstOffset = -1;
  #lastOffset = -1;
  #highestOffset = -1;
  /** The trigger's time deadline passed and it still declined: only volume can fire now (scheduler's). */
  timePassed = false;
  /** Records still to append before the trigger must be asked again (scheduler's). */
  untilCheck = 0;
  /**
   * The plan of an earlier run this lane is filling again: it is flushed exactly at the plan's end,
   * and no trigger or memory flush may split it (recovery's).
   */
  replay: { readonly firstOffset: number; readonly lastOffset: number } | undefined;
  /** The lane's event-time clock, with `.eventTime()`. */
  time: LaneTime | undefined;
  /** The source gave the partition up: the lane is forgotten and takes no more records. */
  revoked = false;

  /**
   * `idPrefix` makes the constant part of the lane's batch ids (default {@link batchIdPrefix}; a run
   * of a source that cannot replay adds its run epoch, see `run-epoch.ts`).
   */
  constructor(
    partition: string,
    pipeline: string,
    idPrefix: (pipeline: string, partition: string) => string = batchIdPrefix,
  ) {
    this.partition = partition;
    this.#pipeline = pipeline;
    this.#makeIdPrefix = idPrefix;
  }

  /** Records in the values: what the sink will get (triggers count these). */
  get records(): number {
    return this.#records;
  }
  /** Bytes of the values (what byte caps measure). */
  get bytes(): number {
    return this.#bytes;
  }
  /** Bytes held for the memory budget: values and rejects. */
  get heldBytes(): number {
    return this.#heldBytes;
  }
  /** When the lane received its first record since the last seal; `undefined` when empty. */
  get openedAt(): number | undefined {
    return this.#openedAt;
  }
  get firstOffset(): number {
    return this.#firstOffset;
  }
  get lastOffset(): number {
    return this.#lastOffset;
  }
  /** Offset of the last record ever taken into this lane, across seals (for ordering checks). */
  get highestOffset(): number {
    return this.#highestOffset;
  }
  get rejected(): readonly SourceRejection[] {
    return this.#rejected;
  }
  /** Records and rejects held. */
  get count(): number {
    return this.#records + this.#rejected.length;
  }

  get empty(): boolean {
    return this.#records === 0 && this.#rejected.length === 0;
  }

  /** Marks the start of a window when the lane receives its first record. */
  open(offset: number, now: number): void {
    if (this.#openedAt === undefined) {
      this.#openedAt = now;
      this.#firstOffset = offset;
    }
  }

  /** Appends one value (then {@link Lane.booked} counts it). */
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

  /** Counts the value just pushed, at `offset`, of `size` bytes. */
  booked(offset: number, size: number): void {
    this.#records++;
    this.#bytes += size;
    this.#heldBytes += size;
    this.#highestOffset = offset;
    this.#lastOffset = offset;
  }

  /** Counts a run of `count` values just appended, `bytes` in all, the last at `lastOffset`. */
  bookedRun(count: number, bytes: number, lastOffset: number): void {
    this.#records += count;
    this.#bytes += bytes;
    this.#heldBytes += bytes;
    this.#highestOffset = lastOffset;
    this.#lastOffset = lastOffset;
  }

  /** Takes a source reject in its place in the range; `held`: the bytes it holds of the budget. */
  addReject(rejection: SourceRejection, held: number): void {
    this.listOffsets(); // values around a reject are no longer consecutive
    this.#rejected.push(rejection);
    this.#heldBytes += held;
    this.#highestOffset = rejection.offset;
    this.#lastOffset = rejection.offset;
  }

  /**
   * Widens the range to a replayed plan's, so the batch keeps the plan's id even when records at its
   * edges are gone from the source.
   */
  stretchTo(plan: { readonly firstOffset: number; readonly lastOffset: number }): void {
    this.listOffsets();
    this.#firstOffset = plan.firstOffset;
    this.#lastOffset = plan.lastOffset;
    this.#highestOffset = Math.max(this.#highestOffset, plan.lastOffset);
  }

  /** The offsets as a list, written out from the consecutive range when they were implicit. */
  listOffsets(): number[] {
    if (this.offsets === undefined) {
      this.offsets = new Array<number>(this.#records);
      for (let i = 0; i < this.#records; i++) this.offsets[i] = this.#firstOffset + i;
    }
    return this.offsets;
  }

  /**
   * Seals the lane's content into a batch (its id from the pipeline, the partition and the range)
   * and empties the lane. Never called on an empty lane.
   */
  seal(reason: FlushReason, now: number): SealedLane<T> {
    const batch: Batch<T> = {
      id: `${(this.#idPrefix ??= this.#makeIdPrefix(this.#pipeline, this.partition))}${batchIdRange(this.#firstOffset, this.#lastOffset)}`,
      partition: this.partition,
      firstOffset: this.#firstOffset,
      lastOffset: this.#lastOffset,
      records: this.#takeValues(),
      ...(this.offsets !== undefined && { offsets: this.offsets }),
      ...(this.eventTimes && { eventTimes: this.eventTimes }),
      ...(this.keys && { keys: this.keys }),
      ...(this.headers && { headers: this.headers }),
      bytes: this.#bytes,
      reason,
      openedAt: this.#openedAt!,
      closedAt: now,
    };
    const sealed: SealedLane<T> = {
      batch,
      rejected: this.#rejected,
      heldBytes: this.#heldBytes,
      count: this.#records + this.#rejected.length,
    };
    this.reset();
    return sealed;
  }

  /** The values in order, as one array. */
  #takeValues(): T[] {
    const runs = this.#runs;
    if (runs.length === 1) return runs[0]!;
    if (runs.length === 0) return [];
    // Copied by hand into one array of the final length: `concat` falls off its fast path for
    // holey runs (sources size their arrays up front) and for many runs, and was profiled at
    // ~6 ms per 10,000-record batch cut into runs by a full budget.
    let length = 0;
    for (const run of runs) length += run.length;
    const values = new Array<T>(length);
    let k = 0;
    for (const run of runs) for (let i = 0; i < run.length; i++) values[k++] = run[i]!;
    return values;
  }

  /** Empties the lane, dropping what it holds (a seal hands it over first). */
  reset(): void {
    this.#runs = [];
    this.#tail = undefined;
    this.offsets = undefined;
    this.eventTimes = undefined;
    this.keys = undefined;
    this.headers = undefined;
    this.#rejected = [];
    this.#records = 0;
    this.#bytes = 0;
    this.#heldBytes = 0;
    this.#openedAt = undefined;
    this.#firstOffset = -1;
    this.#lastOffset = -1;
    this.timePassed = false;
    this.untilCheck = 0;
    this.replay = undefined;
  }
}
