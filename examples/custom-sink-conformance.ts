/**
 * A custom sink over an append-only log file, made idempotent, and checked with `sinkConformance`.
 *
 * An append-only log cannot overwrite, so a retried batch would be appended twice. Two things make
 * it "one effect per batch id" anyway:
 * 1. every write appends one chunk, `begin` line, records, `commit` line; a reader keeps only
 *    complete chunks (a crash mid-append leaves a torn chunk with no `commit`: ignored);
 * 2. a reader keeps only the first committed chunk of each batch id (a rewrite after a crash, or an
 *    overlapping retry, may append the same batch again: ignored).
 * The `commit` lines are also its ledger: `committed(partition)` is the highest `lastOffset` there.
 *
 * Run: npx tsx examples/custom-sink-conformance.ts
 */
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Batch, fromIterable, pipeline, recordOffset, type Sink, triggers } from 'microbatch';
import { sinkConformance } from 'microbatch/testing';

/** A row of the log's "table": what a reader sees. */
interface Row<T> {
  partition: string;
  offset: number;
  value: T;
}

type Line<T> =
  | { begin: string }
  | { batch: string; partition: string; offset: number; value: T }
  | { commit: string; partition: string; lastOffset: number; records: number };

/**
 * Reads a log: the rows of the first complete chunk of each batch id, in log order, and the
 * ledger (highest committed lastOffset per partition).
 */
async function readLog<T>(
  file: string,
): Promise<{ rows: Row<T>[]; ledger: Map<string, number>; batches: Set<string> }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT')
      return { rows: [], ledger: new Map(), batches: new Set() };
    throw error;
  }
  const pending = new Map<string, Row<T>[]>();
  const done = new Set<string>();
  const rows: Row<T>[] = [];
  const ledger = new Map<string, number>();
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    let line: Line<T>;
    try {
      line = JSON.parse(raw) as Line<T>;
    } catch {
      continue; // a torn line, cut by a crash mid-append
    }
    if ('begin' in line) pending.set(line.begin, []);
    else if ('batch' in line) pending.get(line.batch)?.push(line);
    else {
      const chunk = pending.get(line.commit);
      pending.delete(line.commit);
      if (chunk === undefined || chunk.length !== line.records || done.has(line.commit)) continue;
      done.add(line.commit);
      for (const { partition, offset, value } of chunk) rows.push({ partition, offset, value });
      ledger.set(line.partition, Math.max(ledger.get(line.partition) ?? line.lastOffset, line.lastOffset));
    }
  }
  return { rows, ledger, batches: done };
}

/** The sink: one log file per pipeline in `dir`. */
function logSink<T>(dir: string): Sink<T> & { file(): string } {
  let file: string | undefined;
  /** Batch ids committed in the log; a write of one of them is skipped (an optimisation only). */
  let committed = new Set<string>();
  // This instance appends one chunk at a time, so its chunks never interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const path = () => {
    if (file === undefined) throw new Error('logSink: not open');
    return file;
  };
  return {
    kind: 'append-only-log',
    file: path,
    async open(context) {
      // Batch ids are file-name safe; so is a pipeline name escaped the same way.
      await mkdir(dir, { recursive: true });
      file = join(dir, `${encodeURIComponent(context.pipeline)}.log`);
      committed = (await readLog<T>(file)).batches;
    },
    async committed(partition) {
      return (await readLog<T>(path())).ledger.get(partition);
    },
    write(batch: Batch<T>, { signal }) {
      const run = queue.then(() => append(batch, signal));
      queue = run.catch(() => {});
      return run;
    },
  };

  async function append(batch: Batch<T>, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (committed.has(batch.id)) return;
    // A leading newline ends a line torn by a crash, so this chunk starts on a line of its own.
    let text = `\n${JSON.stringify({ begin: batch.id })}\n`;
    batch.records.forEach((value, i) => {
      text += `${JSON.stringify({ batch: batch.id, partition: batch.partition, offset: recordOffset(batch, i), value })}\n`;
    });
    text += `${JSON.stringify({ commit: batch.id, partition: batch.partition, lastOffset: batch.lastOffset, records: batch.records.length })}\n`;
    const handle = await open(path(), 'a');
    try {
      await handle.appendFile(text, { encoding: 'utf8', signal });
      await handle.sync(); // durable before the write resolves: the pipeline commits after this
    } finally {
      await handle.close();
    }
    committed.add(batch.id);
  }
}

const base = await mkdtemp(join(tmpdir(), 'microbatch-log-sink-'));
try {
  // 1. The conformance suite, as you would run it in a test: a fresh directory per run.
  let dir = base;
  let runs = 0;
  await sinkConformance(() => logSink(dir), {
    reset: () => {
      dir = join(base, `run-${runs++}`);
    },
    read: async () => (await readLog(join(dir, 'conformance.log'))).rows.map((row) => row.value),
    numRuns: 20,
  });
  console.log(`sinkConformance: passed (${runs} runs of random writes, rewrites, crashes and restarts)`);

  // 2. The sink in a pipeline, run twice over the same input: the second run writes nothing new.
  const out = join(base, 'orders');
  const orders = Array.from({ length: 10 }, (_, i) => ({ id: i }));
  for (const run of [1, 2]) {
    const sink = logSink<{ id: number }>(out);
    const report = await pipeline({ name: 'orders' })
      .source(fromIterable(orders))
      .trigger(triggers.volume({ records: 4 }))
      .sink(sink)
      .build()
      .run();
    const { rows } = await readLog<{ id: number }>(sink.file());
    console.log(`run ${run}: status=${report.status} rows in the log=${rows.length}`);
  }
} finally {
  await rm(base, { recursive: true, force: true });
}
