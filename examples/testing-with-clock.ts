/**
 * Deterministic timing without a test runner: a manual clock, a source that delivers records at
 * scripted times, and a sink that fails on a schedule. Nothing here waits for wall-clock time.
 */
import assert from 'node:assert/strict';
import { memorySink, pipeline, pushSource, triggers } from 'microbatch';
import { flakySink, scriptedSource, testClock } from 'microbatch/testing';

// ── Part 1: a whole run, driven by clock.runUntil() ─────────────────────────────────────────────
const clock = testClock();
const source = scriptedSource(clock, [
  { at: 0, value: 'a' },
  { at: 200, value: 'b' },
  { at: 1_500, value: 'c' },
  { at: 1_500, value: 'd' },
  { at: 1_500, value: 'e' },
  { at: 1_600, value: 'f' },
  { at: 4_000, value: 'g' },
]);
// The first write fails with a retryable error asking for 300 ms; the second write takes 50 ms.
const sink = flakySink<string>({ clock, schedule: [{ fail: 'retryable', retryAfter: 300 }, { delay: 50 }] });

const clocked = pipeline({ name: 'clocked', clock })
  .source(source)
  .trigger(triggers.any(triggers.time('1s'), triggers.volume({ records: 3 })))
  .sink(sink)
  .build();

const t = () => `t=${String(clock.now()).padStart(4)}`;
const range = (b: { firstOffset: number; lastOffset: number }) => `[${b.firstOffset}..${b.lastOffset}]`;
clocked.on('flush', ({ batch }) => console.log(`${t()} flush  ${range(batch)} reason=${batch.reason}`));
clocked.on('retry', ({ batch, attempt, delayMs }) => {
  console.log(`${t()} retry  ${range(batch)} attempt ${attempt} failed; next attempt in ${delayMs} ms`);
});
clocked.on('write', ({ batch, attempts }) =>
  console.log(`${t()} write  ${range(batch)} attempts=${attempts}`),
);
clocked.on('commit', ({ offset }) => console.log(`${t()} commit up to offset ${offset}`));

// runUntil lets promises settle and fires the next timer whenever nothing else can happen.
const report = await clock.runUntil(clocked.run());

console.log(`${t()} ${report.status}: ${sink.calls} write calls, ${sink.failures} failure(s)`);
console.log('commits seen by the source:', source.commits.map((c) => c.offset).join(', '));

// What holds whatever the timing: nothing lost, nothing written twice, commits in order.
assert.equal(report.status, 'completed');
assert.equal(report.records.in, report.records.written + report.records.deadLettered);
assert.deepEqual([...(sink.memory?.records ?? [])].sort(), ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
assert.equal(sink.failures, 1);
const offsets = source.commits.map((c) => c.offset);
assert.deepEqual(
  offsets,
  [...offsets].sort((x, y) => x - y),
);
assert.equal(offsets.at(-1), 6);

// ── Part 2: stepping time by hand with clock.advance() ──────────────────────────────────────────
const manual = testClock();
const pushed = pushSource<string>();
const memory = memorySink<string>();
const stepwise = pipeline({ name: 'stepwise', clock: manual })
  .source(pushed)
  .trigger(triggers.time('1s'))
  .sink(memory)
  .build();

await stepwise.start();
await pushed.push('x');
await manual.advance(999);
console.log(`after  999 ms: ${memory.batches.length} batch(es) written`);
await manual.advance(1);
console.log(`after 1000 ms: ${memory.batches.length} batch(es) written`);

pushed.end(); // no more records: run() drains the lane and resolves
const final = await manual.runUntil(stepwise.run());
console.log(
  `stepwise: ${final.status}, ${memory.records.length} record(s) in ${memory.batches.length} batch(es)`,
);
assert.deepEqual(memory.records, ['x']);
