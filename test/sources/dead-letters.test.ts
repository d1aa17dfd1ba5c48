import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { jsonLinesDeadLetter } from '../../src/sinks/dead-letter-json-lines.js';
import { type ReplayDeadLettersOptions, replayDeadLetters } from '../../src/sources/dead-letters.js';
import type { SourceContext, SourceRejection } from '../../src/sources/types.js';
import { writeOptions } from '../sinks/batches.js';
import { expectInvalid, listed, sourceContext } from '../support.js';
import { deadBatch, letter } from './dead-letter-fixtures.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-replay-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Read {
  partition: string;
  offset: number;
  value: unknown;
}

/** Everything the source yields, with its cursor, and its rejections. */
async function replay(
  options: ReplayDeadLettersOptions = {},
  context: SourceContext = sourceContext(),
  from = dir,
): Promise<{ records: Read[]; rejected: (SourceRejection & { partition: string })[] }> {
  const reader = await replayDeadLetters(
    from,
    options as ReplayDeadLettersOptions & { envelopes?: false },
  ).open(context);
  const records: Read[] = [];
  const rejected: (SourceRejection & { partition: string })[] = [];
  for (;;) {
    const chunk = listed(await reader.read());
    if (chunk === null) break;
    chunk.values.forEach((value, i) => {
      records.push({ partition: chunk.partition, offset: chunk.offsets![i]!, value });
    });
    for (const r of chunk.rejected ?? []) rejected.push({ ...r, partition: chunk.partition });
  }
  await reader.close();
  return { records, rejected };
}

/** Writes one dead-letter file through the sink; returns its file name. */
async function writeDead(
  letters: DeadLetter[],
  first: number,
  last: number,
  partition = 'p',
  pipeline = 'orders',
) {
  const batch = deadBatch(letters, first, last, partition, pipeline);
  await jsonLinesDeadLetter({ dir }).write(batch, writeOptions());
  return `${batch.id}.jsonl`;
}

/** Byte offsets of the lines of a file. */
async function lineOffsets(name: string): Promise<number[]> {
  const text = await readFile(join(dir, name));
  const offsets: number[] = [];
  for (let at = 0; at < text.length; at = text.indexOf(0x0a, at) + 1) offsets.push(at);
  return offsets;
}

