import { isUtf8 } from 'node:buffer';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { estimateBytes } from '../../src/core/size.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromJsonLines, type JsonLinesSourceOptions } from '../../src/sources/json-lines.js';
import type { SourceChunk, SourceRejection } from '../../src/sources/types.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, expectInvalid, listed, sourceContext } from '../support.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-jsonl-src-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(content: string | Buffer, name = 'in.jsonl'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

/** Every record and rejection of a file, read directly from the source. */
async function readAll(path: string, options: JsonLinesSourceOptions = {}) {
  const reader = await fromJsonLines(path, options).open(sourceContext());
  const values: unknown[] = [];
  const offsets: number[] = [];
  const bytes: number[] = [];
  const rejected: SourceRejection[] = [];
  const chunks: SourceChunk[] = [];
  for (;;) {
    const chunk = await reader.read();
    if (chunk === null) break;
    chunks.push(chunk);
    values.push(...chunk.values);
    offsets.push(...(listed(chunk)?.offsets ?? []));
    bytes.push(...(chunk.bytes ?? []));
    rejected.push(...(chunk.rejected ?? []));
  }
  await reader.close();
  return { values, offsets, bytes, rejected, chunks };
}

/** Line-start byte offsets of the non-empty lines of `text`. */
function lineStarts(text: string): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const line of text.split('\n')) {
    if (line.replace(/\r$/, '').trim().length > 0) starts.push(at);
    at += Buffer.byteLength(line, 'utf8') + 1;
  }
  return starts;
}

describe('fromJsonLines: reading', () => {
  it('uses the byte offset of each line start as the record offset, the path as partition', async () => {
    const text = '{"a":1}\n{"a":22}\n{"a":333}\n';
    const path = await file(text);
    const { values, offsets, bytes, chunks } = await readAll(path);
    expect(values).toEqual([{ a: 1 }, { a: 22 }, { a: 333 }]);
    expect(offsets).toEqual([0, 8, 17]);
    expect(offsets).toEqual(lineStarts(text));
    expect(bytes).toEqual([7, 8, 9]);
    expect(chunks[0]!.partition).toBe(path);
  });

  it('keeps offsets right when lines straddle small reads', async () => {
    const text = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(i) })).join('\n');
    const path = await file(`${text}\n`);
    const { values, offsets } = await readAll(path, { readBytes: 7 });
    expect(values).toHaveLength(20);
    expect(offsets).toEqual(lineStarts(text));
  });

  it('skips blank and whitespace-only lines', async () => {
    const text = '\n{"a":1}\n\n   \n{"a":2}\n\n';
    const { values, offsets } = await readAll(await file(text));
    expect(values).toEqual([{ a: 1 }, { a: 2 }]);
    expect(offsets).toEqual([1, 14]);
  });

  it('accepts CRLF line ends', async () => {
    const text = '{"a":1}\r\n{"a":2}\r\n\r\n{"a":3}\r\n';
    const { values, offsets, bytes, rejected } = await readAll(await file(text));
    expect(values).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(offsets).toEqual([0, 9, 20]);
    expect(bytes).toEqual([7, 7, 7]);
    expect(rejected).toEqual([]);
  });

  it('reads a last line without a trailing newline when the file is complete', async () => {
    const { values, offsets } = await readAll(await file('{"a":1}\n{"a":2}'), {
      readBytes: 4,
      complete: true,
    });
    expect(values).toEqual([{ a: 1 }, { a: 2 }]);
    expect(offsets).toEqual([0, 8]);
  });

  it('leaves a last line without a trailing newline unread by default, and counts it', async () => {
    const source = fromJsonLines(await file('{"a":1}\n{"a":2}'), { readBytes: 4 });
    const reader = await source.open(sourceContext());
    const values: unknown[] = [];
    for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read())
      values.push(...chunk.values);
    await reader.close();
    expect(values).toEqual([{ a: 1 }]);
    expect(source.pendingBytes).toBe(7);
  });

  it('reads an empty file as no records', async () => {
    const { values, rejected } = await readAll(await file(''));
    expect(values).toEqual([]);
    expect(rejected).toEqual([]);
  });

  it('keeps byte offsets (not character offsets) with UTF-8 multibyte content', async () => {
    const lines = ['{"s":"é"}', '{"s":"日本語"}', '{"s":"😀 emoji"}', '{"s":"plain"}'];
    const text = `${lines.join('\n')}\n`;
    // Tiny reads split multibyte characters across reads.
    for (const readBytes of [3, 5, 1024]) {
      const { values, offsets, bytes } = await readAll(await file(text, `u${readBytes}.jsonl`), {
        readBytes,
      });
      expect(values).toEqual(lines.map((l) => JSON.parse(l)));
      expect(offsets).toEqual([0, 11, 29, 48]);
      expect(offsets).toEqual(lineStarts(text));
      expect(bytes).toEqual(lines.map((l) => Buffer.byteLength(l)));
    }
  });

  it('resumes at a line start with { from }', async () => {
    const text = '{"a":1}\n{"a":2}\n{"a":3}\n';
    const { values, offsets } = await readAll(await file(text), { from: 8 });
    expect(values).toEqual([{ a: 2 }, { a: 3 }]);
    expect(offsets).toEqual([8, 16]);
  });

  it('resumes after a committed record with { after }', async () => {
    const text = '{"a":1}\n{"a":2}\n{"a":3}\n';
    const path = await file(text);
    expect((await readAll(path, { after: 8 })).values).toEqual([{ a: 3 }]);
    expect((await readAll(path, { after: 8 })).offsets).toEqual([16]);
    expect((await readAll(path, { after: 0 })).values).toEqual([{ a: 2 }, { a: 3 }]);
    expect((await readAll(path, { after: 16 })).values).toEqual([]);
  });

  it('resumes with { after } when the committed line is longer than a read', async () => {
    const text = `${JSON.stringify({ long: 'y'.repeat(50) })}\n{"a":2}\n`;
    const { values, offsets } = await readAll(await file(text), { after: 0, readBytes: 8 });
    expect(values).toEqual([{ a: 2 }]);
    expect(offsets).toEqual(lineStarts(text).slice(1));
  });
});

