/**
 * Regression of issue 13 finding 1: restarting a pipeline over a source that cannot replay
 * (`pushSource`, `fromIterable`) gave the new run the batch ids, and so the file names, of the
 * previous run's batches: its files were replaced and rows lost. Now such runs put a run epoch in
 * every id; replayable sources keep deterministic ids.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { laneIdPrefix, newRunEpoch } from '../../src/pipeline/run-epoch.js';
import { jsonLinesDeadLetter } from '../../src/sinks/dead-letter-json-lines.js';
import { jsonLinesSink } from '../../src/sinks/json-lines.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { validate } from '../../src/transforms/validate.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-epoch-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const Row = z.object({ n: z.number() });

/** One scraper run: pushes `values` (a string is a bad record) and ends. */
async function scraperRun(values: unknown[], sinks: 'json' | 'lake') {
  const clock = testClock(Date.UTC(2026, 10, 25));
  const source = pushSource<unknown>();
  const sink =
    sinks === 'json'
      ? jsonLinesSink({ dir: join(dir, 'out') })
      : parquetLakeSink({ dir: join(dir, 'lake'), table: 'prices', schema: Row });
  const p = pipeline({ name: 'scraper', clock })
    .source(source)
    .transform(validate(Row))
    .sink(sink as never)
    .deadLetter(jsonLinesDeadLetter({ dir: join(dir, 'dead') }))
    .build();
  const run = clock.runUntil(p.run());
  await source.pushMany(values);
  source.end();
  return run;
}

describe('runs of a source that cannot replay never overwrite each other', () => {
  it('two runs pushing 5 rows each into jsonLinesSink and jsonLinesDeadLetter leave 8 rows and 2 dead letters', async () => {
    await scraperRun([{ n: 1 }, { n: 2 }, 'bad', { n: 3 }, { n: 4 }], 'json');
    await scraperRun([{ n: 5 }, { n: 6 }, 'bad', { n: 7 }, { n: 8 }], 'json');
    let rows = 0;
    for (const name of await readdir(join(dir, 'out'))) {
      rows += (await readFile(join(dir, 'out', name), 'utf8')).split('\n').filter(Boolean).length;
    }
    expect(rows).toBe(8);
    expect(await readdir(join(dir, 'dead'))).toHaveLength(2);
  });

  it("two runs into parquetLakeSink leave both runs' files", async () => {
    await scraperRun([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }], 'lake');
    await scraperRun([{ n: 6 }, { n: 7 }, { n: 8 }, { n: 9 }, { n: 10 }], 'lake');
    const files = (await readdir(join(dir, 'lake', 'prices'), { recursive: true })).filter((f) =>
      f.endsWith('.parquet'),
    );
    expect(files).toHaveLength(2);
  });

  it('epochs differ between runs, sort by time, and leave replayable ids alone', () => {
    const clock = testClock(Date.UTC(2026, 10, 25));
    const a = newRunEpoch(clock);
    const b = newRunEpoch(clock);
    expect(a).not.toBe(b);
    expect(newRunEpoch(testClock(Date.UTC(2027, 0, 1))) > a).toBe(true);
    const run = {};
    expect(laneIdPrefix(run, 'p', '0', true, clock)).toBe('p.0.');
    const prefix = laneIdPrefix(run, 'p', '0', false, clock);
    expect(prefix).toMatch(/^p\.0\.r[0-9a-z]{9}-[0-9a-f]{8}\.$/);
    expect(laneIdPrefix(run, 'p', '1', false, clock).slice(4)).toBe(prefix.slice(4));
    expect(laneIdPrefix({}, 'p', '0', false, clock)).not.toBe(prefix);
  });
});
