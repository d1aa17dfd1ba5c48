/**
 * sinkConformance: it passes the built-in sinks, and each of its properties fails, with a
 * counterexample and a replay seed, on a sink built to break that property.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Batch, type DeadLetter, recordOffset } from '../../src/core/batch.js';
import { MicrobatchError } from '../../src/core/errors.js';
import { jsonLinesDeadLetter } from '../../src/sinks/dead-letter-json-lines.js';
import { memoryDeadLetter } from '../../src/sinks/dead-letter-memory.js';
import { jsonLinesSink } from '../../src/sinks/json-lines.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { type ConformancePosition, sinkConformance } from '../../src/testing/conformance.js';
import { expectCode, rejection } from '../support.js';

// Small on purpose: the whole file runs in a few seconds. Users raise numRuns in their own suites.
const numRuns = 25;
/** Failing runs use a fixed seed, so that each test finds its counterexample the same way every time. */
const seed = 7;

/** Runs the kit and returns its failure message; fails the test if the kit passes. */
async function failure(promise: Promise<void>): Promise<string> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(Error);
  const message = (error as Error).message;
  // Every failure shows the commands and how to replay them.
  expect(message).toContain('Counterexample (shrunk');
  expect(message).toMatch(
    /Replay it: sinkConformance\(makeSink, \{ \.\.\.options, seed: -?\d+, path: "[\d:]+" \}\)/,
  );
  return message;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A dead letter standing for the record at `partition`/`offset`. */
const letterAt = (partition: string, offset: number): DeadLetter => ({
  reason: 'malformed',
  details: { line: offset },
  value: `raw ${offset}`,
  cursor: { partition, offset },
  pipeline: 'conformance',
  batchId: 'conformance',
  at: 0,
});

/** A temporary directory for a suite, and a fresh directory under it for each run of the kit. */
function freshDirectories(prefix: string): { readonly current: string; reset(): void } {
  let base = '';
  let runs = 0;
  const dirs = {
    current: '',
    reset: () => {
      dirs.current = join(base, String(runs++));
    },
  };
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), prefix));
    dirs.current = base;
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });
  return dirs;
}

/** Every line of every final file in `dir` (temporary files start with '.'), parsed. */
async function readJsonLines<T>(dir: string): Promise<T[]> {
  const rows: T[] = [];
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => !n.startsWith('.'))) {
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
      if (line !== '') rows.push(JSON.parse(line) as T);
    }
  }
  return rows;
}

/** A destination that outlives sink instances, as a database would. */
class Table {
  rows: ConformancePosition[] = [];
  ids = new Set<string>();
  reset = () => {
    this.rows = [];
    this.ids = new Set();
  };
  read = () => this.rows;
}

describe('sinkConformance passes', () => {
  it('memorySink (one instance is the destination)', async () => {
    let sink = memorySink<ConformancePosition>();
    await sinkConformance(() => sink, {
      read: () => sink.records,
      reset: () => {
        sink = memorySink();
      },
      numRuns,
      partitions: ['0', '1', 'eu/west'],
    });
  });

  describe('jsonLinesSink (a fresh directory per run)', () => {
    const dirs = freshDirectories('mb-conformance-');
    it('passes', async () => {
      await sinkConformance(() => jsonLinesSink<ConformancePosition>({ dir: dirs.current }), {
        reset: dirs.reset,
        read: () => readJsonLines<ConformancePosition>(dirs.current),
        numRuns,
      });
    });
  });

  describe('jsonLinesDeadLetter (a fresh directory per run)', () => {
    const dirs = freshDirectories('mb-conformance-dead-');
    it('passes', async () => {
      await sinkConformance(() => jsonLinesDeadLetter({ dir: dirs.current }), {
        reset: dirs.reset,
        read: () => readJsonLines<DeadLetter>(dirs.current),
        record: letterAt,
        identify: (letter) => letter.cursor,
        numRuns,
      });
    });
  });

  it('passes on memoryDeadLetter with its ledger', async () => {
    let sink = memoryDeadLetter();
    await sinkConformance(() => sink, {
      read: () => sink.records,
      reset: () => {
        sink = memoryDeadLetter();
      },
      record: letterAt,
      identify: (letter) => letter.cursor,
      numRuns: 200,
      seed: 1,
    });
  });
});

