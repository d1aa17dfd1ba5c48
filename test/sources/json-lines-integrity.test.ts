/**
 * Regressions of issue 13 at the way in: a file source must not lose or double a line when its
 * writer is mid-line, when the file is replaced, truncated or rotated, when the same file is named
 * by another path string, or when it starts with a byte-order mark.
 */
import { appendFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileCheckpoint } from '../../src/checkpoint/file.js';
import type { DeadLetter } from '../../src/core/batch.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromJsonLines, type JsonLinesSourceOptions } from '../../src/sources/json-lines.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, rejection } from '../support.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-jsonl-integrity-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One run of a pipeline over `path` with a durable checkpoint in `dir`; what reached the sinks. */
async function run(path: string, options: JsonLinesSourceOptions = {}) {
  const clock = testClock();
  const sink = memorySink();
  const dead = memorySink<DeadLetter>();
  const source = fromJsonLines(path, options);
  const report = await clock.runUntil(
    pipeline({ name: 'files', clock, checkpoint: fileCheckpoint({ dir: join(dir, 'checkpoint') }) })
      .source(source)
      .sink(sink)
      .deadLetter(dead)
      .build()
      .run(),
  );
  return { records: sink.records, dead: dead.records, report, source };
}

describe('fromJsonLines: a half-written last line (finding 2)', () => {
  it('is neither read nor committed; the next run reads it whole', async () => {
    const path = join(dir, 'prices.jsonl');
    await writeFile(path, '1\n12');
    const first = await run(path);
    expect(first.records).toEqual([1]);
    expect(first.dead).toEqual([]);
    expect(first.source.pendingBytes).toBe(2);
    await appendFile(path, '345\n6');
    const second = await run(path);
    expect(second.records).toEqual([12345]);
    expect(second.source.pendingBytes).toBe(1);
    await appendFile(path, '\n');
    expect((await run(path)).records).toEqual([6]);
  });

  it('a half-written object is not dead-lettered as malformed', async () => {
    const path = join(dir, 'a.jsonl');
    await writeFile(path, '{"id":1,"amount":5}\n{"id":2,"amount":12');
    const first = await run(path);
    expect(first.records).toEqual([{ id: 1, amount: 5 }]);
    expect(first.dead).toEqual([]);
    await appendFile(path, '345}\n');
    expect((await run(path)).records).toEqual([{ id: 2, amount: 12345 }]);
  });

  it('reads the last line without a newline when told the file is complete', async () => {
    const path = join(dir, 'done.jsonl');
    await writeFile(path, '1\n2');
    const { records, source } = await run(path, { complete: true });
    expect(records).toEqual([1, 2]);
    expect(source.pendingBytes).toBe(0);
  });
});

describe('fromJsonLines: a replaced, truncated or rotated file (finding 3)', () => {
  const lines = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => `{"n":${from + i}}\n`).join('');

  it('a longer file in its place fails with MB_LEDGER_AHEAD, nothing read', async () => {
    const path = join(dir, 'a.jsonl');
    await writeFile(path, lines(0, 4));
    expect((await run(path)).records).toHaveLength(4);
    await writeFile(path, lines(100, 110)); // replaced by a longer file
    const error = expectCode(await rejection(run(path)), 'MB_LEDGER_AHEAD');
    expect(error.message).toContain('replaced');
  });

  it('a shorter file in its place fails with MB_LEDGER_AHEAD, not a silent "completed"', async () => {
    const path = join(dir, 'a.jsonl');
    await writeFile(path, lines(0, 10));
    await run(path);
    await writeFile(path, lines(50, 52));
    expectCode(await rejection(run(path)), 'MB_LEDGER_AHEAD');
  });

  it('a file truncated in place and written again (copytruncate) is noticed', async () => {
    const path = join(dir, 'a.jsonl');
    await writeFile(path, lines(0, 5));
    await run(path);
    await writeFile(path, '');
    await appendFile(path, lines(1000, 1100));
    expectCode(await rejection(run(path)), 'MB_LEDGER_AHEAD');
  });

  it("{ replaced: 'start-over' } reads the new file from its first line, under new offsets", async () => {
    const path = join(dir, 'a.jsonl');
    await writeFile(path, lines(0, 4));
    const first = await run(path);
    await writeFile(path, lines(100, 103));
    const second = await run(path, { replaced: 'start-over' });
    expect(second.records).toEqual([{ n: 100 }, { n: 101 }, { n: 102 }]);
    const before = Object.values(first.report.committed)[0]!;
    const after = Object.values(second.report.committed)[0]!;
    expect(after).toBeGreaterThan(before);
    // And it keeps going: appended lines are read once, the old file is not mistaken for it.
    await appendFile(path, lines(103, 105));
    expect((await run(path)).records).toEqual([{ n: 103 }, { n: 104 }]);
  });

  it('an appended file is not taken for a replaced one, across many runs', async () => {
    const path = join(dir, 'a.jsonl');
    const seen: unknown[] = [];
    await writeFile(path, '');
    for (let i = 0; i < 30; i++) {
      // Lines long enough to pass the fingerprinted head (4 KiB) after a few runs.
      await appendFile(path, `{"n":${i},"pad":"${'x'.repeat(300)}"}\n`);
      seen.push(...(await run(path)).records);
    }
    expect(seen.map((r) => (r as { n: number }).n)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});

describe('fromJsonLines: one file under several spellings (finding 4)', () => {
  it('is one partition: read once in all', async () => {
    await mkdir(join(dir, 'raw'));
    const absolute = join(dir, 'raw', 'prices.jsonl');
    await writeFile(absolute, Array.from({ length: 100 }, (_, i) => `${i}\n`).join(''));
    await symlink(absolute, join(dir, 'link.jsonl'));
    const cwd = process.cwd();
    const spellings = [
      absolute,
      relative(cwd, absolute),
      `./${relative(cwd, absolute)}`,
      join(dir, 'link.jsonl'),
    ];
    let total = 0;
    for (const spelling of spellings) total += (await run(spelling)).records.length;
    expect(total).toBe(100);
  });
});

describe('fromJsonLines: a byte-order mark (finding 9)', () => {
  it('is skipped: line 1 is a record, not malformed', async () => {
    const path = join(dir, 'bom.jsonl');
    await writeFile(
      path,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}\n{"a":2}\n')]),
    );
    const { records, dead } = await run(path);
    expect(dead).toEqual([]);
    expect(records).toEqual([{ a: 1 }, { a: 2 }]);
    expect((await readFile(path)).length).toBe(19);
  });
});
