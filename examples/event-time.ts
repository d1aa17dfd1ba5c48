/**
 * Event time on a manual clock: two source partitions, an out-of-order record, a late record under
 * each lateness policy, an idle lane, and `partition-complete` for each event-time hour.
 * Everything runs on `testClock()`, so the output is the same on every run; the asserts check it.
 */
import assert from 'node:assert/strict';
import { type DeadLetter, memorySink, pipeline, triggers } from 'microbatch';
import { type ScriptedRecord, scriptedSource, testClock } from 'microbatch/testing';

interface Reading {
  id: string;
  /** When the reading was taken (ISO 8601): the event time. */
  takenAt: string;
}

const START = Date.UTC(2026, 10, 25, 15, 10, 0); // processing time (the clock) of the first arrival
const hhmmss = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString().slice(11, 19) : String(ms));

/** A reading from `partition` arriving `arrival` seconds after START, taken at `takenAt` (UTC). */
const reading = (
  arrival: number,
  partition: string,
  id: string,
  takenAt: string,
): ScriptedRecord<Reading> => ({
  at: START + arrival * 1_000,
  partition,
  value: { id, takenAt: `2026-11-25T${takenAt}Z` },
});

// Two partitions ('eu', 'us'). e3 arrives behind the watermark (15:00:00) but within allowedLateness:
// not late. e5 arrives when the watermark is 15:06:00, 10 minutes behind it: late (allowedLateness 5m).
// 'us' sends nothing after 60 s, so after idleTimeout it stops holding the watermark back.
const script = [
  reading(0, 'eu', 'e1', '14:58:00'),
  reading(0, 'us', 'u1', '14:59:00'),
  reading(10, 'eu', 'e2', '15:01:00'),
  reading(20, 'us', 'u2', '15:02:30'),
  reading(30, 'eu', 'e3', '14:59:30'),
  reading(40, 'eu', 'e4', '15:07:00'),
  reading(50, 'us', 'u3', '15:08:00'),
  reading(60, 'eu', 'e5', '14:56:00'),
  reading(130, 'eu', 'e6', '15:12:00'),
  reading(200, 'eu', 'e7', '15:13:00'),
];

async function run(late: 'include' | 'dead-letter' | 'drop') {
  const clock = testClock(START);
  const sink = memorySink<Reading>();
  const dead = memorySink<DeadLetter>();
  const p = pipeline({ name: `readings-${late}`, clock })
    .source(scriptedSource(clock, script))
    .eventTime((r) => r.takenAt, {
      maxOutOfOrderness: '1m',
      allowedLateness: '5m',
      idleTimeout: '1m',
      late,
      partitionBy: 'hour',
    })
    .trigger(triggers.time('5s'))
    .sink(sink)
    .deadLetter(dead)
    .build();

  const completed: string[] = [];
  p.on('partition-complete', ({ bucket, watermark, records, reopened }) => {
    const line = `${bucket.path} complete: clock ${hhmmss(clock.now())}, watermark ${hhmmss(watermark)}, ${records} record(s)${reopened ? ', reopened' : ''}`;
    completed.push(line);
    console.log(`  ${line}`);
  });

  console.log(`late: '${late}'`);
  const done = p.run();
  // Move the clock to 130 s (e6 has just arrived) and look at the event-time state mid-run.
  await clock.advance(130_000);
  const eventTime = p.metrics().eventTime!;
  if (late === 'include') {
    const { watermark, lagMs, lanes, openPartitions } = eventTime;
    console.log(
      `  at 130 s: watermark ${hhmmss(watermark!)}, lag ${lagMs! / 1_000} s, open: ${openPartitions}`,
    );
    for (const lane of lanes) {
      console.log(
        `    lane ${lane.partition}: watermark ${hhmmss(lane.watermark!)}${lane.idle ? ', idle' : ''}`,
      );
    }
  }
  const report = await clock.runUntil(done);

  const eventTimeOf = new Map<string, string>();
  for (const batch of sink.batches) {
    batch.records.forEach((r, i) => {
      eventTimeOf.set(r.id, hhmmss(batch.eventTimes![i]!));
    });
  }
  console.log(`  written: ${sink.records.map((r) => r.id).join(' ')}`);
  console.log(
    `  dead letters: ${dead.records.map((d) => `${(d.value as Reading).id} (${d.reason})`).join(' ') || '-'}`,
  );
  console.log(`  report.records: ${JSON.stringify(report.records)}`);
  return { sink, dead, report, completed, eventTime, metrics: p.metrics(), eventTimeOf };
}

