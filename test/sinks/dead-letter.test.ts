import { isUtf8 } from 'node:buffer';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { silentLogger } from '../../src/core/logger.js';
import { encodeDeadLetter, type StoredDeadLetter } from '../../src/sinks/dead-letter-encoding.js';
import { jsonLinesDeadLetter } from '../../src/sinks/dead-letter-json-lines.js';
import { memoryDeadLetter } from '../../src/sinks/dead-letter-memory.js';
import { testClock } from '../../src/testing/clock.js';
import { deadBatch, letter } from '../sources/dead-letter-fixtures.js';
import { expectInvalid, rejection } from '../support.js';
import { writeOptions } from './batches.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-dead-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The envelopes of one file, and its raw bytes. */
async function readLetters(file: string): Promise<{ letters: StoredDeadLetter[]; raw: Buffer }> {
  const raw = await readFile(join(dir, file));
  const text = raw.toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  const letters = text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as StoredDeadLetter);
  return { letters, raw };
}

/** Encodes one letter the way the sink does and parses it back. */
function roundTrip(value: unknown, extra: Partial<DeadLetter> = {}): StoredDeadLetter {
  const pieces = encodeDeadLetter(letter(1, value, extra), { maxFieldChars: 1_000 });
  const line = pieces.join('');
  expect(line.endsWith('\n')).toBe(true);
  expect(line.slice(0, -1)).not.toContain('\n');
  expect(isUtf8(Buffer.from(line, 'utf8'))).toBe(true);
  return JSON.parse(line) as StoredDeadLetter;
}

describe('memoryDeadLetter', () => {
  it('keeps every letter in write order, and the batches', async () => {
    const sink = memoryDeadLetter();
    expect(sink.kind).toBe('memory-dead-letter');
    const a = deadBatch([letter(3, 'x'), letter(5, 'y')], 0, 9);
    const b = deadBatch([letter(12, 'z')], 10, 19);
    await sink.write(a, writeOptions());
    await sink.write(b, writeOptions());
    expect(sink.records.map((l) => l.value)).toEqual(['x', 'y', 'z']);
    expect(sink.batches.map((x) => x.id)).toEqual([a.id, b.id]);
  });

  it('has one effect per batch id and counts repeats', async () => {
    const sink = memoryDeadLetter();
    const a = deadBatch([letter(3, 'x')], 0, 9);
    await sink.write(a, writeOptions());
    await sink.write({ ...a, records: [letter(3, 'changed')] }, writeOptions());
    await sink.write(a, writeOptions());
    expect(sink.records.map((l) => l.value)).toEqual(['x']);
    expect(sink.repeatedWrites).toBe(2);
  });

  it('property: any sequence of writes with repeats keeps each distinct id once, first write wins', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 6 }), { maxLength: 30 }), async (ids) => {
        const sink = memoryDeadLetter();
        for (const [i, id] of ids.entries()) {
          await sink.write(deadBatch([letter(id * 10, `${id}@${i}`)], id * 10, id * 10 + 9), writeOptions());
        }
        const firsts = ids.map((id, i) => [id, i] as const).filter(([id], i) => ids.indexOf(id) === i);
        expect(sink.records.map((l) => l.value)).toEqual(firsts.map(([id, i]) => `${id}@${i}`));
        expect(sink.repeatedWrites).toBe(ids.length - firsts.length);
      }),
    );
  });

  it('copies what it keeps: changing the batch afterwards changes nothing', async () => {
    const sink = memoryDeadLetter();
    const records = [letter(3, 'x')];
    await sink.write(deadBatch(records, 0, 9), writeOptions());
    records.push(letter(4, 'y'));
    expect(sink.records).toHaveLength(1);
  });

  it('committed(partition) is the highest batch lastOffset held, per partition, whatever the write order', async () => {
    const sink = memoryDeadLetter();
    expect(sink.committed('p')).toBeUndefined();
    await sink.write(deadBatch([letter(25, 'c')], 20, 29), writeOptions());
    await sink.write(deadBatch([letter(3, 'a'), letter(7, 'b')], 0, 9), writeOptions());
    await sink.write(
      deadBatch([letter(41, 'q', { cursor: { partition: 'q', offset: 41 } })], 40, 49, 'q'),
      writeOptions(),
    );
    expect(sink.committed('p')).toBe(29);
    expect(sink.committed('q')).toBe(49);
    expect(sink.committed('other')).toBeUndefined();
  });

  it('once opened by a pipeline, its ledger counts only that pipeline’s letters', async () => {
    const sink = memoryDeadLetter();
    await sink.write(deadBatch([letter(90, 'theirs', { pipeline: 'other' })], 90, 99), writeOptions());
    await sink.write(deadBatch([letter(5, 'ours')], 0, 9), writeOptions());
    expect(sink.committed('p')).toBe(99);
    sink.open!({ pipeline: 'orders', clock: testClock(), logger: silentLogger });
    expect(sink.committed('p')).toBe(9);
  });
});