describe('replayDeadLetters: reading', () => {
  it('yields the values, files in sorted name order; partition = original pipeline.partition, offset = original cursor offset', async () => {
    // Written out of order: the replay order comes from the names, not from the writes.
    await writeDead([letter(12, 'c'), letter(15, { d: 4 })], 10, 19);
    await writeDead([letter(1, 'a'), letter(4, ['b'])], 0, 9);
    await writeDead([letter(3, 'x', { cursor: { partition: 'q/1', offset: 3 } })], 0, 9, 'q/1');
    const { records, rejected } = await replay();
    expect(rejected).toEqual([]);
    expect(records).toEqual([
      { partition: 'orders.p', offset: 1, value: 'a' },
      { partition: 'orders.p', offset: 4, value: ['b'] },
      { partition: 'orders.p', offset: 12, value: 'c' },
      { partition: 'orders.p', offset: 15, value: { d: 4 } },
      // Escaped as in batch ids, so that no two origins share a partition.
      { partition: 'orders.q~2f1', offset: 3, value: 'x' },
    ]);
  });

  it('sorts the letters of a file by offset (a batch lists its source rejects before its transform rejects)', async () => {
    await writeDead(
      [letter(7, 'late', { reason: 'type_mismatch' }), letter(2, 'early'), letter(5, 'middle')],
      0,
      9,
    );
    expect((await replay()).records.map((r) => [r.offset, r.value])).toEqual([
      [2, 'early'],
      [5, 'middle'],
      [7, 'late'],
    ]);
  });

  it('skips a letter at or below an offset already read for its partition: the same range dead-lettered twice', async () => {
    // A rerun without checkpoint cut the same records into different batches.
    await writeDead([letter(2, 'a'), letter(6, 'b')], 0, 9);
    await writeDead([letter(2, 'a'), letter(6, 'b'), letter(11, 'c')], 0, 14);
    expect((await replay()).records.map((r) => r.value)).toEqual(['a', 'b', 'c']);
  });

  it('is replayable, named dead-letters, and tracks commits by partition', async () => {
    const source = replayDeadLetters(dir);
    expect(source.kind).toBe('dead-letters');
    expect(source.replayable).toBe(true);
    await writeDead([letter(1, 'a'), letter(2, 'b')], 0, 9);
    const reader = await source.open(sourceContext());
    const chunk = listed(await reader.read())!;
    expect(chunk.offsets).toEqual([1, 2]);
    await reader.commit!({ partition: 'orders.p', offset: 2 });
    expect(source.committed).toEqual({ 'orders.p': 2 });
    await reader.close();
  });

  it('yields whole envelopes with { envelopes: true }', async () => {
    const letters = [letter(1, 'a', { reason: 'too_large', details: { bytes: 9 } })];
    await writeDead(letters, 0, 9);
    const reader = await replayDeadLetters<string>(dir, { envelopes: true }).open(sourceContext());
    const chunk = (await reader.read())!;
    expect(chunk.values).toEqual(letters);
    expect(chunk.values[0]!.cursor).toEqual({ partition: 'p', offset: 1 });
    expect(chunk.bytes).toHaveLength(1);
    await reader.close();
  });

  it('filters by reason(s) and by pipeline(s), leaving gaps in the offsets', async () => {
    await writeDead(
      [
        letter(1, 'm1'),
        letter(2, 't1', { reason: 'type_mismatch' }),
        letter(3, 'l1', { reason: 'too_late' }),
        letter(4, 'm2'),
      ],
      0,
      9,
    );
    await writeDead([letter(1, 'other', { pipeline: 'billing' })], 0, 9, 'p', 'billing');
    const values = async (options: ReplayDeadLettersOptions) =>
      (await replay(options)).records.map((r) => r.value);
    expect(await values({})).toEqual(['other', 'm1', 't1', 'l1', 'm2']);
    expect(await values({ reasons: 'malformed' })).toEqual(['other', 'm1', 'm2']);
    expect(await values({ reasons: ['type_mismatch', 'too_late'] })).toEqual(['t1', 'l1']);
    expect(await values({ pipelines: 'orders' })).toEqual(['m1', 't1', 'l1', 'm2']);
    expect(await values({ pipelines: ['billing'], reasons: 'malformed' })).toEqual(['other']);
    expect(await values({ pipelines: 'nobody' })).toEqual([]);
    expect((await replay({ reasons: 'too_late' })).records).toEqual([
      { partition: 'orders.p', offset: 3, value: 'l1' },
    ]);
  });

  it('rejects lines that are not envelopes as malformed, in a partition named after the file, at their byte offsets', async () => {
    const name = await writeDead([letter(1, 'a')], 0, 9);
    await appendFile(join(dir, name), '{"truncated":\n[1,2]\n{"reason":"x"}\n');
    await appendFile(join(dir, name), Buffer.from([0xff, 0x0a]));
    await appendFile(join(dir, name), `${JSON.stringify(letter(7, 'b'))}\n`);
    await appendFile(join(dir, name), `${JSON.stringify(letter(-1, 'bad offset'))}\n`);
    const starts = await lineOffsets(name);
    const { records, rejected } = await replay();
    expect(records.map((r) => [r.partition, r.offset, r.value])).toEqual([
      ['orders.p', 1, 'a'],
      ['orders.p', 7, 'b'],
    ]);
    expect(rejected.map((r) => [r.partition, r.offset, r.reason])).toEqual([
      [name, starts[1], 'malformed'],
      [name, starts[2], 'malformed'],
      [name, starts[3], 'malformed'],
      [name, starts[4], 'malformed'],
      [name, starts[6], 'malformed'],
    ]);
    expect((rejected[1]!.details as { error: string }).error).toMatch(/not a dead-letter envelope/);
    expect((rejected[3]!.details as { error: string }).error).toBe('invalid UTF-8');
  });

  it('ignores temporary files and files that are not .jsonl; reads a missing directory as empty', async () => {
    await writeDead([letter(1, 'a')], 0, 9);
    await writeFile(join(dir, '.orders.p.0-9.dead.123.0.tmp'), `${JSON.stringify(letter(2, 'temp'))}\n`);
    await writeFile(join(dir, '.hidden.jsonl'), `${JSON.stringify(letter(2, 'hidden'))}\n`);
    await writeFile(join(dir, 'notes.txt'), `${JSON.stringify(letter(2, 'txt'))}\n`);
    expect((await replay()).records.map((r) => r.value)).toEqual(['a']);
    expect(await replay({}, sourceContext(), join(dir, 'missing'))).toEqual({ records: [], rejected: [] });
  });

  it('property: offsets strictly increase per partition, and every letter written is yielded once, in offset order', async () => {
    const letterValue = fc.oneof(fc.jsonValue(), fc.string({ unit: 'binary' }));
    // Files of two lanes; each file holds letters of distinct offsets inside its own range.
    const file = fc.record({
      lane: fc.constantFrom('p', 'q'),
      first: fc.nat({ max: 1_000 }),
      letters: fc.uniqueArray(fc.record({ at: fc.nat({ max: 9 }), value: letterValue }), {
        selector: (l) => l.at,
        minLength: 1,
        maxLength: 5,
      }),
    });
    const files = fc.uniqueArray(file, { selector: (f) => `${f.lane}${f.first}`, maxLength: 6 });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(files, fc.integer({ min: 1, max: 200 }), async (spec, readBytes) => {
        const here = join(dir, `run${run++}`);
        const expected = new Map<string, { offset: number; value: unknown }[]>();
        for (const f of spec) {
          const letters = f.letters.map((l) =>
            letter(f.first * 10 + l.at, l.value, {
              cursor: { partition: f.lane, offset: f.first * 10 + l.at },
            }),
          );
          await jsonLinesDeadLetter({ dir: here }).write(
            deadBatch(letters, f.first * 10, f.first * 10 + 9, f.lane),
            writeOptions(),
          );
          const lane = expected.get(`orders.${f.lane}`) ?? [];
          lane.push(
            ...letters.map((l) => ({
              offset: l.cursor.offset,
              value: JSON.parse(JSON.stringify([l.value]))[0],
            })),
          );
          expected.set(`orders.${f.lane}`, lane);
        }
        const { records, rejected } = await replay({ readBytes }, sourceContext(), here);
        expect(rejected).toEqual([]);
        for (const [partition, letters] of expected) {
          letters.sort((a, b) => a.offset - b.offset);
          expect(
            records.filter((r) => r.partition === partition).map(({ offset, value }) => ({ offset, value })),
          ).toEqual(letters);
        }
        expect(records).toHaveLength([...expected.values()].reduce((n, l) => n + l.length, 0));
      }),
      { numRuns: 40 },
    );
  });
});

