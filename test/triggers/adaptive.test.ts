import { fc, it } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import {
  AdaptiveController,
  type AdaptiveOptions,
  type AdaptiveReason,
  adaptive,
  type FedAdaptiveTrigger,
  isAdaptive,
  type WindowChange,
} from '../../src/triggers/adaptive.js';
import { expectInvalid } from '../support.js';
import { emptyLane, lane } from './lane.js';

const base: AdaptiveOptions = { minWindow: 1_000, maxWindow: 30_000, maxRecords: 1_000 };

/** An adaptive trigger with its controller's feeding methods, as the runtime sees it. */
function fed(options: AdaptiveOptions): FedAdaptiveTrigger {
  const t = adaptive(options);
  if (!isAdaptive(t)) throw new Error('not recognised as adaptive');
  return t;
}

/** Feeds `records` arrivals per second for `seconds` seconds, starting at `from`; returns the end time. */
function feed(controller: AdaptiveController, perSecond: number, seconds: number, from = 0): number {
  let now = from;
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < 10; i++) {
      controller.arrived(perSecond / 10, now);
      now += 100;
    }
  }
  return now;
}

describe('triggers.adaptive options', () => {
  it('needs an options object', () => {
    expectInvalid(() => adaptive(undefined as never), 'triggers.adaptive(options)', 'minWindow, maxWindow');
    expectInvalid(() => adaptive(null as never), 'triggers.adaptive(options)');
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['minWindow', { minWindow: 0 }, 'positive duration', 'got 0'],
    ['minWindow', { minWindow: 'soon' }, 'positive duration', "got 'soon'"],
    ['maxWindow', { maxWindow: -5 }, 'positive duration', 'got -5'],
    ['maxRecords', { maxRecords: 0 }, 'integer ≥ 1', 'got 0'],
    ['maxRecords', { maxRecords: 1.5 }, 'integer ≥ 1', 'got 1.5'],
    ['maxBytes', { maxBytes: '8TB' }, 'positive size', "got '8TB'"],
    ['minRecords', { minRecords: 0 }, 'integer ≥ 1', 'got 0'],
    ['maxConcurrency', { maxConcurrency: 0 }, 'integer ≥ 1', 'got 0'],
    ['narrowStep', { narrowStep: 0 }, 'positive duration', 'got 0'],
    ['narrowHalfLife', { narrowHalfLife: 0 }, 'positive duration', 'got 0'],
    ['narrowHalfLife', { narrowHalfLife: 'soon' }, 'positive duration', "got 'soon'"],
    ['slowWrites', { slowWrites: 0 }, 'integer ≥ 1', 'got 0'],
    ['slowWrites', { slowWrites: 2.5 }, 'integer ≥ 1', 'got 2.5'],
  ])('rejects a bad %s, naming it and the value (%j)', (option, overrides, ...fragments) => {
    expectInvalid(
      () => adaptive({ ...base, ...(overrides as Partial<AdaptiveOptions>) }),
      `triggers.adaptive({ ${option} })`,
      ...fragments,
    );
  });

  it.each([[1], [0.5], [Number.NaN], [Number.POSITIVE_INFINITY], ['2']])(
    'rejects widenFactor %j: it must be a number > 1',
    (widenFactor) => {
      const error = expectInvalid(
        () => adaptive({ ...base, widenFactor: widenFactor as number }),
        'triggers.adaptive({ widenFactor }) must be a number > 1',
        'got',
      );
      expect(error.details).toMatchObject({ option: 'widenFactor' });
    },
  );

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY]])('rejects rttDeviations %j', (rttDeviations) => {
    expectInvalid(
      () => adaptive({ ...base, rttDeviations }),
      'triggers.adaptive({ rttDeviations }) must be a number ≥ 0',
    );
  });

  it.each([[0], [1], [-0.5], [Number.NaN], ['half']])('rejects narrowFactor %j', (narrowFactor) => {
    expectInvalid(
      () => adaptive({ ...base, narrowFactor: narrowFactor as number }),
      'triggers.adaptive({ narrowFactor }) must be a number in (0, 1)',
    );
  });

  it('says which bound is wrong when maxWindow < minWindow', () => {
    const error = expectInvalid(
      () => adaptive({ ...base, minWindow: '15s', maxWindow: '5s' }),
      'triggers.adaptive: maxWindow (5s) must be ≥ minWindow (15s)',
    );
    expect(error.details).toMatchObject({ option: 'maxWindow' });
  });

  it('rejects minRecords above maxRecords', () => {
    expectInvalid(
      () => adaptive({ ...base, maxRecords: 10, minRecords: 11 }),
      'triggers.adaptive: minRecords (11) must be ≤ maxRecords (10)',
    );
  });

  it('has the documented defaults', () => {
    const c = new AdaptiveController(base);
    expect(c.minRecords).toBe(10); // maxRecords / 100
    expect(new AdaptiveController({ ...base, maxRecords: 50 }).minRecords).toBe(1); // at least 1
    expect(c.maxConcurrency).toBe(8);
    expect(c.maxBytes).toBe(Number.POSITIVE_INFINITY);
    expect(c.window).toBe(1_000); // starts at minWindow
    expect(c.concurrency).toBe(1); // ARC starts at one write in flight
    // widenFactor 2: one congestion signal doubles the window.
    expect(c.congested('retry')?.to).toBe(2_000);
    // narrowFactor 0.5: a healthy write halves the excess over minWindow, and narrows by at least
    // narrowStep, (maxWindow − minWindow) / 20 = 1450 ms. (v1 narrowed by exactly narrowStep: 2550.)
    expect(c.writeDone(100, false, undefined)?.to).toBe(1_000);
    c.congested('retry');
    c.congested('retry');
    expect(c.window).toBe(4_000);
    expect(c.writeDone(100, false, undefined)?.to).toBe(2_500);
    // narrowHalfLife maxWindow: 30 s of healthy time halve the excess once more.
    const t = new AdaptiveController(base);
    t.congested('retry', 0);
    t.congested('retry', 0);
    expect(t.writeDone(100, false, undefined, 30_000)?.to).toBe(1_000 + 3_000 * 0.5 * 0.5);
  });

  it('accepts durations and sizes as strings', () => {
    const c = new AdaptiveController({
      minWindow: '250ms',
      maxWindow: '1m',
      maxRecords: 5,
      maxBytes: '8MB',
      narrowStep: '2s',
    });
    expect([c.minWindow, c.maxWindow, c.maxBytes]).toEqual([250, 60_000, 8e6]);
  });
});

