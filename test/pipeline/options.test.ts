import { describe, expect, it } from 'vitest';
import { pipeline } from '../../src/pipeline/builder.js';
import type { PipelineOptions } from '../../src/pipeline/options.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { fromIterable } from '../../src/sources/iterable.js';
import type { Source } from '../../src/sources/types.js';
import { testClock } from '../../src/testing/clock.js';
import { triggers } from '../../src/triggers/index.js';
import type { Trigger } from '../../src/triggers/types.js';
import { expectInvalid } from '../support.js';

const NAME = "pipeline 'prices'";

/** Builds a complete pipeline with `options` merged into `{ name: 'prices' }`. */
const build =
  (options: Partial<PipelineOptions> & Record<string, unknown> = {}) =>
  () =>
    pipeline({ name: 'prices', ...options } as PipelineOptions)
      .source(fromIterable([1]))
      .sink(memorySink())
      .build();

describe('pipeline({ ... }).build(): valid options', () => {
  it('builds with only a name, a source and a sink', () => {
    const p = build()();
    expect(p.name).toBe('prices');
    expect(p.status).toBe('idle');
  });

  it('accepts every documented option', () => {
    const p = build({
      clock: testClock(),
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      maxBufferBytes: '64MB',
      maxRecordBytes: Number.POSITIVE_INFINITY,
      concurrency: 8,
      retry: { maxAttempts: 5, initialDelay: '50ms', maxDelay: '10s', attemptTimeout: '30s' },
      signal: new AbortController().signal,
    })();
    expect(p.metrics().inFlight.concurrency).toBe(8);
    expect(p.metrics().buffer.budgetBytes).toBe(64e6);
  });

  it('uses the default trigger: 1 s, 1,000 records or 10 MB', () => {
    const metrics = build()().metrics();
    expect(metrics.trigger.mode).toBe('any');
    expect(metrics.trigger.description).toBe('time(1s) OR volume(1000 records, 10.0MB)');
    expect(metrics.trigger.maxRecords).toBe(1_000);
    expect(metrics.trigger.maxBytes).toBe(10e6);
  });
});

describe('pipeline({ ... }).build(): the name', () => {
  it.each([
    ['missing', {}],
    ['empty', { name: '' }],
    ['blank', { name: '   ' }],
    ['not a string', { name: 42 }],
  ])('rejects a %s name', (_, options) => {
    const error = expectInvalid(
      () =>
        pipeline(options as PipelineOptions)
          .source(fromIterable([1]))
          .sink(memorySink())
          .build(),
      'pipeline(options)',
      'name must be a non-empty string',
    );
    expect(error.details).toEqual({ option: 'name' });
  });

  it('rejects options that are not an object', () => {
    expectInvalid(
      () =>
        pipeline(undefined as never)
          .source(fromIterable([1]))
          .sink(memorySink())
          .build(),
      'pipeline(options)',
      'name',
    );
  });
});

