import { describe, expect, it } from 'vitest';
import { triggers } from '../../src/triggers/index.js';
import type { Trigger } from '../../src/triggers/types.js';
import { expectInvalid } from '../support.js';
import { lane } from './lane.js';

const { time, volume, any, all } = triggers;

describe('triggers.any', () => {
  const trigger = any(time('60s'), volume({ records: 10_000, bytes: '8MB' }));

  it('fires on whichever child fires first, with that child’s reason', () => {
    expect(trigger.check(lane(5, 100, 0), 59_999)).toBeUndefined();
    expect(trigger.check(lane(5, 100, 0), 60_000)).toBe('time');
    expect(trigger.check(lane(10_000, 100, 0), 1)).toBe('records');
    expect(trigger.check(lane(5, 8e6, 0), 1)).toBe('bytes');
  });

  it('asks children in order when several fire', () => {
    expect(trigger.check(lane(10_000, 0, 0), 60_000)).toBe('time');
    expect(any(volume({ records: 1 }), time(1)).check(lane(1, 0, 0), 5)).toBe('records');
  });

  it('takes the earliest deadline and the smallest headroom', () => {
    const t = any(time('1m'), time('10s'), volume({ records: 50 }));
    expect(t.deadline(lane(1, 0, 1_000))).toBe(11_000);
    expect(t.headroom(lane(20))).toBe(30);
    expect(any(time('1s')).headroom(lane(20))).toBe(Number.POSITIVE_INFINITY);
  });

  it('combines caps to the tightest and sizes records when any child needs bytes', () => {
    const t = any(volume({ records: 100 }), volume({ records: 500, bytes: '1MB' }));
    expect(t.caps).toEqual({ records: 100, bytes: 1e6 });
    expect(t.usesBytes).toBe(true);
    expect(any(time(1), volume({ records: 3 })).usesBytes).toBe(false);
  });

  it('describes itself from its children', () => {
    expect(trigger.description).toBe('time(1m) OR volume(10000 records, 8.0MB)');
    expect(trigger.mode).toBe('any');
  });

  it('needs at least one trigger', () => {
    expectInvalid(() => any(), 'triggers.any()', 'at least one trigger');
  });

  it('rejects a non-trigger argument naming its position', () => {
    const error = expectInvalid(
      () => any(time(1), { check: 'no' } as unknown as Trigger),
      'triggers.any()',
      'argument 2 is not a trigger',
    );
    expect(error.details).toEqual({ index: 1 });
    expectInvalid(() => any(null as unknown as Trigger), 'argument 1 is not a trigger');
    expectInvalid(() => any('15s' as unknown as Trigger), 'argument 1 is not a trigger');
  });

  it('rejects a hand-written child without caps or headroom as not a trigger', () => {
    const partial = {
      check: () => undefined,
      deadline: () => Number.POSITIVE_INFINITY,
    } as unknown as Trigger;
    expectInvalid(() => any(time(1), partial), 'triggers.any()', 'argument 2 is not a trigger');
  });
});

describe('triggers.all', () => {
  const trigger = all(time('1m'), volume({ records: 100 }));

  it('fires only when every child would, with the first child’s reason', () => {
    expect(trigger.check(lane(100, 0, 0), 59_999)).toBeUndefined();
    expect(trigger.check(lane(99, 0, 0), 60_000)).toBeUndefined();
    expect(trigger.check(lane(100, 0, 0), 60_000)).toBe('time');
    expect(all(volume({ records: 100 }), time('1m')).check(lane(100, 0, 0), 60_000)).toBe('records');
  });

  it('takes the latest finite deadline, or none', () => {
    expect(all(time('10s'), time('1m'), volume({ records: 1 })).deadline(lane(1, 0, 0))).toBe(60_000);
    expect(all(volume({ records: 1 })).deadline(lane(1, 0, 0))).toBe(Number.POSITIVE_INFINITY);
  });

  it('has no caps: children’s volumes are thresholds, the budget bounds the lane', () => {
    expect(trigger.caps).toEqual({ records: Number.POSITIVE_INFINITY, bytes: Number.POSITIVE_INFINITY });
    expect(trigger.headroom(lane(40))).toBe(60);
    expect(all(time(1), volume({ bytes: 10 })).usesBytes).toBe(true);
  });

  it('describes itself from its children', () => {
    expect(trigger.description).toBe('time(1m) AND volume(100 records)');
    expect(trigger.mode).toBe('all');
  });

  it('validates its arguments like any()', () => {
    expectInvalid(() => all(), 'triggers.all()', 'at least one trigger');
    expectInvalid(() => all(time(1), {} as Trigger), 'triggers.all()', 'argument 2 is not a trigger');
  });
});

describe('nesting', () => {
  it('composes: any(all(...), volume)', () => {
    const t = any(all(time('1m'), volume({ records: 10 })), volume({ records: 1_000 }));
    expect(t.check(lane(10, 0, 0), 60_000)).toBe('time');
    expect(t.check(lane(1_000, 0, 0), 1)).toBe('records');
    expect(t.check(lane(500, 0, 0), 1)).toBeUndefined();
    expect(t.caps.records).toBe(1_000);
    expect(t.description).toContain('time(1m) AND volume(10 records)');
    expect(t.description).toContain(' OR volume(1000 records)');
  });
});

describe('descriptions of nested combinators', () => {
  it('do not read with the wrong precedence: all(any(a, b), c) must not print as "a OR b AND c"', () => {
    // "a OR b AND c" reads as a OR (b AND c), which is not what all(any(a, b), c) does.
    const t = all(any(time('1s'), volume({ records: 10 })), volume({ records: 5 }));
    expect(t.description).not.toBe('time(1s) OR volume(10 records) AND volume(5 records)');
    expect(t.description).toContain('(time(1s) OR volume(10 records))');
  });
});
