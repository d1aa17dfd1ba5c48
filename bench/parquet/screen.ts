/**
 * What the lake sink's screen (issue 14) costs next to the encode it protects: `screenRecords`
 * (one check per value, the dead-letter decision) against `encodeParquet` of the same records, on
 * the Parquet benchmark's 5-column rows. Interleaved in one process, 5 rounds alternating which goes
 * first; medians of CPU time (`process.cpuUsage()`), since the machine is shared.
 *
 *   npx tsx bench/parquet/screen.ts [records]
 */
import { z } from 'zod';
import { screenRecords } from '../../src/parquet/check.js';
import { encodeParquet } from '../../src/parquet/encode.js';
import { parquetSchema } from '../../src/parquet/schema.js';
import { median } from '../lib/stats.js';

const Row = z.object({
  sku: z.string(),
  price: z.number(),
  qty: z.int32(),
  inStock: z.boolean(),
  at: z.date(),
});
const columns = parquetSchema(Row).columns;
const n = Number(process.argv[2] ?? 1_000_000);
const base = Date.UTC(2026, 10, 25);
const records = Array.from({ length: n }, (_, i) => ({
  sku: `sku-${i}`,
  price: (i % 1000) / 4,
  qty: i % 50,
  inStock: i % 3 !== 0,
  at: new Date(base + i),
}));

const cpu = async (f: () => unknown) => {
  const start = process.cpuUsage();
  await f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

const screen: number[] = [];
const encode: number[] = [];
for (let round = 0; round < 5; round++) {
  const runs: [number[], () => unknown][] = [
    [screen, () => screenRecords(records, columns)],
    [encode, () => encodeParquet(records, Row)],
  ];
  if (round % 2 === 1) runs.reverse();
  for (const [into, f] of runs) into.push(await cpu(f));
}
const s = median(screen);
const e = median(encode);
console.log(
  JSON.stringify({
    records: n,
    screenMs: s,
    encodeMs: e,
    screenShare: `${((100 * s) / (s + e)).toFixed(1)}%`,
    screen,
    encode,
  }),
);
