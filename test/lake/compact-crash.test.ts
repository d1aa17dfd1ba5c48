/**
 * Crash safety of compaction, with the internal fault hook: random lakes × a crash at every step of
 * the protocol (the n-th time it is reached, chosen among the steps a dry run of the same lake
 * reaches, so every run does crash), then a clean run. After the crash no row is missing;
 * after the clean run every row is there exactly once and no intent or temporary file is left; a
 * third run changes nothing. The real-process version (SIGKILL) is compact-sigkill.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fc, it } from '@fast-check/vitest';
import { afterEach, describe, expect } from 'vitest';
import { compactLake } from '../../src/lake/compact.js';
import { packBins } from '../../src/lake/compact-bins.js';
import {
  COMPACTION_STEPS,
  type CompactionStep,
  SimulatedCrash,
  setCompactionFaultHook,
} from '../../src/lake/compact-faults.js';
import {
  closePartition,
  encodeRows,
  listTree,
  readWithDuckDB,
  readWithHyparquet,
  rows,
  writeDataFile,
} from './compact-helpers.js';

afterEach(() => setCompactionFaultHook(undefined));

/** A lake: per partition, the row count of each file. */
const lakeShape = fc.array(fc.array(fc.integer({ min: 1, max: 15 }), { minLength: 2, maxLength: 7 }), {
  minLength: 1,
  maxLength: 2,
});

const PARTITIONS = ['dt=2026-11-25/hr=10', 'dt=2026-11-25/hr=11'];

async function build(shape: number[][]): Promise<{ dir: string; total: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mb-compact-crash-'));
  let next = 0;
  for (let p = 0; p < shape.length; p++) {
    for (let f = 0; f < shape[p]!.length; f++) {
      await writeDataFile(
        dir,
        't',
        PARTITIONS[p]!,
        `f${String(f).padStart(2, '0')}`,
        encodeRows(rows(next, shape[p]![f]!)),
      );
      next += shape[p]![f]!;
    }
    await closePartition(dir, 't', PARTITIONS[p]!);
  }
  return { dir, total: next };
}

async function ids(dir: string): Promise<number[]> {
  return (await readWithHyparquet(dir, 't')).map((row) => Number(row.id));
}

async function leftovers(dir: string): Promise<string[]> {
  return (await listTree(join(dir, 't'))).filter((p) => {
    const name = basename(p);
    return name.startsWith('_compaction-') || name.endsWith('.tmp');
  });
}

async function snapshot(dir: string): Promise<string[]> {
  const root = join(dir, 't');
  return Promise.all(
    (await listTree(root)).map(async (p) => `${p}:${(await stat(join(root, p), { bigint: true })).mtimeNs}`),
  );
}

