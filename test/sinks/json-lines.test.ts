import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pipeline } from '../../src/pipeline/builder.js';
import { jsonLinesSink } from '../../src/sinks/json-lines.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { testClock } from '../../src/testing/clock.js';
import { triggers } from '../../src/triggers/index.js';
import { expectInvalid } from '../support.js';
import { makeBatch, writeOptions } from './batches.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-jsonl-sink-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('jsonLinesSink', () => {
  it('writes <dir>/<batch.id>.jsonl with one JSON value per line', async () => {
    const sink = jsonLinesSink<unknown>({ dir });
    expect(sink.kind).toBe('json-lines');
    const records = [{ a: 1 }, { b: 'two\nlines' }, 'text', 3, null];
    const batch = makeBatch(records, 10);
    await sink.write(batch, writeOptions());
    expect(await readdir(dir)).toEqual([`${batch.id}.jsonl`]);
    const text = await readFile(join(dir, `${batch.id}.jsonl`), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(
      text
        .split('\n')
        .slice(0, -1)
        .map((line) => JSON.parse(line)),
    ).toEqual(records);
  });

  it('creates a missing directory, nested', async () => {
    const nested = join(dir, 'a', 'b');
    const batch = makeBatch([1]);
    await jsonLinesSink({ dir: nested }).write(batch, writeOptions());
    expect(await readdir(nested)).toEqual([`${batch.id}.jsonl`]);
  });

  it('rewriting the same batch leaves one file with the same content and no temp files', async () => {
    const sink = jsonLinesSink<{ n: number }>({ dir });
    const batch = makeBatch([{ n: 1 }, { n: 2 }]);
    await sink.write(batch, writeOptions());
    const first = await readFile(join(dir, `${batch.id}.jsonl`));
    await sink.write(batch, writeOptions());
    await jsonLinesSink<{ n: number }>({ dir }).write(batch, writeOptions());
    expect(await readdir(dir)).toEqual([`${batch.id}.jsonl`]);
    expect(await readFile(join(dir, `${batch.id}.jsonl`))).toEqual(first);
  });

  it('leaves no temporary files after concurrent writes', async () => {
    const sink = jsonLinesSink<number>({ dir });
    const batches = Array.from({ length: 8 }, (_, i) => makeBatch([i, i + 1], i * 2));
    await Promise.all(batches.map((b) => sink.write(b, writeOptions())));
    await Promise.all(batches.map((b) => sink.write(b, writeOptions())));
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(batches.map((b) => `${b.id}.jsonl`).sort());
    expect(files.some((f) => f.endsWith('.tmp') || f.startsWith('.'))).toBe(false);
  });

  it('uses serialize when given', async () => {
    const sink = jsonLinesSink<{ n: number }>({ dir, serialize: (r) => `n=${r.n}` });
    const batch = makeBatch([{ n: 1 }, { n: 2 }]);
    await sink.write(batch, writeOptions());
    expect(await readFile(join(dir, `${batch.id}.jsonl`), 'utf8')).toBe('n=1\nn=2\n');
  });

  it('never derives the file name from record values', async () => {
    const batch = makeBatch([{ path: '../../etc/passwd' }], 0, 'topic/../x', '../p');
    await jsonLinesSink({ dir }).write(batch, writeOptions());
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).not.toContain('/');
  });

  it('rejects bad options', () => {
    expectInvalid(() => jsonLinesSink({ dir: '' }), 'jsonLinesSink({ dir })', 'non-empty');
    expectInvalid(() => jsonLinesSink({} as never), 'jsonLinesSink({ dir })');
    expectInvalid(() => jsonLinesSink(undefined as never), 'jsonLinesSink({ dir })');
    expectInvalid(() => jsonLinesSink({ dir: 42 } as never), 'jsonLinesSink({ dir })', 'got 42');
  });

  it('receives every batch of a pipeline, one file per batch id', async () => {
    const clock = testClock();
    const p = pipeline({ name: 'files', clock })
      .source(fromIterable(Array.from({ length: 25 }, (_, i) => ({ i }))))
      .trigger(triggers.volume({ records: 10 }))
      .sink(jsonLinesSink({ dir }))
      .build();
    const ids: string[] = [];
    p.on('write', (e) => ids.push(e.batch.id));
    const report = await clock.runUntil(p.run());
    expect(report.records.written).toBe(25);
    expect((await readdir(dir)).sort()).toEqual(ids.map((id) => `${id}.jsonl`).sort());
    const lines: unknown[] = [];
    for (const id of [...ids].sort()) {
      const text = await readFile(join(dir, `${id}.jsonl`), 'utf8');
      lines.push(
        ...text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l)),
      );
    }
    expect(lines).toEqual(Array.from({ length: 25 }, (_, i) => ({ i })));
  });
});
