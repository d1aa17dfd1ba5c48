import { dedupe, fromIterable, memorySink, pipeline, redact, requireConsent, validate } from 'microbatch';
import { z } from 'zod';

// What the scraper promises to send; anything else is dead-lettered with the reason.
const Price = z.object({
  sku: z.string().min(1),
  url: z.url(),
  price: z.number().nonnegative(),
  currency: z.string().length(3),
  sellerNote: z.string().max(2_000),
  sellerEmail: z.email(),
  consent: z.boolean(),
  extractedAt: z.coerce.date(),
});

const scraped: unknown[] = [
  {
    sku: 'A-1',
    url: 'https://shop.example.com/p/1',
    price: 19.99,
    currency: 'EUR',
    sellerNote: 'Questions? Mail ann@shop.example.com or call +49 30 1234 5678.',
    sellerEmail: 'ann@shop.example.com',
    consent: true,
    extractedAt: '2025-06-01T10:00:00Z',
  },
  { sku: 'A-2', price: 'n/a' }, // wrong type and missing fields: dead-lettered
  {
    sku: 'A-1', // scraped again: a duplicate, counted, not written
    url: 'https://shop.example.com/p/1',
    price: 19.99,
    currency: 'EUR',
    sellerNote: '',
    sellerEmail: 'ann@shop.example.com',
    consent: true,
    extractedAt: '2025-06-01T10:05:00Z',
  },
  {
    sku: 'B-7',
    url: 'https://shop.example.com/p/7',
    price: 5,
    currency: 'EUR',
    sellerNote: 'No returns.',
    sellerEmail: 'bob@shop.example.com',
    consent: false, // no consent: dead-lettered as consent_missing
    extractedAt: '2025-06-01T10:06:00Z',
  },
];

const sink = memorySink<z.output<typeof Price>>();
const report = await pipeline({ name: 'prices' })
  .source(fromIterable(scraped))
  .transform(
    validate(Price),
    requireConsent((r) => r.consent),
    dedupe((r) => r.sku, { scope: { ttl: '1h', maxKeys: 100_000 } }),
    redact(
      {
        sellerEmail: 'hash',
        sellerNote: { detect: ['email', 'phone'], with: { replace: '[redacted]' } },
      },
      // In production: a secret from your secret store, the same across runs so hashes join.
      { secret: 'example-secret-not-for-production' },
    ),
  )
  .sink(sink)
  .build()
  .run();

for (const record of sink.records)
  console.log(record.sku, record.sellerEmail.slice(0, 16), record.sellerNote);
for (const letter of report.deadLetters ?? []) console.log('dead letter:', letter.reason, letter.cursor);
console.log(report.records);

// Every record is accounted for: in = written + dead-lettered + duplicates.
const { in: read, written, deadLettered, duplicates } = report.records;
if (read !== written + deadLettered + duplicates) throw new Error('a record went missing');
