/**
 * validate + dedupe + redact against plain zod, in one process, interleaved:
 * `tsx bench/transforms.ts [records] [runs]`.
 *
 * Both sides check the same 6-field scraper price records against the same zod schema. microbatch
 * runs `validate(schema)`, then `dedupe` over a cross-batch window, then `redact` (an e-mail address
 * found in the seller's note and HMAC-hashed), on batches of 1,000 records as a pipeline hands them
 * over; plain zod runs `schema.safeParse` per record and keeps the successes. Each run alternates
 * which side goes first; the median of the runs is reported. Imports the built package (dist/).
 */
import { z } from 'zod';
import { dedupe, redact, type Transform, type TransformInput, validate } from '../dist/index.js';
import { emitResult } from './lib/child.js';
import { median } from './lib/stats.js';
import type { TransformsResult } from './lib/types.js';

const RECORDS = Number(process.argv[2] ?? 500_000);
const RUNS = Number(process.argv[3] ?? 9);
const BATCH = 1_000;

const Price = z.object({
  sku: z.string().min(1),
  url: z.url(),
  price: z.number().nonnegative(),
  currency: z.string().length(3),
  sellerNote: z.string().max(2_000),
  extractedAt: z.coerce.date(),
});

const SELLERS = Array.from({ length: 2_000 }, (_, i) => `seller.${i}@shop-${i % 97}.example.com`);
const T0 = Date.UTC(2025, 0, 1);

/** A realistic record; about 1 in 10 is a re-scrape of an earlier sku, 1 in 50 is invalid. */
function makeRecord(i: number): unknown {
  const n = i % 10 === 9 ? i - 5 : i;
  const record = {
    sku: `SKU-${String(n).padStart(8, '0')}`,
    url: `https://shop-${n % 97}.example.com/p/${n}`,
    price: (n % 100_000) / 100,
    currency: 'EUR',
    sellerNote: `Ships in 2 days. Questions: ${SELLERS[n % SELLERS.length]} (Mon-Fri)`,
    extractedAt: new Date(T0 + i * 1_000).toISOString(),
  };
  if (i % 50 === 7) return { ...record, price: 'n/a' };
  return record;
}

const records = Array.from({ length: RECORDS }, (_, i) => makeRecord(i));

function plainZod(): number {
  let kept = 0;
  const out: unknown[] = [];
  for (let i = 0; i < records.length; i++) {
    const result = Price.safeParse(records[i]);
    if (result.success) {
      out.push(result.data);
      kept++;
    }
  }
  return kept;
}

async function microbatch(): Promise<number> {
  const steps: Transform<any, any>[] = [
    validate(Price),
    dedupe((r: z.output<typeof Price>) => r.sku, { scope: { ttl: '1h', maxKeys: 100_000 } }),
    redact(
      { sellerNote: { detect: ['email'], with: 'hash' } },
      { secret: 'bench-secret-of-at-least-16-bytes' },
    ),
  ];
  let kept = 0;
  for (let start = 0; start < records.length; start += BATCH) {
    let batch: unknown[] = records.slice(start, start + BATCH);
    let offsets = batch.map((_, i) => start + i);
    for (const step of steps) {
      const input: TransformInput<unknown> = {
        records: batch,
        offsets,
        partition: '0',
        batchId: 'b',
        at: start,
      };
      const out = await step.apply(input);
      if (out.from !== undefined) offsets = out.from.map((i) => offsets[i]!);
      batch = out.records;
    }
    kept += batch.length;
  }
  return kept;
}

async function time(fn: () => number | Promise<number>): Promise<{ rate: number; kept: number }> {
  const started = performance.now();
  const kept = await fn();
  return { rate: RECORDS / ((performance.now() - started) / 1000), kept };
}

async function main(): Promise<void> {
  // Warm-up: both sides once, so that the JIT has seen them before anything is measured.
  await time(plainZod);
  await time(microbatch);
  const zod: number[] = [];
  const mb: number[] = [];
  const kept = { zod: 0, microbatch: 0 };
  for (let run = 0; run < RUNS; run++) {
    const order = run % 2 === 0 ? (['zod', 'mb'] as const) : (['mb', 'zod'] as const);
    for (const side of order) {
      if (side === 'zod') {
        const r = await time(plainZod);
        zod.push(r.rate);
        kept.zod = r.kept;
      } else {
        const r = await time(microbatch);
        mb.push(r.rate);
        kept.microbatch = r.kept;
      }
    }
    process.stderr.write(
      `  transforms run ${run + 1}/${RUNS}: zod ${(zod.at(-1)! / 1e6).toFixed(3)} M rec/s, microbatch ${(mb.at(-1)! / 1e6).toFixed(3)} M rec/s\n`,
    );
  }
  const result: TransformsResult = {
    records: RECORDS,
    runs: RUNS,
    batch: BATCH,
    zod: { runs: zod, median: median(zod), kept: kept.zod },
    microbatch: { runs: mb, median: median(mb), kept: kept.microbatch },
    ratio: median(mb) / median(zod),
  };
  emitResult(result);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