describe('jsonLinesDeadLetter: files', () => {
  it('writes <dir>/<batch.id>.jsonl, one envelope per line, fields in order, at in ms', async () => {
    const sink = jsonLinesDeadLetter({ dir });
    expect(sink.kind).toBe('json-lines-dead-letter');
    const letters = [letter(3, '{broken'), letter(8, { price: 'twelve' }, { reason: 'type_mismatch' })];
    const batch = deadBatch(letters);
    await sink.write(batch, writeOptions());
    expect(await readdir(dir)).toEqual([`${batch.id}.jsonl`]);
    const { letters: read, raw } = await readLetters(`${batch.id}.jsonl`);
    expect(read).toEqual(letters);
    for (const envelope of read) {
      expect(Object.keys(envelope)).toEqual([
        'reason',
        'details',
        'value',
        'cursor',
        'pipeline',
        'batchId',
        'at',
      ]);
      expect(envelope).not.toHaveProperty('fallbacks');
    }
    expect(raw.toString('utf8').split('\n')).toHaveLength(3);
  });

  it('creates a missing directory, nested', async () => {
    const nested = join(dir, 'a', 'b');
    const batch = deadBatch([letter(1, 'x')]);
    await jsonLinesDeadLetter({ dir: nested }).write(batch, writeOptions());
    expect(await readdir(nested)).toEqual([`${batch.id}.jsonl`]);
  });

  it('writing the same id again leaves one file with the same content and no temporary files', async () => {
    const batch = deadBatch([letter(1, 'x'), letter(2, { y: [1, 2] })]);
    await jsonLinesDeadLetter({ dir }).write(batch, writeOptions());
    const first = await readFile(join(dir, `${batch.id}.jsonl`));
    const sink = jsonLinesDeadLetter({ dir });
    await Promise.all([sink.write(batch, writeOptions()), sink.write(batch, writeOptions())]);
    await sink.write(batch, writeOptions());
    expect(await readdir(dir)).toEqual([`${batch.id}.jsonl`]);
    expect(await readFile(join(dir, `${batch.id}.jsonl`))).toEqual(first);
  });

  it('never shows a partial file: a reader polling during a large write sees no file or the whole file', async () => {
    // 24 letters of 512 KB: the write takes many write(2) calls, the reader looks in between.
    const letters = Array.from({ length: 24 }, (_, i) => letter(i, `${i}:${'v'.repeat(512 * 1024)}`));
    const batch = deadBatch(letters);
    const final = `${batch.id}.jsonl`;
    let writing = true;
    let looks = 0;
    let seenFinal = 0;
    const observer = (async () => {
      while (writing) {
        looks++;
        const names = await readdir(dir);
        if (names.includes(final)) {
          seenFinal++;
          const { letters: read } = await readLetters(final);
          expect(read).toHaveLength(letters.length);
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await jsonLinesDeadLetter({ dir }).write(batch, writeOptions());
    writing = false;
    await observer;
    expect(looks).toBeGreaterThan(1);
    expect(seenFinal).toBeLessThan(looks); // the reader did look while the file was not there yet
    expect(await readdir(dir)).toEqual([final]);
  });

  it('an aborted write leaves neither the file nor a temporary file', async () => {
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    const batch = deadBatch([letter(1, 'x')]);
    await rejection(
      Promise.resolve(jsonLinesDeadLetter({ dir }).write(batch, { signal: controller.signal, attempt: 1 })),
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes file names from the batch id only, never from values, partitions or pipelines in letters', async () => {
    const hostile = '../../escape/..\\x';
    const letters = [
      letter(
        1,
        { file: hostile, id: hostile },
        { pipeline: hostile, cursor: { partition: hostile, offset: 1 } },
      ),
    ];
    // The batch id is built from a hostile partition and pipeline too: batchId escapes them.
    const batch = deadBatch(letters, 0, 9, hostile, `/${hostile}`);
    await jsonLinesDeadLetter({ dir }).write(batch, writeOptions());
    const names = await readdir(dir);
    expect(names).toEqual([`${batch.id}.jsonl`]);
    expect(names[0]).toMatch(/^[A-Za-z0-9_.~-]+$/);
    expect(await readdir(join(dir, '..'))).not.toContain('escape');
    const { letters: read } = await readLetters(names[0]!);
    expect(read[0]!.pipeline).toBe(hostile);
  });

  it('rejects bad options', () => {
    expectInvalid(() => jsonLinesDeadLetter({ dir: '' }), 'jsonLinesDeadLetter({ dir })');
    expectInvalid(() => jsonLinesDeadLetter(undefined as never), 'jsonLinesDeadLetter({ dir })');
    expectInvalid(() => jsonLinesDeadLetter({ dir, maxFieldChars: 0 }), 'maxFieldChars');
    expectInvalid(() => jsonLinesDeadLetter({ dir, maxFieldChars: Number.NaN }), 'maxFieldChars');
  });
});

describe('jsonLinesDeadLetter: awkward values never throw, and the envelope says what changed', () => {
  it('bigint → decimal string, noted', () => {
    const read = roundTrip({ n: 12345678901234567890n });
    expect(read.value).toEqual({ n: '12345678901234567890' });
    expect(read.fallbacks?.value).toEqual(['bigint written as a decimal string']);
  });

  it('undefined value → the field is left out, so it reads back as undefined, without a note', () => {
    const read = roundTrip(undefined);
    expect(read).not.toHaveProperty('value');
    expect(read.value).toBeUndefined();
    expect(read).not.toHaveProperty('fallbacks');
    expect(read.reason).toBe('malformed');
  });

  it('cycles → a safe copy with "[circular]", noted with the original error', () => {
    const cyclic: Record<string, unknown> = { a: 1, list: [1, 2] };
    cyclic.self = cyclic;
    (cyclic.list as unknown[]).push(cyclic);
    const read = roundTrip(cyclic);
    expect(read.value).toEqual({ a: 1, list: [1, 2, '[circular]'], self: '[circular]' });
    expect(read.fallbacks?.value?.[0]).toMatch(/^JSON\.stringify failed \(TypeError: .*circular/i);
    expect(read.fallbacks?.value).toContain("cycle written as '[circular]'");
  });

  it('a shared (not cyclic) object is written twice, exactly', () => {
    const shared = { s: 1 };
    const read = roundTrip({ a: shared, b: shared });
    expect(read.value).toEqual({ a: { s: 1 }, b: { s: 1 } });
    expect(read).not.toHaveProperty('fallbacks');
  });

  it('Buffers and typed arrays → { base64 }, noted', () => {
    const read = roundTrip({ raw: Buffer.from([0, 255, 1]), u16: new Uint16Array([1]) });
    expect(read.value).toEqual({ raw: { base64: 'AP8B' }, u16: { base64: 'AQA=' } });
    expect(read.fallbacks?.value).toEqual(['bytes written as { base64 }']);
  });

  it('lone surrogates are escaped by JSON and read back exactly, in a valid UTF-8 file', () => {
    const text = `a\uD800b\uDFFFc${'😀'}`;
    const read = roundTrip(text);
    expect(read.value).toBe(text);
    expect(read).not.toHaveProperty('fallbacks');
  });

  it('a field longer than maxFieldChars → its first characters as a string, noted', () => {
    const read = roundTrip('x'.repeat(5_000));
    expect(read.value).toBe(`"${'x'.repeat(999)}`);
    expect(read.fallbacks?.value?.[0]).toMatch(/JSON of 5002 characters is longer than 1000/);
  });

  it('a getter that throws, a toJSON that throws, a Proxy that throws → [unreadable: …]', () => {
    const getter = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get() {
        throw new Error('nope');
      },
    });
    expect(roundTrip(getter).value).toEqual({ ok: 1, bad: '[unreadable: Error: nope]' });
    const toJSON = {
      toJSON() {
        throw new Error('no json');
      },
    };
    expect(roundTrip(toJSON).fallbacks?.value?.[0]).toContain('no json');
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    const read = roundTrip(proxy);
    expect(read.value).toBe('[unreadable: Error: trap]');
  });

  it('nesting deeper than the stack → a safe copy cut at 64 levels', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const read = roundTrip(deep, {});
    let level = read.value as unknown;
    let depth = 0;
    while (Array.isArray(level)) {
      level = level[0];
      depth++;
    }
    expect(depth).toBe(64);
    expect(level).toBe('[too deep]');
    expect(read.fallbacks?.value?.[0]).toMatch(/RangeError/);
  });

  it('NaN, functions, symbols, Map and Set: noted', () => {
    const read = roundTrip({ n: Number.NaN, f: () => 1, m: new Map([['k', 1]]), s: new Set([1]) });
    expect(read.value).toEqual({ n: null, m: [['k', 1]], s: [1] });
    expect(read.fallbacks?.value).toEqual(
      expect.arrayContaining([
        'NaN written as null',
        'function left out (or null in an array)',
        'Map written as [key, value] entries',
        'Set written as an array',
      ]),
    );
    expect(roundTrip(Symbol('s')).value).toBe('[symbol]');
  });

  it('awkward details are handled like values, and named under their own field', () => {
    const read = roundTrip('fine', { details: { size: 10n } });
    expect(read.value).toBe('fine');
    expect(read.details).toEqual({ size: '10' });
    expect(read.fallbacks).toEqual({ details: ['bigint written as a decimal string'] });
  });

  it('property: any value (bigints, typed arrays, maps, dates, sparse arrays…) encodes to one parseable UTF-8 line', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withObjectString: true,
          withSparseArray: true,
          withTypedArray: true,
          withUnicodeString: true,
        }),
        (value) => {
          const read = roundTrip(value);
          expect(read.cursor).toEqual({ partition: 'p', offset: 1 });
        },
      ),
    );
  });

  it('property: JSON values round-trip exactly, with no fallbacks', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (value, details) => {
        const read = roundTrip(value, { details });
        expect(read).not.toHaveProperty('fallbacks');
        // As JSON itself round-trips them (-0 reads back as 0).
        expect(read.value).toEqual(JSON.parse(JSON.stringify(value)));
        expect(read.details).toEqual(JSON.parse(JSON.stringify(details)));
      }),
    );
  });

  it('a whole batch of awkward letters is written as one valid file', async () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    const values = [1n, cyclic, Buffer.from('hi'), '\uD800', undefined, 'ok'];
    const batch = deadBatch(values.map((v, i) => letter(i, v)));
    await jsonLinesDeadLetter({ dir }).write(batch, writeOptions());
    const { letters, raw } = await readLetters(`${batch.id}.jsonl`);
    expect(isUtf8(raw)).toBe(true);
    expect(letters.map((l) => l.cursor.offset)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(letters.map((l) => l.fallbacks !== undefined)).toEqual([true, true, true, false, false, false]);
  });
});