describe('triggers.adaptive as a trigger', () => {
  it('describes itself, caps batches and sizes records only with maxBytes', () => {
    const t = adaptive(base);
    expect(t.mode).toBe('adaptive');
    expect(t.description).toBe('adaptive(1s…30s, ≤ 1000 records)');
    expect(t.caps).toEqual({ records: 1_000, bytes: Number.POSITIVE_INFINITY });
    expect(t.usesBytes).toBe(false);
    const sized = adaptive({ ...base, maxBytes: '8MB' });
    expect(sized.description).toBe('adaptive(1s…30s, ≤ 1000 records, ≤ 8000000 bytes)');
    expect(sized.caps).toEqual({ records: 1_000, bytes: 8e6 });
    expect(sized.usesBytes).toBe(true);
  });

  it('never fires on an empty lane and has no deadline for it', () => {
    const t = fed(base);
    expect(t.check(emptyLane, 1e12)).toBeUndefined();
    expect(t.deadline(emptyLane)).toBe(Number.POSITIVE_INFINITY);
  });

  it('fires at the window once the lane holds minRecords, below the volume threshold', () => {
    const t = fed(base); // minRecords 10
    feed(t.controller, 200, 10); // 200 records/s: a threshold of about 200 at a 1 s window
    expect(t.controller.volumeThreshold).toBeGreaterThan(100);
    expect(t.deadline(lane(50, 0, 500))).toBe(1_500);
    expect(t.check(lane(50, 0, 500), 1_499)).toBeUndefined();
    expect(t.check(lane(50, 0, 500), 1_500)).toBe('adaptive');
  });

  it('leaves the decision to the window until a first second of arrivals is measured', () => {
    const t = fed(base);
    expect(t.controller.volumeThreshold).toBe(1_000); // maxRecords: no tiny batches at start-up
    expect(t.check(lane(10, 0, 0), 0)).toBeUndefined();
    expect(t.check(lane(999, 0, 0), 999)).toBeUndefined();
    expect(t.check(lane(10, 0, 0), 1_000)).toBe('adaptive');
    expect(t.check(lane(1_000, 0, 0), 0)).toBe('adaptive');
  });

  it('lets a lane below minRecords wait for maxWindow: no tiny batches from a trickle', () => {
    const t = fed(base);
    expect(t.deadline(lane(9, 0, 0))).toBe(30_000);
    expect(t.check(lane(9, 0, 0), 1_000)).toBeUndefined();
    expect(t.check(lane(9, 0, 0), 29_999)).toBeUndefined();
    expect(t.check(lane(1, 0, 0), 30_000)).toBe('adaptive');
    // It asks to be checked again when the lane reaches minRecords (then the window applies).
    expect(t.headroom(lane(3))).toBe(7);
  });

  it('follows the window when it widens', () => {
    const t = fed(base);
    feed(t.controller, 200, 10);
    t.controller.congested('retry');
    t.controller.congested('retry');
    expect(t.controller.window).toBe(4_000);
    expect(t.deadline(lane(50, 0, 0))).toBe(4_000);
    expect(t.check(lane(50, 0, 0), 3_999)).toBeUndefined();
    expect(t.check(lane(50, 0, 0), 4_000)).toBe('adaptive');
  });

  it('flushes at B = window × input rate records, within [minRecords, maxRecords]', () => {
    const t = fed(base);
    const c = t.controller;
    expect(c.volumeThreshold).toBe(1_000); // no rate yet: maxRecords, the window decides
    feed(c, 200, 10); // 200 records/s
    const rate = c.signals().inputRate;
    expect(Math.abs(rate - 200)).toBeLessThan(2);
    const b = Math.ceil(rate); // 1 s × the rate
    expect(c.volumeThreshold).toBe(b);
    expect(t.check(lane(b - 1, 0, 0), 10)).toBeUndefined();
    expect(t.check(lane(b, 0, 0), 10)).toBe('adaptive');
    expect(t.headroom(lane(b - 50))).toBe(50);
    c.congested('backpressure-hint'); // window 2 s
    expect(c.volumeThreshold).toBe(Math.ceil(2 * rate));
    c.congested('retry'); // 4 s: 800
    c.congested('retry'); // 8 s: 1600, capped at maxRecords
    expect(c.volumeThreshold).toBe(1_000);
    expect(t.headroom(lane(1_200))).toBe(1);
  });

  it('lowers the input rate after a long gap, so B follows a source that slowed down', () => {
    const c = new AdaptiveController(base);
    const end = feed(c, 500, 10);
    expect(c.volumeThreshold).toBeGreaterThan(490);
    c.arrived(1, end + 60_000); // one record after a minute of silence
    expect(c.signals().inputRate).toBeLessThan(10); // what arrived since the last measurement, over a minute
    expect(c.volumeThreshold).toBe(10);
  });
});

