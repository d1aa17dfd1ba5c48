import type { DeadLetter } from '../core/batch.js';
import { longTimers, systemClock } from '../core/clock.js';
import { invalidOptions } from '../core/errors.js';
import { stderrLogger } from '../core/logger.js';
import { show } from '../core/units.js';
import { type EventTimeExtractor, type EventTimeOptions, resolveEventTime } from '../event-time/options.js';
import type { Sink } from '../sinks/types.js';
import type { Source } from '../sources/types.js';
import type { Transform } from '../transforms/types.js';
import { isAdaptive } from '../triggers/adaptive.js';
import { any } from '../triggers/combinators.js';
import { time } from '../triggers/time.js';
import { isTrigger, type Trigger } from '../triggers/types.js';
import { volume } from '../triggers/volume.js';
import { type PipelineOptions, resolveOptions } from './options.js';
import { PipelineRuntime } from './runtime/pipeline.js';
import type { Pipeline } from './types.js';

/** Controllers of adaptive triggers already given to a pipeline. */
const adaptiveInUse = new WeakSet<object>();

/**
 * The default trigger when none is given: whichever comes first of 1 second, 1,000 records or 10 MB
 * (the envelope Vector's sinks default to), the bytes lowered to the memory budget if it is smaller.
 */
export const defaultTrigger = (maxBufferBytes = 64e6): Trigger =>
  any(time(1_000), volume({ records: 1_000, bytes: Math.min(10e6, maxBufferBytes) }));

/**
 * Assembles a pipeline: `pipeline({ name }).source(…).trigger(…).transform(…).sink(…).build()`.
 * `In` is what the source yields; `Out` what the sink receives after the transforms.
 * Every option is checked by `build()`, with messages that name the pipeline and the option.
 */
export class PipelineBuilder<In = unknown, Out = In> {
  readonly #options: PipelineOptions;
  #source: Source<any> | undefined;
  #trigger: Trigger | undefined;
  readonly #transforms: Transform<any, any>[] = [];
  #sink: Sink<any> | undefined;
  #deadLetter: Sink<DeadLetter> | undefined;
  #eventTime:
    | { extract: EventTimeExtractor<any> | undefined; options: EventTimeOptions | undefined }
    | undefined;
  readonly #called = new Set<string>();

  constructor(options: PipelineOptions) {
    this.#options = options;
  }

  /** Where records come from: `fromIterable`, `fromJsonLines`, `pushSource`, an adapter, or your own. */
  source<T>(source: Source<T>): PipelineBuilder<T, T> {
    this.#once('source');
    this.#source = source;
    return this as unknown as PipelineBuilder<T, T>;
  }

  /**
   * Gives records an event time, read on arrival: `.eventTime((r) => r.extractedAt, { allowedLateness:
   * '10m' })`, or `.eventTime()` for the source's own timestamps (a Kafka message's). It drives
   * watermarks, lateness (`late`), `batch.eventTimes` (what time-partitioned sinks use) and the
   * `partition-complete` event. See {@link EventTimeOptions}.
   */
  eventTime(extract?: EventTimeExtractor<In>, options?: EventTimeOptions): this {
    this.#once('eventTime');
    this.#eventTime = { extract, options };
    return this;
  }

  /** When lanes flush: `triggers.any(triggers.time('15s'), triggers.volume({ records: 10_000 }))`. */
  trigger(trigger: Trigger): this {
    this.#once('trigger');
    this.#trigger = trigger;
    return this;
  }

  /** Steps applied to each batch before the sink, in order. */
  transform<A>(t1: Transform<Out, A>): PipelineBuilder<In, A>;
  transform<A, B>(t1: Transform<Out, A>, t2: Transform<A, B>): PipelineBuilder<In, B>;
  transform<A, B, C>(t1: Transform<Out, A>, t2: Transform<A, B>, t3: Transform<B, C>): PipelineBuilder<In, C>;
  transform<A, B, C, D>(
    t1: Transform<Out, A>,
    t2: Transform<A, B>,
    t3: Transform<B, C>,
    t4: Transform<C, D>,
  ): PipelineBuilder<In, D>;
  transform(...transforms: Transform<any, any>[]): PipelineBuilder<In, any> {
    this.#transforms.push(...transforms);
    return this as PipelineBuilder<In, any>;
  }