/** The steps a crash-free compaction of the lake `shape` reaches, in order, each time it reaches one. */
async function stepsReached(
  shape: number[][],
  targetFileBytes: number,
  rewrite: boolean,
): Promise<CompactionStep[]> {
  const { dir } = await build(shape);
  const reached: CompactionStep[] = [];
  try {
    setCompactionFaultHook((at) => void reached.push(at));
    await compactLake({ dir, table: 't', targetFileBytes, rewrite });
    return reached;
  } finally {
    setCompactionFaultHook(undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

describe('compaction crash at any step', () => {
  it.prop(
    [lakeShape, fc.nat(), fc.nat(), fc.double({ min: 1.5, max: 5, noNaN: true }), fc.boolean(), fc.boolean()],
    { numRuns: 40 },
  )(
    'loses no row, and the next run leaves every row exactly once (copy or rewrite)',
    async (shape, stepPick, nthPick, factor, leaveTemp, rewrite) => {
      const { dir, total } = await build(shape);
      try {
        const sizes = await Promise.all(
          (await listTree(join(dir, 't')))
            .filter((p) => p.endsWith('.parquet'))
            .map(async (p) => (await stat(join(dir, 't', p))).size),
        );
        const targetFileBytes = Math.ceil(Math.max(...sizes) * factor);
        // The crash point is one the run reaches: a dry run of the same lake lists them.
        const reached = await stepsReached(shape, targetFileBytes, rewrite);
        fc.pre(reached.length > 0); // a lake with nothing to compact has no step to crash at
        const candidates = COMPACTION_STEPS.filter((s) => reached.includes(s));
        const step = candidates[stepPick % candidates.length]!;
        const nth = nthPick % reached.filter((s) => s === step).length;
        let seen = 0;
        let crashed = false;
        setCompactionFaultHook((at: CompactionStep, file: string) => {
          if (at !== step || seen++ !== nth) return;
          crashed = true;
          // A crash in the middle of writing the output leaves its temporary file behind.
          if (leaveTemp && at === 'intent-written') {
            const hash = /_compaction-([0-9a-f]{16})\.json$/.exec(file)![1]!;
            writeFileSync(
              join(dirname(fileURLToPath(file)), `.compacted-${hash}.4242.0.tmp`),
              'PAR1 half a file',
            );
          }
          throw new SimulatedCrash(`crash at ${at} #${nth}`);
        });
        const first = await compactLake({ dir, table: 't', targetFileBytes, rewrite }).then(
          () => undefined,
          (error: unknown) => error,
        );
        setCompactionFaultHook(undefined);
        // Every run crashes: a property whose fault never fires would test nothing.
        expect(crashed).toBe(true);
        expect(first).toBeInstanceOf(SimulatedCrash);
        // Between the crash and the next run: every row at least once (duplicates possible after step 2).
        expect(new Set(await ids(dir)).size).toBe(total);

        const clean = await compactLake({ dir, table: 't', targetFileBytes, rewrite });
        if (step !== 'before-intent' && step !== 'intent-deleted') expect(clean.recoveredIntents).toBe(1);
        const expected = Array.from({ length: total }, (_, i) => i);
        expect(await ids(dir)).toEqual(expected);
        expect((await readWithDuckDB(dir, 't')).map((row) => Number(row.id))).toEqual(expected);
        expect(await leftovers(dir)).toEqual([]);
        const state = await snapshot(dir);
        const third = await compactLake({ dir, table: 't', targetFileBytes, rewrite });
        expect(third.outputs).toBe(0);
        expect(await snapshot(dir)).toEqual(state);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );

  it.each([false, true])(
    'recovers an intent whose inputs are partly deleted, and rolls back one whose output is absent (rewrite: %s)',
    async (rewrite) => {
      const { dir, total } = await build([[5, 6, 7]]);
      try {
        const partition = join(dir, 't', PARTITIONS[0]!);
        let deleted = 0;
        setCompactionFaultHook((at) => {
          if (at === 'input-deleted' && ++deleted === 2)
            throw new SimulatedCrash('after two of three deletions');
        });
        await expect(compactLake({ rewrite, dir, table: 't' })).rejects.toBeInstanceOf(SimulatedCrash);
        setCompactionFaultHook(undefined);
        const names = await readdir(partition);
        expect(names.filter((n) => n.startsWith('part-'))).toHaveLength(1);
        expect(names.filter((n) => n.startsWith('_compaction-'))).toHaveLength(1);
        const recovered = await compactLake({ rewrite, dir, table: 't' });
        expect(recovered.recoveredIntents).toBe(1);
        expect((await readdir(partition)).sort()).toEqual([
          '_SUCCESS',
          expect.stringMatching(/^compacted-[0-9a-f]{16}\.parquet$/),
        ]);
        expect(await ids(dir)).toEqual(Array.from({ length: total }, (_, i) => i));

        // An intent without its output (crash between steps 1 and 2): rolled back, inputs untouched.
        const { dir: other } = await build([[3, 4]]);
        try {
          setCompactionFaultHook((at) => {
            if (at === 'intent-written') throw new SimulatedCrash('before the output');
          });
          await expect(compactLake({ rewrite, dir: other, table: 't' })).rejects.toBeInstanceOf(
            SimulatedCrash,
          );
          setCompactionFaultHook(undefined);
          const otherPartition = join(other, 't', PARTITIONS[0]!);
          const intent = (await readdir(otherPartition)).find((n) => n.startsWith('_compaction-'))!;
          expect(JSON.parse(await readFile(join(otherPartition, intent), 'utf8'))).toMatchObject({
            version: 1,
            inputs: ['part-f00.parquet', 'part-f01.parquet'],
            output: intent.replace('_compaction-', 'compacted-').replace('.json', '.parquet'),
          });
          const report = await compactLake({ rewrite, dir: other, table: 't', minInputFiles: 3 });
          expect(report.recoveredIntents).toBe(1);
          expect((await readdir(otherPartition)).sort()).toEqual([
            '_SUCCESS',
            'part-f00.parquet',
            'part-f01.parquet',
          ]);
        } finally {
          await rm(other, { recursive: true, force: true });
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('packBins (first-fit decreasing)', () => {
  const files = fc.uniqueArray(
    fc.record({ name: fc.stringMatching(/^[a-z]{1,6}$/), size: fc.integer({ min: 1, max: 1000 }) }),
    { selector: (f) => f.name, maxLength: 40 },
  );
  it.prop([files, fc.integer({ min: 1000, max: 5000 })])(
    'puts every file in exactly one bin, each bin within capacity and sorted by name',
    (input, capacity) => {
      const bins = packBins(input, capacity);
      expect(
        bins
          .flat()
          .map((f) => f.name)
          .sort(),
      ).toEqual(input.map((f) => f.name).sort());
      for (const bin of bins) {
        expect(bin.reduce((t, f) => t + f.size, 0)).toBeLessThanOrEqual(capacity);
        expect(bin.map((f) => f.name)).toEqual(bin.map((f) => f.name).sort());
      }
      // First fit: a second bin at most half full would have fitted into the first such bin.
      expect(
        bins.filter((bin) => bin.reduce((t, f) => t + f.size, 0) <= capacity / 2).length,
      ).toBeLessThanOrEqual(1);
    },
  );
});
