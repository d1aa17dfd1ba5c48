import { invalidOptions } from '../core/errors.js';
import {
  type Duration,
  formatDuration,
  parseCount,
  parseDuration,
  parseSize,
  type Size,
  show,
} from '../core/units.js';
import type { LaneState, Trigger } from './types.js';

/** Options of `triggers.adaptive`. */
export interface AdaptiveOptions {
  /** The window when the sink is healthy: the freshest data you want. */
  minWindow: Duration;
  /** The window when the sink is congested, and the latency bound: no record waits longer. */
  maxWindow: Duration;
  /** Most records in a batch (a hard cap, like `volume`). */
  maxRecords: number;
  /** Most bytes in a batch (a hard cap). @default Infinity */
  maxBytes?: Size;
  /**
   * A lane with fewer records than this is not flushed when its window passes, only at `maxWindow`:
   * a trickling source gives one reasonable batch per `maxWindow`, not a stream of tiny ones.
   * @default maxRecords / 100, at least 1
   */
  minRecords?: number;
  /** Most writes in flight; the controller moves between 1 and this. @default 8 */
  maxConcurrency?: number;
  /** The window is multiplied by this on back-pressure. @default 2 */
  widenFactor?: number;
  /**
   * Each healthy write keeps at most this fraction of the window's excess over `minWindow`: 0.5
   * halves the distance to `minWindow` at every healthy write (so a wide window, where writes are
   * rare, comes down in about twice its own length). A number in (0, 1). @default 0.5
   */
  narrowFactor?: number;
  /**
   * Healthy time that halves the window's excess over `minWindow`, on top of `narrowFactor`: the
   * time since the previous write or back-pressure signal counts when a write succeeds normally.
   * @default maxWindow
   */
  narrowHalfLife?: Duration;
  /** The least a healthy write narrows the window (the first version's only rule). @default (maxWindow − minWindow) / 20 */
  narrowStep?: Duration;
  /**
   * A round trip is slow when it is above the mean of the last 20 round trips plus this many mean
   * deviations (Vector's ARC uses 2.5), and above twice their median plus 1 ms. @default 2.5
   */
  rttDeviations?: number;
  /**
   * Slow round trips among the last `slowWrites + 2` writes that widen the window: one slow write
   * among healthy ones is noise, several are congestion. 1 widens on every slow write. @default 3
   */
  slowWrites?: number;
}

/** Why the controller changed the window or the concurrency. */
export type AdaptiveReason = 'retry' | 'timeout' | 'backpressure-hint' | 'slow-write' | 'memory' | 'healthy';

/** What the controller knows, as metrics and events show it. */
export interface AdaptiveSignals {
  /** Round-trip time EWMA of healthy writes, ms (`undefined` before the first). */
  rttMs: number | undefined;
  /** Its mean deviation, ms. */
  rttDeviationMs: number | undefined;
  /** Median of the last 20 round trips, ms (`undefined` before the first): the slow-write yardstick. */
  rttMedianMs: number | undefined;
  /** The last write's round trip, ms. */
  lastRttMs: number | undefined;
  /** Congestion seen recently, 0 (healthy) … 1 (every recent write congested). */
  backpressure: number;
  /** Measured input rate, records per second. */
  inputRate: number;
  /** Writes in flight when the last write started, and the limit then. */
  inFlight: number;
  concurrency: number;
}

/** A `window-change`: the window or the concurrency moved, and why. */
export interface WindowChange {
  from: number;
  to: number;
  concurrencyFrom: number;
  concurrencyTo: number;
  reason: AdaptiveReason;
  signals: AdaptiveSignals;
}

/**
 * Where an adaptive trigger's controller stands: read-only. The pipeline feeds the controller; its
 * state shows here, in `metrics().trigger` and in `window-change` events.
 */
export interface AdaptiveState {
  readonly minWindow: number;
  readonly maxWindow: number;
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly minRecords: number;
  readonly maxConcurrency: number;
  /** The current window, ms. */
  readonly window: number;
  /** The current write concurrency limit: an integer in [1, maxConcurrency]. */
  readonly concurrency: number;
  /** The record count at which a lane is cut: `window × input rate`, within [minRecords, maxRecords]. */
  readonly volumeThreshold: number;
  signals(): AdaptiveSignals;
}

