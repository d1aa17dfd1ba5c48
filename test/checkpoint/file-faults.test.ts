/**
 * fileCheckpoint under I/O faults, injected by mocking node:fs/promises: a full disk, a permission
 * error, and a crash (a failure) between the temporary write and the rename.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { checkpointFileName, fileCheckpoint } from '../../src/checkpoint/file.js';
import { silentLogger } from '../../src/core/logger.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, rejection } from '../support.js';

/** The next fault: thrown by the named operation, once. */
const fault: { on?: 'write' | 'rename' | 'mkdir'; code?: string } = {};

const failure = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const take = (on: NonNullable<typeof fault.on>) => {
    if (fault.on !== on) return undefined;
    const code = fault.code!;
    fault.on = undefined;
    return failure(code);
  };
  return {
    ...fs,
    mkdir: async (...args: Parameters<typeof fs.mkdir>) => {
      const error = take('mkdir');
      if (error) throw error;
      return fs.mkdir(...args);
    },
    rename: async (...args: Parameters<typeof fs.rename>) => {
      const error = take('rename');
      if (error) throw error;
      return fs.rename(...args);
    },
    open: async (...args: Parameters<typeof fs.open>) => {
      const handle = await fs.open(...args);
      const writeFile = handle.writeFile.bind(handle);
      handle.writeFile = async (...rest: Parameters<typeof handle.writeFile>) => {
        const error = take('write');
        if (error) throw error;
        return writeFile(...rest);
      };
      return handle;
    },
  };
});

let dir: string;
const context = { pipeline: 'orders', clock: testClock(), logger: silentLogger };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-checkpoint-faults-'));
  fault.on = undefined;
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const committedOnDisk = async () =>
  JSON.parse(await readFile(join(dir, checkpointFileName('orders')), 'utf8')).partitions['0'].committed;

describe('fileCheckpoint under I/O faults', () => {
  it('a failure before the rename keeps the previous state, removes the temporary file, and the next save works', async () => {
    const store = fileCheckpoint({ dir });
    await store.open(context);
    await store.save('0', { committed: 1, plans: [] });
    fault.on = 'rename';
    fault.code = 'EIO';
    const error = expectCode(
      await rejection(store.save('0', { committed: 2, plans: [] })),
      'MB_CHECKPOINT_FAILED',
    );
    expect(error.message).toContain('cannot write the checkpoint: EIO: injected');
    expect(error.details).toMatchObject({ reason: 'io', errno: 'EIO' });
    expect(await committedOnDisk()).toBe(1);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // The failed state stays in memory and is written with the next save.
    await store.save('1', { committed: 5, plans: [] });
    expect(await committedOnDisk()).toBe(2);
    await store.close();
  });

  it('a full disk is a clear, retryable error', async () => {
    const store = fileCheckpoint({ dir });
    await store.open(context);
    fault.on = 'write';
    fault.code = 'ENOSPC';
    const error = expectCode(
      await rejection(store.save('0', { committed: 2, plans: [] })),
      'MB_CHECKPOINT_FAILED',
    );
    expect(error.message).toContain(
      `fileCheckpoint: ${join(dir, 'orders.checkpoint.json')}: cannot write the checkpoint: no space left on the device (ENOSPC)`,
    );
    expect(error.retryable).toBe(true);
    expect(error.details).toMatchObject({ reason: 'io', errno: 'ENOSPC' });
    expect(await readdir(dir)).toEqual(['orders.checkpoint.json.lock']);
    await store.close();
  });

  it('a permission error is a clear, fatal error, in open() too', async () => {
    fault.on = 'mkdir';
    fault.code = 'EACCES';
    const store = fileCheckpoint({ dir: join(dir, 'sub') });
    const error = expectCode(await rejection(store.open(context)), 'MB_CHECKPOINT_FAILED');
    expect(error.message).toContain('cannot create the directory: permission denied (EACCES)');
    expect(error.retryable).toBe(false);

    await store.open(context);
    fault.on = 'write';
    fault.code = 'EACCES';
    const onSave = expectCode(await rejection(store.save('0', { plans: [] })), 'MB_CHECKPOINT_FAILED');
    expect(onSave.message).toContain('permission denied (EACCES)');
    await store.close();
  });
});
