/**
 * A simulated scraper fleet. Four scrapers fetch listing pages from four shops and push each page
 * (up to 200 products) at once; a fifth gets rate-limited early and trickles one product at a time.
 * Along the way the fleet does what real scrapers do to a pipeline:
 *
 * - a rolling deploy switches each scraper from record v3 to v4 at a different moment mid-run;
 * - a retried page is pushed again, in part (duplicates);
 * - free-text notes hold sellers' e-mail addresses and phone numbers;
 * - products from a retry queue arrive 10–85 minutes after they were scraped (an earlier hour), and
 *   a few 3–6 hours after (beyond the allowed lateness);
 * - a few records are broken: a price as text, a missing SKU, an unknown version, no usable time.
 *
 * Everything random comes from a seeded generator per scraper, and time from the injected clock, so
 * the same seed gives the same records, and a test clock runs the fleet in no time.
 */
import type { Clock, PushSource } from '../src/index.js';
import { seededRandom } from '../src/testing/index.js';
import type { Scraped, ScrapedV3, ScrapedV4 } from './records.js';

/** Options of {@link runFleet}. */
export interface FleetOptions {
  /** Where pages go: one partition (lane) per scraper, `scraper-1` … `scraper-5`. */
  source: PushSource<Scraped>;
  /** What the scrapers wait on between pages, and what stamps `scrapedAt`. */
  clock: Clock;
  /** How long the scrapers run, in ms of `clock` time. */
  duration: number;
  /** Records per second the whole fleet aims at (pages make it bursty), records/s. */
  rate: number;
  /** The same seed sends the same records (on the same clock). */
  seed: number;
  /** Stops the scrapers early (each after its current wait). @default none */
  signal?: AbortSignal;
}

/** What the fleet sent, by kind: the pipeline's report should account for all of it. */
export interface FleetStats {
  pages: number;
  /** Every record pushed, broken ones and re-sent ones included. */
  records: number;
  v3: number;
  v4: number;
  /** Records pushed a second time (a retried page). */
  resent: number;
  /** Records scraped 10–85 minutes before they were pushed. */
  delayed: number;
  /** Records scraped 3–6 hours before they were pushed: beyond the allowed lateness. */
  stale: number;
  /** Broken records, by what is wrong with them. */
  broken: Record<Breakage, number>;
  /** Records whose notes hold an e-mail address or a phone number. */
  contactsInNotes: number;
}

/** What can be wrong with a broken record. */
export type Breakage = 'price-as-text' | 'missing-sku' | 'unknown-version' | 'no-time';

