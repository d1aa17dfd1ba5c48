/**
 * Dead letters end to end: bad input lines through a real pipeline into a dead-letter directory,
 * the guarantees around them (retried, written before the commit), and their replay after a fix.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryCheckpoint } from '../../src/checkpoint/memory.js';
import type { DeadLetter } from '../../src/core/batch.js';
import { MicrobatchError } from '../../src/core/errors.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { DeliveryReport } from '../../src/pipeline/report.js';
import { jsonLinesDeadLetter } from '../../src/sinks/dead-letter-json-lines.js';
import { memoryDeadLetter } from '../../src/sinks/dead-letter-memory.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { replayDeadLetters } from '../../src/sources/dead-letters.js';
import { fromJsonLines } from '../../src/sources/json-lines.js';
import { testClock } from '../../src/testing/clock.js';
import { flakySink } from '../../src/testing/flaky-sink.js';
import type { Transform } from '../../src/transforms/types.js';
import { volume } from '../../src/triggers/volume.js';
import { readDeadLetterDir } from '../sources/dead-letter-fixtures.js';
import { expectCode } from '../support.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-dead-e2e-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The invariant of DESIGN.md: every record read is accounted for once. */
function expectAccounted(report: DeliveryReport): void {
  const r = report.records;
  expect(r.undelivered).toBe(0);
  expect(r.in).toBe(r.written + r.deadLettered + r.duplicates + r.filtered);
}

