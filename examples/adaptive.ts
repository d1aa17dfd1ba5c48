/**
 * The adaptive trigger on a sink that refuses writes for a while: the window widens under the
 * rejections and narrows again once the sink recovers, and nothing is lost. Deterministic: a manual
 * clock and a scripted sink, no wall-clock time.
 */
import assert from 'node:assert/strict';
import { pipeline, triggers, type WindowChange } from 'microbatch';
import { flakySink, type ScriptedRecord, scriptedSource, testClock } from 'microbatch/testing';

const clock = testClock();
// 100 records/s for 30 s.
const script: ScriptedRecord<number>[] = Array.from({ length: 3_000 }, (_, i) => ({ at: i * 10, value: i }));
// Writes take 20 ms, but between t = 8 s and t = 12 s every write is refused (a 503, say).
const sink = flakySink<number>({
  clock,
  schedule: ({ now }) => (now >= 8_000 && now < 12_000 ? { fail: 'retryable', delay: 5 } : { delay: 20 }),
});

const p = pipeline({ name: 'adaptive', clock, retry: { initialDelay: 100, maxDelay: 400 } })
  .source(scriptedSource(clock, script))
  .trigger(triggers.adaptive({ minWindow: 200, maxWindow: 6_400, maxRecords: 5_000, maxConcurrency: 4 }))
  .sink(sink)
  .build();

const changes: WindowChange[] = [];
p.on('window-change', (change) => {
  changes.push(change);
  if (change.from === change.to) return; // concurrency only
  const t = `t=${String(clock.now()).padStart(5)}`;
  console.log(`${t} window ${change.from} → ${change.to} ms (${change.reason})`);
});

const report = await clock.runUntil(p.run());
const m = p.metrics().trigger;
console.log(`${report.status}: ${report.records.written} of ${report.records.in} records written`);
console.log(`window now ${m.window} ms, concurrency ${m.concurrency}, rtt ${m.rttMs} ms`);

// Nothing lost.
assert.equal(report.status, 'completed');
assert.equal(report.records.written, script.length);
assert.deepEqual(
  sink.memory?.records,
  script.map((r) => r.value),
);
// It widened on the rejections, up to maxWindow…
const widened = changes.filter((c) => c.reason === 'retry' && c.to > c.from);
assert.ok(widened.length >= 5);
assert.equal(Math.max(...widened.map((c) => c.to)), 6_400);
// …and narrowed after the recovery.
const narrowed = changes.filter((c) => c.reason === 'healthy' && c.to < c.from);
assert.ok(narrowed.length > 0);
assert.ok(m.window !== undefined && m.window < 6_400);
assert.equal(m.mode, 'adaptive');
