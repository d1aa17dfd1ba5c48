import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatDuration,
  parseCount,
  parseDuration,
  parseSize,
  show,
} from '../../src/core/units.js';
import { expectInvalid } from '../support.js';

const WHAT = "pipeline 'prices': trigger.window";

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['15s', 15_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1_500],
    [' 2 s ', 2_000],
    [0.4, 0],
    [1, 1],
    [1_000, 1_000],
    [2.6, 3],
  ])('parses %j as %i ms', (input, ms) => {
    // 0.4 rounds to 0 but is accepted: it is positive as given.
    expect(parseDuration(input, WHAT)).toBe(ms);
  });

  it.each([
    ['abc'],
    [''],
    ['15'],
    ['15 seconds'],
    ['15S'],
    ['-5s'],
    ['1e3ms'],
    ['s'],
    [-1],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [null],
    [undefined],
    [true],
    [{}],
    [[]],
  ])('rejects %j with MB_INVALID_OPTIONS naming the option and the value', (input) => {
    const error = expectInvalid(() => parseDuration(input, WHAT), WHAT, 'must be a positive duration');
    expect(error.details).toMatchObject({ option: WHAT });
    expect(error.details.value).toBe(input);
  });

  it('quotes a bad string value in the message', () => {
    expectInvalid(() => parseDuration('abc', WHAT), "got 'abc'");
    expectInvalid(() => parseDuration(-1, WHAT), 'got -1');
  });

  it('rejects zero unless allowZero', () => {
    expectInvalid(() => parseDuration(0, WHAT), WHAT, 'positive', 'got 0');
    expectInvalid(() => parseDuration('0s', WHAT), WHAT, "got '0s'");
    expect(parseDuration(0, WHAT, { allowZero: true })).toBe(0);
    expect(parseDuration('0ms', WHAT, { allowZero: true })).toBe(0);
    expectInvalid(() => parseDuration(-1, WHAT, { allowZero: true }), 'non-negative');
  });
});

describe('parseSize', () => {
  const OPTION = "pipeline 'prices': maxBufferBytes";

  it.each([
    ['8MB', 8_000_000],
    ['512KB', 512_000],
    ['1GB', 1_000_000_000],
    ['1GiB', 1024 ** 3],
    ['1MiB', 1024 ** 2],
    ['4KiB', 4096],
    ['100B', 100],
    ['8mb', 8_000_000],
    ['1.5MB', 1_500_000],
    [' 2 KB ', 2_000],
    [1, 1],
    [1_000_000, 1_000_000],
    [10.9, 10],
  ])('parses %j as %i bytes', (input, bytes) => {
    expect(parseSize(input, OPTION)).toBe(bytes);
  });

  it.each([
    ['lots'],
    ['8'],
    ['8 megabytes'],
    ['8TB'],
    ['-8MB'],
    [''],
    [0],
    ['0MB'],
    [-1],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [null],
    [undefined],
    [{}],
  ])('rejects %j with MB_INVALID_OPTIONS naming the option and the value', (input) => {
    const error = expectInvalid(() => parseSize(input, OPTION), OPTION, 'must be a positive size');
    expect(error.details).toMatchObject({ option: OPTION });
    expect(error.details.value).toBe(input);
  });

  it('quotes the bad value in the message', () => {
    expectInvalid(() => parseSize('lots', OPTION), "got 'lots'");
    expectInvalid(() => parseSize({}, OPTION), 'got an object');
  });
});

describe('parseCount', () => {
  const OPTION = "pipeline 'prices': concurrency";

  it.each([[1], [4], [10_000]])('accepts %i', (n) => {
    expect(parseCount(n, OPTION)).toBe(n);
  });

  it('accepts Infinity only where a count may be unbounded', () => {
    expect(parseCount(Number.POSITIVE_INFINITY, OPTION, { allowInfinity: true })).toBe(
      Number.POSITIVE_INFINITY,
    );
    expectInvalid(() => parseCount(Number.POSITIVE_INFINITY, OPTION), OPTION, 'got Infinity');
  });

  it('honours min', () => {
    expect(parseCount(0, OPTION, { min: 0 })).toBe(0);
    expectInvalid(() => parseCount(-1, OPTION, { min: 0 }), OPTION, '≥ 0', 'got -1');
  });

  it.each([[0], [1.5], [-3], [Number.NaN], [Number.NEGATIVE_INFINITY], ['4'], [null], [undefined]])(
    'rejects %j naming the option and the value',
    (input) => {
      const error = expectInvalid(() => parseCount(input, OPTION), OPTION, 'must be an integer ≥ 1');
      expect(error.details).toMatchObject({ option: OPTION });
    },
  );

  it('shows the bad value', () => {
    expectInvalid(() => parseCount(1.5, OPTION), 'got 1.5');
    expectInvalid(() => parseCount('4', OPTION), "got '4'");
  });
});

describe('formatDuration / formatBytes / show', () => {
  it('formats durations compactly', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(1_500)).toBe('1500ms');
    expect(formatDuration(15_000)).toBe('15s');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('∞');
  });

  it('formats bytes compactly', () => {
    expect(formatBytes(512)).toBe('512B');
    expect(formatBytes(1_500)).toBe('1.5KB');
    expect(formatBytes(8e6)).toBe('8.0MB');
    expect(formatBytes(2e9)).toBe('2.00GB');
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe('∞');
  });

  it('renders values for messages without dumping them', () => {
    expect(show('abc')).toBe("'abc'");
    expect(show('x'.repeat(100))).toBe(`'${'x'.repeat(57)}...'`);
    expect(show(10n)).toBe('10n');
    expect(show(() => 1)).toBe('a function');
    expect(show(null)).toBe('null');
    expect(show(undefined)).toBe('undefined');
    expect(show([1, 2, 3])).toBe('an array of 3');
    expect(show({ secret: 'hunter2' })).toBe('an object');
  });
});
