/**
 * A scraper hands records to a pipeline one at a time with `pushSource`. `await source.push()` is
 * the back-pressure: when the pipeline's memory budget is full, the scraper waits instead of
 * piling records up. Batches land as JSON-lines files; `stop({ drain: true })` flushes what is left,
 * and the scraping loop ends by itself because it checks `source.closed` before each push.
 *
 * Which push source? `pushSource` keeps records in memory: a crash loses what it held, and the
 * pipeline is `best-effort` (each run's files get a run epoch in their names, so a restart never
 * replaces them). `spoolSource` writes each record to a local segment log before `push()`
 * resolves: with `fileCheckpoint` the pipeline is `exactly-once`, and a restarted scraper's records
 * are delivered even if the process was killed. The second half of this script shows it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DeliveryReport,
  fileCheckpoint,
  jsonLinesSink,
  pipeline,
  pushSource,
  spoolSource,
  triggers,
} from 'microbatch';

interface Listing {
  url: string;
  title: string;
  price: number;
  scrapedAt: string;
}

// A stand-in for a crawler: pages of listings (endless unless told how many), each taking a few ms.
async function* crawl(pages = Number.POSITIVE_INFINITY): AsyncGenerator<Listing[]> {
  for (let page = 1; page <= pages; page++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    yield Array.from({ length: 200 }, (_, i) => ({
      url: `https://shop.example/p/${page}-${i}`,
      title: `Listing ${page}-${i} ${'lorem ipsum '.repeat(8)}`,
      price: 5 + ((page * 40 + i) % 200),
      scrapedAt: new Date().toISOString(),
    }));
  }
}

const outDir = await mkdtemp(join(tmpdir(), 'microbatch-scraper-'));
const source = pushSource<Listing>({ highWaterMark: 50 });

const scraper = pipeline({
  name: 'listings',
  // A deliberately small budget so that this short run shows back-pressure.
  maxBufferBytes: '48KB',
  maxRecordBytes: '4KB',
})
  .source(source)
  .trigger(triggers.any(triggers.time('2s'), triggers.volume({ records: 100, bytes: '16KB' })))
  .sink(jsonLinesSink<Listing>({ dir: outDir }))
  .build();

let pauses = 0;
scraper.on('pause', () => pauses++);
scraper.on('flush', ({ batch }) => {
  console.log(
    `flush ${batch.reason.padEnd(7)} ${String(batch.records).padStart(3)} records ${batch.bytes} bytes`,
  );
});

await scraper.start();

// In a service, `process.once('SIGTERM', () => void scraper.stop({ deadline: '20s' }))` stops the
// pipeline; this example stops it after 5 pages. Records the pipeline has not delivered 10 seconds
// after the stop would be listed in `report.undelivered`.
let stopping: Promise<DeliveryReport> | undefined;
let pages = 0;
let waitedMs = 0;
scraping: for await (const page of crawl()) {
  for (const listing of page) {
    // The pipeline is stopping: leave the loop. Checked right before the push, in the same turn,
    // so a push never lands on a closed source, and no try/catch is needed.
    if (source.closed.aborted) break scraping;
    const before = performance.now();
    // Resolves at once while the source holds fewer than 50 records; otherwise waits for the pipeline.
    await source.push(listing, { eventTime: listing.scrapedAt, key: listing.url });
    waitedMs += performance.now() - before;
  }
  if (++pages === 5) stopping = scraper.stop({ drain: true, deadline: '10s' });
}
// Everything pushed before the stop is flushed, written and committed: the report says so.
const report = await stopping!;

const files = (await readdir(outDir)).filter((f) => f.endsWith('.jsonl'));
let lines = 0;
for (const file of files) lines += (await readFile(join(outDir, file), 'utf8')).split('\n').length - 1;

console.log(`status=${report.status} guarantee=${report.guarantee}`);
console.log(
  `records in=${report.records.in} written=${report.records.written} undelivered=${report.undelivered.length}`,
);
console.log(`batches by reason: ${JSON.stringify(report.batches.byReason)}`);
console.log(`${files.length} files, ${lines} lines in ${outDir}`);
if (lines !== report.records.written || report.records.undelivered !== 0) {
  throw new Error(`expected every pushed record in the files; got ${lines} of ${report.records.in}`);
}
console.log(`the scraper was paused ${pauses} times, waiting ${Math.round(waitedMs)} ms in push()`);

// ─── The same scraper, durable: spoolSource + fileCheckpoint ──────────────────────────────────────
const workDir = await mkdtemp(join(tmpdir(), 'microbatch-spool-'));
const durable = (run: number) => {
  // 'process': a record is on disk (in the OS) when push() resolves; 'machine' also fsyncs it.
  const spool = spoolSource<Listing>({
    dir: join(workDir, 'spool'),
    durability: 'process',
    maxBytes: '64MB',
  });
  const p = pipeline({
    name: 'listings-durable',
    checkpoint: fileCheckpoint({ dir: join(workDir, 'checkpoint') }),
  })
    .source(spool)
    .trigger(triggers.any(triggers.time('1s'), triggers.volume({ records: 250 })))
    .sink(jsonLinesSink<Listing>({ dir: join(workDir, 'out') }))
    .build();
  console.log(`durable run ${run}`);
  return { spool, p };
};

// Run 1 pushes two pages, then "crashes": the pipeline never reads them.
{
  const { spool } = durable(1);
  for await (const page of crawl(2)) await spool.pushMany(page);
  console.log(`  spooled ${(await spool.stats()).next} records, then the process died`);
}
// A real crash releases the spool's lock with the process; here the dead run's lock file goes by hand.
await rm(join(workDir, 'spool', 'spool.lock'));

// Run 2 recovers them and pushes one more page: every record arrives once.
{
  const { spool, p } = durable(2);
  const running = p.run();
  for await (const page of crawl(1)) await spool.pushMany(page);
  spool.end();
  const durableReport = await running;
  console.log(
    `  status=${durableReport.status} guarantee=${durableReport.guarantee} written=${durableReport.records.written}`,
  );
}

await rm(outDir, { recursive: true, force: true });
await rm(workDir, { recursive: true, force: true });
