import { describe, expect, it } from 'vitest';
import { time } from '../../src/triggers/time.js';
import { expectInvalid } from '../support.js';
import { emptyLane, lane } from './lane.js';

describe('triggers.time', () => {
  it('fires once the window has passed since the lane opened, not before', () => {
    const trigger = time('15s');
    const opened = lane(3, 0, 10_000);
    expect(trigger.check(opened, 10_000)).toBeUndefined();
    expect(trigger.check(opened, 24_999)).toBeUndefined();
    expect(trigger.check(opened, 25_000)).toBe('time');
    expect(trigger.check(opened, 90_000)).toBe('time');
  });

  it('has its deadline at openedAt + window, and none for an empty lane', () => {
    const trigger = time(250);
    expect(trigger.deadline(lane(1, 0, 1_000))).toBe(1_250);
    expect(trigger.deadline(emptyLane)).toBe(Number.POSITIVE_INFINITY);
    expect(trigger.check(emptyLane, 1e12)).toBeUndefined();
  });

  it('does not care about volume: unbounded headroom and caps, no byte sizing', () => {
    const trigger = time('1m');
    expect(trigger.headroom(lane(1_000_000, 1e9))).toBe(Number.POSITIVE_INFINITY);
    expect(trigger.caps).toEqual({ records: Number.POSITIVE_INFINITY, bytes: Number.POSITIVE_INFINITY });
    expect(trigger.usesBytes).toBe(false);
    expect(trigger.mode).toBe('time');
  });

  it.each([
    ['250ms', 'time(250ms)'],
    ['15s', 'time(15s)'],
    ['5m', 'time(5m)'],
    ['1h', 'time(1h)'],
    [1_000, 'time(1s)'],
    [90_000, 'time(90s)'],
  ] as const)('describes %j as %s', (window, description) => {
    expect(time(window).description).toBe(description);
  });

  it.each([[0], ['0s'], ['abc'], [-5], [Number.NaN], [undefined], [null]])(
    'rejects the window %j naming the option and the value',
    (window) => {
      const error = expectInvalid(() => time(window as never), 'triggers.time(window)', 'positive duration');
      expect(error.details).toMatchObject({ option: 'triggers.time(window)' });
    },
  );

  it("names a bad string in the message: time('abc')", () => {
    expectInvalid(() => time('abc' as never), "got 'abc'");
  });
});
