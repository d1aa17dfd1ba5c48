/**
 * One spool benchmark variant in its own process (its own peak RSS): a producer pushes `records`
 * records of about 200 bytes into a source while a pipeline drains it into a sink that keeps
 * nothing; the time runs from the first push until `run()` resolves (every record delivered).
 *
 *   tsx bench/spool/worker.ts <source> <producer> <records> <dir> [backlog]
 *
 * source: push | spool-process | spool-machine; producer: await-push | pushMany500 | pushMany500x2
 * (two producers at once).
 * With `backlog`, that many records are spooled before the pipeline starts (measuring that peak
 * RSS does not grow with the spool's size on disk); they are delivered too.
 */
import { performance } from 'node:perf_hooks';
import { pipeline } from '../../src/pipeline/builder.js';
import { pushSource } from '../../src/sources/push.js';
import { spoolSource } from '../../src/sources/spool.js';
import { triggers } from '../../src/triggers/index.js';
import { emitResult } from '../lib/child.js';

const [kind, producer, count, dir, backlogArg] = process.argv.slice(2);
const records = Number(count);
const backlog = Number(backlogArg ?? 0);

interface Row {
  sku: string;
  url: string;
  price: number;
  currency: string;
  at: string;
  i: number;
}
const row = (i: number): Row => ({
  sku: `sku-${i % 9973}`,
  url: `https://shop.example.com/products/category-${i % 37}/item-${i}`,
  price: (i % 100_000) / 100,
  currency: 'EUR',
  at: '2026-11-25T14:00:00.000Z',
  i,
});

const source =
  kind === 'push'
    ? pushSource<Row>()
    : spoolSource<Row>({
        dir: dir!,
        durability: kind === 'spool-machine' ? 'machine' : 'process',
        maxBytes: '4GB',
      });
if (backlog > 0 && kind !== 'push') {
  const spool = source as ReturnType<typeof spoolSource<Row>>;
  for (let i = 0; i < backlog; i += 500) {
    await spool.pushMany(Array.from({ length: Math.min(500, backlog - i) }, (_, k) => row(i + k)));
  }
}
let delivered = 0;
const p = pipeline({ name: 'bench' })
  .source(source)
  .trigger(triggers.volume({ records: 10_000 }))
  .sink({
    write(batch) {
      delivered += batch.records.length;
    },
  })
  .build();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const run = p.run();
if (producer === 'await-push') {
  for (let i = 0; i < records; i++) await source.push(row(backlog + i));
} else {
  // pushMany500x2: two producers at once, each awaiting its own calls (group commit shares fsyncs).
  const producers = producer === 'pushMany500x2' ? 2 : 1;
  await Promise.all(
    Array.from({ length: producers }, async (_, w) => {
      for (let i = w * 500; i < records; i += 500 * producers) {
        await source.pushMany(
          Array.from({ length: Math.min(500, records - i) }, (_, k) => row(backlog + i + k)),
        );
      }
    }),
  );
}
source.end();
const report = await run;
const wall = (performance.now() - t0) / 1000;
const used = process.cpuUsage(cpu0);
if (delivered !== records + (kind === 'push' ? 0 : backlog) || report.status !== 'completed') {
  throw new Error(`delivered ${delivered} of ${records + backlog}: ${report.status}`);
}
emitResult({
  wall,
  cpu: (used.user + used.system) / 1e6,
  recordsPerSecond: records / wall,
  peakRssMB: process.resourceUsage().maxRSS / 1024,
  bytesPerRecord: Buffer.byteLength(JSON.stringify({ v: row(123_456) })),
});