describe('pipeline({ ... }).build(): every bad option names the pipeline and the option', () => {
  it('an unknown option (a typo)', () => {
    const error = expectInvalid(build({ maxBuferBytes: '8MB' }), NAME, "unknown option 'maxBuferBytes'");
    expect(error.details).toEqual({ option: 'maxBuferBytes' });
  });

  it.each([['lots'], [0], [-1], ['0MB'], [Number.NaN]])('maxBufferBytes: %j', (value) => {
    expectInvalid(build({ maxBufferBytes: value as never }), NAME, 'maxBufferBytes', 'positive size');
  });

  it.each([['huge'], [0], [-5]])('maxRecordBytes: %j', (value) => {
    expectInvalid(build({ maxRecordBytes: value as never }), NAME, 'maxRecordBytes', 'positive size');
  });

  it('maxRecordBytes larger than maxBufferBytes', () => {
    const error = expectInvalid(
      build({ maxBufferBytes: '20MB', maxRecordBytes: '30MB', concurrency: 1 }),
      NAME,
      'maxRecordBytes (30000000)',
      'maxBufferBytes (20000000)',
    );
    expect(error.details).toEqual({ option: 'maxRecordBytes' });
  });

  it.each([
    [0, 'integer ≥ 1', 'got 0'],
    [1.5, 'integer ≥ 1', 'got 1.5'],
    [-2, 'integer ≥ 1', 'got -2'],
    ['4', 'integer ≥ 1', "got '4'"],
    [Number.POSITIVE_INFINITY, 'integer ≥ 1', 'got Infinity'],
  ])('concurrency: %j', (value, what, got) => {
    expectInvalid(build({ concurrency: value as number }), NAME, 'concurrency', what, got);
  });

  it('retry.maxDelay smaller than retry.initialDelay', () => {
    const error = expectInvalid(
      build({ retry: { initialDelay: '5s', maxDelay: '1s' } }),
      NAME,
      'retry.maxDelay (1000ms)',
      'retry.initialDelay (5000ms)',
    );
    expect(error.details).toEqual({ option: 'retry.maxDelay' });
  });

  it('an unknown retry option', () => {
    const error = expectInvalid(
      build({ retry: { maxAttempt: 3 } as never }),
      NAME,
      "unknown option 'retry.maxAttempt'",
    );
    expect(error.details).toEqual({ option: 'retry.maxAttempt' });
  });

  it.each([
    ['maxAttempts', 0],
    ['maxAttempts', 2.5],
    ['initialDelay', 'soon'],
    ['initialDelay', 0],
    ['maxDelay', -1],
    ['attemptTimeout', 'forever'],
    ['attemptTimeout', 0],
  ])('retry.%s: %j', (key, value) => {
    expectInvalid(build({ retry: { [key]: value } as never }), NAME, `retry.${key}`);
  });

  it('retry that is not an object', () => {
    expectInvalid(build({ retry: 'often' as never }), NAME, 'retry must be an object');
  });

  it.each([
    ['an empty object', {}],
    ['now() missing', { setTimeout() {}, clearTimeout() {} }],
    ['a number', 5],
  ])('clock: %s', (_, clock) => {
    const error = expectInvalid(build({ clock: clock as never }), NAME, 'clock must have now()');
    expect(error.details).toEqual({ option: 'clock' });
  });

  it.each([
    ['console.log only', { log() {} }],
    ['warn missing', { debug() {}, info() {}, error() {} }],
  ])('logger: %s', (_, logger) => {
    const error = expectInvalid(build({ logger: logger as never }), NAME, 'logger must have');
    expect(error.details).toEqual({ option: 'logger' });
  });

  it('signal that is not an AbortSignal', () => {
    expectInvalid(build({ signal: { aborted: false } as never }), NAME, 'signal must be an AbortSignal');
  });
});

describe('pipeline({ ... }).build(): parts', () => {
  it('a missing source', () => {
    expectInvalid(
      () => pipeline({ name: 'prices' }).sink(memorySink()).build(),
      NAME,
      'no source',
      '.source(',
    );
  });

  it('a non-source passed to source()', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source({ read() {} } as unknown as Source)
          .sink(memorySink())
          .build(),
      NAME,
      '.source() needs a Source',
    );
  });

  it('null passed to source()', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(null as unknown as Source)
          .sink(memorySink())
          .build(),
      NAME,
      'source',
    );
  });

  it('a missing sink', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .build(),
      NAME,
      'no sink',
      '.sink(',
    );
  });

  it.each([
    ['an object without write()', { close() {} }],
    ['a function', () => {}],
    ['a string', 'memory'],
  ])('a non-sink passed to sink(): %s', (_, sink) => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .sink(sink as unknown as Sink)
          .build(),
      NAME,
      '.sink() needs a Sink',
    );
  });

  it('null passed to sink()', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .sink(null as unknown as Sink)
          .build(),
      NAME,
      'sink',
    );
  });

  it('a non-sink passed to deadLetter()', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .sink(memorySink())
          .deadLetter({} as never)
          .build(),
      NAME,
      '.deadLetter() needs a Sink',
    );
  });

  it('null passed to deadLetter()', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .sink(memorySink())
          .deadLetter(null as never)
          .build(),
      NAME,
      'deadLetter',
    );
  });

  it.each([
    ['source', (b: ReturnType<typeof pipeline>) => b.source(fromIterable([1])).source(fromIterable([2]))],
    ['sink', (b: ReturnType<typeof pipeline>) => b.sink(memorySink()).sink(memorySink())],
    ['trigger', (b: ReturnType<typeof pipeline>) => b.trigger(triggers.time(1)).trigger(triggers.time(2))],
    ['deadLetter', (b: ReturnType<typeof pipeline>) => b.deadLetter(memorySink()).deadLetter(memorySink())],
  ])('calling .%s() twice', (what, twice) => {
    expectInvalid(() => twice(pipeline({ name: 'prices' })), NAME, `.${what}() was called twice`);
  });

  it('a non-transform passed to transform()', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .transform({ name: 'nope' } as never)
          .sink(memorySink())
          .build(),
      NAME,
      'transform 1 is not a Transform',
    );
  });
});