describe('fromJsonLines: bad lines', () => {
  it('rejects a malformed line as malformed with the raw text, and goes on', async () => {
    const text = '{"a":1}\n{"a":\nnot json\n{"a":2}\n';
    const { values, offsets, rejected } = await readAll(await file(text));
    expect(values).toEqual([{ a: 1 }, { a: 2 }]);
    expect(offsets).toEqual([0, 23]);
    expect(rejected).toHaveLength(2);
    expect(rejected[0]).toMatchObject({ offset: 8, reason: 'malformed', value: '{"a":', bytes: 5 });
    expect(rejected[1]).toMatchObject({ offset: 14, reason: 'malformed', value: 'not json' });
    expect((rejected[0]!.details as { error: string }).error).toEqual(expect.any(String));
  });

  it('rejects a line longer than maxLineBytes as too_large without parsing it', async () => {
    const long = JSON.stringify({ big: 'z'.repeat(100) });
    const text = `{"a":1}\n${long}\n{"a":2}\n`;
    const { values, offsets, rejected } = await readAll(await file(text), { maxLineBytes: 50 });
    expect(values).toEqual([{ a: 1 }, { a: 2 }]);
    expect(offsets).toEqual([0, 8 + long.length + 1]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      offset: 8,
      reason: 'too_large',
      details: { bytes: long.length, limit: 50 },
    });
  });

  it('rejects a line longer than maxLineBytes that spans several reads, and goes on', async () => {
    const long = JSON.stringify({ big: 'z'.repeat(200) });
    const text = `{"a":1}\n${long}\n{"a":2}\n{"a":3}\n`;
    const { values, offsets, rejected } = await readAll(await file(text), {
      maxLineBytes: 20,
      readBytes: 16,
    });
    expect(values).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(offsets).toEqual(lineStarts(text).filter((o) => o !== 8));
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ offset: 8, reason: 'too_large' });
  });

  it('runs through a pipeline: malformed lines are dead-lettered with raw text and cursor, the rest written', async () => {
    const text = '{"a":1}\n{broken\n{"a":2}\n\n{"a":3}\n';
    const path = await file(text);
    const clock = testClock();
    const sink = memorySink();
    const dead = memorySink<DeadLetter>();
    const source = fromJsonLines(path);
    const p = pipeline({ name: 'files', clock }).source(source).sink(sink).deadLetter(dead).build();
    const report = await clock.runUntil(p.run());
    expect(sink.records).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(dead.records).toHaveLength(1);
    expect(dead.records[0]).toMatchObject({
      reason: 'malformed',
      value: '{broken',
      cursor: { partition: path, offset: 8 },
      pipeline: 'files',
    });
    expect(report.status).toBe('completed');
    expect(report.guarantee).toBe('at-least-once');
    expect(report.records).toMatchObject({ in: 4, written: 3, deadLettered: 1, undelivered: 0 });
    expect(report.rejected).toEqual({ malformed: 1 });
    // The last line starts at 25: the source is committed through it.
    expect(report.committed).toEqual({ [path]: 25 });
    expect(source.committed).toEqual({ partition: path, offset: 25 });
  });

  it('a run resumed with { after: committed offset } reads only new lines', async () => {
    const path = await file('{"a":1}\n{"a":2}\n');
    const clock = testClock();
    const first = fromJsonLines(path);
    await clock.runUntil(pipeline({ name: 'r', clock }).source(first).sink(memorySink()).build().run());
    await writeFile(path, '{"a":1}\n{"a":2}\n{"a":3}\n');
    const sink = memorySink();
    await clock.runUntil(
      pipeline({ name: 'r', clock })
        .source(fromJsonLines(path, { after: first.committed!.offset }))
        .sink(sink)
        .build()
        .run(),
    );
    expect(sink.records).toEqual([{ a: 3 }]);
  });

  it('makes run() reject with MB_SOURCE_FAILED when the file is missing', async () => {
    const clock = testClock();
    const missing = join(dir, 'nope.jsonl');
    const p = pipeline({ name: 'files', clock }).source(fromJsonLines(missing)).sink(memorySink()).build();
    const error = expectCode(
      await clock.runUntil(p.run()).then(
        () => undefined,
        (e: unknown) => e,
      ),
      'MB_SOURCE_FAILED',
    );
    expect(error.message).toContain(missing);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(p.status).toBe('failed');
  });
});