describe('AdaptiveController decisions', () => {
  it('widens on back-pressure and says why, with the signals', () => {
    const c = new AdaptiveController(base);
    const change = c.congested('timeout');
    expect(change).toMatchObject({
      from: 1_000,
      to: 2_000,
      reason: 'timeout',
      concurrencyFrom: 1,
      concurrencyTo: 1,
    });
    expect(change?.signals.backpressure).toBeGreaterThan(0);
    expect(c.writeDone(100, false, 0.9)).toMatchObject({
      from: 2_000,
      to: 4_000,
      reason: 'backpressure-hint',
    });
  });

  // v1 widened on the first slow round trip; the issue (18) asks for persistence: one slow write
  // among healthy ones is noise, several are congestion.
  it('widens on slow round trips only when they persist: 3 of the last 5 writes', () => {
    const c = new AdaptiveController(base);
    for (let i = 0; i < 10; i++) c.writeDone(100, false, undefined);
    expect(c.window).toBe(1_000);
    expect(c.writeDone(110, false, undefined)).toBeUndefined(); // within the noise: healthy, nothing moves
    expect(c.writeDone(1_000, false, undefined)).toBeUndefined(); // one slow write: hold
    expect(c.window).toBe(1_000);
    expect(c.signals().lastRttMs).toBe(1_000);
    expect(c.writeDone(100, false, undefined)).toBeUndefined();
    expect(c.writeDone(1_000, false, undefined)).toBeUndefined(); // two of the last five
    expect(c.writeDone(1_000, false, undefined)).toMatchObject({
      from: 1_000,
      to: 2_000,
      reason: 'slow-write',
    });
    // The next widening needs fresh evidence: another slow write alone holds.
    expect(c.writeDone(5_000, false, undefined)).toBeUndefined();
    expect(c.window).toBe(2_000);
  });

  it('with slowWrites: 1, widens on every slow round trip (the first version)', () => {
    const c = new AdaptiveController({ ...base, slowWrites: 1 });
    for (let i = 0; i < 10; i++) c.writeDone(100, false, undefined);
    expect(c.writeDone(1_000, false, undefined)?.reason).toBe('slow-write');
  });

  it('judges a round trip against the sink’s own spread, with a floor of twice its median', () => {
    // The case: a ~3 ms sink (mean 3.6 ms) and one 7 ms write. v1 widened ×2 on it.
    const c = new AdaptiveController({ ...base, slowWrites: 1 });
    for (const rtt of [3, 4, 3, 5, 3, 3, 4, 3, 4, 4]) c.writeDone(rtt, false, undefined);
    expect(c.signals().rttMedianMs).toBe(3.5);
    expect(c.writeDone(7, false, undefined)).toBeUndefined(); // not above 2 × 3.5 + 1 ms
    // The median is now 4 ms: slow means above 9 ms (and above mean + 2.5 deviations).
    expect(c.writeDone(9, false, undefined)).toBeUndefined();
    expect(c.writeDone(10, false, undefined)?.reason).toBe('slow-write');
    // A noisy sink (1 … 10 ms): 10 ms is within its spread, however often.
    const noisy = new AdaptiveController({ ...base, slowWrites: 1 });
    for (let i = 0; i < 40; i++) noisy.writeDone(1 + ((i * 7) % 10), false, undefined);
    for (let i = 0; i < 5; i++) expect(noisy.writeDone(10, false, undefined)).toBeUndefined();
  });

  it('catches a rising trend within a few writes: round trips growing 20% per write', () => {
    const c = new AdaptiveController(base);
    for (let i = 0; i < 20; i++) c.writeDone(100, false, undefined);
    const reasons: (string | undefined)[] = [];
    for (let i = 1; i <= 8; i++) reasons.push(c.writeDone(100 * 1.2 ** i, false, undefined)?.reason);
    // 207 ms (the 4th) is the first above twice the median; 3 slow of the last 5 by the 6th.
    expect(reasons.indexOf('slow-write')).toBe(5);
    expect(c.window).toBe(2_000);
  });

  it('counts a negative or non-finite round trip as instant, so the estimates stay numbers', () => {
    const c = new AdaptiveController(base);
    for (const rtt of [10, Number.NaN, -5, Number.POSITIVE_INFINITY, 10, 10])
      c.writeDone(rtt, false, undefined);
    const s = c.signals();
    expect([s.rttMs, s.rttDeviationMs, s.rttMedianMs, s.lastRttMs].every(Number.isFinite)).toBe(true);
    expect(s.rttMedianMs).toBe(5);
    c.congested('retry');
    expect(c.writeDone(10, false, undefined)?.to).toBe(1_000);
  });

  it('narrows by elapsed healthy time as well as by writes', () => {
    // Widened to 30 s at t = 0; one healthy write at t = 60 s: half the excess for the write, a
    // quarter for two half-lives (narrowHalfLife defaults to maxWindow, 30 s).
    const c = new AdaptiveController(base);
    for (let i = 0; i < 5; i++) c.congested('retry', 0);
    expect(c.window).toBe(30_000);
    expect(c.writeDone(100, false, undefined, 60_000)).toMatchObject({ to: 1_000 + 29_000 / 8 });
    // A slow (held) write or a back-pressure signal restarts the healthy time.
    const d = new AdaptiveController({ ...base, narrowHalfLife: 10_000 });
    for (let i = 0; i < 5; i++) d.congested('retry', 0);
    d.congested('retry', 50_000);
    expect(d.writeDone(100, false, undefined, 60_000)?.to).toBe(1_000 + Math.floor(29_000 * 0.5 * 0.5));
    // Without the time (a runtime that does not pass it), the latest arrival's time stands in.
    const e = new AdaptiveController({ ...base, narrowHalfLife: 10_000 });
    e.arrived(1, 0);
    for (let i = 0; i < 5; i++) e.congested('retry');
    e.arrived(1, 10_000);
    expect(e.writeDone(100, false, undefined)?.to).toBe(1_000 + Math.floor(29_000 * 0.5 * 0.5));
  });

  it('does not widen again for a write whose retries already widened it', () => {
    const c = new AdaptiveController(base);
    c.congested('retry');
    expect(c.writeDone(100, true, undefined)).toBeUndefined();
    expect(c.window).toBe(2_000);
  });

  it('adds one write in flight per round of healthy writes at the limit, and takes 10% off on back-pressure', () => {
    const c = new AdaptiveController(base);
    c.writeStarted(1, 1);
    expect(c.writeDone(100, false, undefined)).toMatchObject({
      concurrencyFrom: 1,
      concurrencyTo: 2,
      reason: 'healthy',
    });
    c.writeStarted(1, 2); // below the limit: no reason to add one
    expect(c.writeDone(100, false, undefined)).toBeUndefined();
    expect(c.concurrency).toBe(2);
    // At 2, a round is two acknowledgements, each adding 1/2 (TCP congestion avoidance).
    c.writeStarted(2, 2);
    expect(c.writeDone(100, false, undefined)).toBeUndefined();
    c.writeStarted(2, 2);
    expect(c.writeDone(100, false, undefined)?.concurrencyTo).toBe(3);
    c.writeStarted(3, 3);
    expect(c.writeDone(120, false, undefined)).toBeUndefined(); // slower than average, not slow: hold
    expect(c.concurrency).toBe(3);
    c.congested('retry');
    // ×0.9: below 3, and at least 1.
    expect(c.signals().concurrency).toBe(2);
    expect(c.congested('retry')?.concurrencyTo ?? c.signals().concurrency).toBeLessThanOrEqual(2);
    for (let i = 0; i < 20; i++) c.congested('retry');
    expect(c.signals().concurrency).toBe(1);
  });
});