  /** Where batches go. */
  sink(sink: Sink<Out>): this {
    this.#once('sink');
    this.#sink = sink;
    return this;
  }

  /** Where rejected records go, as {@link DeadLetter} envelopes; written before the source commits. */
  deadLetter(sink: Sink<DeadLetter>): this {
    this.#once('deadLetter');
    this.#deadLetter = sink;
    return this;
  }

  /** Checks everything and returns the pipeline, ready to `run()` or `start()`. */
  build(): Pipeline<Out> {
    const options = resolveOptions(this.#options);
    const at = `pipeline '${options.name}'`;
    if (!this.#called.has('source'))
      throw invalidOptions(`${at}: no source; call .source(...) before .build()`);
    if (typeof this.#source?.open !== 'function') {
      throw invalidOptions(
        `${at}: .source() needs a Source (an object with open()); got ${show(this.#source)}`,
      );
    }
    if (!this.#called.has('sink')) throw invalidOptions(`${at}: no sink; call .sink(...) before .build()`);
    if (typeof this.#sink?.write !== 'function') {
      throw invalidOptions(`${at}: .sink() needs a Sink (an object with write()); got ${show(this.#sink)}`);
    }
    if (this.#called.has('deadLetter') && typeof this.#deadLetter?.write !== 'function') {
      throw invalidOptions(
        `${at}: .deadLetter() needs a Sink (an object with write()); got ${show(this.#deadLetter)}`,
      );
    }
    const trigger = this.#called.has('trigger') ? this.#trigger : defaultTrigger(options.maxBufferBytes);
    if (!isTrigger(trigger)) {
      throw invalidOptions(
        `${at}: .trigger() needs a Trigger (see triggers.time, triggers.volume); got ${show(trigger)}`,
      );
    }
    this.#transforms.forEach((t, i) => {
      if (typeof t?.apply !== 'function')
        throw invalidOptions(`${at}: transform ${i + 1} is not a Transform (an object with apply())`);
    });
    if (trigger.caps.bytes < Number.POSITIVE_INFINITY && trigger.caps.bytes > options.maxBufferBytes) {
      throw invalidOptions(
        `${at}: the trigger's byte cap (${trigger.caps.bytes}) is larger than maxBufferBytes (${options.maxBufferBytes}); no batch could reach it`,
        { option: 'maxBufferBytes' },
      );
    }
    if (isAdaptive(trigger)) {
      if (adaptiveInUse.has(trigger.controller)) {
        throw invalidOptions(
          `${at}: this adaptive trigger already belongs to another pipeline; its window and concurrency follow one sink, so create one triggers.adaptive(…) per pipeline`,
          { option: 'trigger' },
        );
      }
      adaptiveInUse.add(trigger.controller);
    }
    const checkpoint = this.#options.checkpoint;
    if (checkpoint !== undefined && this.#source?.replayable !== true) {
      throw invalidOptions(
        `${at}: a checkpoint needs a replayable source (one that can re-read from a cursor, like fromJsonLines or kafkaSource); source '${String(this.#source?.kind)}' cannot replay, so a plan could never be written again after a crash`,
        { option: 'checkpoint' },
      );
    }
    const eventTime =
      this.#eventTime === undefined
        ? undefined
        : resolveEventTime(at, this.#eventTime.extract, this.#eventTime.options);
    return new PipelineRuntime({
      options,
      checkpoint,
      eventTime,
      // Timers past 2^31 − 1 ms (`stop({ deadline: '30d' })`, `triggers.time('30d')`) are chained.
      clock: longTimers(this.#options.clock ?? systemClock),
      logger: this.#options.logger ?? stderrLogger,
      signal: this.#options.signal,
      source: this.#source,
      trigger,
      transforms: this.#transforms,
      sink: this.#sink,
      deadLetter: this.#deadLetter,
    }) as Pipeline<Out>;
  }

  #once(what: string): void {
    if (this.#called.has(what)) {
      throw invalidOptions(`pipeline '${String(this.#options?.name)}': .${what}() was called twice`);
    }
    this.#called.add(what);
  }
}

/** Starts a pipeline definition. See {@link PipelineOptions} for every option and its default. */
export function pipeline(options: PipelineOptions): PipelineBuilder {
  return new PipelineBuilder(options);
}
