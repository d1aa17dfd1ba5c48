/**
 * What the simulated scrapers send, and what the lake keeps. Two versions of the scraper's record
 * are in flight during a run (a rolling deploy switches each scraper from v3 to v4 mid-run); both
 * are validated and mapped onto one lake row, so downstream queries see a single table.
 */
import { z } from 'zod';

/** A v3 scraper record: a flat price, a currency beside it, a stock flag. */
export interface ScrapedV3 {
  schema: 'v3';
  sku: string;
  shop: string;
  title: string;
  /** In major units: 12.99. */
  price: number;
  currency: string;
  inStock: boolean;
  /** ISO 8601 with a zone: when the page was fetched (the event time). */
  scrapedAt: string;
  url: string;
  /** Free text from the product page; sometimes holds a seller's e-mail or phone number. */
  notes: string | null;
}

/** A v4 scraper record: the price becomes `{ amount, currency }`, the stock flag an availability, and the seller's contact e-mail is scraped too. */
export interface ScrapedV4 {
  schema: 'v4';
  sku: string;
  shop: string;
  title: string;
  price: { amount: number; currency: string };
  availability: 'in_stock' | 'out_of_stock' | 'preorder';
  scrapedAt: string;
  url: string;
  notes: string | null;
  sellerEmail: string | null;
}

/** What a scraper pushes: a record of either version, or something broken. */
export type Scraped = ScrapedV3 | ScrapedV4 | Record<string, unknown>;

/** One row of the lake table `prices`. */
export const LakeRow = z.object({
  schemaVersion: z.enum(['v3', 'v4']),
  sku: z.string(),
  shop: z.string(),
  title: z.string(),
  priceCents: z.int32(),
  currency: z.string(),
  inStock: z.boolean(),
  scrapedAt: z.date(),
  url: z.string(),
  notes: z.string().nullable(),
  /** HMAC of the seller's e-mail (v4 only): countable and joinable, not readable. */
  seller: z.string().nullable(),
});
/** A lake row. */
export type LakeRow = z.output<typeof LakeRow>;

const when = z.iso.datetime({ offset: true });
const currency = z.string().regex(/^[A-Z]{3}$/);

/** The v3 record, checked and mapped onto a lake row. */
export const PriceV3 = z
  .object({
    schema: z.literal('v3'),
    sku: z.string().min(1),
    shop: z.string().min(1),
    title: z.string(),
    price: z.number().nonnegative(),
    currency,
    inStock: z.boolean(),
    scrapedAt: when,
    url: z.url(),
    notes: z.string().nullable(),
  })
  .transform(
    (r): LakeRow => ({
      schemaVersion: 'v3',
      sku: r.sku,
      shop: r.shop,
      title: r.title,
      priceCents: Math.round(r.price * 100),
      currency: r.currency,
      inStock: r.inStock,
      scrapedAt: new Date(r.scrapedAt),
      url: r.url,
      notes: r.notes,
      seller: null,
    }),
  );

/** The v4 record, checked and mapped onto a lake row. */
export const PriceV4 = z
  .object({
    schema: z.literal('v4'),
    sku: z.string().min(1),
    shop: z.string().min(1),
    title: z.string(),
    price: z.object({ amount: z.number().nonnegative(), currency }),
    availability: z.enum(['in_stock', 'out_of_stock', 'preorder']),
    scrapedAt: when,
    url: z.url(),
    notes: z.string().nullable(),
    sellerEmail: z.string().nullable(),
  })
  .transform(
    (r): LakeRow => ({
      schemaVersion: 'v4',
      sku: r.sku,
      shop: r.shop,
      title: r.title,
      priceCents: Math.round(r.price.amount * 100),
      currency: r.price.currency,
      inStock: r.availability === 'in_stock',
      scrapedAt: new Date(r.scrapedAt),
      url: r.url,
      notes: r.notes,
      seller: r.sellerEmail,
    }),
  );

/** A pattern for e-mail addresses, used to check that none survived redaction. */
export const EMAIL_PATTERN = '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}';