// ─── properties over arbitrary event sequences ───────────────────────────────────────────────────

type Event =
  | { kind: 'arrive'; records: number; gap: number }
  | { kind: 'start'; extra: number }
  | { kind: 'write'; rtt: number; retried: boolean; hint: number | undefined; gap?: number }
  | { kind: 'congest'; reason: AdaptiveReason };

const reason = fc.constantFrom<AdaptiveReason>(
  'retry',
  'timeout',
  'backpressure-hint',
  'slow-write',
  'memory',
);
// A steady round trip half the time (so concurrency gets to grow), else anything.
const rtt = fc.oneof(fc.constant(100), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 60_000 }));
const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({
    kind: fc.constant('arrive' as const),
    records: fc.integer({ min: 1, max: 5_000 }),
    gap: fc.integer({ min: 0, max: 5_000 }),
  }),
  fc.record({ kind: fc.constant('start' as const), extra: fc.integer({ min: -2, max: 1 }) }),
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      rtt,
      retried: fc.boolean(),
      hint: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      // Time since the previous event: writes back to back, or up to an hour apart.
      gap: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 0, max: 3_600_000 }),
      ),
    }),
  },
  fc.record({ kind: fc.constant('congest' as const), reason }),
);

const options: fc.Arbitrary<AdaptiveOptions> = fc
  .record({
    minWindow: fc.integer({ min: 1, max: 10_000 }),
    span: fc.integer({ min: 0, max: 600_000 }),
    maxRecords: fc.integer({ min: 1, max: 100_000 }),
    maxConcurrency: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 200 })),
    widenFactor: fc.option(fc.double({ min: 1.01, max: 10, noNaN: true }), { nil: undefined }),
    narrowStep: fc.option(fc.integer({ min: 1, max: 60_000 }), { nil: undefined }),
    rttDeviations: fc.option(fc.double({ min: 0, max: 5, noNaN: true }), { nil: undefined }),
    narrowFactor: fc.option(fc.double({ min: 0.01, max: 0.99, noNaN: true }), { nil: undefined }),
    narrowHalfLife: fc.option(fc.integer({ min: 1, max: 3_600_000 }), { nil: undefined }),
    slowWrites: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
  })
  .map(({ span, ...o }) => ({ ...o, maxWindow: o.minWindow + span }));

