import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { trace } from '../../src/pipeline/trace.js';
import { memorySink } from '../../src/sinks/memory.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import { seededRandom } from '../../src/testing/random.js';
import { type ScriptedRecord, scriptedSource } from '../../src/testing/scripted-source.js';
import type { WindowChange } from '../../src/triggers/adaptive.js';
import { triggers } from '../../src/triggers/index.js';

/** One record every `every` ms from `from` (inclusive) to `to` (exclusive); values count from `first`. */
function steady(from: number, to: number, every: number, first = 0): ScriptedRecord<number>[] {
  const out: ScriptedRecord<number>[] = [];
  for (let at = from, i = first; at < to; at += every, i++) out.push({ at, value: i });
  return out;
}

describe('pipeline with triggers.adaptive', () => {
  it('widens under rejections, narrows after recovery, moves concurrency, and loses nothing', async () => {
    const clock = testClock();
    const script = steady(0, 30_000, 10); // 100 records/s for 30 s
    const source = scriptedSource(clock, script);
    // Healthy (20 ms per write) except between 8 s and 12 s, when every write is rejected.
    const sink = flakySink<number>({
      clock,
      schedule: ({ now }) => (now >= 8_000 && now < 12_000 ? { fail: 'retryable', delay: 5 } : { delay: 20 }),
    });
    const p = pipeline({ name: 'adaptive', clock, retry: { initialDelay: 100, maxDelay: 400 } })
      .source(source)
      .trigger(triggers.adaptive({ minWindow: 200, maxWindow: 6_400, maxRecords: 5_000, maxConcurrency: 4 }))
      .sink(sink)
      .build();
    const changes: (WindowChange & { at: number })[] = [];
    const concurrencySeen: { metrics: number; trigger: number | undefined }[] = [];
    p.on('window-change', (change) => {
      changes.push({ ...change, at: clock.now() });
      const m = p.metrics();
      concurrencySeen.push({ metrics: m.inFlight.concurrency, trigger: m.trigger.concurrency });
    });
    const report = await clock.runUntil(p.run());

    // Nothing lost, nothing twice.
    expect(report.status).toBe('completed');
    expect(report.records.in).toBe(script.length);
    expect(report.records.written).toBe(script.length);
    expect(report.records.undelivered).toBe(0);
    expect(report.undelivered).toEqual([]);
    expect(sink.memory!.records).toEqual(script.map((r) => r.value));
    expect(sink.failures).toBeGreaterThan(0);

    // Widening: the rejections widen the window, each step wider than the one before, up to maxWindow.
    const widening = changes.filter((c) => c.reason === 'retry' && c.to !== c.from);
    expect(widening.length).toBeGreaterThanOrEqual(5); // 200 → 400 → … → 6400
    for (const c of widening) expect(c.to).toBeGreaterThan(c.from);
    for (let i = 1; i < widening.length; i++)
      expect(widening[i]!.to).toBeGreaterThanOrEqual(widening[i - 1]!.to);
    expect(Math.max(...changes.map((c) => c.to))).toBe(6_400);
    expect(widening.every((c) => c.at >= 8_000 && c.at < 12_000 + 6_400)).toBe(true);

    // Narrowing: after the recovery, healthy writes bring it back down, step by step.
    const recovered = changes.filter((c) => c.at >= 12_000 && c.reason === 'healthy' && c.to !== c.from);
    expect(recovered.length).toBeGreaterThan(0);
    for (const c of recovered) expect(c.to).toBeLessThan(c.from);
    expect(recovered.at(-1)!.to).toBeLessThan(6_400);
    expect(p.metrics().trigger.window).toBe(recovered.at(-1)!.to);

    // Every event explains itself with the signals it saw.
    for (const c of changes) {
      expect(c.signals.backpressure).toBeGreaterThanOrEqual(0);
      expect(c.signals.backpressure).toBeLessThanOrEqual(1);
      expect(c.signals.concurrency).toBe(c.concurrencyTo);
    }
    expect(widening.at(-1)!.signals.backpressure).toBeGreaterThan(0.5);

    // Concurrency: grows while healthy, drops under rejection, and the runtime applies it at once.
    expect(changes.some((c) => c.concurrencyTo > c.concurrencyFrom)).toBe(true);
    expect(changes.some((c) => c.concurrencyTo < c.concurrencyFrom)).toBe(true);
    for (const [i, seen] of concurrencySeen.entries()) {
      expect(seen.metrics).toBe(changes[i]!.concurrencyTo);
      expect(seen.trigger).toBe(changes[i]!.concurrencyTo);
    }
    expect(sink.maxInFlight).toBeLessThanOrEqual(4);
  });

  it('gives a trickling source one batch at maxWindow, not tiny ones at the window', async () => {
    const clock = testClock();
    const source = pushSource<string>();
    const sink = memorySink<string>();
    const p = pipeline({ name: 'trickle', clock })
      .source(source)
      // minRecords defaults to maxRecords / 100 = 10: five records never reach it.
      .trigger(triggers.adaptive({ minWindow: '1s', maxWindow: '30s', maxRecords: 1_000 }))
      .sink(sink)
      .build();
    await p.start();
    for (const value of ['a', 'b', 'c', 'd', 'e']) {
      await source.push(value);
      await clock.advance(5_000); // one record every 5 s: five windows of 1 s would pass each time
    }
    expect(clock.now()).toBe(25_000);
    expect(sink.batches).toHaveLength(0);
    await clock.advance(4_999);
    expect(sink.batches).toHaveLength(0);
    await clock.advance(1); // 30 s after the first record: the latency bound
    expect(sink.batches.map((b) => [b.reason, b.records.length])).toEqual([['adaptive', 5]]);
    expect(p.metrics().trigger.lastFlushReason).toBe('adaptive');
    source.end();
    const report = await clock.runUntil(p.run());
    expect(report.records.written).toBe(5);
  });

  it('cuts at B = window × input rate records while records flow', async () => {
    const clock = testClock();
    const script = steady(0, 10_000, 5); // 200 records/s for 10 s
    const source = scriptedSource(clock, script);
    const sink = memorySink<number>();
    const p = pipeline({ name: 'rate', clock })
      .source(source)
      .trigger(triggers.adaptive({ minWindow: '1s', maxWindow: '10s', maxRecords: 5_000 }))
      .sink(sink)
      .build();
    await clock.runUntil(p.run());
    const cut = sink.batches.filter((b) => b.reason === 'adaptive');
    expect(cut.length).toBeGreaterThanOrEqual(8);
    // Once the rate is known, a batch holds about one window of input: 1 s × 200/s.
    for (const b of cut.slice(2)) {
      expect(b.records.length).toBeGreaterThanOrEqual(190);
      expect(b.records.length).toBeLessThanOrEqual(210);
    }
    const t = p.metrics().trigger;
    expect(t.inputRate).toBeGreaterThan(190);
    expect(t.volumeThreshold).toBe(Math.ceil((t.window! / 1000) * t.inputRate!));
  });

  it('shows its state in metrics().trigger', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, steady(0, 3_000, 10));
    const sink = flakySink<number>({ clock, schedule: () => ({ delay: 40, backpressure: 0.2 }) });
    const p = pipeline({ name: 'metrics', clock, concurrency: 16 })
      .source(source)
      .trigger(
        triggers.adaptive({ minWindow: '500ms', maxWindow: '5s', maxRecords: 2_000, maxConcurrency: 3 }),
      )
      .sink(sink)
      .build();
    const before = p.metrics();
    expect(before.trigger).toMatchObject({
      mode: 'adaptive',
      description: 'adaptive(500ms…5s, ≤ 2000 records)',
      maxRecords: 2_000,
      window: 500,
      concurrency: 1, // ARC starts at one write in flight; the pipeline's `concurrency: 16` is not used
      rttMs: undefined,
      backpressure: 0,
      inputRate: 0,
      lastFlushReason: undefined,
    });
    expect(before.inFlight.concurrency).toBe(1);
    await clock.runUntil(p.run());
    const t = p.metrics().trigger;
    expect(t.mode).toBe('adaptive');
    expect(t.window).toBe(500);
    expect(t.rttMs).toBe(40);
    expect(t.backpressure).toBe(0);
    expect(t.inputRate).toBeGreaterThan(90);
    expect(t.volumeThreshold).toBeGreaterThanOrEqual(20); // minRecords
    expect(t.concurrency).toBeGreaterThanOrEqual(1);
    expect(t.concurrency).toBeLessThanOrEqual(3);
    // The last batch: the end of the input, unless a window or the volume threshold closed it just before.
    expect(['drain', 'adaptive']).toContain(t.lastFlushReason);
    expect(p.metrics().sink.backpressure).toBe(0.2);
  });

  it('treats a sink’s back-pressure hint as congestion', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, steady(0, 5_000, 10));
    const sink = flakySink<number>({ clock, schedule: () => ({ delay: 10, backpressure: 0.9 }) });
    const p = pipeline({ name: 'hint', clock })
      .source(source)
      .trigger(triggers.adaptive({ minWindow: 100, maxWindow: 1_600, maxRecords: 5_000 }))
      .sink(sink)
      .build();
    const reasons = new Set<string>();
    p.on('window-change', ({ reason }) => reasons.add(reason));
    await clock.runUntil(p.run());
    expect([...reasons]).toEqual(['backpressure-hint']);
    expect(p.metrics().trigger.window).toBe(1_600);
    expect(p.metrics().trigger.backpressure).toBeGreaterThan(0.5);
  });

  it('leaves other triggers’ metrics without adaptive fields and emits no window-change', async () => {
    const clock = testClock();
    const p = pipeline({ name: 'plain', clock, concurrency: 3 })
      .source(scriptedSource(clock, steady(0, 2_000, 10)))
      .trigger(triggers.time('500ms'))
      .sink(memorySink())
      .build();
    let changes = 0;
    p.on('window-change', () => changes++);
    await clock.runUntil(p.run());
    const m = p.metrics();
    expect(m.trigger.window).toBeUndefined();
    expect(m.trigger.volumeThreshold).toBeUndefined();
    expect(m.inFlight.concurrency).toBe(3);
    expect(changes).toBe(0);
  });
});