const ADAPTIVE_KEYS = new Set([
  'minWindow',
  'maxWindow',
  'maxRecords',
  'maxBytes',
  'minRecords',
  'maxConcurrency',
  'widenFactor',
  'narrowFactor',
  'narrowHalfLife',
  'narrowStep',
  'rttDeviations',
  'slowWrites',
]);
const RTT_ALPHA = 0.4; // Vector ARC's EWMA weight
const PRESSURE_ALPHA = 0.3;
const RATE_INTERVAL_MS = 1_000;
/**
 * Concurrency grows only when recent back-pressure has died down below this (ARC: "no back-pressure
 * was seen"): right after a rejection, probing for one more write in flight only earns another one.
 */
const CALM = 0.1;
/** Round trips the slow-write test compares against: the sink's own recent distribution. */
const RTT_HISTORY = 20;
/** Round trips needed before any can be judged slow: fewer say nothing about the distribution. */
const RTT_BASELINE = 5;
/**
 * The clock's grain, ms: the system clock counts whole milliseconds, so a round trip 1 ms above a
 * sub-millisecond history is a rounding, not a slow write.
 */
const CLOCK_GRAIN_MS = 1;

// A process-wide brand (as MicrobatchError's): the ESM and the CJS builds each have their own
// class, so `instanceof` fails when a trigger built by one meets a pipeline built by the other.
const BRAND = Symbol.for('microbatch.adaptive-controller');

/**
 * The state of the adaptive policy: the window, the concurrency and the signals they follow. Pure:
 * the runtime reports what happens (arrivals, writes, retries, memory pressure) with the time, and
 * reads the decisions. Every change is returned, so the runtime can explain it.
 *
 * Internal: the package exports its read-only face, {@link AdaptiveState}. The feeding methods keep
 * the first version's names; the time (`now`) they take last is optional, and without it the
 * controller uses the latest time it was given (by `arrived`), which only delays narrowing.
 */
export class AdaptiveController implements AdaptiveState {
  readonly minWindow: number;
  readonly maxWindow: number;
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly minRecords: number;
  readonly maxConcurrency: number;
  readonly #widen: number;
  readonly #narrowFactor: number;
  readonly #halfLife: number;
  readonly #narrowStep: number;
  readonly #deviations: number;
  readonly #slowWrites: number;

  #window: number;
  #concurrency = 1;
  #rtt: number | undefined;
  #rttDev: number | undefined;
  #lastRtt: number | undefined;
  /** The last RTT_HISTORY round trips, a ring. */
  readonly #history = new Float64Array(RTT_HISTORY);
  #historySize = 0;
  #historyNext = 0;
  /** Whether each of the last `slowWrites + 2` writes was slow, oldest first. */
  #slowFlags: boolean[] = [];
  #pressure = 0;
  #rate = 0;
  #rateKnown = false;
  #rateSince: number | undefined;
  #rateCount = 0;
  #inFlight = 0;
  #atLimit = false;
  /** Healthy acknowledgements at the limit in the current round. */
  #roundAcks = 0;
  /** The latest time the runtime gave, ms. */
  #seenAt: number | undefined;
  /** When the last write ended or back-pressure was last signalled: healthy time counts from there. */
  #lastEventAt: number | undefined;