/** Replays events on a controller; `now` accumulates the gaps, and every report carries it. */
class Driver {
  readonly c: AdaptiveController;
  now = 0;
  constructor(o: AdaptiveOptions) {
    this.c = new AdaptiveController(o);
  }
  apply(e: Event): WindowChange | undefined {
    switch (e.kind) {
      case 'arrive':
        this.now += e.gap;
        this.c.arrived(e.records, this.now);
        return undefined;
      case 'start': {
        const limit = this.c.signals().concurrency;
        this.c.writeStarted(Math.max(1, limit + e.extra), limit);
        return undefined;
      }
      case 'write':
        this.now += e.gap ?? 0;
        return this.c.writeDone(e.rtt, e.retried, e.hint, this.now);
      case 'congest':
        return this.c.congested(e.reason, this.now);
    }
  }
}

/** At most 1,000 narrowing steps across the span, so the convergence properties run quickly. */
const coarse = (o: AdaptiveOptions): AdaptiveOptions =>
  o.narrowStep === undefined
    ? o
    : {
        ...o,
        narrowStep: Math.max(
          o.narrowStep as number,
          Math.ceil(((o.maxWindow as number) - (o.minWindow as number)) / 1_000),
        ),
      };

/** A healthy write: no retry, no hint at or above 0.5, a round trip that never grows. */
const healthyWrite = (rttMs: number, gap = 0): Event => ({
  kind: 'write',
  rtt: rttMs,
  retried: false,
  hint: undefined,
  gap,
});

