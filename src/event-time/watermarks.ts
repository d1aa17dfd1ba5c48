/** The event-time clock of one lane. */
export interface LaneTime {
  readonly partition: string;
  /** Newest event time seen in the lane; `-Infinity` before the first. */
  maxEventTime: number;
  /** Processing time of the lane's last arrival. */
  lastArrival: number;
}

/**
 * Watermarks: a lane's is its newest event time minus `maxOutOfOrderness`; the pipeline's is the
 * minimum over lanes that are not idle, and it never goes backwards (a lane that wakes up, or a new
 * partition, cannot pull it back). Lanes without any event time yet do not hold it back.
 */
export class Watermarks {
  readonly #lanes = new Map<string, LaneTime>();
  readonly #outOfOrderness: number;
  readonly #idleTimeout: number;
  /** The lane whose watermark is the minimum, as of the last full computation. */
  #slowest: LaneTime | undefined;
  watermark = Number.NEGATIVE_INFINITY;

  constructor(maxOutOfOrderness: number, idleTimeout: number) {
    this.#outOfOrderness = maxOutOfOrderness;
    this.#idleTimeout = idleTimeout;
  }

  lane(partition: string): LaneTime {
    let lane = this.#lanes.get(partition);
    if (lane === undefined) {
      lane = { partition, maxEventTime: Number.NEGATIVE_INFINITY, lastArrival: Number.NEGATIVE_INFINITY };
      this.#lanes.set(partition, lane);
    }
    return lane;
  }

  /** A lane's own watermark. */
  of(lane: LaneTime): number {
    return lane.maxEventTime - this.#outOfOrderness;
  }

  /**
   * A record with a valid event time arrived in `lane` (after its lateness was judged). Returns
   * whether the pipeline's watermark moved.
   */
  observe(lane: LaneTime, eventTime: number, now: number): boolean {
    const woke = this.#wakes(lane, now);
    if (eventTime <= lane.maxEventTime) return woke && this.recompute(now);
    lane.maxEventTime = eventTime;
    // Only the slowest lane rising (or a lane coming back) can raise the minimum.
    if (!woke && this.#slowest !== undefined && this.#slowest !== lane) return false;
    return this.recompute(now);
  }

  /**
   * An arrival that does not move the lane's clock (late, or without a usable event time): the lane
   * is alive. Returns whether the pipeline's watermark moved (a lane back from idle can raise it).
   */
  touch(lane: LaneTime, now: number): boolean {
    return this.#wakes(lane, now) && this.recompute(now);
  }

  /** Marks an arrival; true when the lane was idle until now. */
  #wakes(lane: LaneTime, now: number): boolean {
    const idle = now - lane.lastArrival >= this.#idleTimeout;
    lane.lastArrival = now;
    return idle;
  }

  /** Recomputes the pipeline's watermark over the lanes active at `now`; true when it moved. */
  recompute(now: number): boolean {
    let slowest: LaneTime | undefined;
    let min = Number.POSITIVE_INFINITY;
    for (const lane of this.#lanes.values()) {
      if (lane.maxEventTime === Number.NEGATIVE_INFINITY) continue;
      if (now - lane.lastArrival >= this.#idleTimeout) continue;
      const w = lane.maxEventTime - this.#outOfOrderness;
      if (w < min) {
        min = w;
        slowest = lane;
      }
    }
    this.#slowest = slowest;
    if (slowest === undefined || min <= this.watermark) return false;
    this.watermark = min;
    return true;
  }

  /** The input ended: every event time has been seen, so every partition is final. */
  ended = false;

  /** The end of the input; `watermark` keeps its last value for metrics. */
  finish(): boolean {
    if (this.ended) return false;
    this.ended = true;
    return true;
  }

  /** Each lane's watermark, for metrics. */
  lanes(): IterableIterator<LaneTime> {
    return this.#lanes.values();
  }
}
