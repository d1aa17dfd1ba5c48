import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atomicFiles, replaceFile, syncDirectory, writeSynced } from '../../src/core/durable-fs.js';
import * as sinkFiles from '../../src/sinks/atomic-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-durable-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('durable-fs', () => {
  it('writes a file whole, from a string, bytes or pieces, and leaves no temporary file', async () => {
    const files = atomicFiles(join(dir, 'nested', 'out'));
    await files.write('a', '.txt', 'hello');
    await files.write('b', '.bin', new Uint8Array([1, 2, 3]));
    await files.write('c', '.txt', ['x', new Uint8Array([0x79]), 'z']);
    const out = join(dir, 'nested', 'out');
    expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('hello');
    expect([...(await readFile(join(out, 'b.bin')))]).toEqual([1, 2, 3]);
    expect(await readFile(join(out, 'c.txt'), 'utf8')).toBe('xyz');
    expect((await readdir(out)).sort()).toEqual(['a.txt', 'b.bin', 'c.txt']);
  });

  it('replaces an existing file', async () => {
    await writeFile(join(dir, 'a.txt'), 'old');
    await atomicFiles(dir).write('a', '.txt', 'new');
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('new');
  });

  it('removes its temporary file when the rename fails (the sinks used to leave it behind)', async () => {
    // A non-empty directory under the final name: the rename over it fails.
    await mkdir(join(dir, 'a.txt'));
    await writeFile(join(dir, 'a.txt', 'inside'), '');
    await expect(atomicFiles(dir).write('a', '.txt', 'data')).rejects.toMatchObject({
      code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST|EPERM)$/),
    });
    expect(await readdir(dir)).toEqual(['a.txt']);
  });

  it('removes its temporary file when the write is aborted, and never renames', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(atomicFiles(dir).write('a', '.txt', ['one', 'two'], controller.signal)).rejects.toThrow();
    expect(await readdir(dir)).toEqual([]);
  });

  it('replaceFile leaves the old file in place when it fails', async () => {
    await writeFile(join(dir, 'state.json'), 'old');
    await expect(
      replaceFile(join(dir, 'missing', 'tmp'), join(dir, 'state.json'), 'new'),
    ).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await readFile(join(dir, 'state.json'), 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('syncDirectory is strict: a directory that cannot be opened is an error (the sinks used to swallow it)', async () => {
    await expect(syncDirectory(dir)).resolves.toBeUndefined();
    await expect(syncDirectory(join(dir, 'gone'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(sinkFiles.syncDirectory(join(dir, 'gone'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writeSynced truncates what was there', async () => {
    await writeFile(join(dir, 'f'), 'a much longer old content');
    await writeSynced(join(dir, 'f'), 'short');
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('short');
  });

  it('the sinks module re-exports the one implementation', () => {
    expect(sinkFiles.atomicFiles).toBe(atomicFiles);
    expect(sinkFiles.syncDirectory).toBe(syncDirectory);
  });
});
