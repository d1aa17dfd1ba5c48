/**
 * The simulated fleet on its own (reproducible from its seed, bursty, changing schema mid-run) and
 * the summary's balance check (it must be able to say MISMATCH).
 */
import { describe, expect, it } from 'vitest';
import { type FleetStats, runFleet } from '../../demo/fleet.js';
import type { Scraped } from '../../demo/records.js';
import { balanceCheck } from '../../demo/summary.js';
import type { DeliveryReport } from '../../src/pipeline/report.js';
import type { PushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';

interface Push {
  at: number;
  partition: string;
  records: Scraped[];
}

/** Runs the fleet on a test clock into a recording stand-in for the push source. */
async function fleet(seed: number, duration = 20_000): Promise<{ pushes: Push[]; stats: FleetStats }> {
  const clock = testClock(Date.UTC(2026, 10, 25, 14, 20));
  const pushes: Push[] = [];
  const source = {
    pushMany(records: Iterable<Scraped>, meta?: { partition?: string | number }) {
      pushes.push({ at: clock.now(), partition: String(meta?.partition), records: [...records] });
      return Promise.resolve();
    },
  } as unknown as PushSource<Scraped>;
  const stats = await clock.runUntil(runFleet({ source, clock, duration, rate: 400, seed }));
  return { pushes, stats };
}

const field = (r: Scraped, key: string) => (r as Record<string, unknown>)[key];

describe('the simulated fleet', () => {
  it('sends the same records for the same seed, and different ones for another seed', async () => {
    const a = await fleet(11);
    const b = await fleet(11);
    const c = await fleet(12);
    expect(b.pushes).toEqual(a.pushes);
    expect(b.stats).toEqual(a.stats);
    expect(c.pushes).not.toEqual(a.pushes);
  });

  it('pushes pages in bursts of up to 200, one lane per scraper, and one scraper ends up trickling', async () => {
    const { pushes, stats } = await fleet(5);
    const sizes = pushes.map((p) => p.records.length);
    expect(sizes.filter((n) => n >= 200).length).toBeGreaterThan(10);
    expect(new Set(pushes.map((p) => p.partition))).toEqual(
      new Set(['scraper-1', 'scraper-2', 'scraper-3', 'scraper-4', 'scraper-5']),
    );
    const trickle = pushes.filter(
      (p) => p.partition === 'scraper-5' && p.at >= Date.UTC(2026, 10, 25, 14, 20, 4),
    );
    expect(trickle.length).toBeGreaterThan(5);
    for (const p of trickle) expect(p.records.length).toBe(1);
    expect(stats.records).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(stats.pages).toBe(pushes.length);
  });

  it('switches each scraper from v3 to v4 mid-run, never back', async () => {
    const { pushes, stats } = await fleet(5);
    expect(stats.v3).toBeGreaterThan(0);
    expect(stats.v4).toBeGreaterThan(0);
    for (const lane of ['scraper-1', 'scraper-2', 'scraper-3', 'scraper-4', 'scraper-5']) {
      const versions = pushes
        .filter((p) => p.partition === lane)
        .flatMap((p) => p.records.map((r) => field(r, 'schema')))
        .filter((v) => v === 'v3' || v === 'v4');
      const firstV4 = versions.indexOf('v4');
      expect(firstV4, lane).toBeGreaterThan(0);
      expect(versions.slice(firstV4)).not.toContain('v3');
    }
  });

  it('mixes in what a pipeline must cope with: re-sent, late, broken records and contacts in notes', async () => {
    const { pushes, stats } = await fleet(5);
    const records = pushes.flatMap((p) => p.records.map((r) => ({ r, at: p.at })));
    expect(stats.resent).toBeGreaterThan(0);
    expect(stats.delayed).toBeGreaterThan(0);
    expect(stats.stale).toBeGreaterThan(0);
    expect(Object.values(stats.broken).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const age = ({ r, at }: { r: Scraped; at: number }) => at - Date.parse(String(field(r, 'scrapedAt')));
    // A broken record may have lost its time ('no-time'): it is late, but nobody can tell.
    const timeless = stats.broken['no-time'];
    expect(records.filter((x) => age(x) > 3 * 3_600_000).length).toBeGreaterThanOrEqual(
      stats.stale - timeless,
    );
    expect(records.filter((x) => age(x) > 10 * 60_000 && age(x) < 86 * 60_000).length).toBeGreaterThanOrEqual(
      stats.delayed - timeless,
    );
    expect(records.filter(({ r }) => /@/.test(String(field(r, 'notes')))).length).toBeGreaterThan(0);
    const keys = records.map(({ r }) => `${field(r, 'shop')}|${field(r, 'sku')}|${field(r, 'scrapedAt')}`);
    expect(keys.length - new Set(keys).size).toBeGreaterThanOrEqual(stats.resent);
  });
});

describe('the balance check', () => {
  const report = (records: Partial<DeliveryReport['records']>) =>
    ({
      records: {
        in: 10,
        written: 7,
        deadLettered: 2,
        duplicates: 1,
        filtered: 0,
        droppedLate: 0,
        undelivered: 0,
        skipped: 0,
        ...records,
      },
    }) as DeliveryReport;

  it('says OK when in = written + dead-lettered + duplicates', () => {
    expect(balanceCheck(report({}))).toEqual({
      name: 'balance',
      ok: true,
      detail: 'in 10 = written 7 + dead-lettered 2 + duplicates 1',
    });
  });

  it('says MISMATCH when a record is missing, or undelivered', () => {
    expect(balanceCheck(report({ in: 11 }))).toMatchObject({
      ok: false,
      detail: expect.stringContaining('(sum 10)'),
    });
    expect(balanceCheck(report({ in: 11, undelivered: 1 }))).toMatchObject({
      ok: false,
      detail: expect.stringContaining('+ undelivered 1'),
    });
  });
});