describe('sinkConformance fails, with a shrunk counterexample', () => {
  it('(a) on an append-only sink: a rewrite of the same batch id adds the records again', async () => {
    const table = new Table();
    const appendOnly = (): Sink<ConformancePosition> => ({
      kind: 'append-only',
      write(batch) {
        table.rows.push(...batch.records);
      },
    });
    const options = { read: table.read, reset: table.reset, numRuns, crash: false, seed };
    const message = await failure(sinkConformance(appendOnly, options));
    expect(message).toContain("sinkConformance: sink 'append-only' broke the contract");
    expect(message).toContain('read back more than once');
    expect(message).toContain('Property: every acknowledged record is read back exactly once');
    expect(message).toMatch(/\d\. (rewrite|concurrently: .*rewrite)/);

    // The seed and path in the message replay the same counterexample.
    const [, replaySeed, path] = /seed: (-?\d+), path: "([\d:]+)"/.exec(message)!;
    const replay = await failure(sinkConformance(appendOnly, { ...options, seed: Number(replaySeed), path }));
    const commands = (text: string) => text.slice(text.indexOf('Counterexample'), text.indexOf('Generated'));
    expect(commands(replay)).toBe(commands(message).replace(/shrunk \d+/, 'shrunk 0'));
  });

  it('(b) on a sink that is idempotent only when writes finish: a crash mid-write leaves a partial copy', async () => {
    const table = new Table();
    // Rows go in one by one; the batch id is recorded at the end, so a write cut short leaves rows
    // without their id, and the rewrite adds them again.
    const nonAtomic = (): Sink<ConformancePosition> => ({
      kind: 'non-atomic',
      async write(batch, { signal }) {
        if (table.ids.has(batch.id)) return;
        for (const record of batch.records) {
          await tick();
          signal.throwIfAborted();
          table.rows.push(record);
        }
        table.ids.add(batch.id);
      },
    });
    const options = { read: table.read, reset: table.reset, numRuns: 100, seed: 42 };
    // Without crashes it looks fine: rewrites after a completed write are skipped.
    await sinkConformance(nonAtomic, { ...options, crash: false });
    const message = await failure(sinkConformance(nonAtomic, options));
    expect(message).toMatch(/read back more than once|missing/);
    expect(message).toContain('crash while');
  });

  it('(c) on a ledger that goes backwards: it reports the last write instead of the highest', async () => {
    const table = new Table();
    let last: number | undefined;
    const lastWrite = (): Sink<ConformancePosition> => ({
      kind: 'last-write-ledger',
      write(batch) {
        if (!table.ids.has(batch.id)) table.rows.push(...batch.records);
        table.ids.add(batch.id);
        last = batch.lastOffset;
      },
      committed: () => last,
    });
    const message = await failure(
      sinkConformance(lastWrite, {
        read: table.read,
        reset: () => {
          table.reset();
          last = undefined;
        },
        partitions: ['0'],
        numRuns,
        seed,
      }),
    );
    expect(message).toContain('it went backwards');
    expect(message).toContain('Property: the ledger (committed) never goes backwards');
  });

  it('(c) on a ledger beyond anything written, and on one that does not survive the instance', async () => {
    const table = new Table();
    const ledger = new Map<string, number>();
    const reset = () => {
      table.reset();
      ledger.clear();
    };
    const write = (batch: Batch<ConformancePosition>) => {
      if (!table.ids.has(batch.id)) table.rows.push(...batch.records);
      table.ids.add(batch.id);
      ledger.set(batch.partition, Math.max(ledger.get(batch.partition) ?? -1, batch.lastOffset));
    };
    const offByOne = (): Sink<ConformancePosition> => ({
      write,
      committed: (partition) => (ledger.has(partition) ? ledger.get(partition)! + 1 : undefined),
    });
    expect(await failure(sinkConformance(offByOne, { read: table.read, reset, numRuns, seed }))).toContain(
      'beyond anything written',
    );

    // The ledger lives in the instance, not in the destination: a restart forgets it.
    const forgetful = (): Sink<ConformancePosition> => {
      const mine = new Map<string, number>();
      return {
        write(batch) {
          write(batch);
          mine.set(batch.partition, Math.max(mine.get(batch.partition) ?? -1, batch.lastOffset));
        },
        committed: (partition) => mine.get(partition),
      };
    };
    // Caught as soon as a fresh instance answers: below an acknowledged write, or below its last answer.
    expect(await failure(sinkConformance(forgetful, { read: table.read, reset, numRuns, seed }))).toMatch(
      /committed\('\d'\) returned undefined(, but a write .* was acknowledged|: it went backwards)/,
    );
  });

  it('(d) on a sink whose concurrent writes to different partitions lose each other (read-modify-write)', async () => {
    // One document for all partitions, read, changed and written back with a pause in between.
    let document: { ids: string[]; rows: ConformancePosition[] } = { ids: [], rows: [] };
    const racy = (): Sink<ConformancePosition> => ({
      kind: 'read-modify-write',
      async write(batch) {
        const copy = structuredClone(document);
        await tick();
        if (!copy.ids.includes(batch.id)) {
          copy.ids.push(batch.id);
          copy.rows.push(...batch.records);
        }
        document = copy;
      },
    });
    const options = {
      read: () => document.rows,
      reset: () => {
        document = { ids: [], rows: [] };
      },
      numRuns,
      crash: false,
      seed,
    };
    const message = await failure(sinkConformance(racy, options));
    expect(message).toContain('missing');
    expect(message).toContain('concurrently');
  });

  it('on a sink that ignores batch.offsets (records removed by transforms)', async () => {
    const table = new Table();
    const naive = (): Sink<ConformancePosition> => ({
      write(batch) {
        if (table.ids.has(batch.id)) return;
        table.ids.add(batch.id);
        // Wrong: the offset of records[i] is recordOffset(batch, i), not firstOffset + i.
        for (let i = 0; i < batch.records.length; i++) {
          table.rows.push({ partition: batch.partition, offset: batch.firstOffset + i });
        }
      },
    });
    const message = await failure(
      sinkConformance(naive, { read: table.read, reset: table.reset, numRuns: 100, seed }),
    );
    expect(message).toContain('never written');
    expect(message).toContain('records at');
    // The same sink, fixed:
    const fixed = (): Sink<ConformancePosition> => ({
      write(batch) {
        if (table.ids.has(batch.id)) return;
        table.ids.add(batch.id);
        for (let i = 0; i < batch.records.length; i++) {
          table.rows.push({ partition: batch.partition, offset: recordOffset(batch, i) });
        }
      },
    });
    await sinkConformance(fixed, { read: table.read, reset: table.reset, numRuns });
  });

  it('on a write that ignores its AbortSignal', async () => {
    const table = new Table();
    const deaf = (): Sink<ConformancePosition> => ({
      async write(batch, { signal }) {
        for (let i = 0; i < 25; i++) {
          if (signal.aborted) await new Promise(() => {}); // never settles
          await tick();
        }
        if (!table.ids.has(batch.id)) table.rows.push(...batch.records);
        table.ids.add(batch.id);
      },
    });
    const message = await failure(
      sinkConformance(deaf, { read: table.read, reset: table.reset, numRuns, abortTimeout: 20, seed }),
    );
    expect(message).toContain('did not settle within 20 ms after its AbortSignal was aborted');
  });

  it('on a write that keeps failing, after retrying retryable errors', async () => {
    let calls = 0;
    const failing = (): Sink<ConformancePosition> => ({
      write() {
        calls++;
        throw new MicrobatchError('MB_SINK_FAILED', 'overloaded', { retryable: true, retryAfter: 1 });
      },
    });
    const message = await failure(
      sinkConformance(failing, { read: () => [], reset: () => {}, retries: 2, numRuns, seed }),
    );
    expect(message).toContain('failed (attempt 3, retryable): overloaded');
    expect(calls).toBeGreaterThanOrEqual(3);
  });
});