describe('fromJsonLines: invalid UTF-8', () => {
  const bad: [string, number[]][] = [
    ['a lone continuation byte', [0x80]],
    ['a truncated 3-byte sequence', [0xe6, 0x97]],
    ['an overlong encoding of /', [0xc0, 0xaf]],
    ['an encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['a byte never valid in UTF-8', [0xff]],
  ];

  it.each(bad)('rejects a line with %s as malformed, says invalid UTF-8, and goes on', async (_, bytes) => {
    const line = Buffer.concat([Buffer.from('{"s":"'), Buffer.from(bytes), Buffer.from('"}')]);
    const content = Buffer.concat([Buffer.from('{"a":1}\n'), line, Buffer.from('\n{"a":2}\n')]);
    for (const readBytes of [3, 1024]) {
      const { values, offsets, rejected } = await readAll(await file(content, `bad${readBytes}.jsonl`), {
        readBytes,
      });
      expect(values).toEqual([{ a: 1 }, { a: 2 }]);
      expect(offsets).toEqual([0, 8 + line.length + 1]);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({
        offset: 8,
        reason: 'malformed',
        details: { error: 'invalid UTF-8', base64: line.toString('base64') },
        bytes: line.length,
      });
      // The raw text, with the invalid bytes shown as U+FFFD.
      expect(rejected[0]!.value).toBe(line.toString('utf8'));
    }
  });

  it('accepts a real U+FFFD (valid UTF-8) and multibyte text split across reads', async () => {
    const text = '{"s":"\uFFFD"}\n{"s":"日本😀"}\n';
    const { values, rejected } = await readAll(await file(text), { readBytes: 2 });
    expect(values).toEqual([{ s: '\uFFFD' }, { s: '日本😀' }]);
    expect(rejected).toEqual([]);
  });

  it('property: any bytes, any line split: every non-blank line is a value or a rejection, valid UTF-8 never rejected for it', async () => {
    const line = fc.oneof(
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a.filter((b) => b !== 0x0a))),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 12 }),
        fc.integer({ min: 1, max: 64 }),
        async (lines, readBytes) => {
          const content = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
          const path = await file(content, 'prop.jsonl');
          const { values, offsets, rejected } = await readAll(path, { readBytes });
          const expected = lines
            .map((l, i) => ({ l, at: lines.slice(0, i).reduce((n, x) => n + x.length + 1, 0) }))
            .filter(({ l }) => l.toString('utf8').replace(/\r$/, '').trim().length > 0);
          const seen = [...offsets, ...rejected.map((r) => r.offset)].sort((a, b) => a - b);
          expect(seen).toEqual(expected.map((e) => e.at));
          expect(values.length + rejected.length).toBe(expected.length);
          for (const r of rejected) {
            const raw = expected.find((e) => e.at === r.offset)!.l;
            const invalid = (r.details as { error: string }).error === 'invalid UTF-8';
            expect(invalid).toBe(!isUtf8(raw));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('fromJsonLines: deep nesting', () => {
  it('rejects 100,000 unclosed [ as malformed, without crashing, and goes on', async () => {
    const deep = '['.repeat(100_000);
    const text = `{"a":1}\n${deep}\n{"a":2}\n`;
    const { values, rejected } = await readAll(await file(text), { readBytes: 4096 });
    expect(values).toEqual([{ a: 1 }, { a: 2 }]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      offset: 8,
      reason: 'malformed',
      details: { error: 'nested deeper than 1000 levels', maxDepth: 1000 },
      bytes: 100_000,
    });
  });

  it('rejects a balanced line nested 100,000 deep (which JSON.parse would accept) as malformed', async () => {
    const deep = `${'[{"a":'.repeat(50_000)}1${'}]'.repeat(50_000)}`;
    const { values, rejected } = await readAll(await file(`${deep}\n{"ok":true}\n`));
    expect(values).toEqual([{ ok: true }]);
    expect(rejected).toMatchObject([{ offset: 0, reason: 'malformed' }]);
    expect((rejected[0]!.details as { error: string }).error).toBe('nested deeper than 1000 levels');
  });

  it('accepts nesting up to maxDepth, brackets inside strings do not count', async () => {
    const at = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const quoted = JSON.stringify({ s: `\\"${'['.repeat(50)}`, t: '{'.repeat(50) });
    const text = `${at(10)}\n${at(11)}\n${quoted}\n`;
    const { values, rejected } = await readAll(await file(text), { maxDepth: 10 });
    expect(values).toEqual([JSON.parse(at(10)), JSON.parse(quoted)]);
    expect(rejected).toMatchObject([{ offset: 21, reason: 'malformed' }]);
    expect(
      (await readAll(await file(text, 'inf.jsonl'), { maxDepth: Number.POSITIVE_INFINITY })).rejected,
    ).toEqual([]);
  });

  it('property: a line is rejected for depth exactly when it nests deeper than maxDepth', async () => {
    const nested: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.oneof(fc.integer(), fc.constantFrom('[', ']', '{', '}', '\\"[', 'x')),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('a', '[', '{'), tie('v'), { maxKeys: 2 }),
      ),
    })).v;
    const depth = (v: unknown): number =>
      typeof v === 'object' && v !== null
        ? 1 + Math.max(0, ...Object.values(v as Record<string, unknown>).map(depth))
        : 0;
    await fc.assert(
      fc.asyncProperty(nested, fc.integer({ min: 1, max: 4 }), async (value, maxDepth) => {
        const line = JSON.stringify(value);
        const { values, rejected } = await readAll(await file(`${line}\n`, 'depth.jsonl'), { maxDepth });
        // Lines of at most 2 × maxDepth bytes are not checked: they cannot nest deeper.
        const tooDeep = depth(value) > maxDepth;
        expect(rejected.length).toBe(tooDeep ? 1 : 0);
        expect(values).toEqual(tooDeep ? [] : [value]);
      }),
      { numRuns: 150 },
    );
  });

  it('runs through a pipeline: deep and invalid lines are dead-lettered, the others written', async () => {
    const text = Buffer.concat([
      Buffer.from(`{"a":1}\n${'['.repeat(5_000)}\n`),
      Buffer.from([0x7b, 0xff, 0x7d, 0x0a]),
      Buffer.from('{"a":2}\n'),
    ]);
    const path = await file(text);
    const clock = testClock();
    const sink = memorySink();
    const dead = memorySink<DeadLetter>();
    const report = await clock.runUntil(
      pipeline({ name: 'files', clock })
        .source(fromJsonLines(path))
        .sink(sink)
        .deadLetter(dead)
        .build()
        .run(),
    );
    expect(sink.records).toEqual([{ a: 1 }, { a: 2 }]);
    expect(
      dead.records.map((d) => [d.cursor.offset, d.reason, (d.details as { error: string }).error]),
    ).toEqual([
      [8, 'malformed', 'nested deeper than 1000 levels'],
      [5_009, 'malformed', 'invalid UTF-8'],
    ]);
    expect(report.records).toMatchObject({ in: 4, written: 2, deadLettered: 2 });
  });

  it('estimateBytes walks records nested 100,000 deep without overflowing the stack, counting as for shallow ones', () => {
    // Belongs with test/core/size.test.ts, which this change may not edit: the runtime sizes
    // in-memory records (fromIterable, pushSource) with estimateBytes, so depth must not crash it.
    const nest = (n: number, object: boolean): unknown => {
      let v: unknown = object ? {} : [];
      for (let i = 0; i < n; i++) v = object ? { a: v } : [v];
      return v;
    };
    for (const n of [10, 199, 200, 201, 1_000, 100_000]) {
      // n + 1 arrays: 2 bytes each, plus 1 separator per nested element.
      expect(estimateBytes(nest(n, false))).toBe(2 * (n + 1) + n);
      // n + 1 objects: 2 bytes each, plus `"a":` and a separator (4 + 1) per field.
      expect(estimateBytes(nest(n, true))).toBe(2 * (n + 1) + 5 * n);
    }
    // A limit still stops the walk early, deep or not.
    expect(estimateBytes(nest(100_000, false), 1_000)).toBeGreaterThan(1_000);
    expect(estimateBytes(nest(100_000, false), 1_000)).toBeLessThan(1_100);
    // Without a limit, a cycle deep in a record is reported as larger than anything, not a crash.
    const cyclic: unknown[] = [];
    let inner = cyclic;
    for (let i = 0; i < 500; i++) inner.push((inner = []));
    inner.push(cyclic);
    expect(estimateBytes(cyclic)).toBe(Number.POSITIVE_INFINITY);
  });

  it('property: estimateBytes of a record wrapped 300 levels deep is its own estimate plus the wrapping', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withTypedArray: true }), (value) => {
        let wrapped: unknown = value;
        for (let i = 0; i < 300; i++) wrapped = [wrapped];
        expect(estimateBytes(wrapped)).toBe(estimateBytes(value) + 3 * 300);
      }),
    );
  });
});

