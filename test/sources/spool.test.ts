import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileCheckpoint } from '../../src/checkpoint/file.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { type SpoolSourceOptions, spoolSource } from '../../src/sources/spool.js';
import { testClock } from '../../src/testing/clock.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, expectInvalid, rejection, settle, thrown } from '../support.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-spool-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const segments = async () => (await readdir(join(dir, 'spool'))).filter((n) => n.endsWith('.seg'));

/** A pipeline over a spool with a file checkpoint, cutting every `records` records. */
function build(options: Partial<SpoolSourceOptions> = {}, records = 10) {
  const clock = testClock(Date.UTC(2026, 10, 25));
  const source = spoolSource<{ n: number }>({ dir: join(dir, 'spool'), ...options });
  const sink = memorySink<{ n: number }>();
  const p = pipeline({ name: 'scraper', clock, checkpoint: fileCheckpoint({ dir: join(dir, 'checkpoint') }) })
    .source(source)
    .trigger(triggers.volume({ records }))
    .sink(sink)
    .build();
  return { clock, source, sink, p };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ n: from + i }));

describe('spoolSource', () => {
  it('delivers what was pushed, in order, with its metadata; exactly-once guarantee', async () => {
    const { clock, source, sink, p } = build();
    await source.push({ n: 0 }, { eventTime: '2026-11-25T10:00:00Z', key: 'k0', headers: { h: '1' } });
    await source.pushMany(range(1, 25));
    expect(source.pending).toBe(25);
    const run = clock.runUntil(p.run());
    await source.pushMany(range(25, 30));
    source.end();
    const report = await run;
    expect(sink.records).toEqual(range(0, 30));
    expect(sink.batches[0]!.eventTimes?.[0]).toBe(Date.UTC(2026, 10, 25, 10));
    expect(sink.batches[0]!.keys?.[0]).toBe('k0');
    expect(sink.batches[0]!.headers?.[0]).toEqual({ h: '1' });
    expect(report.guarantee).toBe('exactly-once');
    expect(source.pending).toBe(0);
  });

  it('a restart goes on after the committed records, with offsets that keep counting', async () => {
    const first = build({ segmentBytes: 200, maxBytes: 10_000 });
    await first.source.pushMany(range(0, 40));
    first.source.end();
    await first.clock.runUntil(first.p.run());
    expect(first.sink.records).toEqual(range(0, 40));

    const second = build({ segmentBytes: 200, maxBytes: 10_000 });
    const stats = await second.source.stats();
    expect(stats.next).toBe(40);
    await second.source.pushMany(range(40, 55));
    second.source.end();
    const report = await second.clock.runUntil(second.p.run());
    expect(second.sink.records).toEqual(range(40, 55));
    expect(second.sink.batches[0]!.firstOffset).toBe(40);
    expect(report.committed).toEqual({ spool: 54 });
    // Committed segments were deleted; the newest one stays (it carries the offsets on).
    expect((await segments()).length).toBeLessThanOrEqual(2);
  });

  it('records pushed but never read by a crashed run are delivered by the next one', async () => {
    const lost = spoolSource({ dir: join(dir, 'spool') });
    await lost.pushMany(range(0, 7));
    // No pipeline ran: the process "died" with the records on disk (and its lock, pid alive: ours).
    await rm(join(dir, 'spool', 'spool.lock'));
    const { clock, source, sink, p } = build();
    source.end();
    await clock.runUntil(p.run());
    expect(sink.records).toEqual(range(0, 7));
  });

  it('maxBytes: push() waits while the spool is full and resolves once committed segments are deleted', async () => {
    const { clock, source, sink, p } = build({ maxBytes: 2_000, segmentBytes: 500 }, 5);
    await source.stats(); // opened
    let resolved = 0;
    const pushes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) pushes.push(source.push({ n: i }).then(() => void resolved++));
    for (let i = 0; i < 5; i++) await settle();
    // ~25 bytes a frame: the spool took about 2,000 bytes, then made the rest wait.
    expect(resolved).toBeGreaterThan(0);
    expect(resolved).toBeLessThan(200);
    const run = clock.runUntil(p.run());
    await Promise.all(pushes);
    source.end();
    await run;
    expect(sink.records).toEqual(range(0, 200));
  });

  it('a torn last record (a crash mid-write) is cut on open and counted', async () => {
    const first = spoolSource({ dir: join(dir, 'spool') });
    await first.pushMany(range(0, 3));
    await rm(join(dir, 'spool', 'spool.lock'));
    const [segment] = await segments();
    await appendFile(join(dir, 'spool', segment!), Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 0x7b]));
    const { clock, source, sink, p } = build();
    expect((await source.stats()).tornBytes).toBe(9);
    source.end();
    await clock.runUntil(p.run());
    expect(sink.records).toEqual(range(0, 3));
  });

  it('one process at a time: a second spool on the same directory fails, naming the holder', async () => {
    const one = spoolSource({ dir: join(dir, 'spool') });
    await one.push({ n: 1 });
    const two = spoolSource({ dir: join(dir, 'spool') });
    const error = expectCode(await rejection(two.push({ n: 2 })), 'MB_SOURCE_FAILED');
    expect(error.message).toContain(`pid ${process.pid}`);
  });

  it('refuses a push after end() and bad options', async () => {
    const source = spoolSource({ dir: join(dir, 'spool') });
    source.end();
    expectCode(await rejection(source.push({ n: 1 })), 'MB_CLOSED');
    expectInvalid(() => spoolSource({ dir: '' }), 'dir');
    expectInvalid(() => spoolSource({ dir, durability: 'disk' as never }), "'process' or 'machine'");
    expectInvalid(() => spoolSource({ dir, maxBytes: '1MB', segmentBytes: '800KB' }), 'half of maxBytes');
    expectInvalid(() => spoolSource({ dir, bogus: 1 } as never), "unknown option 'bogus'");
    expectCode(
      thrown(() => spoolSource(null as never)),
      'MB_INVALID_OPTIONS',
    );
  });

  it("durability 'machine' delivers the same", async () => {
    const { clock, source, sink, p } = build({ durability: 'machine' });
    await Promise.all([source.pushMany(range(0, 10)), source.push({ n: 10 }), source.push({ n: 11 })]);
    source.end();
    await clock.runUntil(p.run());
    expect(sink.records).toEqual(range(0, 12));
  });

  it('a checkpoint past what the spool holds fails with MB_LEDGER_AHEAD (a replaced spool directory)', async () => {
    const first = build();
    await first.source.pushMany(range(0, 12));
    first.source.end();
    await first.clock.runUntil(first.p.run());
    await rm(join(dir, 'spool'), { recursive: true });
    const second = build();
    second.source.end();
    const error = expectCode(await rejection(second.clock.runUntil(second.p.run())), 'MB_LEDGER_AHEAD');
    expect(error.message).toContain('is empty');
  });
});