/** Writes `lines` (each without its newline) to a file; returns its path and each line's offset. */
async function inputFile(lines: Buffer[], name = 'in.jsonl'): Promise<{ path: string; starts: number[] }> {
  const path = join(dir, name);
  const starts: number[] = [];
  let at = 0;
  for (const line of lines) {
    starts.push(at);
    at += line.length + 1;
  }
  await writeFile(path, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
  return { path, starts };
}

// Larger than the deep lines (3,001 bytes), so those are rejected for their depth, not their size.
const MAX_LINE = 4_096;

/** The kinds of bad line, how each is built, and what its dead letter says. */
const bad = {
  malformed: (n: number) => ({
    line: Buffer.from(`{"id":${n},`),
    reason: 'malformed',
    error: /JSON|Unexpected|Expected/,
  }),
  utf8: (n: number) => ({
    line: Buffer.concat([Buffer.from(`{"id":${n},"s":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    reason: 'malformed',
    error: /^invalid UTF-8$/,
  }),
  large: (n: number) => ({
    line: Buffer.from(JSON.stringify({ id: n, pad: 'z'.repeat(MAX_LINE) })),
    reason: 'too_large',
    error: undefined,
  }),
  deep: (n: number) => ({
    line: Buffer.from(`${'['.repeat(1_500)}${n}${']'.repeat(1_500)}`),
    reason: 'malformed',
    error: /^nested deeper than 1000 levels$/,
  }),
};
type BadKind = keyof typeof bad;

/** What the source gives as the dead letter's value: the raw text (the first 256 bytes if too large). */
const deadValue = (line: Buffer, reason: string) =>
  reason === 'too_large' ? line.toString('utf8', 0, 256) : line.toString('utf8');

describe('dead letters end to end, from fromJsonLines to jsonLinesDeadLetter', () => {
  it('dead-letters every bad line with its reason and cursor, writes the good lines after them, accounts for all', async () => {
    const lines = [
      Buffer.from('{"id":1}'),
      bad.malformed(2).line,
      bad.utf8(3).line,
      bad.large(4).line,
      bad.deep(5).line,
      Buffer.from('{"id":6}'),
      Buffer.from(''),
      Buffer.from('{"id":7}'),
    ];
    const { path, starts } = await inputFile(lines);
    const clock = testClock();
    const sink = memorySink();
    const deadDir = join(dir, 'dead');
    const source = fromJsonLines(path, { maxLineBytes: MAX_LINE, partition: 'events' });
    const report = await clock.runUntil(
      pipeline({ name: 'ingest', clock })
        .source(source)
        .trigger(volume({ records: 3 }))
        .sink(sink)
        .deadLetter(jsonLinesDeadLetter({ dir: deadDir }))
        .build()
        .run(),
    );
    expect(report.status).toBe('completed');
    expect(sink.records).toEqual([{ id: 1 }, { id: 6 }, { id: 7 }]);
    const letters = await readDeadLetterDir(deadDir);
    expect(letters.map((l) => [l.reason, l.cursor])).toEqual([
      ['malformed', { partition: 'events', offset: starts[1] }],
      ['malformed', { partition: 'events', offset: starts[2] }],
      ['too_large', { partition: 'events', offset: starts[3] }],
      ['malformed', { partition: 'events', offset: starts[4] }],
    ]);
    expect(letters.map((l) => l.value)).toEqual(
      [1, 2, 3, 4].map((i) => deadValue(lines[i]!, letters[i - 1]!.reason)),
    );
    expect((letters[1]!.details as { error: string }).error).toBe('invalid UTF-8');
    expect(letters[2]!.details).toEqual({ bytes: lines[3]!.length, limit: MAX_LINE });
    expect((letters[3]!.details as { error: string }).error).toBe('nested deeper than 1000 levels');
    for (const l of letters) {
      expect(l.pipeline).toBe('ingest');
      expect(l.at).toBe(0); // the pipeline clock
    }
    expect(
      (await readdir(deadDir)).every((name) => /^ingest\.events\.\d{16}-\d{16}\.dead\.jsonl$/.test(name)),
    ).toBe(true);
    expect(report.records).toMatchObject({ in: 7, written: 3, deadLettered: 4 });
    expect(report.rejected).toEqual({ malformed: 3, too_large: 1 });
    expectAccounted(report);
    expect(report.committed).toEqual({ events: starts[7] });
  });

  it('property: for any mix of good and bad lines and any batch size, each bad line is dead-lettered once with its cursor, the good ones written in order; replay gives back exactly the dead-lettered values, in order', async () => {
    const kind = fc.constantFrom<'good' | BadKind>('good', 'good', 'malformed', 'utf8', 'large', 'deep');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(kind, { maxLength: 14 }),
        fc.integer({ min: 1, max: 5 }),
        async (kinds, records) => {
          const here = join(dir, `run${run++}`);
          const deadDir = join(here, 'dead');
          const built = kinds.map((k, n) =>
            k === 'good' ? { line: Buffer.from(JSON.stringify({ id: n })), reason: undefined } : bad[k](n),
          );
          const { path, starts } = await inputFile(
            built.map((b) => b.line),
            `../run${run - 1}.jsonl`,
          );
          const clock = testClock();
          const sink = memorySink();
          const report = await clock.runUntil(
            pipeline({ name: 'ingest', clock })
              .source(fromJsonLines(path, { maxLineBytes: MAX_LINE, partition: 'in' }))
              .trigger(volume({ records }))
              .sink(sink)
              .deadLetter(jsonLinesDeadLetter({ dir: deadDir }))
              .build()
              .run(),
          );
          expectAccounted(report);
          expect(sink.records).toEqual(kinds.flatMap((k, n) => (k === 'good' ? [{ id: n }] : [])));
          const expectedDead = built.flatMap((b, n) =>
            b.reason === undefined
              ? []
              : [{ reason: b.reason, offset: starts[n], value: deadValue(b.line, b.reason) }],
          );
          const letters = await readDeadLetterDir(deadDir);
          expect(letters.map((l) => ({ reason: l.reason, offset: l.cursor.offset, value: l.value }))).toEqual(
            expectedDead,
          );
          expect(report.records.deadLettered).toBe(expectedDead.length);

          // Replay through another pipeline: the values come back exactly, in order.
          const replayed = memorySink();
          const replay = await clock.runUntil(
            pipeline({ name: 'replay', clock })
              .source(replayDeadLetters(deadDir))
              .trigger(volume({ records }))
              .sink(replayed)
              .build()
              .run(),
          );
          expect(replayed.records).toEqual(expectedDead.map((d) => d.value));
          expect(replay.records).toMatchObject({ in: expectedDead.length, deadLettered: 0 });
          await rm(here, { recursive: true, force: true });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('does not crash on a deeply nested in-memory record either (the runtime sizes records)', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const clock = testClock();
    const sink = memorySink();
    const { fromIterable } = await import('../../src/sources/iterable.js');
    const report = await clock.runUntil(
      pipeline({ name: 'deep', clock })
        .source(fromIterable([{ a: 1 }, deep, { a: 2 }]))
        .sink(sink)
        .build()
        .run(),
    );
    expect(report.status).toBe('completed');
    expect(sink.records).toHaveLength(3);
  });
});

describe('dead-letter guarantees', () => {
  const lines = ['{"id":1}', 'oops', '{"id":3}'].map((l) => Buffer.from(l));

  it('a dead-letter sink failing with retryable errors is retried, and the source commits only after it succeeded', async () => {
    const { path, starts } = await inputFile(lines);
    const clock = testClock();
    const log: string[] = [];
    const dead = memoryDeadLetter();
    const flaky = flakySink<DeadLetter>({
      clock,
      schedule: [{ fail: 'retryable' }, { fail: 'retryable' }],
      inner: dead,
    });
    const logged: Sink<DeadLetter> = {
      async write(batch, options) {
        log.push(`dead-letter attempt ${options.attempt}`);
        await flaky.write(batch, options);
        log.push('dead letters written');
      },
    };
    const source = fromJsonLines(path, { partition: 'in' });
    const p = pipeline({ name: 'retry', clock, retry: { initialDelay: 10 } })
      .source(source)
      .sink(memorySink())
      .deadLetter(logged)
      .build();
    p.on('commit', (event) => log.push(`commit ${event.offset}`));
    const report = await clock.runUntil(p.run());
    expect(flaky.failures).toBe(2);
    expect(log).toEqual([
      'dead-letter attempt 1',
      'dead-letter attempt 2',
      'dead-letter attempt 3',
      'dead letters written',
      `commit ${starts[2]}`,
    ]);
    expect(dead.records.map((d) => [d.value, d.cursor.offset])).toEqual([['oops', starts[1]]]);
    expect(source.committed).toEqual({ partition: 'in', offset: starts[2] });
    expectAccounted(report);
  });

  it('while the dead letters are not written, neither the batch nor the source commit goes ahead (dead letters go first)', async () => {
    const { path, starts } = await inputFile(lines);
    const clock = testClock();
    const dead = memoryDeadLetter();
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const writing = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const slow: Sink<DeadLetter> = {
      async write(batch, options) {
        entered();
        await released;
        await dead.write(batch, options);
      },
    };
    const sink = memorySink();
    const source = fromJsonLines(path, { partition: 'in' });
    const commits: number[] = [];
    const p = pipeline({ name: 'slow', clock }).source(source).sink(sink).deadLetter(slow).build();
    p.on('commit', (event) => commits.push(event.offset));
    const running = p.run();
    await writing;
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.records).toEqual([]);
    expect(source.committed).toBeUndefined();
    expect(commits).toEqual([]);
    release();
    const report = await clock.runUntil(running);
    expect(sink.records).toEqual([{ id: 1 }, { id: 3 }]);
    expect(commits).toEqual([starts[2]]);
    expect(source.committed).toEqual({ partition: 'in', offset: starts[2] });
    expect(dead.records).toHaveLength(1);
    expectAccounted(report);
  });

  it('a dead-letter sink that keeps failing fails the pipeline with MB_DEAD_LETTER_FAILED; nothing is committed', async () => {
    const { path } = await inputFile(lines);
    const clock = testClock();
    const failing: Sink<DeadLetter> = {
      write() {
        throw new MicrobatchError('MB_SINK_FAILED', 'disk full', { retryable: true });
      },
    };
    const source = fromJsonLines(path, { partition: 'in' });
    const p = pipeline({ name: 'full', clock, retry: { maxAttempts: 3, initialDelay: 10 } })
      .source(source)
      .sink(memorySink())
      .deadLetter(failing)
      .build();
    const error = await clock.runUntil(p.run()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expectCode(error, 'MB_DEAD_LETTER_FAILED');
    expect(source.committed).toBeUndefined();
  });
});

describe('replay after a fix', () => {
  interface Price {
    sku: string;
    price: number;
  }

  /** The original pipeline's check: prices must be numbers. */
  const strict: Transform<{ sku: string; price: unknown }, Price> = {
    name: 'strict-price',
    apply({ records }) {
      const kept: Price[] = [];
      const from: number[] = [];
      const rejected: { index: number; reason: string; details: unknown }[] = [];
      records.forEach((r, index) => {
        if (typeof r.price === 'number') {
          kept.push(r as Price);
          from.push(index);
        } else
          rejected.push({ index, reason: 'type_mismatch', details: { field: 'price', got: typeof r.price } });
      });
      return { records: kept, from, rejected };
    },
  };

  /** The fix: prices given as strings like "12.50" are parsed. */
  const lenient: Transform<{ sku: string; price: unknown }, Price> = {
    name: 'lenient-price',
    apply({ records }) {
      return { records: records.map((r) => ({ sku: r.sku, price: Number(r.price) })) };
    },
  };

  const input = [
    { sku: 'a', price: 1 },
    { sku: 'b', price: '2.50' },
    { sku: 'c', price: 3 },
    { sku: 'd', price: '4' },
    { sku: 'e', price: '5.25' },
    { sku: 'f', price: 6 },
    { sku: 'g', price: '7' },
  ];

  async function original(deadDir: string) {
    const { path } = await inputFile(
      [...input.map((r) => Buffer.from(JSON.stringify(r))), Buffer.from('not json')],
      'prices.jsonl',
    );
    const clock = testClock();
    const sink = memorySink<Price>();
    const report = await clock.runUntil(
      pipeline({ name: 'prices', clock })
        .source(fromJsonLines<{ sku: string; price: unknown }>(path, { partition: 'prices' }))
        .trigger(volume({ records: 2 }))
        .transform(strict)
        .sink(sink)
        .deadLetter(jsonLinesDeadLetter({ dir: deadDir }))
        .build()
        .run(),
    );
    expect(sink.records.map((r) => r.sku)).toEqual(['a', 'c', 'f']);
    expect(report.rejected).toEqual({ type_mismatch: 4, malformed: 1 });
    return clock;
  }

  it('the fixed records arrive, in order; other reasons can be left out', async () => {
    const deadDir = join(dir, 'dead');
    const clock = await original(deadDir);
    const fixed = memorySink<Price>();
    const report = await clock.runUntil(
      pipeline({ name: 'prices-replay', clock })
        .source(replayDeadLetters<{ sku: string; price: unknown }>(deadDir, { reasons: 'type_mismatch' }))
        .transform(lenient)
        .sink(fixed)
        .build()
        .run(),
    );
    expect(fixed.records).toEqual([
      { sku: 'b', price: 2.5 },
      { sku: 'd', price: 4 },
      { sku: 'e', price: 5.25 },
      { sku: 'g', price: 7 },
    ]);
    expect(report.records).toMatchObject({ in: 4, written: 4, deadLettered: 0 });
  });

  it('resuming after the committed offsets does not repeat what an interrupted replay delivered', async () => {
    const deadDir = join(dir, 'dead');
    const clock = await original(deadDir);
    // The first replay fails for good on its third batch (one record per batch).
    const first = memorySink<Price>();
    let writes = 0;
    const breaking: Sink<Price> = {
      write(batch, options) {
        if (++writes === 3)
          throw new MicrobatchError('MB_SINK_FAILED', 'warehouse down', { retryable: false });
        return first.write(batch, options);
      },
    };
    const source = replayDeadLetters<{ sku: string; price: unknown }>(deadDir, { reasons: 'type_mismatch' });
    const p = pipeline({ name: 'prices-replay', clock, concurrency: 1 })
      .source(source)
      .trigger(volume({ records: 1 }))
      .transform(lenient)
      .sink(breaking)
      .build();
    const error = await clock.runUntil(p.run()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expectCode(error, 'MB_SINK_FAILED');
    const delivered = first.records.map((r) => r.sku);
    expect(delivered).toEqual(['b', 'd']);
    const committed = source.committed;
    expect(Object.keys(committed).length).toBeGreaterThan(0);

    const second = memorySink<Price>();
    await clock.runUntil(
      pipeline({ name: 'prices-replay', clock })
        .source(
          replayDeadLetters<{ sku: string; price: unknown }>(deadDir, {
            reasons: 'type_mismatch',
            after: committed,
          }),
        )
        .transform(lenient)
        .sink(second)
        .build()
        .run(),
    );
    expect(second.records.map((r) => r.sku)).toEqual(['e', 'g']);
  });

  it('with a checkpoint store, a rerun of the replay resumes by itself, without repeats', async () => {
    const deadDir = join(dir, 'dead');
    const clock = await original(deadDir);
    const checkpoint = memoryCheckpoint();
    const delivered = memorySink<Price>();
    let writes = 0;
    const breaksOnce: Sink<Price> = {
      write(batch, options) {
        if (++writes === 3)
          throw new MicrobatchError('MB_SINK_FAILED', 'warehouse down', { retryable: false });
        return delivered.write(batch, options);
      },
    };
    const replayPipeline = () =>
      pipeline({ name: 'prices-replay', clock, concurrency: 1, checkpoint })
        .source(replayDeadLetters<{ sku: string; price: unknown }>(deadDir, { reasons: 'type_mismatch' }))
        .trigger(volume({ records: 1 }))
        .transform(lenient)
        .sink(breaksOnce)
        .build();
    const error = await clock.runUntil(replayPipeline().run()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expectCode(error, 'MB_SINK_FAILED');
    expect(delivered.records.map((r) => r.sku)).toEqual(['b', 'd']);
    const report = await clock.runUntil(replayPipeline().run());
    expect(delivered.records.map((r) => r.sku)).toEqual(['b', 'd', 'e', 'g']);
    expect(report.records.in).toBe(2);
  });
});
