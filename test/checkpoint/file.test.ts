import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointFileName, fileCheckpoint } from '../../src/checkpoint/file.js';
import type { CheckpointContext, PartitionCheckpoint } from '../../src/checkpoint/types.js';
import type { Logger } from '../../src/core/logger.js';
import { silentLogger } from '../../src/core/logger.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, expectInvalid, rejection, thrown } from '../support.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-checkpoint-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const context = (pipeline: string, logger: Logger = silentLogger): CheckpointContext => ({
  pipeline,
  clock: testClock(1_700_000_000_000),
  logger,
});

async function opened(pipeline = 'orders', options: { lock?: boolean } = {}) {
  const store = fileCheckpoint({ dir, ...options });
  await store.open(context(pipeline));
  return store;
}

const fileOf = (pipeline: string) => join(dir, checkpointFileName(pipeline));
const onDisk = (pipeline: string) =>
  JSON.parse(readFileSync(fileOf(pipeline), 'utf8')) as { partitions: Record<string, PartitionCheckpoint> };

/** Runs `node -e <code>` and resolves with its pid once it has exited: a pid that is surely dead. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

describe('fileCheckpoint options', () => {
  it('are checked when the store is created', () => {
    expectInvalid(() => fileCheckpoint(undefined as never), 'fileCheckpoint(options)');
    expectInvalid(() => fileCheckpoint({ dir: '' }), 'dir must be a non-empty path');
    expectInvalid(() => fileCheckpoint({ dir, lock: 'yes' as never }), 'lock must be a boolean');
    expectInvalid(() => fileCheckpoint({ dir, directory: dir } as never), "unknown option 'directory'");
  });

  it('describe a durable file store', () => {
    const store = fileCheckpoint({ dir });
    expect(store.kind).toBe('file');
    expect(store.durable).toBe(true);
    expect(store.file).toBeUndefined();
  });
});

describe('checkpoint file names', () => {
  it('are the pipeline name for plain lower-case names', () => {
    expect(checkpointFileName('orders-eu_1')).toBe('orders-eu_1.checkpoint.json');
  });

  it('stay distinct where escaping, case-insensitive file systems or length would merge names', () => {
    const names = [
      'Prices',
      'prices',
      'PRICES',
      'a/b',
      'a~2fb',
      'a.b',
      '',
      '~',
      'x'.repeat(300),
      `${'x'.repeat(300)}y`,
    ];
    const files = names.map(checkpointFileName);
    expect(new Set(files.map((f) => f.toLowerCase())).size).toBe(names.length);
    for (const file of files) {
      expect(file).toMatch(/^[A-Za-z0-9_~-]+\.checkpoint\.json$/);
      expect(file.length).toBeLessThan(140);
    }
  });
});

describe('fileCheckpoint', () => {
  it('round-trips every partition through a restart, in a versioned file that names the pipeline', async () => {
    const store = await opened();
    expect(store.file).toBe(fileOf('orders'));
    expect(store.load('0')).toBeUndefined();
    await store.save('0', { plans: [{ firstOffset: 0, lastOffset: 9 }] });
    await store.save('0', { committed: 9, plans: [{ firstOffset: 10, lastOffset: 19 }] });
    await store.save('eu/1', { committed: 3, plans: [] });
    await store.save('__proto__', { committed: 5, plans: [] });
    await store.close();
    expect(store.file).toBeUndefined();

    const text = await readFile(fileOf('orders'), 'utf8');
    expect(JSON.parse(text)).toEqual({
      format: 'microbatch-checkpoint',
      version: 1,
      pipeline: 'orders',
      partitions: {
        '0': { committed: 9, plans: [{ firstOffset: 10, lastOffset: 19 }] },
        // A computed key: a literal `__proto__:` would set the prototype instead.
        ['__proto__']: { committed: 5, plans: [] },
        'eu/1': { committed: 3, plans: [] },
      },
    });

    const again = await opened();
    expect(again.load('0')).toEqual({ committed: 9, plans: [{ firstOffset: 10, lastOffset: 19 }] });
    expect(again.load('eu/1')).toEqual({ committed: 3, plans: [] });
    expect(again.load('__proto__')).toEqual({ committed: 5, plans: [] });
    expect(again.load('2')).toBeUndefined();
    await again.close();
    // The same store object can be opened again after close().
    await store.open(context('orders'));
    expect(store.load('0')?.committed).toBe(9);
    await store.close();
  });

  it('keeps pipelines apart: one file each in a shared directory', async () => {
    const a = await opened('a');
    const b = await opened('B');
    await a.save('0', { committed: 1, plans: [] });
    await b.save('0', { committed: 2, plans: [] });
    await Promise.all([a.close(), b.close()]);
    expect((await readdir(dir)).sort()).toEqual([checkpointFileName('B'), checkpointFileName('a')].sort());
    const a2 = await opened('a');
    expect(a2.load('0')).toEqual({ committed: 1, plans: [] });
    await a2.close();
  });

  it('copies states: changing a saved or loaded object changes nothing stored', async () => {
    const store = await opened();
    const state = { committed: 1, plans: [{ firstOffset: 2, lastOffset: 3 }] };
    const saved = store.save('0', state);
    state.committed = 100;
    await saved;
    (store.load('0')!.plans as unknown as unknown[]).length = 0;
    expect(store.load('0')).toEqual({ committed: 1, plans: [{ firstOffset: 2, lastOffset: 3 }] });
    expect(onDisk('orders').partitions['0']).toEqual({
      committed: 1,
      plans: [{ firstOffset: 2, lastOffset: 3 }],
    });
    await store.close();
  });

  it('rejects an invalid state without writing it', async () => {
    const store = await opened();
    expectInvalid(
      () => store.save('0', { committed: 5, plans: [{ firstOffset: 3, lastOffset: 4 }] }),
      "fileCheckpoint: save('0')",
      'must start after committed (5)',
    );
    expect(store.load('0')).toBeUndefined();
    await store.close();
  });

  it('coalesces 1,000 concurrent saves into a few writes, and each resolves once its state is durable', async () => {
    const store = await opened();
    const partitions = Array.from({ length: 10 }, (_, i) => String(i));
    const durableAtResolve: boolean[] = [];
    const saves: Promise<void>[] = [];
    for (let n = 0; n < 100; n++) {
      for (const partition of partitions) {
        saves.push(
          store.save(partition, { committed: n, plans: [] }).then(() => {
            // Resolved: the file on disk already holds this state (or a later one).
            durableAtResolve.push((onDisk('orders').partitions[partition]?.committed ?? -1) >= n);
          }),
        );
      }
    }
    await Promise.all(saves);
    expect(durableAtResolve).toHaveLength(1_000);
    expect(durableAtResolve.every(Boolean)).toBe(true);
    expect(store.saves).toBe(1_000);
    expect(store.writes).toBeLessThanOrEqual(2);
    for (const partition of partitions)
      expect(onDisk('orders').partitions[partition]).toEqual({ committed: 99, plans: [] });
    await store.close();
  });

  it('merges saves that arrive during a write into the next write', async () => {
    const store = await opened();
    const first = store.save('0', { committed: 1, plans: [] });
    await new Promise((resolve) => setImmediate(resolve)); // the first write is now in flight
    const later = [2, 3, 4].map((n) => store.save(String(n), { committed: n, plans: [] }));
    await first;
    expect(store.writes).toBe(1);
    await Promise.all(later);
    expect(store.writes).toBe(2);
    expect(Object.keys(onDisk('orders').partitions).sort()).toEqual(['0', '2', '3', '4']);
    await store.close();
  });

  it('close() waits for pending saves; later calls fail with MB_CLOSED', async () => {
    const store = await opened();
    const saved = store.save('0', { committed: 7, plans: [] });
    await store.close();
    await saved;
    expect(onDisk('orders').partitions['0']).toEqual({ committed: 7, plans: [] });
    expectCode(
      thrown(() => store.load('0')),
      'MB_CLOSED',
    );
    expectCode(
      thrown(() => store.save('0', { plans: [] })),
      'MB_CLOSED',
    );
    expectCode(
      thrown(() => fileCheckpoint({ dir }).load('0')),
      'MB_CLOSED',
    );
  });

  it('refuses to open twice', async () => {
    const store = await opened();
    const error = expectCode(
      await rejection(Promise.resolve(store.open(context('other')))),
      'MB_INVALID_OPTIONS',
    );
    expect(error.message).toContain("already open for pipeline 'orders'");
    await store.close();
  });

  it('a crash between the temporary write and the rename leaves the previous state readable', async () => {
    const store = await opened();
    await store.save('0', { committed: 5, plans: [] });
    await store.close();
    // What a writer killed before its rename leaves behind: a temporary file, complete or torn.
    const base = checkpointFileName('orders');
    await writeFile(join(dir, `.${base}.99999.0.tmp`), '{"format":"microbatch-checkpoint","vers');
    await writeFile(
      join(dir, `.${base}.99999.1.tmp`),
      JSON.stringify({ partitions: { 0: { committed: 6 } } }),
    );
    // And a process killed while creating its lock file.
    await writeFile(join(dir, `${base}.lock.99999.0c1d.tmp`), '{"pid":99999}');
    const again = await opened();
    expect(again.load('0')).toEqual({ committed: 5, plans: [] });
    // Holding the lock, it knows the temporary files are dead and removes them.
    expect(await readdir(dir)).toEqual([base, `${base}.lock`]);
    await again.close();
  });

  describe('a corrupt or foreign file fails open() with MB_CHECKPOINT_FAILED naming the file', () => {
    const cases: [string, string, string, string][] = [
      ['not JSON', '{"format": "microbatch-checkpoint", "version": 1, "pipe', 'corrupt', 'not JSON'],
      ['empty', '', 'corrupt', 'not JSON'],
      ['another format', '{"partitions": {}}', 'corrupt', 'no "format"'],
      [
        'an unknown version',
        '{"format":"microbatch-checkpoint","version":2,"pipeline":"orders","partitions":{}}',
        'version',
        'unknown checkpoint format version 2',
      ],
      [
        'another pipeline',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"payments","partitions":{}}',
        'pipeline',
        "belongs to pipeline 'payments', not 'orders'",
      ],
      [
        'partitions not an object',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"orders","partitions":[]}',
        'corrupt',
        '"partitions" is an array',
      ],
      [
        'a fractional offset',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"orders","partitions":{"0":{"committed":1.5,"plans":[]}}}',
        'corrupt',
        "partition '0': committed must be a non-negative safe integer",
      ],
      [
        'a negative committed offset',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"orders","partitions":{"0":{"committed":-5,"plans":[]}}}',
        'corrupt',
        "partition '0': committed must be a non-negative safe integer",
      ],
      [
        'a negative planned offset',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"orders","partitions":{"0":{"plans":[{"firstOffset":-3,"lastOffset":2}]}}}',
        'corrupt',
        'non-negative safe integers',
      ],
      [
        'source marks that are not flat strings and numbers',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"orders","partitions":{"0":{"committed":3,"plans":[],"source":{"head":{"x":1}}}}}',
        'corrupt',
        'source.head must be a string or a finite number',
      ],
      [
        'an offset past 2^53',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"orders","partitions":{"0":{"committed":9007199254740993,"plans":[]}}}',
        'corrupt',
        'safe integer',
      ],
      [
        'overlapping plans',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"orders","partitions":{"0":{"plans":[{"firstOffset":0,"lastOffset":5},{"firstOffset":5,"lastOffset":9}]}}}',
        'corrupt',
        'must start after plans[0] (5)',
      ],
      [
        'a plan without offsets',
        '{"format":"microbatch-checkpoint","version":1,"pipeline":"orders","partitions":{"0":{"plans":[{}]}}}',
        'corrupt',
        'plans[0] must be { firstOffset, lastOffset }',
      ],
    ];
    it.each(cases)('%s', async (_, text, reason, fragment) => {
      await writeFile(fileOf('orders'), text);
      const store = fileCheckpoint({ dir });
      const error = expectCode(await rejection(store.open(context('orders'))), 'MB_CHECKPOINT_FAILED');
      expect(error.message).toContain(fileOf('orders'));
      expect(error.message).toContain(fragment);
      expect(error.details).toMatchObject({ checkpoint: 'file', file: fileOf('orders'), reason });
      expect(error.retryable).toBe(false);
      // The failed open released its lock and left the file alone.
      expect(await readdir(dir)).toEqual([checkpointFileName('orders')]);
      expect(await readFile(fileOf('orders'), 'utf8')).toBe(text);
    });
  });

  describe('the lock', () => {
    it('makes a second open of the same pipeline fail until the first is closed, then is removed', async () => {
      const first = await opened();
      const lockFile = `${fileOf('orders')}.lock`;
      const lock = JSON.parse(await readFile(lockFile, 'utf8'));
      expect(lock).toMatchObject({ pid: process.pid, hostname: hostname(), pipeline: 'orders' });
      expect(lock.since).toBe('2023-11-14T22:13:20.000Z');

      const error = expectCode(await rejection(opened()), 'MB_CHECKPOINT_FAILED');
      expect(error.details).toMatchObject({ reason: 'locked' });
      expect(error.message).toContain('locked by this process');
      expect(error.message).toContain(`delete ${lockFile}`);

      await first.close();
      expect(await readdir(dir)).toEqual([]);
      const second = await opened();
      await second.close();
    });

    it('stops a second live process', async () => {
      // A real live process other than this one: a child that waits.
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
      try {
        await writeFile(
          `${fileOf('orders')}.lock`,
          JSON.stringify({
            pid: child.pid,
            hostname: hostname(),
            pipeline: 'orders',
            token: 'x',
            since: 'then',
          }),
        );
        const error = expectCode(await rejection(opened()), 'MB_CHECKPOINT_FAILED');
        expect(error.message).toContain(`locked by pid ${child.pid} on ${hostname()} since then`);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('does not guess about a lock from another host', async () => {
      await writeFile(
        `${fileOf('orders')}.lock`,
        JSON.stringify({
          pid: await deadPid(),
          hostname: 'elsewhere',
          pipeline: 'orders',
          token: 'x',
          since: 'then',
        }),
      );
      const error = expectCode(await rejection(opened()), 'MB_CHECKPOINT_FAILED');
      expect(error.message).toContain('on elsewhere');
    });

    it('takes over a stale lock whose process is dead, and warns', async () => {
      const pid = await deadPid();
      await writeFile(
        `${fileOf('orders')}.lock`,
        JSON.stringify({ pid, hostname: hostname(), pipeline: 'orders', token: 'old', since: 'then' }),
      );
      const warnings: unknown[] = [];
      const logger = { ...silentLogger, warn: (context: Record<string, unknown>) => warnings.push(context) };
      const store = fileCheckpoint({ dir });
      await store.open(context('orders', logger));
      expect(warnings).toEqual([expect.objectContaining({ pid })]);
      expect(JSON.parse(await readFile(`${fileOf('orders')}.lock`, 'utf8')).pid).toBe(process.pid);
      await store.close();
      expect(await readdir(dir)).toEqual([]);
    });

    it('can be turned off', async () => {
      const a = await opened('orders', { lock: false });
      const b = await opened('orders', { lock: false });
      expect(await readdir(dir)).toEqual([]);
      await Promise.all([a.close(), b.close()]);
    });
  });

  it('after SIGKILL at a random moment, holds the last durable state or a later one, and the restart takes the lock over', async () => {
    const fixture = join(import.meta.dirname, 'fixtures/saver.ts');
    for (let round = 0; round < 3; round++) {
      const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fixture, dir, 'killed'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let durable = -1;
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const killAt = 5 + Math.floor(Math.random() * 40);
        child.stdout!.on('data', (data: Buffer) => {
          output += data.toString();
          const matches = [...output.matchAll(/durable (\d+)/g)];
          if (matches.length > 0) durable = Number(matches.at(-1)![1]);
          if (durable >= killAt && child.exitCode === null) child.kill('SIGKILL');
        });
        child.on('error', reject);
        child.on('exit', (code, signal) =>
          signal === 'SIGKILL' ? resolve() : reject(new Error(`saver exited with ${code}: ${output}`)),
        );
      });
      const store = await opened('killed');
      for (const partition of ['0', '1', '2', '3']) {
        const state = store.load(partition)!;
        expect(state.committed).toBeGreaterThanOrEqual(durable);
        expect(state.plans).toEqual([
          { firstOffset: state.committed! + 1, lastOffset: state.committed! + 10 },
        ]);
      }
      await store.close();
    }
  }, 60_000);
});
