/**
 * Regressions of issue 13 finding 8: event times outside what a date column can hold, non-finite
 * numbers and strings that are not ISO-8601 date-times are `invalid_event_time`; a bare number in
 * a string is not a year.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/batch.js';
import { bucketOf, toEventTime } from '../../src/event-time/buckets.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';

/** 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: four-digit years, as `dt=YYYY-MM-DD` needs. */
const MIN_TIME = -62_135_596_800_000;
const MAX_TIME = 253_402_300_799_999;

describe('toEventTime', () => {
  it.each([
    ['past the Date range', 8.64e15 + 1],
    ['1e300', 1e300],
    ['-1e300', -1e300],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['year -1', Date.UTC(-1, 0, 1)],
    ['year 0', MIN_TIME - 1],
    ['year 10000', MAX_TIME + 1],
    ["the string '0'", '0'],
    ["the string '1'", '1'],
    ["the string '2026'", '2026'],
    ["the string '1732543200000'", '1732543200000'],
    ['an English date', 'Nov 25 2026'],
    ['an RFC 2822 date', 'Wed, 25 Nov 2026 14:00:00 GMT'],
    ['a time without a date', '14:00:00'],
    ['an invalid month', '2026-13-01T00:00:00Z'],
    ['an invalid Date', new Date(Number.NaN)],
    ['an expanded year', '+275760-09-13T00:00:00.000Z'],
  ])('refuses %s', (_, value) => {
    expect(toEventTime(value)).toBeUndefined();
  });

  it.each([
    ['2026-11-25T14:00:00Z', Date.UTC(2026, 10, 25, 14)],
    ['2026-11-25T14:00:00.250+01:00', Date.UTC(2026, 10, 25, 13, 0, 0, 250)],
    ['2026-11-25T14:00:00', Date.UTC(2026, 10, 25, 14)],
    ['2026-11-25T14:00Z', Date.UTC(2026, 10, 25, 14)],
    ['2026-11-25', Date.UTC(2026, 10, 25)],
    ['0001-01-01T00:00:00Z', MIN_TIME],
    ['9999-12-31T23:59:59.999Z', MAX_TIME],
  ])('reads %s', (value, ms) => {
    expect(toEventTime(value)).toBe(ms);
  });

  it('every accepted time gives a Hive path with a four-digit year (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer({ min: MIN_TIME - 1e12, max: MAX_TIME + 1e12 })), (ms) => {
        const time = toEventTime(ms);
        if (time === undefined) return;
        expect(time).toBeGreaterThanOrEqual(MIN_TIME);
        expect(time).toBeLessThanOrEqual(MAX_TIME);
        expect(bucketOf(time, 'day').path).toMatch(/^dt=\d{4}-\d{2}-\d{2}$/);
      }),
    );
  });
});

describe('a pipeline with .eventTime()', () => {
  it('dead-letters out-of-range and bare-number times as invalid_event_time', async () => {
    const clock = testClock(Date.UTC(2026, 10, 25));
    const sink = memorySink<{ id: number; at: unknown }>();
    const dead = memorySink<DeadLetter>();
    const values = [8.64e15 + 1, 1e300, Date.UTC(-1, 0, 1), '0', '1', '2026-11-25T10:00:00Z'];
    const report = await clock.runUntil(
      pipeline({ name: 'times', clock })
        .source(fromIterable(values.map((at, id) => ({ id, at }))))
        .eventTime((r) => r.at)
        .sink(sink)
        .deadLetter(dead)
        .build()
        .run(),
    );
    expect(sink.records.map((r) => r.id)).toEqual([5]);
    expect(report.rejected).toEqual({ invalid_event_time: 5 });
  });

  it('treats a pushed envelope with a bare-number string time as having none', async () => {
    const clock = testClock(Date.UTC(2026, 10, 25));
    const source = pushSource<number>();
    const dead = memorySink<DeadLetter>();
    const p = pipeline({ name: 'pushed', clock })
      .source(source)
      .eventTime()
      .sink(memorySink())
      .deadLetter(dead)
      .build();
    const done = clock.runUntil(p.run());
    await source.push(1, { eventTime: '1' });
    await source.push(2, { eventTime: 1e300 });
    source.end();
    const report = await done;
    expect(report.rejected).toEqual({ invalid_event_time: 2 });
  });
});