describe('trace() with triggers.adaptive', () => {
  it('prints every window and concurrency change with its reason', async () => {
    const clock = testClock(Date.UTC(2026, 11, 7, 9, 0, 0));
    const start = clock.now();
    const script = steady(start, start + 6_000, 10);
    const sink = flakySink<number>({
      clock,
      schedule: ({ now }) =>
        now < start + 1_000
          ? { delay: 10 }
          : now < start + 2_000
            ? { fail: 'retryable', delay: 5 }
            : { delay: 10 },
    });
    const p = pipeline({
      name: 'prices',
      clock,
      retry: { initialDelay: 50, maxDelay: 200, random: seededRandom(1) },
    })
      .source(scriptedSource(clock, script))
      .trigger(triggers.adaptive({ minWindow: 100, maxWindow: 1_600, maxRecords: 5_000, maxConcurrency: 4 }))
      .sink(sink)
      .build();
    const lines: string[] = [];
    const changes: WindowChange[] = [];
    p.on('window-change', (c) => changes.push(c));
    trace(p, { write: (l) => lines.push(l), clock });
    await clock.runUntil(p.run());
    const adapt = lines.filter((l) => / prices adapt {3}/.test(l));
    expect(adapt).toHaveLength(changes.length);
    expect(changes.some((c) => c.reason === 'retry' && c.to > c.from)).toBe(true);
    expect(changes.some((c) => c.reason === 'healthy' && c.to < c.from)).toBe(true);
    expect(changes.some((c) => c.concurrencyTo !== c.concurrencyFrom)).toBe(true);
    // One line per change, in order, saying what moved and why.
    const fmt = (ms: number) => (ms >= 1_000 && ms % 1_000 === 0 ? `${ms / 1_000}s` : `${Math.round(ms)}ms`);
    adapt.forEach((line, i) => {
      const c = changes[i]!;
      if (c.from !== c.to) expect(line).toContain(`window ${fmt(c.from)} → ${fmt(c.to)}`);
      else expect(line).toContain(`(window ${fmt(c.to)})`);
      if (c.concurrencyFrom !== c.concurrencyTo) {
        expect(line).toContain(`concurrency ${c.concurrencyFrom} → ${c.concurrencyTo}`);
      } else expect(line).not.toContain('concurrency');
      expect(line).toContain(`: ${c.reason} (last write `);
      expect(line).toMatch(/back-pressure \d\.\d\d, \d+ records\/s\)$/);
    });
    expect(adapt.find((l) => l.includes(': retry ('))).toMatch(
      /^09:00:01\.\d{3} prices adapt {3}window 100ms → 200ms/,
    );
  });
});

