import { fromIterable, map, memorySink, pipeline, triggers } from 'microbatch';

interface Price {
  sku: string;
  cents: number;
}

// 2,500 scraped prices, arriving one at a time.
const scraped = Array.from({ length: 2_500 }, (_, i) => ({
  sku: `sku-${i % 40}`,
  price: `${(i % 90) + 10}.99`,
}));

const sink = memorySink<Price>();

const report = await pipeline({ name: 'prices' })
  .source(fromIterable(scraped))
  // Cut a batch after 5 seconds or 1,000 records, whichever comes first.
  .trigger(triggers.any(triggers.time('5s'), triggers.volume({ records: 1_000 })))
  .transform(map((r) => ({ sku: r.sku, cents: Math.round(Number(r.price) * 100) })))
  .sink(sink)
  .build()
  .run();

for (const batch of sink.batches) {
  console.log(`${batch.id}  reason=${batch.reason}  records=${batch.records.length}`);
}
console.log(report.status, report.records);