  constructor(options: AdaptiveOptions) {
    const at = 'triggers.adaptive';
    if (typeof options !== 'object' || options === null) {
      throw invalidOptions(
        `${at}(options): options must be an object with minWindow, maxWindow and maxRecords`,
      );
    }
    for (const key of Object.keys(options)) {
      if (!ADAPTIVE_KEYS.has(key)) throw invalidOptions(`${at}: unknown option '${key}'`, { option: key });
    }
    this.minWindow = parseDuration(options.minWindow, `${at}({ minWindow })`);
    this.maxWindow = parseDuration(options.maxWindow, `${at}({ maxWindow })`);
    if (this.maxWindow < this.minWindow) {
      throw invalidOptions(
        `${at}: maxWindow (${formatDuration(this.maxWindow)}) must be ≥ minWindow (${formatDuration(this.minWindow)})`,
        { option: 'maxWindow' },
      );
    }
    this.maxRecords = parseCount(options.maxRecords, `${at}({ maxRecords })`);
    this.maxBytes =
      options.maxBytes === undefined || options.maxBytes === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : parseSize(options.maxBytes, `${at}({ maxBytes })`);
    this.minRecords = parseCount(
      options.minRecords ?? Math.max(1, Math.ceil(this.maxRecords / 100)),
      `${at}({ minRecords })`,
    );
    if (this.minRecords > this.maxRecords) {
      throw invalidOptions(
        `${at}: minRecords (${this.minRecords}) must be ≤ maxRecords (${this.maxRecords})`,
        {
          option: 'minRecords',
        },
      );
    }
    this.maxConcurrency = parseCount(options.maxConcurrency ?? 8, `${at}({ maxConcurrency })`);
    const widen = options.widenFactor ?? 2;
    if (typeof widen !== 'number' || !(widen > 1) || !Number.isFinite(widen)) {
      throw invalidOptions(`${at}({ widenFactor }) must be a number > 1; got ${show(widen)}`, {
        option: 'widenFactor',
      });
    }
    this.#widen = widen;
    const narrow = options.narrowFactor ?? 0.5;
    if (typeof narrow !== 'number' || !(narrow > 0 && narrow < 1)) {
      throw invalidOptions(`${at}({ narrowFactor }) must be a number in (0, 1); got ${show(narrow)}`, {
        option: 'narrowFactor',
      });
    }
    this.#narrowFactor = narrow;
    this.#halfLife =
      options.narrowHalfLife === undefined
        ? this.maxWindow
        : parseDuration(options.narrowHalfLife, `${at}({ narrowHalfLife })`);
    this.#narrowStep =
      options.narrowStep === undefined
        ? Math.max(1, Math.round((this.maxWindow - this.minWindow) / 20))
        : parseDuration(options.narrowStep, `${at}({ narrowStep })`);
    const k = options.rttDeviations ?? 2.5;
    if (typeof k !== 'number' || !(k >= 0) || !Number.isFinite(k)) {
      throw invalidOptions(`${at}({ rttDeviations }) must be a number ≥ 0; got ${show(k)}`, {
        option: 'rttDeviations',
      });
    }
    this.#deviations = k;
    this.#slowWrites = parseCount(options.slowWrites ?? 3, `${at}({ slowWrites })`);
    this.#window = this.minWindow;
    Object.defineProperty(this, BRAND, { value: true });
    // Nothing public can be assigned: the state lives in private fields, behind getters.
    Object.freeze(this);
  }

  /** The current window, ms. */
  get window(): number {
    return this.#window;
  }

  /** The current write concurrency limit: an integer in [1, maxConcurrency]. */
  get concurrency(): number {
    return this.#concurrency;
  }