describe('triggers.adaptive in real time (issue 18)', () => {
  // The one test on the system clock, as the issue asks: it reproduces a user's run (50 ms … 3 s,
  // 4,000 records/s, a ~3 ms sink). It samples the controller's window every 100 ms and asserts on
  // those samples, never on durations; the bounds leave room for a loaded 2-core machine (a late
  // timer only makes round trips look alike-slow, which the median follows).
  it('recovers within 8 s of 4 s of rejections, and holds ≤ 100 ms under 1–10 ms jitter', async () => {
    const random = seededRandom(18);
    let phase: 'reject' | 'healthy' | 'jitter' = 'reject';
    const sink = flakySink<number>({
      clock: systemClock,
      schedule: () =>
        phase === 'reject'
          ? { fail: 'retryable', delay: 1 }
          : phase === 'healthy'
            ? { delay: 3 }
            : { delay: 1 + Math.floor(random() * 10) },
    });
    const source = pushSource<number>();
    const trigger = triggers.adaptive({ minWindow: '50ms', maxWindow: '3s', maxRecords: 10_000 });
    // The retry back-off is the pipeline's, not the trigger's: with the default (up to 30 s, full
    // jitter) the first write after a 4 s outage may come 6 s later whatever the trigger does.
    const p = pipeline({ name: 'realtime', retry: { initialDelay: 50, maxDelay: 1_000 } })
      .source(source)
      .trigger(trigger)
      .sink(sink)
      .build();
    const run = p.run();
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const window = () => trigger.controller.window;

    // 4,000 records/s: every 10 ms, what is due since the start (a late timer pushes more at once).
    const started = Date.now();
    let pushed = 0;
    const feeder = setInterval(() => {
      const due = Math.floor((Date.now() - started) * 4);
      const chunk: number[] = [];
      for (; pushed < due; pushed++) chunk.push(pushed);
      if (chunk.length > 0) source.pushMany(chunk).catch(() => {});
    }, 10);
    try {
      let peak = 0;
      for (let t = 0; t < 4_000; t += 100) {
        await sleep(100);
        peak = Math.max(peak, window());
      }
      expect(peak).toBe(3_000); // 50 ms → 3 s under the rejections, as in the issue

      phase = 'healthy';
      const healthyAt = Date.now();
      const recovery: number[] = [];
      while (Date.now() - healthyAt < 8_000 && window() > 150) {
        await sleep(100);
        recovery.push(window());
      }
      expect(window(), `samples: ${recovery.join(' ')}`).toBeLessThanOrEqual(150);

      phase = 'jitter';
      const samples: number[] = [];
      for (let i = 0; i < 100; i++) {
        await sleep(100);
        samples.push(window());
      }
      const low = samples.filter((w) => w <= 100).length;
      expect(low, `samples: ${samples.join(' ')}`).toBeGreaterThanOrEqual(90);
    } finally {
      clearInterval(feeder);
      source.end();
    }
    const report = await run;
    expect(report.records.written).toBe(pushed);
    // Every record once (concurrent writes land in the memory sink in completion order).
    expect([...sink.memory!.records].sort((x, y) => x - y)).toEqual(
      Array.from({ length: pushed }, (_, i) => i),
    );
  }, 60_000);
});
