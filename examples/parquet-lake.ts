/**
 * A Parquet lake on the local disk: readings validated with zod, partitioned by event-time hour,
 * `_SUCCESS` markers when the watermark closes an hour, then queried with DuckDB.
 * Runs on `testClock()` and writes under a temporary directory that it removes at the end.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetLakeSink, parquetSchema, pipeline, triggers, validate } from 'microbatch';
import { type ScriptedRecord, scriptedSource, testClock } from 'microbatch/testing';
import { z } from 'zod';

const Reading = z.object({
  sensor: z.string(),
  celsius: z.number(),
  takenAt: z.iso.datetime(), // the event time; a TIMESTAMP WITH TIME ZONE column in the lake
  tags: z.array(z.string()).optional(),
});
type Reading = z.output<typeof Reading>;

// The zod schema becomes these Parquet columns:
for (const c of parquetSchema(Reading).columns)
  console.log(`  ${c.name}: ${c.type}${c.nullable ? ' (nullable)' : ''}`);

const START = Date.UTC(2026, 10, 25, 15, 0, 30);
const clock = testClock(START);
const at = (seconds: number, sensor: string, celsius: number, takenAt: string): ScriptedRecord<Reading> => ({
  at: START + seconds * 1_000,
  partition: sensor,
  value: { sensor, celsius, takenAt: `2026-11-25T${takenAt}Z`, tags: ['roof'] },
});
const script = [
  at(0, 's1', 20.5, '14:59:50'),
  at(1, 's2', 21.0, '14:59:58'),
  at(10, 's1', 20.7, '15:00:05'),
  at(20, 's2', 21.4, '15:00:15'),
  at(40, 's1', 20.9, '15:01:00'),
];

const dir = await mkdtemp(join(tmpdir(), 'microbatch-lake-'));
try {
  const report = await clock.runUntil(
    pipeline({ name: 'readings', clock })
      .source(scriptedSource(clock, script))
      .transform(validate(Reading))
      .eventTime((r) => r.takenAt, { maxOutOfOrderness: '10s', partitionBy: 'hour' })
      .trigger(triggers.time('15s'))
      .sink(parquetLakeSink<Reading>({ dir, table: 'readings', schema: Reading }))
      .build()
      .run(),
  );
  assert.equal(report.status, 'completed');

  const root = join(dir, 'readings');
  const files = (await readdir(root, { recursive: true })).map((f) => f.split('\\').join('/')).sort();
  for (const f of files) console.log(`  readings/${f}`);
  assert.ok(files.includes('dt=2026-11-25/hr=14/_SUCCESS'));
  assert.ok(files.includes('dt=2026-11-25/hr=15/_SUCCESS'));
  console.log(`  hr=14/_SUCCESS: ${await readFile(join(root, 'dt=2026-11-25/hr=14/_SUCCESS'), 'utf8')}`);

  const duck = await DuckDBInstance.create(':memory:');
  const connection = await duck.connect();
  const result = await connection.runAndReadAll(
    `SELECT hr, count(*) AS n, round(avg(celsius), 2) AS avg_c
       FROM read_parquet('${root}/**/*.parquet', hive_partitioning = true)
      GROUP BY hr ORDER BY hr`,
  );
  const rows = result.getRowObjectsJson();
  console.log(rows);
  assert.deepEqual(rows, [
    { hr: '14', n: '2', avg_c: 20.75 },
    { hr: '15', n: '3', avg_c: 21 },
  ]);
  connection.closeSync();
  duck.closeSync();
  console.log('all checks passed');
} finally {
  await rm(dir, { recursive: true, force: true });
}