  /**
   * The record count at which a lane flushes on volume: `window × input rate`, within the bounds.
   * Until a first second of arrivals has been measured it is `maxRecords`: the window decides.
   */
  get volumeThreshold(): number {
    if (!this.#rateKnown) return this.maxRecords;
    const expected = Math.ceil((this.#window / 1000) * this.#rate);
    return Math.min(this.maxRecords, Math.max(this.minRecords, expected));
  }

  signals(): AdaptiveSignals {
    return {
      rttMs: this.#rtt,
      rttDeviationMs: this.#rttDev,
      rttMedianMs: this.#historySize === 0 ? undefined : this.#recent().median,
      lastRttMs: this.#lastRtt,
      backpressure: this.#pressure,
      inputRate: this.#rate,
      inFlight: this.#inFlight,
      concurrency: this.#concurrency,
    };
  }

  /** Records arrived (for the input rate). */
  arrived(records: number, now: number): void {
    this.#time(now);
    if (this.#rateSince === undefined) {
      this.#rateSince = now;
      // The first arrivals open the first interval; counting them would overstate the rate.
      this.#rateCount = 0;
      return;
    }
    this.#rateCount += records;
    const elapsed = now - this.#rateSince;
    if (elapsed >= RATE_INTERVAL_MS) {
      const rate = (this.#rateCount * 1000) / elapsed;
      // Long gaps (a blocked scraper) count fully: the rate drops at once, then follows.
      this.#rate = this.#rateKnown
        ? this.#rate + (rate - this.#rate) * Math.min(1, 0.5 * (elapsed / RATE_INTERVAL_MS))
        : rate;
      this.#rateKnown = true;
      this.#rateSince = now;
      this.#rateCount = 0;
    }
  }

  /** A write starts with `inFlight` writes running (itself included) under `limit`. */
  writeStarted(inFlight: number, limit: number): void {
    this.#inFlight = inFlight;
    if (inFlight >= limit) this.#atLimit = true;
  }

  /**
   * A write finished at `now`. `retried`: it needed more than one attempt (the retries were already
   * reported); `hint`: the sink's back-pressure hint in [0, 1]. Returns the change it made, if any.
   */
  writeDone(
    rttMs: number,
    retried: boolean,
    hint: number | undefined,
    now?: number,
  ): WindowChange | undefined {
    const at = this.#time(now);
    // A clock stepped back gives a negative round trip; nothing gives NaN, but one would poison every
    // average for good: both count as instant.
    const rtt = Number.isFinite(rttMs) && rttMs > 0 ? rttMs : 0;
    return this.#written(rtt, retried, hint, at);
  }

  #written(
    rttMs: number,
    retried: boolean,
    hint: number | undefined,
    at: number | undefined,
  ): WindowChange | undefined {
    this.#lastRtt = rttMs;
    // Every round trip feeds the estimates, retried and hinted ones too: two controllers given the
    // same writes must judge the next one alike, whatever else they were told (the property
    // "more back-pressure never narrows the window" found this).
    const slow = this.#judge(rttMs);
    const fast = this.#rtt === undefined || rttMs <= this.#rtt;
    this.#observeRtt(rttMs);
    if (retried) {
      this.#pressure += (1 - this.#pressure) * PRESSURE_ALPHA;
      this.#event(at);
      return undefined; // already widened by the retries
    }
    if (hint !== undefined && hint >= 0.5) return this.#congest('backpressure-hint', at);
    if (slow === 'persistent') return this.#congest('slow-write', at);
    if (slow === 'slow') {
      // One slow round trip among healthy ones: not evidence either way. Hold, and restart the
      // healthy time from here.
      this.#atLimit = false;
      this.#event(at);
      return undefined;
    }
    return this.#healthy(fast, at);
  }

  /** Back-pressure at `now`: a retryable failure, a timeout, memory pressure or a slow or hinted write. */
  congested(reason: AdaptiveReason, now?: number): WindowChange | undefined {
    return this.#congest(reason, this.#time(now));
  }

  #congest(reason: AdaptiveReason, at: number | undefined): WindowChange | undefined {
    this.#event(at);
    this.#pressure += (1 - this.#pressure) * PRESSURE_ALPHA;
    const from = this.#window;
    const concurrencyFrom = this.#concurrency;
    this.#window = Math.min(this.maxWindow, this.#window * this.#widen);
    // ×0.9, rounded down like ARC's integer limit (so 2 → 1 and 3 → 2, never below 1).
    this.#concurrency = Math.max(1, Math.floor(this.#concurrency * 0.9));
    this.#roundAcks = 0;
    this.#atLimit = false;
    return this.#change(from, concurrencyFrom, reason);
  }

  #healthy(fast: boolean, at: number | undefined): WindowChange | undefined {
    this.#pressure *= 1 - PRESSURE_ALPHA;
    const from = this.#window;
    const concurrencyFrom = this.#concurrency;
    const healthyMs =
      at === undefined || this.#lastEventAt === undefined ? 0 : Math.max(0, at - this.#lastEventAt);
    this.#event(at);
    // The excess over minWindow shrinks by narrowFactor per healthy write and halves per
    // narrowHalfLife of healthy time, and by at least narrowStep: a wide window, where writes are
    // rare, loses more per write, so coming back takes about twice the window, not a fixed number
    // of writes (docs/adaptive.md argues it against TCP and ARC). Whole milliseconds, rounded down.
    const excess = this.#window - this.minWindow;
    if (excess > 0) {
      const decayed = excess * this.#narrowFactor * 2 ** (-healthyMs / this.#halfLife);
      const next = Math.floor(Math.max(0, Math.min(decayed, excess - this.#narrowStep)));
      this.#window = this.minWindow + next;
    }
    // ARC: one more in flight per healthy round trip at the limit. A round of `c` concurrent writes
    // brings `c` acknowledgements, so the limit grows by one after `c` of them (as TCP's congestion
    // avoidance does), and only once recent back-pressure has died down.
    if (this.#atLimit && fast && this.#pressure < CALM) {
      if (++this.#roundAcks >= this.#concurrency) {
        this.#concurrency = Math.min(this.maxConcurrency, this.#concurrency + 1);
        this.#roundAcks = 0;
      }
    }
    this.#atLimit = false;
    return this.#change(from, concurrencyFrom, 'healthy');
  }

  /**
   * Whether a round trip is slow against the sink's own recent distribution, and whether slow ones
   * persist: `persistent` when this one and at least `slowWrites − 1` others among the last
   * `slowWrites + 2` were slow. A slow write is above mean + k·deviation of the last 20 round trips
   * (the spread of this sink, not a fixed margin) and above twice their median plus the clock's grain
   * (a floor that scales with the sink's typical round trip: on a 3 ms sink, 7 ms is not congestion
   * worth doubling a window for; Vector compares against mean + 2.5 deviations alone).
   */
  #judge(rttMs: number): 'ok' | 'slow' | 'persistent' {
    let slow = false;
    if (this.#historySize >= RTT_BASELINE) {
      const { mean, deviation, median } = this.#recent();
      slow = rttMs > mean + this.#deviations * deviation && rttMs > 2 * median + CLOCK_GRAIN_MS;
    }
    this.#history[this.#historyNext] = rttMs;
    this.#historyNext = (this.#historyNext + 1) % RTT_HISTORY;
    this.#historySize = Math.min(RTT_HISTORY, this.#historySize + 1);
    this.#slowFlags.push(slow);
    if (this.#slowFlags.length > this.#slowWrites + 2) this.#slowFlags.shift();
    if (!slow) return 'ok';
    if (this.#slowFlags.filter(Boolean).length < this.#slowWrites) return 'slow';
    this.#slowFlags = []; // the next widening needs fresh evidence
    return 'persistent';
  }

  /** Mean, mean absolute deviation and median of the recent round trips. */
  #recent(): { mean: number; deviation: number; median: number } {
    const values = Array.from(this.#history.subarray(0, this.#historySize)).sort((a, b) => a - b);
    const n = values.length;
    const mean = values.reduce((s, v) => s + v, 0) / n;
    const deviation = values.reduce((s, v) => s + Math.abs(v - mean), 0) / n;
    const median = n % 2 === 1 ? values[(n - 1) / 2]! : (values[n / 2 - 1]! + values[n / 2]!) / 2;
    return { mean, deviation, median };
  }

  #observeRtt(rttMs: number): void {
    if (this.#rtt === undefined || this.#rttDev === undefined) {
      this.#rtt = rttMs;
      this.#rttDev = rttMs / 2;
      return;
    }
    this.#rttDev += (Math.abs(rttMs - this.#rtt) - this.#rttDev) * RTT_ALPHA;
    this.#rtt += (rttMs - this.#rtt) * RTT_ALPHA;
  }

  /** The time of a report: the one given (remembered), else the latest one seen. */
  #time(now: number | undefined): number | undefined {
    if (now !== undefined && Number.isFinite(now)) {
      this.#seenAt = this.#seenAt === undefined ? now : Math.max(this.#seenAt, now);
      return now;
    }
    return this.#seenAt;
  }

  #event(at: number | undefined): void {
    if (at !== undefined) this.#lastEventAt = Math.max(this.#lastEventAt ?? at, at);
  }

  #change(from: number, concurrencyFrom: number, reason: AdaptiveReason): WindowChange | undefined {
    const concurrencyTo = this.#concurrency;
    if (from === this.#window && concurrencyFrom === concurrencyTo) return undefined;
    return { from, to: this.#window, concurrencyFrom, concurrencyTo, reason, signals: this.signals() };
  }
}

/** A trigger driven by an adaptive controller; the runtime feeds the controller. */
export interface AdaptiveTrigger extends Trigger {
  readonly mode: 'adaptive';
  /** Where the controller stands (read-only). */
  readonly controller: AdaptiveState;
}

/** An adaptive trigger as the runtime sees it: its controller, with the feeding methods. Internal. */
export interface FedAdaptiveTrigger extends AdaptiveTrigger {
  readonly controller: AdaptiveController;
}

/**
 * Whether `trigger` is an adaptive one (whose controller the runtime must feed). Recognised by a
 * `Symbol.for` brand on its controller, not `instanceof`, so that a trigger from the ESM build and a
 * pipeline from the CJS build (or the other way round) agree.
 */
export function isAdaptive(trigger: Trigger): trigger is FedAdaptiveTrigger {
  const controller = (trigger as { controller?: unknown }).controller;
  return (
    trigger.mode === 'adaptive' &&
    typeof controller === 'object' &&
    controller !== null &&
    (controller as Record<symbol, unknown>)[BRAND] === true
  );
}

/**
 * A window that follows the sink's health: it widens (×`widenFactor`) on back-pressure — retryable
 * failures, timeouts, a sink's back-pressure hint, persistently slow round trips, memory pressure —
 * and narrows after healthy writes by a fraction of its excess over `minWindow` and with healthy
 * time, always within [minWindow, maxWindow]. A lane also flushes at `window × input rate` records
 * (within [minRecords, maxRecords]), and a lane with fewer than `minRecords` waits for `maxWindow`.
 * Write concurrency moves beside it, ARC-style: +1 per healthy round trip at the limit, ×0.9 on
 * back-pressure, within [1, maxConcurrency]. Use it on its own (not inside `any`/`all`): the runtime
 * feeds its controller.
 */
export function adaptive(options: AdaptiveOptions): AdaptiveTrigger {
  const controller = new AdaptiveController(options);
  const { maxWindow, minRecords } = controller;
  const trigger: FedAdaptiveTrigger = {
    description: `adaptive(${formatDuration(controller.minWindow)}…${formatDuration(maxWindow)}, ≤ ${controller.maxRecords} records${Number.isFinite(controller.maxBytes) ? `, ≤ ${controller.maxBytes} bytes` : ''})`,
    mode: 'adaptive',
    usesBytes: Number.isFinite(controller.maxBytes),
    caps: { records: controller.maxRecords, bytes: controller.maxBytes },
    controller,
    check(lane: LaneState, now: number) {
      if (lane.openedAt === undefined) return undefined;
      const age = now - lane.openedAt;
      if (lane.records >= controller.volumeThreshold) return 'adaptive';
      if (age >= maxWindow) return 'adaptive';
      if (age >= controller.window && lane.records >= minRecords) return 'adaptive';
      return undefined;
    },
    deadline(lane: LaneState) {
      if (lane.openedAt === undefined) return Number.POSITIVE_INFINITY;
      // A lane below minRecords waits for maxWindow; the runtime asks again when it grows.
      return lane.openedAt + (lane.records >= minRecords ? controller.window : maxWindow);
    },
    headroom(lane: LaneState) {
      const target = lane.records < minRecords ? minRecords : controller.volumeThreshold;
      return Math.max(1, target - lane.records);
    },
  };
  return trigger;
}
