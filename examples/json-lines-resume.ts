/**
 * Loads a growing JSON-lines file in runs. Lines that do not parse go to a dead-letter directory
 * (a `jsonLinesSink` of `DeadLetter` envelopes) and the run goes on. Each run saves the cursor the
 * report says was committed, and the next run starts right `after` it.
 */
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DeadLetter, fromJsonLines, jsonLinesSink, pipeline, triggers } from 'microbatch';

interface Event {
  user: string;
  action: string;
}

const work = await mkdtemp(join(tmpdir(), 'microbatch-resume-'));
const input = join(work, 'events.jsonl');
const stateFile = join(work, 'state.json');
const outDir = join(work, 'out');
const deadDir = join(work, 'dead-letters');

/** The offset of the last record committed by an earlier run, if any. */
async function loadCursor(): Promise<number | undefined> {
  try {
    return (JSON.parse(await readFile(stateFile, 'utf8')) as { after: number }).after;
  } catch {
    return undefined; // first run
  }
}

async function runOnce(run: number): Promise<void> {
  const after = await loadCursor();
  const report = await pipeline({ name: 'events' })
    // A stable partition name keeps batch ids (and so file names) stable from run to run.
    .source(fromJsonLines<Event>(input, { partition: 'events', after }))
    .trigger(triggers.volume({ records: 3 }))
    .sink(jsonLinesSink<Event>({ dir: outDir }))
    .deadLetter(jsonLinesSink<DeadLetter>({ dir: deadDir }))
    .build()
    .run();

  const committed = report.committed.events;
  if (committed !== undefined) await writeFile(stateFile, JSON.stringify({ after: committed }));
  console.log(
    `run ${run}: after=${after ?? 'start'} in=${report.records.in} written=${report.records.written}` +
      ` dead-lettered=${report.records.deadLettered} ${JSON.stringify(report.rejected)} committed=${committed}`,
  );
}

const firstLines = [
  '{"user":"ana","action":"login"}',
  '{"user":"bo","action":"view"}',
  '{"user":"cy", action: "buy"}', // not JSON: dead-lettered as `malformed`
  '', // blank lines are skipped
  '{"user":"ana","action":"buy"}',
  'garbage',
  '{"user":"bo","action":"logout"}',
];
await writeFile(input, `${firstLines.join('\n')}\n`);
await runOnce(1);

// The producer appends more lines; the next run reads only those.
await appendFile(input, '{"user":"dee","action":"login"}\n{"user":"dee","action":"view"}\n');
await runOnce(2);

// Nothing new: the run reads nothing and commits nothing.
await runOnce(3);

// Batch ids pad offsets, so file names sort in source order.
const written: Event[] = [];
for (const file of (await readdir(outDir)).sort()) {
  for (const line of (await readFile(join(outDir, file), 'utf8')).split('\n')) {
    if (line !== '') written.push(JSON.parse(line) as Event);
  }
}
console.log(
  `${written.length} events written, each once:`,
  written.map((e) => `${e.user}/${e.action}`).join(' '),
);

for (const file of await readdir(deadDir)) {
  for (const line of (await readFile(join(deadDir, file), 'utf8')).split('\n')) {
    if (line === '') continue;
    const letter = JSON.parse(line) as DeadLetter<string>;
    console.log(`dead letter @${letter.cursor.offset}: ${letter.reason} ${JSON.stringify(letter.value)}`);
  }
}

await rm(work, { recursive: true, force: true });