/** A shop of the simulated market. */
interface Shop {
  host: string;
  code: string;
  currency: string;
  products: { sku: string; title: string; price: number }[];
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const PAGE = 200;
/** No late record is sent before this much of the run: the watermark must exist first. */
const WARM_UP = 1_500;

const ADJECTIVES = [
  'Compact',
  'Wireless',
  'Steel',
  'Organic',
  'Classic',
  'Pro',
  'Mini',
  'Smart',
  'Eco',
  'Ultra',
];
const NOUNS = [
  'Kettle',
  'Headphones',
  'Backpack',
  'Lamp',
  'Blender',
  'Drill',
  'Jacket',
  'Monitor',
  'Chair',
  'Tent',
];
const FIRST = ['anna', 'li', 'omar', 'sofia', 'jan', 'maria', 'kenji', 'ola', 'ravi', 'eva'];
const LAST = [
  'kowalski',
  'nguyen',
  'haddad',
  'rossi',
  'de.vries',
  'garcia',
  'sato',
  'berg',
  'patel',
  'novak',
];
const PLAIN_NOTES = [
  'Ships in 2 days',
  'Bundle offer: buy 2, save 10%',
  'Refurbished, 12-month warranty',
  'Limited stock',
  'Price includes VAT',
];

const SHOPS: Shop[] = [
  ['alpha.example', 'ALP', 'EUR'],
  ['bravo.example', 'BRV', 'EUR'],
  ['charlie.example', 'CHR', 'GBP'],
  ['delta.example', 'DLT', 'USD'],
  ['echo.example', 'ECH', 'USD'],
].map(([host, code, currency], s) => {
  const random = seededRandom(1000 + s); // the catalogue is the same for every run
  const products = Array.from({ length: 400 }, (_, i) => ({
    sku: `${code}-${String(i).padStart(5, '0')}`,
    title: `${pick(random, ADJECTIVES)} ${pick(random, NOUNS)} ${1 + Math.floor(random() * 9)}`,
    price: Math.round((5 + random() * 400) * 100) / 100,
  }));
  return { host: host!, code: code!, currency: currency!, products };
});

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function between(random: () => number, low: number, high: number): number {
  return low + random() * (high - low);
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

function email(random: () => number, shop: Shop): string {
  const domain = random() < 0.5 ? shop.host : pick(random, ['mail.example', 'post.example']);
  return `${pick(random, FIRST)}.${pick(random, LAST)}${Math.floor(random() * 90) + 10}@${domain}`;
}

function phone(random: () => number): string {
  const n = () => String(Math.floor(random() * 10));
  return pick(random, [
    () => `+44 20 7946 0${n()}${n()}${n()}`,
    () => `(212) 555-01${n()}${n()}`,
    () => `+1-202-555-01${n()}${n()}`,
    () => `+49 30 901820${n()}${n()}`,
  ])();
}

/** Notes: mostly empty or plain; about one in six gives a way to reach the seller. */
function notes(random: () => number, shop: Shop): { text: string | null; contact: boolean } {
  const r = random();
  if (r < 0.55) return { text: null, contact: false };
  if (r < 0.84) return { text: pick(random, PLAIN_NOTES), contact: false };
  const text = pick(random, [
    () => `Questions? Write to ${email(random, shop)}.`,
    () => `Call ${phone(random)} for bulk pricing`,
    () => `Seller: ${email(random, shop)} / ${phone(random)}`,
  ])();
  return { text, contact: true };
}

/** One scraper: its shop, its random stream and the moment it switches to v4. */
class Scraper {
  readonly #random: () => number;
  #previousPage: Scraped[] = [];

  constructor(
    readonly id: string,
    readonly shop: Shop,
    seed: number,
    /** When (ms into the run) the deploy reaches this scraper. */
    readonly v4From: number,
    /** When (ms into the run) the shop starts rate-limiting it; `Infinity` for never. */
    readonly blockedFrom: number,
    readonly stats: FleetStats,
  ) {
    this.#random = seededRandom(seed);
  }

  /** Runs until `end` (clock time): a page at a time, or one product at a time once blocked. */
  async run(
    source: PushSource<Scraped>,
    clock: Clock,
    start: number,
    end: number,
    rate: number,
    signal: AbortSignal | undefined,
  ) {
    const random = this.#random;
    for (;;) {
      const elapsed = clock.now() - start;
      const blocked = elapsed >= this.blockedFrom;
      const size = blocked ? 1 : random() < 0.75 ? PAGE : Math.ceil(between(random, 20, 150));
      // Pages arrive at the scraper's share of the rate, with jitter; a blocked scraper gets one
      // product through every 0.7–2 s.
      const wait = blocked ? between(random, 700, 2_000) : (size / rate) * 1_000 * between(random, 0.5, 1.5);
      if (clock.now() + wait >= end) return;
      await sleep(clock, wait);
      if (signal?.aborted) return;
      const page = this.page(clock.now(), clock.now() - start, size);
      await source.pushMany(page, { partition: this.id });
    }
  }

  /** A page of `size` products fetched at `now`, plus what the retry queue and bad luck add. */
  page(now: number, elapsed: number, size: number): Scraped[] {
    const random = this.#random;
    const { stats } = this;
    const version = elapsed >= this.v4From ? 'v4' : 'v3';
    const first = Math.floor(random() * this.shop.products.length);
    const page: Scraped[] = [];
    for (let i = 0; i < size; i++) {
      const product = this.shop.products[(first + i) % this.shop.products.length]!;
      // Parallel requests of one page finish within a few seconds of each other.
      page.push(this.record(version, product, now - Math.floor(random() * 3_000)));
    }
    if (elapsed > WARM_UP && size > 1) {
      // A retried page: part of the previous page again, exactly as it was.
      if (random() < 0.12 && this.#previousPage.length > 0) {
        const from = Math.floor(random() * this.#previousPage.length);
        const again = this.#previousPage.slice(from, from + 10 + Math.floor(random() * 50));
        page.push(...again.map((r) => ({ ...r })));
        stats.resent += again.length;
      }
      // The retry queue: products scraped a while ago, in an earlier hour now and then.
      if (random() < 0.2) {
        for (let k = 1 + Math.floor(random() * 6); k > 0; k--) {
          const product = pick(random, this.shop.products);
          page.push(this.record(version, product, now - Math.floor(between(random, 10, 85) * MINUTE)));
          stats.delayed++;
        }
      }
      // A scraper that was offline for hours flushes its disk cache: too late to be on time.
      if (random() < 0.1) {
        page.push(
          this.record(
            version,
            pick(random, this.shop.products),
            now - Math.floor(between(random, 3, 6) * HOUR),
          ),
        );
        stats.stale++;
      }
    }
    for (let i = 0; i < page.length; i++) {
      if (random() < 0.004) page[i] = this.break(page[i]!);
    }
    stats.pages++;
    stats.records += page.length;
    this.#previousPage = page;
    return page;
  }

  record(version: 'v3' | 'v4', product: Shop['products'][number], scrapedAt: number): Scraped {
    const random = this.#random;
    const { shop, stats } = this;
    const note = notes(random, shop);
    if (note.contact) stats.contactsInNotes++;
    // Prices drift a little between scrapes.
    const price = Math.round(product.price * between(random, 0.95, 1.05) * 100) / 100;
    const common = {
      sku: product.sku,
      shop: shop.host,
      title: product.title,
      scrapedAt: new Date(scrapedAt).toISOString(),
      url: `https://${shop.host}/p/${product.sku}`,
      notes: note.text,
    };
    if (version === 'v3') {
      stats.v3++;
      return {
        schema: 'v3',
        ...common,
        price,
        currency: shop.currency,
        inStock: random() < 0.85,
      } satisfies ScrapedV3;
    }
    stats.v4++;
    const availability = random() < 0.85 ? 'in_stock' : random() < 0.5 ? 'out_of_stock' : 'preorder';
    return {
      schema: 'v4',
      ...common,
      price: { amount: price, currency: shop.currency },
      availability,
      sellerEmail: random() < 0.7 ? email(random, shop) : null,
    } satisfies ScrapedV4;
  }

  /** A broken copy of `record`. */
  break(record: Scraped): Scraped {
    const kinds: Breakage[] = ['price-as-text', 'missing-sku', 'unknown-version', 'no-time'];
    const kind = pick(this.#random, kinds);
    this.stats.broken[kind]++;
    const broken: Record<string, unknown> = { ...record };
    switch (kind) {
      case 'price-as-text':
        broken.price = broken.schema === 'v4' ? { amount: '12,99', currency: 'EUR' } : '12,99';
        break;
      case 'missing-sku':
        delete broken.sku;
        break;
      case 'unknown-version':
        broken.schema = 'v5';
        break;
      case 'no-time':
        broken.scrapedAt = 'n/a';
        break;
    }
    return broken;
  }
}

/**
 * Runs the fleet for `duration` ms of clock time, pushing into `source`; resolves with what was sent
 * once every scraper is done. It does not end the source: the caller does, to drain the pipeline.
 */
export async function runFleet(options: FleetOptions): Promise<FleetStats> {
  const { source, clock, duration, rate, seed, signal } = options;
  const stats: FleetStats = {
    pages: 0,
    records: 0,
    v3: 0,
    v4: 0,
    resent: 0,
    delayed: 0,
    stale: 0,
    broken: { 'price-as-text': 0, 'missing-sku': 0, 'unknown-version': 0, 'no-time': 0 },
    contactsInNotes: 0,
  };
  const start = clock.now();
  const end = start + duration;
  const regular = SHOPS.length - 1;
  const scrapers = SHOPS.map((shop, i) => {
    const blocked = i === regular; // the last shop rate-limits its scraper early in the run
    return new Scraper(
      `scraper-${i + 1}`,
      shop,
      seed * 7919 + i,
      duration * (blocked ? 0.5 : 0.35 + 0.1 * i),
      blocked ? duration * 0.15 : Number.POSITIVE_INFINITY,
      stats,
    );
  });
  // The regular scrapers share the rate; the blocked one adds its trickle on top.
  await Promise.all(scrapers.map((s) => s.run(source, clock, start, end, rate / regular, signal)));
  return stats;
}