describe('pipeline({ ... }).build(): triggers', () => {
  it('a trigger byte cap larger than the memory budget', () => {
    const error = expectInvalid(
      () =>
        pipeline({ name: 'prices', maxBufferBytes: '1MB', maxRecordBytes: '1KB' })
          .source(fromIterable([1]))
          .trigger(triggers.volume({ bytes: '8MB' }))
          .sink(memorySink())
          .build(),
      NAME,
      "trigger's byte cap (8000000)",
      'maxBufferBytes (1000000)',
    );
    expect(error.details).toEqual({ option: 'maxBufferBytes' });
  });

  it('builds with a budget below 10 MB and no explicit trigger (the default trigger fits the budget)', () => {
    // The user chose no trigger: the default's 10 MB byte cap must not make a valid budget invalid.
    const p = pipeline({ name: 'prices', maxBufferBytes: '8MB' })
      .source(fromIterable([1]))
      .sink(memorySink())
      .build();
    expect(p.metrics().trigger.maxBytes).toBeLessThanOrEqual(8e6);
  });

  it('a non-trigger object passed to trigger()', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .trigger({ description: 'x' } as unknown as Trigger)
          .sink(memorySink())
          .build(),
      NAME,
      '.trigger() needs a Trigger',
    );
  });

  it('null passed to trigger()', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .trigger(null as unknown as Trigger)
          .sink(memorySink())
          .build(),
      NAME,
      'trigger',
    );
  });

  it('a hand-written trigger without caps', () => {
    const partial = {
      description: 'mine',
      mode: 'custom',
      check: () => undefined,
      deadline: () => Number.POSITIVE_INFINITY,
      headroom: () => Number.POSITIVE_INFINITY,
    } as unknown as Trigger;
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .trigger(partial)
          .sink(memorySink())
          .build(),
      NAME,
      'trigger',
    );
  });

  // Trigger factories run before .trigger() sees them, so they cannot know the pipeline's name;
  // their messages name the factory and the option instead.
  it.each([
    ['time(0)', () => triggers.time(0), ['triggers.time(window)', 'got 0']],
    ["time('abc')", () => triggers.time('abc' as never), ['triggers.time(window)', "got 'abc'"]],
    ['volume({})', () => triggers.volume({}), ['triggers.volume()', '{ records }']],
    [
      'volume({ records: 0 })',
      () => triggers.volume({ records: 0 }),
      ['triggers.volume({ records })', 'got 0'],
    ],
    ['any()', () => triggers.any(), ['triggers.any()', 'at least one']],
    [
      'any(non-trigger)',
      () => triggers.any({} as Trigger),
      ['triggers.any()', 'argument 1 is not a trigger'],
    ],
    ['all()', () => triggers.all(), ['triggers.all()', 'at least one']],
  ] as const)('%s throws MB_INVALID_OPTIONS naming the option', (_, make, fragments) => {
    expectInvalid(
      () =>
        pipeline({ name: 'prices' })
          .source(fromIterable([1]))
          .trigger(make())
          .sink(memorySink())
          .build(),
      ...fragments,
    );
  });
});
