/**
 * Regressions of issue 13 finding 7: a long partition or pipeline name made every file name longer
 * than the file system allows (`ENAMETOOLONG`, not retryable, on every rerun). Batch ids now keep
 * a readable prefix of a long name and a hash of all of it.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { batchId, batchIdPrefix, boundedName, safeName } from '../../src/core/batch.js';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { jsonLinesDeadLetter } from '../../src/sinks/dead-letter-json-lines.js';
import { jsonLinesSink } from '../../src/sinks/json-lines.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { fromJsonLines } from '../../src/sources/json-lines.js';
import { testClock } from '../../src/testing/clock.js';
import { validate } from '../../src/transforms/validate.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-long-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('long names in batch ids', () => {
  it('a 300-character envelope partition is written by the JSON-lines sinks', async () => {
    const clock = testClock();
    const partition = `shop-${'é'.repeat(295)}`;
    const report = await clock.runUntil(
      pipeline({ name: 'long', clock })
        .source(
          fromIterable(
            [
              { value: { n: 1 }, partition },
              { value: { n: 'x' }, partition },
            ],
            { envelopes: true },
          ),
        )
        .transform(validate(z.object({ n: z.number() })))
        .sink(jsonLinesSink({ dir: join(dir, 'out') }))
        .deadLetter(jsonLinesDeadLetter({ dir: join(dir, 'dead') }))
        .build()
        .run(),
    );
    expect(report.status).toBe('completed');
    expect(report.records).toMatchObject({ in: 2, written: 1 });
    expect(report.rejected).toEqual({ type_mismatch: 1 });
    const [file] = await readdir(join(dir, 'out'));
    expect(file!.startsWith('long.shop-~c3~a9')).toBe(true);
    expect(Buffer.byteLength(file!)).toBeLessThan(200);
    expect(await readdir(join(dir, 'dead'))).toHaveLength(1);
  });

  it('a file at a 162-character path, read into the Parquet lake', async () => {
    const deep = join(dir, 'a'.repeat(60), 'b'.repeat(60));
    await mkdir(deep, { recursive: true });
    const path = join(deep, `${'c'.repeat(162 - deep.length - 7)}.jsonl`);
    await writeFile(path, '{"n":1}\n{"n":2}\n');
    const clock = testClock(Date.UTC(2026, 10, 25));
    const report = await clock.runUntil(
      pipeline({ name: 'p'.repeat(200), clock })
        .source(fromJsonLines(path))
        .sink(parquetLakeSink({ dir: join(dir, 'lake'), table: 't', schema: z.object({ n: z.number() }) }))
        .build()
        .run(),
    );
    expect(report.status).toBe('completed');
    expect(report.records.written).toBe(2);
  });

  it('bounded names: short ones unchanged, long ones bounded, distinct names stay distinct (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400, unit: 'grapheme' }), fc.string({ maxLength: 400 }), (a, b) => {
        const x = boundedName(a);
        expect(x.length).toBeLessThanOrEqual(66);
        if (safeName(a).length <= 64) expect(x).toBe(safeName(a));
        else expect(x.startsWith(safeName(a).slice(0, 40))).toBe(true);
        if (a !== b) expect(boundedName(b)).not.toBe(x);
        expect(batchIdPrefix(a, b).length).toBeLessThanOrEqual(134);
      }),
    );
  });

  it('two long names that share their first 40 characters give different ids', () => {
    const stem = 'x'.repeat(100);
    expect(batchId('p', `${stem}1`, 0, 1)).not.toBe(batchId('p', `${stem}2`, 0, 1));
  });
});
