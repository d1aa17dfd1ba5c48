/**
 * fileStorage against the ObjectStorage contract (test/lake/storage-conformance.ts), plus what is
 * particular to files: temporary files are never listed, keys cannot escape the directory.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { fileStorage } from '../../src/lake/index.js';
import { storageConformance } from './storage-conformance.js';

async function tempFiles(root: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string, key: string): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const child = key === '' ? entry.name : `${key}/${entry.name}`;
      if (entry.isDirectory()) await walk(join(dir, entry.name), child);
      else if (entry.name.endsWith('.tmp') && child.startsWith(prefix)) found.push(child);
    }
  }
  await walk(root, '');
  return found;
}

storageConformance('fileStorage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mb-file-storage-'));
  return {
    storage: fileStorage(dir),
    async leaveIncomplete(key) {
      // What atomicFiles leaves when its process dies before the rename.
      const path = join(dir, ...key.split('/'));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(join(dirname(path), `.${key.split('/').pop()}.4242.0.tmp`), 'PAR1 half a file');
    },
    countIncomplete: async (prefix) => (await tempFiles(dir, prefix)).length,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('fileStorage', () => {
  it('keeps keys inside its directory and refuses segments starting with a dot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mb-file-storage-'));
    try {
      const storage = fileStorage(join(dir, 'lake'));
      for (const key of ['../escape', 'a/../../escape', '.hidden', 'a/.tmp']) {
        const error = await storage.putIfAbsent(key, new Uint8Array(1)).catch((e: unknown) => e);
        expect(MicrobatchError.is(error, 'MB_INVALID_OPTIONS'), key).toBe(true);
      }
      expect(await readdir(dir)).toEqual([]);
      expect(storage.url('t/x')).toBe(`file://${join(dir, 'lake', 't', 'x')}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects an empty directory name', () => {
    expect(() => fileStorage('')).toThrow(/dir must be a non-empty path/);
  });
});
