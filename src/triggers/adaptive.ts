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
  /** The window shrinks by this after each healthy write. @default (maxWindow − minWindow) / 20 */
  narrowStep?: Duration;
  /** A round trip above mean + this many deviations counts as back-pressure (Vector uses 2.5). @default 2.5 */
  rttDeviations?: number;
}

/** Why the controller changed the window or the concurrency. */
export type AdaptiveReason = 'retry' | 'timeout' | 'backpressure-hint' | 'slow-write' | 'memory' | 'healthy';

/** What the controller knows, as metrics and events show it. */
export interface AdaptiveSignals {
  /** Round-trip time EWMA of healthy writes, ms (`undefined` before the first). */
  rttMs: number | undefined;
  /** Its mean deviation, ms. */
  rttDeviationMs: number | undefined;
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

const ADAPTIVE_KEYS = new Set([
  'minWindow',
  'maxWindow',
  'maxRecords',
  'maxBytes',
  'minRecords',
  'maxConcurrency',
  'widenFactor',
  'narrowStep',
  'rttDeviations',
]);
const RTT_ALPHA = 0.4; // Vector ARC's EWMA weight
const PRESSURE_ALPHA = 0.3;
const RATE_INTERVAL_MS = 1_000;
/**
 * Concurrency grows only when recent back-pressure has died down below this (ARC: "no back-pressure
 * was seen"): right after a rejection, probing for one more write in flight only earns another one.
 */
const CALM = 0.1;

/**
 * The state of the adaptive policy: the window, the concurrency and the signals they follow. Pure:
 * the runtime reports what happens (arrivals, writes, retries, memory pressure) with the time, and
 * reads the decisions. Every change is returned, so the runtime can explain it.
 */
export class AdaptiveController {
  readonly minWindow: number;
  readonly maxWindow: number;
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly minRecords: number;
  readonly maxConcurrency: number;
  readonly #widen: number;
  readonly #narrow: number;
  readonly #deviations: number;

  /** The current window, ms. */
  window: number;
  /** The current write concurrency limit: an integer in [1, maxConcurrency]. */
  concurrency = 1;
  #rtt: number | undefined;
  #rttDev: number | undefined;
  #lastRtt: number | undefined;
  #pressure = 0;
  #rate = 0;
  #rateKnown = false;
  #rateSince: number | undefined;
  #rateCount = 0;
  #inFlight = 0;
  #atLimit = false;
  /** Healthy acknowledgements at the limit in the current round. */
  #roundAcks = 0;

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
    this.#narrow =
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
    this.window = this.minWindow;
  }

