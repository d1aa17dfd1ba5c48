import { describe, expect, it } from 'vitest';
import { bucketOf, toEventTime } from '../../src/event-time/buckets.js';
import { expectInvalid } from '../support.js';

describe('bucketOf', () => {
  const t = Date.UTC(2026, 10, 25, 14, 37, 12, 345);

  it('gives Hive-style UTC paths and bounds for each unit', () => {
    expect(bucketOf(t, 'hour')).toEqual({
      path: 'dt=2026-11-25/hr=14',
      start: Date.UTC(2026, 10, 25, 14),
      end: Date.UTC(2026, 10, 25, 15),
    });
    expect(bucketOf(t, 'minute').path).toBe('dt=2026-11-25/hr=14/min=37');
    expect(bucketOf(t, 'day')).toEqual({
      path: 'dt=2026-11-25',
      start: Date.UTC(2026, 10, 25),
      end: Date.UTC(2026, 10, 26),
    });
    expect(bucketOf(t, 'month')).toEqual({
      path: 'month=2026-11',
      start: Date.UTC(2026, 10, 1),
      end: Date.UTC(2026, 11, 1),
    });
    expect(bucketOf(t).path).toBe('dt=2026-11-25/hr=14'); // hour by default
  });

  it('accepts Dates and ISO strings, in any zone, and answers in UTC', () => {
    expect(bucketOf(new Date(t), 'hour').path).toBe('dt=2026-11-25/hr=14');
    expect(bucketOf('2026-11-25T16:37:12+02:00', 'hour').path).toBe('dt=2026-11-25/hr=14');
    expect(bucketOf('2026-12-31T23:59:59.999Z', 'month')).toMatchObject({
      path: 'month=2026-12',
      end: Date.UTC(2027, 0, 1),
    });
  });

  it('puts the first millisecond of a bucket in it and the last one of the previous in that one', () => {
    const hour = Date.UTC(2026, 10, 25, 15);
    expect(bucketOf(hour, 'hour').path).toBe('dt=2026-11-25/hr=15');
    expect(bucketOf(hour - 1, 'hour').path).toBe('dt=2026-11-25/hr=14');
  });

  it('rejects times that are not times, and unknown units', () => {
    expectInvalid(() => bucketOf(Number.NaN), 'not a valid time');
    expectInvalid(() => bucketOf('yesterday-ish'), 'not a valid time');
    expectInvalid(() => bucketOf(new Date('nope')), 'not a valid time');
    expectInvalid(() => bucketOf(t, 'week' as 'day'), 'unit must be one of minute, hour, day, month');
  });
});

describe('toEventTime', () => {
  it('reads ms, Dates and ISO strings; anything else is undefined', () => {
    expect(toEventTime(5)).toBe(5);
    expect(toEventTime(new Date(7))).toBe(7);
    expect(toEventTime('1970-01-01T00:00:00.009Z')).toBe(9);
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      'x',
      '',
      null,
      undefined,
      {},
      [],
      new Date(Number.NaN),
      'x'.repeat(100),
    ]) {
      expect(toEventTime(bad)).toBeUndefined();
    }
  });
});

describe('toEventTime and zones', () => {
  it('reads a date-time without a zone as UTC, whatever the machine', () => {
    expect(toEventTime('2026-11-25T14:00:00')).toBe(Date.UTC(2026, 10, 25, 14));
    expect(toEventTime('2026-11-25T14:00')).toBe(Date.UTC(2026, 10, 25, 14));
    expect(toEventTime('2026-11-25T14:00:00.250')).toBe(Date.UTC(2026, 10, 25, 14, 0, 0, 250));
    expect(toEventTime('2026-11-25')).toBe(Date.UTC(2026, 10, 25));
    expect(toEventTime('2026-11-25T14:00:00+01:00')).toBe(Date.UTC(2026, 10, 25, 13));
  });
});
