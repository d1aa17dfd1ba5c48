import { invalidOptions } from '../core/errors.js';
import { type Duration, parseDuration, show } from '../core/units.js';
import { BUCKET_UNITS, type BucketUnit } from './buckets.js';

/**
 * Reads a record's event time: ms since the epoch, a `Date` or an ISO string. `undefined`, `null`, or
 * anything that is not a valid time makes the record's event time invalid (see `invalid`).
 */
export type EventTimeExtractor<T> = (record: T) => number | Date | string | null | undefined;

/** Options of `.eventTime()`. */
export interface EventTimeOptions {
  /**
   * How far behind the newest event time of a lane records may still arrive in normal operation:
   * a lane's watermark is its newest event time minus this. @default '0s'
   */
  maxOutOfOrderness?: Duration;
  /**
   * How far behind the pipeline's watermark a record may still arrive without being late. A record
   * is late when its event time is below `watermark − allowedLateness` on arrival. @default '0s'
   */
  allowedLateness?: Duration;
  /**
   * A lane that has received nothing for this long stops holding the pipeline's watermark back (a
   * partition with no traffic would otherwise stall it). `Infinity` never. @default '1m'
   */
  idleTimeout?: Duration;
  /**
   * What happens to a late record: `include` writes it with the next batch (a sink that partitions
   * by event time puts it in its own, older partition), `dead-letter` sends it to the dead-letter
   * sink as `too_late`, `drop` counts it and lets it go. @default 'include'
   */
  late?: 'include' | 'dead-letter' | 'drop';
  /**
   * What happens to a record without a usable event time: `dead-letter` as `invalid_event_time`, or
   * `processing-time` (the pipeline clock's time on arrival). @default 'dead-letter'
   */
  invalid?: 'dead-letter' | 'processing-time';
  /**
   * The size of event-time partitions: the pipeline emits `partition-complete` when the watermark
   * passes a partition's end plus `allowedLateness` and everything in it is committed. @default 'hour'
   */
  partitionBy?: BucketUnit;
}

/** Event-time settings after parsing. */
export interface ResolvedEventTime {
  /** `undefined`: the source's own timestamps (`SourceChunk.eventTimes`, e.g. a Kafka message's). */
  extract: EventTimeExtractor<unknown> | undefined;
  maxOutOfOrderness: number;
  allowedLateness: number;
  idleTimeout: number;
  late: 'include' | 'dead-letter' | 'drop';
  invalid: 'dead-letter' | 'processing-time';
  partitionBy: BucketUnit;
}

const KEYS = new Set([
  'maxOutOfOrderness',
  'allowedLateness',
  'idleTimeout',
  'late',
  'invalid',
  'partitionBy',
]);

/** Checks `.eventTime()`'s arguments; messages name the pipeline and the option. */
export function resolveEventTime(
  at: string,
  extract: EventTimeExtractor<unknown> | undefined,
  options: EventTimeOptions = {},
): ResolvedEventTime {
  if (extract !== undefined && typeof extract !== 'function') {
    throw invalidOptions(
      `${at}: .eventTime(extract) needs a function (record) => time, or nothing for the source's timestamps; got ${show(extract)}`,
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `${at}: .eventTime(extract, options): options must be an object; got ${show(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw invalidOptions(`${at}: .eventTime(): unknown option '${key}'`, { option: key });
  }
  const oneOf = <V extends string>(
    key: string,
    value: V | undefined,
    allowed: readonly V[],
    fallback: V,
  ): V => {
    if (value === undefined) return fallback;
    if (!allowed.includes(value)) {
      throw invalidOptions(
        `${at}: .eventTime({ ${key} }) must be one of ${allowed.map((a) => `'${a}'`).join(', ')}; got ${show(value)}`,
        {
          option: key,
        },
      );
    }
    return value;
  };
  return {
    extract,
    maxOutOfOrderness: parseDuration(
      options.maxOutOfOrderness ?? 0,
      `${at}: .eventTime({ maxOutOfOrderness })`,
      {
        allowZero: true,
      },
    ),
    allowedLateness: parseDuration(options.allowedLateness ?? 0, `${at}: .eventTime({ allowedLateness })`, {
      allowZero: true,
    }),
    idleTimeout:
      options.idleTimeout === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : parseDuration(options.idleTimeout ?? 60_000, `${at}: .eventTime({ idleTimeout })`),
    late: oneOf('late', options.late, ['include', 'dead-letter', 'drop'], 'include'),
    invalid: oneOf('invalid', options.invalid, ['dead-letter', 'processing-time'], 'dead-letter'),
    partitionBy: oneOf('partitionBy', options.partitionBy, BUCKET_UNITS, 'hour'),
  };
}