  /**
   * The record count at which a lane flushes on volume: `window × input rate`, within the bounds.
   * Until a first second of arrivals has been measured it is `maxRecords`: the window decides.
   */
  get volumeThreshold(): number {
    if (!this.#rateKnown) return this.maxRecords;
    const expected = Math.ceil((this.window / 1000) * this.#rate);
    return Math.min(this.maxRecords, Math.max(this.minRecords, expected));
  }

  signals(): AdaptiveSignals {
    return {
      rttMs: this.#rtt,
      rttDeviationMs: this.#rttDev,
      lastRttMs: this.#lastRtt,
      backpressure: this.#pressure,
      inputRate: this.#rate,
      inFlight: this.#inFlight,
      concurrency: Math.floor(this.concurrency),
    };
  }

  /** Records arrived (for the input rate). */
  arrived(records: number, now: number): void {
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
   * A write finished. `retried`: it needed more than one attempt (the retries were already reported);
   * `hint`: the sink's back-pressure hint in [0, 1]. Returns the change it made, if any.
   */
  writeDone(rttMs: number, retried: boolean, hint: number | undefined): WindowChange | undefined {
    this.#lastRtt = rttMs;
    if (retried) {
      this.#observeRtt(rttMs);
      this.#pressure += (1 - this.#pressure) * PRESSURE_ALPHA;
      return undefined; // already widened by the retries
    }
    if (hint !== undefined && hint >= 0.5) {
      this.#observeRtt(rttMs);
      return this.congested('backpressure-hint');
    }
    if (
      this.#rtt !== undefined &&
      this.#rttDev !== undefined &&
      rttMs > this.#rtt + this.#deviations * this.#rttDev &&
      // (and by more than a millisecond: a sub-millisecond history must not make 1 ms look slow)
      rttMs > this.#rtt * 1.1 + 1
    ) {
      this.#observeRtt(rttMs);
      return this.congested('slow-write');
    }
    const fast = this.#rtt === undefined || rttMs <= this.#rtt;
    this.#observeRtt(rttMs);
    return this.#healthy(fast);
  }

  /** Back-pressure: a retryable failure, a timeout, memory pressure or a slow or hinted write. */
  congested(reason: AdaptiveReason): WindowChange | undefined {
    this.#pressure += (1 - this.#pressure) * PRESSURE_ALPHA;
    const from = this.window;
    const concurrencyFrom = Math.floor(this.concurrency);
    this.window = Math.min(this.maxWindow, this.window * this.#widen);
    // ×0.9, rounded down like ARC's integer limit (so 2 → 1 and 3 → 2, never below 1).
    this.concurrency = Math.max(1, Math.floor(this.concurrency * 0.9));
    this.#roundAcks = 0;
    this.#atLimit = false;
    return this.#change(from, concurrencyFrom, reason);
  }

  #healthy(fast: boolean): WindowChange | undefined {
    this.#pressure *= 1 - PRESSURE_ALPHA;
    const from = this.window;
    const concurrencyFrom = Math.floor(this.concurrency);
    this.window = Math.max(this.minWindow, this.window - this.#narrow);
    // ARC: one more in flight per healthy round trip at the limit. A round of `c` concurrent writes
    // brings `c` acknowledgements, so the limit grows by one after `c` of them (as TCP's congestion
    // avoidance does), and only once recent back-pressure has died down.
    if (this.#atLimit && fast && this.#pressure < CALM) {
      if (++this.#roundAcks >= this.concurrency) {
        this.concurrency = Math.min(this.maxConcurrency, this.concurrency + 1);
        this.#roundAcks = 0;
      }
    }
    this.#atLimit = false;
    return this.#change(from, concurrencyFrom, 'healthy');
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

  #change(from: number, concurrencyFrom: number, reason: AdaptiveReason): WindowChange | undefined {
    const concurrencyTo = Math.floor(this.concurrency);
    if (from === this.window && concurrencyFrom === concurrencyTo) return undefined;
    return { from, to: this.window, concurrencyFrom, concurrencyTo, reason, signals: this.signals() };
  }
}

/** A trigger driven by an {@link AdaptiveController}; the runtime feeds the controller. */
export interface AdaptiveTrigger extends Trigger {
  readonly mode: 'adaptive';
  readonly controller: AdaptiveController;
}

/** Whether `trigger` is an adaptive one (whose controller the runtime must feed). */
export function isAdaptive(trigger: Trigger): trigger is AdaptiveTrigger {
  return trigger.mode === 'adaptive' && (trigger as AdaptiveTrigger).controller instanceof AdaptiveController;
}

/**
 * A window that follows the sink's health: it widens (×`widenFactor`) on back-pressure — retryable
 * failures, timeouts, a sink's back-pressure hint, round trips far above their average, memory
 * pressure — and narrows step by step after healthy writes, always within [minWindow, maxWindow].
 * A lane also flushes at `window × input rate` records (within [minRecords, maxRecords]), and a lane
 * with fewer than `minRecords` waits for `maxWindow`. Write concurrency moves beside it, ARC-style:
 * +1 per healthy round trip at the limit, ×0.9 on back-pressure, within [1, maxConcurrency].
 * Use it on its own (not inside `any`/`all`): the runtime feeds its controller.
 */
export function adaptive(options: AdaptiveOptions): AdaptiveTrigger {
  const controller = new AdaptiveController(options);
  const { maxWindow, minRecords } = controller;
  return {
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
}