describe('replayDeadLetters: resuming', () => {
  it('{ after } skips each partition through its committed offset; other partitions start at the beginning', async () => {
    await writeDead([letter(1, 'a'), letter(2, 'b'), letter(3, 'c')], 0, 9);
    await writeDead([letter(11, 'd')], 10, 19);
    await writeDead([letter(4, 'q4', { cursor: { partition: 'q', offset: 4 } })], 0, 9, 'q');
    const values = async (after: Record<string, number>) =>
      (await replay({ after })).records.map((r) => r.value);
    expect(await values({ 'orders.p': 1 })).toEqual(['b', 'c', 'd', 'q4']);
    expect(await values({ 'orders.p': 3 })).toEqual(['d', 'q4']);
    expect(await values({ 'orders.p': 11, 'orders.q': 4 })).toEqual([]);
    expect(await values({ unknown: 5 })).toEqual(['a', 'b', 'c', 'd', 'q4']);
  });

  it("the context's resumeAfter (the checkpoint store) resumes per partition and wins over { after }", async () => {
    await writeDead([letter(1, 'a'), letter(2, 'b'), letter(3, 'c')], 0, 9);
    await writeDead([letter(11, 'd'), letter(12, 'e')], 10, 19);
    const asked: string[] = [];
    const context: SourceContext = {
      ...sourceContext(),
      resumeAfter: async (partition) => {
        asked.push(partition);
        return partition === 'orders.p' ? 2 : undefined;
      },
    };
    const { records } = await replay({ after: { 'orders.p': 11 } }, context);
    // The checkpoint says offset 2 was committed, so 'c' comes back even though { after } says more.
    expect(records.map((r) => r.value)).toEqual(['c', 'd', 'e']);
    expect(asked).toEqual(['orders.p']);
  });

  it('resumes the rejections of a file by its own partition, without skipping its letters', async () => {
    const name = await writeDead([letter(1, 'a')], 0, 9);
    await appendFile(join(dir, name), 'garbage 1\ngarbage 2\n');
    await appendFile(join(dir, name), `${JSON.stringify(letter(5, 'b'))}\n`);
    const starts = await lineOffsets(name);
    const { records, rejected } = await replay({ after: { [name]: starts[1]! } });
    expect(records.map((r) => r.value)).toEqual(['a', 'b']);
    expect(rejected.map((r) => [r.partition, r.offset, r.value])).toEqual([[name, starts[2], 'garbage 2']]);
  });

  it('cursors keep their meaning when files are added later, even files sorting first', async () => {
    await writeDead([letter(51, 'x'), letter(52, 'y')], 50, 59);
    const before = (await replay()).records;
    const earlier = await writeDead([letter(1, 'new', { pipeline: 'accounts' })], 0, 9, 'p', 'accounts');
    const later = await writeDead([letter(61, 'z')], 60, 69);
    expect(earlier < later).toBe(true);
    const after = (await replay()).records;
    expect(after.map((r) => r.value)).toEqual(['new', 'x', 'y', 'z']);
    expect(after.slice(1, 3)).toEqual(before);
    // A cursor committed before the new files appeared still means the same letter.
    const resumed = await replay({ after: { [before[0]!.partition]: before[0]!.offset } });
    expect(resumed.records.map((r) => r.value)).toEqual(['new', 'y', 'z']);
  });
});

describe('replayDeadLetters: options', () => {
  it('rejects bad options', () => {
    expectInvalid(() => replayDeadLetters(''), 'replayDeadLetters(dir)');
    expectInvalid(() => replayDeadLetters(7 as never), 'replayDeadLetters(dir)');
    expectInvalid(() => replayDeadLetters(dir, { reasons: [1] as never }), 'replayDeadLetters({ reasons })');
    expectInvalid(
      () => replayDeadLetters(dir, { pipelines: {} as never }),
      'replayDeadLetters({ pipelines })',
    );
    expectInvalid(() => replayDeadLetters(dir, { after: [] as never }), 'replayDeadLetters({ after })');
    expectInvalid(() => replayDeadLetters(dir, { after: { f: -1 } }), "the offset of 'f'", 'got -1');
    expectInvalid(() => replayDeadLetters(dir, { readBytes: 0 }), 'replayDeadLetters({ readBytes })');
    expectInvalid(
      () => replayDeadLetters(dir, { maxLineBytes: 'x' as never }),
      'replayDeadLetters({ maxLineBytes })',
    );
  });
});