describe('AdaptiveController properties', () => {
  it.prop([options, fc.array(event, { maxLength: 300 })], { numRuns: 300 })(
    'keeps the window within [minWindow, maxWindow] and concurrency within [1, maxConcurrency]',
    (o, events) => {
      const d = new Driver(o);
      const c = d.c;
      for (const e of events) {
        d.apply(e);
        expect(c.window).toBeGreaterThanOrEqual(c.minWindow);
        expect(c.window).toBeLessThanOrEqual(c.maxWindow);
        expect(c.concurrency).toBeGreaterThanOrEqual(1);
        expect(c.concurrency).toBeLessThanOrEqual(c.maxConcurrency);
        const signals = c.signals();
        expect(signals.backpressure).toBeGreaterThanOrEqual(0);
        expect(signals.backpressure).toBeLessThanOrEqual(1);
        expect(c.volumeThreshold).toBeGreaterThanOrEqual(c.minRecords);
        expect(c.volumeThreshold).toBeLessThanOrEqual(c.maxRecords);
      }
    },
  );

  it.prop([options, fc.array(event, { maxLength: 200 })], { numRuns: 200 })(
    'returns a change exactly when the window or the concurrency moved, and it tells the truth',
    (o, events) => {
      const d = new Driver(o);
      const c = d.c;
      for (const e of events) {
        const window = c.window;
        const concurrency = Math.floor(c.concurrency);
        const change = d.apply(e);
        const moved = c.window !== window || Math.floor(c.concurrency) !== concurrency;
        expect(change !== undefined).toBe(moved);
        if (change === undefined) continue;
        expect(change).toMatchObject({
          from: window,
          to: c.window,
          concurrencyFrom: concurrency,
          concurrencyTo: Math.floor(c.concurrency),
        });
        if (e.kind === 'congest') expect(change.reason).toBe(e.reason);
        if (change.reason === 'healthy') expect(change.to).toBeLessThanOrEqual(change.from);
        else expect(change.to).toBeGreaterThanOrEqual(change.from);
        expect(change.signals).toEqual(c.signals());
      }
    },
  );

  it.prop(
    [
      options,
      fc.array(fc.record({ event, extra: fc.option(reason, { freq: 3, nil: undefined }) }), {
        maxLength: 200,
      }),
    ],
    { numRuns: 300 },
  )('more back-pressure never narrows the window: added congestion signals', (o, steps) => {
    const calm = new Driver(o);
    const pressed = new Driver(o);
    for (const { event: e, extra } of steps) {
      if (extra !== undefined) pressed.apply({ kind: 'congest', reason: extra });
      calm.apply(e);
      pressed.apply(e);
      expect(pressed.c.window).toBeGreaterThanOrEqual(calm.c.window);
    }
  });

  /** A healthy write reported congested instead: with a back-pressure hint, or retried after a failure. */
  const escalated = fc.array(
    fc.record({
      event,
      escalate: fc.constantFrom(undefined, undefined, 'hint' as const, 'retried' as const),
    }),
    { maxLength: 200 },
  );
  const turnedCongested = fc.property(options, escalated, (o, steps) => {
    const calm = new Driver(o);
    const pressed = new Driver(o);
    for (const { event: e, escalate } of steps) {
      calm.apply(e);
      if (e.kind === 'write' && escalate === 'hint') pressed.apply({ ...e, hint: 1 });
      else if (e.kind === 'write' && escalate === 'retried') {
        // The same write, reported as a retryable failure first and then as retried (as the runtime does).
        pressed.apply({ kind: 'congest', reason: 'retry' });
        pressed.apply({ ...e, retried: true });
      } else pressed.apply(e);
      expect(pressed.c.window).toBeGreaterThanOrEqual(calm.c.window);
    }
  });

  // Every write's round trip feeds the estimate, hinted and retried ones too: otherwise two controllers
  // given the same writes hold different averages, and a later write could be `slow-write` (widen)
  // for the calm one and healthy (narrow) for the pressed one (found by this property).
  test('more back-pressure never narrows the window: a write turned congested', () => {
    fc.assert(turnedCongested, { numRuns: 300 });
  });

  it('more back-pressure never narrows the window: a write turned congested, every write alike', () => {
    // The same law when every write takes the same time.
    fc.assert(
      fc.property(options, escalated, fc.integer({ min: 1, max: 10_000 }), (o, steps, rttMs) => {
        const calm = new Driver(o);
        const pressed = new Driver(o);
        for (const { event: e, escalate } of steps) {
          const step = e.kind === 'write' ? { ...e, rtt: rttMs } : e;
          calm.apply(step);
          if (step.kind === 'write' && escalate === 'hint') pressed.apply({ ...step, hint: 1 });
          else if (step.kind === 'write' && escalate === 'retried') {
            pressed.apply({ kind: 'congest', reason: 'retry' });
            pressed.apply({ ...step, retried: true });
          } else pressed.apply(step);
          expect(pressed.c.window).toBeGreaterThanOrEqual(calm.c.window);
        }
      }),
      { numRuns: 300 },
    );
  });

  // After writes that take 0 ms (a sub-millisecond sink on a millisecond clock) the estimate is 0 ± 0:
  // a slow write must be slower by more than a millisecond, or any 1 ms write would double the window.
  test('a 1 ms round trip after sub-millisecond ones is not back-pressure', () => {
    const c = new AdaptiveController(base);
    for (let i = 0; i < 5; i++) c.writeDone(0, false, undefined);
    expect(c.writeDone(1, false, undefined)?.reason).not.toBe('slow-write');
  });

  it.prop([options, fc.array(event, { maxLength: 200 }), fc.integer({ min: 0, max: 10_000 })], {
    numRuns: 300,
  })(
    'with a constantly healthy sink, the window converges to minWindow within ⌈(max − min) / narrowStep⌉ writes',
    (generated, prefix, rttMs) => {
      const o = coarse(generated);
      const d = new Driver(o);
      for (const e of prefix) d.apply(e);
      const step = (o.narrowStep as number | undefined) ?? Math.max(1, (d.c.maxWindow - d.c.minWindow) / 20);
      const bound = Math.ceil((d.c.maxWindow - d.c.minWindow) / step);
      // Healthy: no retries, no hint, one steady round trip. The prefix may have taught the
      // controller a much shorter average, so the first few writes can count as slow (and widen)
      // until the EWMA (α 0.4) comes within 10% of the steady value: 5 writes; 40 leaves room for
      // tuning the constants.
      const settle = 40;
      for (let i = 0; i < settle; i++) d.apply(healthyWrite(rttMs));
      for (let i = 0; i < bound; i++) {
        const before = d.c.window;
        expect(d.apply(healthyWrite(rttMs))?.reason ?? 'healthy').toBe('healthy');
        expect(d.c.window).toBeLessThanOrEqual(before);
      }
      // A fractional default narrowStep leaves a rounding residue (1e-10 ms) that one more write removes.
      expect(d.c.window).toBeCloseTo(d.c.minWindow, 6);
      d.apply(healthyWrite(rttMs));
      expect(d.c.window).toBe(d.c.minWindow);
    },
  );

  it.prop([options, fc.integer({ min: 0, max: 10_000 })], { numRuns: 200 })(
    'from a fresh controller, a steady healthy sink narrows at every write: minWindow within the bound',
    (generated, rttMs) => {
      const o = coarse(generated);
      const d = new Driver(o);
      while (d.c.window < d.c.maxWindow) d.c.congested('retry');
      const step =
        (o.narrowStep as number | undefined) ?? Math.max(1, Math.round((d.c.maxWindow - d.c.minWindow) / 20));
      const bound = Math.ceil((d.c.maxWindow - d.c.minWindow) / step);
      for (let i = 0; i < bound; i++) {
        const before = d.c.window;
        d.apply(healthyWrite(rttMs));
        // At least narrowStep per write (v1 narrowed by exactly narrowStep; v2 by at least as much).
        expect(d.c.window).toBeLessThanOrEqual(Math.max(d.c.minWindow, before - step));
      }
      expect(d.c.window).toBe(d.c.minWindow);
    },
  );

  it.prop(
    [
      options,
      fc.array(event, { maxLength: 200 }),
      fc.array(
        fc.oneof(
          fc.record({ kind: fc.constant('congest' as const), reason }),
          fc.record({
            kind: fc.constant('write' as const),
            rtt,
            retried: fc.constant(false),
            hint: fc.double({ min: 0.5, max: 1, noNaN: true }),
          }),
        ),
        { minLength: 1, maxLength: 5 },
      ),
    ],
    { numRuns: 300 },
  )(
    'under sustained rejection the window reaches maxWindow within ⌈log(max / min) / log(widenFactor)⌉ signals',
    (o, prefix, pattern) => {
      const d = new Driver(o);
      for (const e of prefix) d.apply(e);
      const factor = o.widenFactor ?? 2;
      const bound = Math.ceil(Math.log(d.c.maxWindow / d.c.minWindow) / Math.log(factor));
      for (let i = 0; i < bound; i++) d.apply(pattern[i % pattern.length]!);
      expect(d.c.window).toBe(d.c.maxWindow);
      // And it stays there while the rejections last.
      for (const e of pattern) d.apply(e);
      expect(d.c.window).toBe(d.c.maxWindow);
      expect(d.c.concurrency).toBeLessThan(Math.max(2, d.c.maxConcurrency));
    },
  );

  it.prop([options, fc.array(fc.constantFrom('congest' as const, 'healthy' as const), { maxLength: 300 })], {
    numRuns: 200,
  })(
    'sustained congestion brings concurrency down to 1, healthy round trips at the limit to the maximum',
    (o, mix) => {
      const d = new Driver(o);
      for (const m of mix) {
        if (m === 'congest') d.c.congested('retry');
        else {
          d.c.writeStarted(d.c.signals().concurrency, d.c.signals().concurrency);
          d.apply(healthyWrite(100));
        }
      }
      for (let i = 0; i < 50 + Math.ceil(Math.log(d.c.maxConcurrency) / -Math.log(0.9)); i++)
        d.c.congested('retry');
      expect(d.c.signals().concurrency).toBe(1);
      // One more per round of `c` healthy writes at the limit: 1 + 2 + … + (max − 1) writes, once the
      // recent back-pressure has died down (a few healthy writes; 50 leaves room for tuning), plus
      // one per step for rounding.
      const writes = (d.c.maxConcurrency * (d.c.maxConcurrency + 1)) / 2 + 50;
      for (let i = 0; i < writes && d.c.concurrency < d.c.maxConcurrency; i++) {
        d.c.writeStarted(d.c.signals().concurrency, d.c.signals().concurrency);
        d.apply(healthyWrite(100));
      }
      expect(d.c.concurrency).toBe(d.c.maxConcurrency);
      // And it stays there however long the sink stays healthy.
      for (let i = 0; i < 2 * d.c.maxConcurrency + 2; i++) {
        d.c.writeStarted(d.c.signals().concurrency, d.c.signals().concurrency);
        d.apply(healthyWrite(100));
      }
      expect(d.c.concurrency).toBe(d.c.maxConcurrency);
    },
  );
});