describe('fromJsonLines: options', () => {
  it('is replayable and named json-lines', () => {
    const source = fromJsonLines('/some/file.jsonl');
    expect(source.kind).toBe('json-lines');
    expect(source.replayable).toBe(true);
    expect(source.committed).toBeUndefined();
  });

  it('uses the partition option', async () => {
    const { chunks } = await readAll(await file('{"a":1}\n'), { partition: 'prices' });
    expect(chunks[0]!.partition).toBe('prices');
  });

  it('rejects bad options', () => {
    expectInvalid(() => fromJsonLines(''), 'fromJsonLines(path)');
    expectInvalid(() => fromJsonLines(42 as never), 'fromJsonLines(path)');
    expectInvalid(() => fromJsonLines('f', { from: 0, after: 0 }), 'either { from } or { after }');
    expectInvalid(() => fromJsonLines('f', { from: -1 }), 'fromJsonLines({ from })', 'got -1');
    expectInvalid(() => fromJsonLines('f', { after: 1.5 }), 'fromJsonLines({ after })', 'got 1.5');
    expectInvalid(() => fromJsonLines('f', { readBytes: 0 }), 'fromJsonLines({ readBytes })');
    expectInvalid(
      () => fromJsonLines('f', { maxLineBytes: 'huge' as never }),
      'fromJsonLines({ maxLineBytes })',
    );
    expectInvalid(() => fromJsonLines('f', { maxDepth: 0 }), 'fromJsonLines({ maxDepth })');
  });
});