describe('sinkConformance options', () => {
  const read = () => [];
  const reset = () => {};
  it('are checked before anything runs', async () => {
    const check = async (options: object, fragment: string) => {
      const error = expectCode(
        await rejection(sinkConformance(() => memorySink(), options as never)),
        'MB_INVALID_OPTIONS',
      );
      expect(error.message).toContain(fragment);
    };
    expectCode(await rejection(sinkConformance('nope' as never, { read, reset })), 'MB_INVALID_OPTIONS');
    await check({ reset }, 'read must be a function');
    await check({ read, reset, numRuns: 0 }, 'numRuns must be an integer ≥ 1');
    await check({ read, reset, partitions: [] }, 'partitions must be a non-empty list of distinct strings');
    await check({ read, reset, partitions: ['a', 'a'] }, 'distinct');
    await check({ read, reset, path: '1:2' }, 'given with the seed');
    await check({ read, reset, runs: 3 }, "unknown option 'runs'");
    await check({ read, reset, maxConcurrency: 1 }, 'maxConcurrency must be an integer ≥ 2');
  });

  it('reports a row that identify() cannot place', async () => {
    let sink = memorySink<{ id: number }>();
    const message = await failure(
      sinkConformance(() => sink, {
        read: () => sink.records,
        reset: () => {
          sink = memorySink();
        },
        record: (_, offset) => ({ id: offset }),
        numRuns,
        seed,
      }),
    );
    expect(message).toContain('identify(row) must return { partition: string, offset: number }');
  });
});

describe('fast-check as an optional peer', () => {
  it('rejects with MB_MISSING_PEER and the install command when fast-check cannot be resolved', async () => {
    // A child process whose module resolution does not find fast-check, as in a project without it.
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier === 'fast-check') throw Object.assign(new Error("Cannot find package 'fast-check'"), { code: 'ERR_MODULE_NOT_FOUND' });
      return next(specifier, context);
    }`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
    const script = `
      const { sinkConformance } = await import(${JSON.stringify(join(import.meta.dirname, '../../src/testing/conformance.ts'))});
      try {
        await sinkConformance(() => ({ write() {} }), { read: () => [], reset() {} });
        console.log(JSON.stringify({ code: 'none' }));
      } catch (error) {
        console.log(JSON.stringify({ code: error.code, message: error.message }));
      }`;
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--import',
      'tsx',
      '--import',
      `data:text/javascript,${encodeURIComponent(register)}`,
      '--input-type=module',
      '-e',
      script,
    ]);
    expect(JSON.parse(stdout)).toEqual({
      code: 'MB_MISSING_PEER',
      message:
        'sinkConformance needs fast-check, an optional peer dependency of microbatch: npm install --save-dev fast-check',
    });
  });
});