describe('adaptive: misuse is refused', () => {
  it('rejects unknown options, a place inside any()/all(), and a second pipeline', async () => {
    const { expectInvalid } = await import('../support.js');
    const { pipeline } = await import('../../src/pipeline/builder.js');
    const { memorySink } = await import('../../src/sinks/memory.js');
    const { fromIterable } = await import('../../src/sources/iterable.js');
    const { triggers } = await import('../../src/triggers/index.js');
    expectInvalid(
      () => triggers.adaptive({ minWindow: '1s', maxWindow: '5s', maxRecords: 10, maxWindows: 3 } as never),
      "unknown option 'maxWindows'",
    );
    const t = triggers.adaptive({ minWindow: '1s', maxWindow: '5s', maxRecords: 10 });
    expectInvalid(() => triggers.any(triggers.time('1s'), t), 'argument 2 is an adaptive trigger');
    expectInvalid(() => triggers.all(t), 'must be used on its own');
    const build = () =>
      pipeline({ name: 'p' })
        .source(fromIterable([1]))
        .trigger(t)
        .sink(memorySink())
        .build();
    build();
    expectInvalid(build, 'already belongs to another pipeline');
  });
});

// ─── v2: recovery by healthy writes and time, robustness to latency noise ─────────────────────────

/** The narrowing defaults, as documented: narrowFactor 0.5, narrowHalfLife maxWindow, narrowStep span / 20. */
function narrowing(o: AdaptiveOptions, c: AdaptiveController) {
  return {
    factor: o.narrowFactor ?? 0.5,
    halfLife: (o.narrowHalfLife as number | undefined) ?? c.maxWindow,
    step: (o.narrowStep as number | undefined) ?? Math.max(1, Math.round((c.maxWindow - c.minWindow) / 20)),
  };
}

/** Enough writes of one round trip that the history holds nothing else (20) and no slow flag is left. */
const SETTLE = 25;