// ── late: 'include' (the default) ─────────────────────────────────────────────────────────────────
const include = await run('include');
// At 130 s: 'us' has been quiet for 80 s (> idleTimeout), so only 'eu' holds the watermark (15:12:00 − 1m).
assert.equal(include.eventTime.watermark, Date.parse('2026-11-25T15:11:00Z'));
assert.equal(include.eventTime.lagMs, START + 130_000 - Date.parse('2026-11-25T15:11:00Z'));
assert.deepEqual(include.eventTime.lanes, [
  { partition: 'eu', watermark: Date.parse('2026-11-25T15:11:00Z'), idle: false },
  { partition: 'us', watermark: Date.parse('2026-11-25T15:07:00Z'), idle: true },
]);
assert.deepEqual(include.eventTime.openPartitions, ['dt=2026-11-25/hr=15']);

assert.deepEqual(
  include.sink.records.map((r) => r.id),
  ['e1', 'u1', 'e2', 'u2', 'e3', 'e4', 'u3', 'e5', 'e6', 'e7'],
);
// The late record is written with its own event time in batch.eventTimes, so a sink that partitions
// by event time files it under hour 14, not under the hour it arrived in.
assert.equal(include.eventTimeOf.get('e5'), '14:56:00');
assert.deepEqual(include.completed, [
  'dt=2026-11-25/hr=14 complete: clock 15:10:50, watermark 15:06:00, 3 record(s)',
  // e5 (14:56:00) landed in hour 14 after it was declared complete; committed at 15:11:05.
  'dt=2026-11-25/hr=14 complete: clock 15:11:05, watermark 15:06:00, 1 record(s), reopened',
  // Hour 15 ends at 16:00 event time: only the end of the input (e7, the last record) completes it.
  'dt=2026-11-25/hr=15 complete: clock 15:13:20, watermark Infinity, 6 record(s)',
]);
assert.equal(include.metrics.counts.late, 1);

// ── late: 'dead-letter' ───────────────────────────────────────────────────────────────────────────
const deadLetter = await run('dead-letter');
assert.deepEqual(
  deadLetter.sink.records.map((r) => r.id),
  ['e1', 'u1', 'e2', 'u2', 'e3', 'e4', 'u3', 'e6', 'e7'],
);
assert.equal(deadLetter.dead.records.length, 1);
const letter = deadLetter.dead.records[0]!;
console.log(`  e5's dead letter: ${letter.reason} ${JSON.stringify(letter.details)}`);
assert.equal(letter.reason, 'too_late');
assert.deepEqual(letter.details, {
  eventTime: Date.parse('2026-11-25T14:56:00Z'),
  watermark: Date.parse('2026-11-25T15:06:00Z'),
  allowedLateness: 300_000,
});
assert.deepEqual(deadLetter.completed, [
  'dt=2026-11-25/hr=14 complete: clock 15:10:50, watermark 15:06:00, 3 record(s)',
  'dt=2026-11-25/hr=15 complete: clock 15:13:20, watermark Infinity, 6 record(s)',
]);

// ── late: 'drop' ──────────────────────────────────────────────────────────────────────────────────
const drop = await run('drop');
assert.equal(drop.sink.records.length, 9);
assert.equal(drop.dead.records.length, 0);
assert.equal(drop.report.records.droppedLate, 1);

// Whatever the policy, every record is accounted for.
for (const { report, metrics } of [include, deadLetter, drop]) {
  const r = report.records;
  assert.equal(report.status, 'completed');
  assert.equal(r.in, script.length);
  assert.equal(r.in, r.written + r.deadLettered + r.duplicates + r.filtered + r.droppedLate + r.undelivered);
  assert.equal(metrics.counts.late, 1);
}
console.log('all checks passed');
