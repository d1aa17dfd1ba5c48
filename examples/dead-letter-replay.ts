/**
 * Dead letters and their replay after a fix. Version 1 of an order pipeline rejects prices sent as
 * strings (and cannot parse a broken line); the rejected records go to a dead-letter directory,
 * one file per batch. Version 2 parses string prices: it replays the `type_mismatch` letters into
 * the same destination. A replay interrupted half-way resumes from its committed cursors without
 * loading anything twice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fromJsonLines,
  jsonLinesDeadLetter,
  MicrobatchError,
  memorySink,
  pipeline,
  replayDeadLetters,
  type Sink,
  type Transform,
  triggers,
} from 'microbatch';

interface Order {
  sku: string;
  price: unknown;
}
interface Priced {
  sku: string;
  price: number;
}

const work = await mkdtemp(join(tmpdir(), 'microbatch-dead-letters-'));
const input = join(work, 'orders.jsonl');
const deadDir = join(work, 'dead');

await writeFile(
  input,
  [
    '{"sku":"a","price":1}',
    '{"sku":"b","price":"2.50"}', // a string: rejected by version 1
    '{"sku":"c","price":3', // broken JSON: malformed
    '{"sku":"d","price":"4"}',
    '{"sku":"e","price":5}',
    '{"sku":"f","price":"6.75"}',
    '',
  ].join('\n'),
);

// Version 1: prices must be numbers.
const strict: Transform<Order, Priced> = {
  name: 'strict-price',
  apply: ({ records }) => ({
    records: records.filter((r): r is Priced => typeof r.price === 'number'),
    from: records.flatMap((r, i) => (typeof r.price === 'number' ? [i] : [])),
    rejected: records.flatMap((r, index) =>
      typeof r.price === 'number' ? [] : [{ index, reason: 'type_mismatch', details: { field: 'price' } }],
    ),
  }),
};

const orders = memorySink<Priced>();
const first = await pipeline({ name: 'orders' })
  .source(fromJsonLines<Order>(input, { partition: 'orders' }))
  .trigger(triggers.volume({ records: 2 }))
  .transform(strict)
  .sink(orders)
  .deadLetter(jsonLinesDeadLetter({ dir: deadDir }))
  .build()
  .run();
console.log('version 1:', first.records, first.rejected);
console.log('dead-letter files:', (await readdir(deadDir)).sort());
assert.deepEqual(first.rejected, { type_mismatch: 3, malformed: 1 });

// Version 2: string prices are parsed.
const lenient: Transform<Order, Priced> = {
  name: 'lenient-price',
  apply: ({ records }) => ({ records: records.map((r) => ({ sku: r.sku, price: Number(r.price) })) }),
};

// The first replay attempt hits a warehouse outage on its second batch and fails.
let writes = 0;
const flakyWarehouse: Sink<Priced> = {
  write(batch, options) {
    if (++writes === 2) throw new MicrobatchError('MB_SINK_FAILED', 'warehouse down', { retryable: false });
    return orders.write(batch, options);
  },
};
const replay = (sink: Sink<Priced>, after?: Record<string, number>) => {
  const source = replayDeadLetters<Order>(deadDir, { reasons: 'type_mismatch', after });
  const run = pipeline({ name: 'orders-replay', concurrency: 1 })
    .source(source)
    .trigger(triggers.volume({ records: 1 }))
    .transform(lenient)
    .sink(sink)
    .deadLetter(jsonLinesDeadLetter({ dir: join(work, 'dead-again') }))
    .build()
    .run();
  return { source, run };
};

const interrupted = replay(flakyWarehouse);
const failure = await interrupted.run.catch((error: unknown) => error);
assert.ok(MicrobatchError.is(failure, 'MB_SINK_FAILED'));
// Partition `orders.orders` (pipeline.partition of origin) → the original offset of the last letter committed.
const committed = interrupted.source.committed;
console.log('replay interrupted; committed:', committed);

// Resume after what was committed: nothing is loaded twice.
const resumed = await replay(orders, committed).run;
console.log('replay resumed:', resumed.records);

console.log(
  'orders:',
  orders.records.map((o) => `${o.sku}=${o.price}`),
);
assert.deepEqual(
  orders.records.map((o) => o.sku),
  ['a', 'e', 'b', 'd', 'f'],
);
assert.equal(orders.repeatedWrites, 0);

await rm(work, { recursive: true, force: true });