describe('AdaptiveController v2 properties', () => {
  // The bound: K healthy writes at t_1 < … < t_K (nothing else reported between them) take the window
  // from w_0 to at most
  //   minWindow + max(0, min((w_0 − minWindow) · narrowFactor^K · 2^(−T / narrowHalfLife),
  //                          (w_0 − minWindow) − K · narrowStep))
  // with T = t_K − t_1, and w_0 ≤ maxWindow whatever came before. With the defaults (0.5, maxWindow,
  // span / 20): from maxWindow, excess ≤ span · 2^(−K − T / maxWindow), and minWindow after 20 writes.
  it.prop(
    [
      options,
      fc.array(event, { maxLength: 150 }),
      fc.integer({ min: 0, max: 10_000 }),
      fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 600_000 })), {
        minLength: 1,
        maxLength: 30,
      }),
    ],
    { numRuns: 300 },
  )(
    'after any events, K healthy writes spread over T bring the window within the stated bound',
    (o, prefix, rttMs, gaps) => {
      const d = new Driver(o);
      for (const e of prefix) d.apply(e);
      for (let i = 0; i < SETTLE; i++) d.apply(healthyWrite(rttMs));
      const { factor, halfLife, step } = narrowing(o, d.c);
      const excess0 = d.c.window - d.c.minWindow;
      expect(d.c.window).toBeLessThanOrEqual(d.c.maxWindow);
      let first: number | undefined;
      for (const [k, gap] of gaps.entries()) {
        const change = d.apply(healthyWrite(rttMs, gap));
        first ??= d.now;
        // Each of them is judged healthy: it never widens.
        expect(change?.reason ?? 'healthy').toBe('healthy');
        const K = k + 1;
        const T = d.now - first;
        const bound = Math.max(0, Math.min(excess0 * factor ** K * 2 ** (-T / halfLife), excess0 - K * step));
        expect(d.c.window - d.c.minWindow).toBeLessThanOrEqual(bound + 1e-9 * Math.max(1, excess0));
        // And the absolute form, from whatever window the events left.
        const span = d.c.maxWindow - d.c.minWindow;
        expect(d.c.window - d.c.minWindow).toBeLessThanOrEqual(
          span * factor ** K * 2 ** (-T / halfLife) + 1e-9 * Math.max(1, span),
        );
      }
    },
  );

  it.prop(
    [
      options.map((o) => ({ ...o, slowWrites: o.slowWrites === 1 ? undefined : o.slowWrites })),
      fc.array(event, { maxLength: 150 }),
      fc.integer({ min: 0, max: 10_000 }),
      fc.nat({ max: 10 }),
      fc.integer({ min: 0, max: 10_000_000 }),
      fc.nat({ max: 10 }),
    ],
    { numRuns: 300 },
  )(
    'a single slow write among healthy ones never widens the window (slowWrites ≥ 2), so never more than doubles it',
    (o, prefix, rttMs, before, slowMs, after) => {
      const d = new Driver(o);
      for (const e of prefix) d.apply(e);
      for (let i = 0; i < SETTLE + before; i++) d.apply(healthyWrite(rttMs));
      const w = d.c.window;
      const change = d.apply(healthyWrite(slowMs, 1_000));
      expect(change?.reason ?? 'healthy').toBe('healthy'); // never 'slow-write'
      expect(d.c.window).toBeLessThanOrEqual(w);
      for (let i = 0; i < after; i++) {
        const previous = d.c.window;
        d.apply(healthyWrite(rttMs, 1_000));
        expect(d.c.window).toBeLessThanOrEqual(previous);
      }
      expect(d.c.window).toBeLessThanOrEqual(2 * w);
    },
  );

  it.prop(
    [
      options.map((o) => ({ ...o, slowWrites: 1 })),
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 0, max: 10_000_000 }),
    ],
    {
      numRuns: 200,
    },
  )('with slowWrites: 1, a single slow write widens by widenFactor at most', (o, rttMs, slowMs) => {
    const d = new Driver(o);
    for (let i = 0; i < SETTLE; i++) d.apply(healthyWrite(rttMs));
    const w = d.c.window;
    d.apply(healthyWrite(slowMs));
    expect(d.c.window).toBeLessThanOrEqual(Math.min(d.c.maxWindow, w * (o.widenFactor ?? 2)));
  });

  it.prop(
    [
      options,
      fc.array(event, { maxLength: 100 }),
      fc.integer({ min: 0, max: 5_000 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 21, maxLength: 200 }),
    ],
    { numRuns: 200 },
  )(
    'latency noise within twice the fastest recent round trip (+1 ms) never widens, even with rttDeviations 0',
    (o, prefix, fastest, draws) => {
      // The floor of the slow-write test at work: v1 widened on anything above mean · 1.1 + 1 ms once
      // mean + k · deviation was passed, so with k = 0 half of any jitter was "slow".
      const d = new Driver(o);
      for (const e of prefix) d.apply(e);
      const jitter = draws.map((u) => Math.round(fastest + u * (fastest + 1)));
      for (const rtt of jitter.slice(0, 20)) d.apply(healthyWrite(rtt));
      for (const rtt of jitter.slice(20)) {
        const before = d.c.window;
        expect(d.apply(healthyWrite(rtt, 100))?.reason ?? 'healthy').toBe('healthy');
        expect(d.c.window).toBeLessThanOrEqual(before);
      }
    },
  );
});

describe('adaptive: recognised by a brand, state read-only', () => {
  test('a trigger is adaptive by its controller’s Symbol.for brand, not by its class', () => {
    const t = adaptive(base);
    expect(isAdaptive(t)).toBe(true);
    // What another build (ESM vs CJS) would hand over: a different object with the same registered brand.
    const foreign = {
      ...t,
      controller: Object.assign(Object.create(null), {
        [Symbol.for('microbatch.adaptive-controller')]: true,
      }),
    };
    expect(isAdaptive(foreign)).toBe(true);
    // A look-alike without the brand is not fed (the runtime would call methods it does not have).
    expect(isAdaptive({ ...t, controller: { window: 1 } } as never)).toBe(false);
    expect(isAdaptive({ ...t, mode: 'time' } as never)).toBe(false);
    expect(isAdaptive({ ...t, controller: undefined } as never)).toBe(false);
  });

  test('the controller’s public state cannot be assigned', () => {
    const t = adaptive(base);
    const state = t.controller as { window: number; concurrency: number; maxWindow: number };
    expect(() => {
      state.window = 5;
    }).toThrow(TypeError);
    expect(() => {
      state.concurrency = 5;
    }).toThrow(TypeError);
    expect(() => {
      state.maxWindow = 5;
    }).toThrow(TypeError);
    expect(t.controller.window).toBe(1_000);
    expect(Object.isFrozen(t.controller)).toBe(true);
  });
});
