import type { Batch } from '../../core/batch.js';
import { describeError } from '../../core/errors.js';
import { type Bucket, bucketOf, toEventTime } from '../../event-time/buckets.js';
import type { ResolvedEventTime } from '../../event-time/options.js';
import { type LaneTime, Watermarks } from '../../event-time/watermarks.js';
import type { PartitionComplete } from '../../sinks/types.js';
import type { SourceChunk, SourceRejection } from '../../sources/types.js';
import { LatencyWindow } from '../latency.js';
import type { PipelineMetrics } from '../report.js';
import type { Lane } from './lane.js';
import type { Parts } from './parts.js';

/** A reject the lane holds; `drop`: a late record under `late: 'drop'`, counted, not dead-lettered. */
type LaneReject = SourceRejection & { drop?: true };

/** Whether a lane's reject is a late record let go under `late: 'drop'`. */
export function isDroppedLate(reject: SourceRejection): boolean {
  return (reject as LaneReject).drop === true;
}

/**
 * An event-time bucket (`partitionBy`: an hour, a day…; a Hive partition of the lake) with records
 * not yet declared complete. Called a bucket here so that "partition" keeps meaning a source partition.
 */
interface OpenBucket {
  bucket: Bucket;
  records: number;
  /** Highest offset of a record in the bucket, per source partition: complete once committed. */
  offsets: Map<string, number>;
  /** The bucket was declared complete before, and a late record (`late: 'include'`) reopened it. */
  reopened: boolean;
}

/**
 * Event time, built only with `.eventTime()`: judges each record on arrival (late, invalid), keeps
 * the watermarks, counts records into event-time buckets and declares a bucket complete once the
 * watermark passed its end plus `allowedLateness` and every record in it is committed. Invariants: a
 * record enters its bucket before the watermark it moves is applied (so it cannot close its own
 * bucket); buckets complete in start order; the sink's `partitionComplete` calls go one at a time.
 */
export class EventTimeTracker {
  readonly #parts: Parts;
  readonly #config: ResolvedEventTime;
  readonly watermarks: Watermarks;
  /** Buckets with records, by start; the last one looked up is cached. */
  readonly #buckets = new Map<number, OpenBucket>();
  readonly #completed = new Set<number>();
  #lastBucket: OpenBucket | undefined;
  /** Event time → commit, per record (sampled). */
  readonly #latency = new LatencyWindow();
  /** The event time {@link EventTimeTracker.judge} admitted (a field, so the hot path allocates nothing). */
  #admitted = 0;
  /** The sink's `partitionComplete` calls, chained. */
  #sinkNotices: Promise<void> = Promise.resolve();

  constructor(parts: Parts, config: ResolvedEventTime) {
    this.#parts = parts;
    this.#config = config;
    this.watermarks = new Watermarks(config.maxOutOfOrderness, config.idleTimeout);
  }

  /** Late records are let go (`late: 'drop'`), counted but not dead-lettered. */
  get dropsLate(): boolean {
    return this.#config.late === 'drop';
  }

  /** Time moved since the last chunk: lanes may have gone idle. */
  recompute(now: number): void {
    if (this.watermarks.recompute(now)) this.checkBuckets();
  }

  /**
   * Reads a record's event time and judges it on arrival: invalid or late records become rejects in
   * the lane (by the policies); an admitted record's time is kept for {@link EventTimeTracker.pushAdmitted}.
   * Returns whether the record goes into the batch.
   */
  judge(lane: Lane<unknown>, chunk: SourceChunk<unknown>, i: number, offset: number, size: number): boolean {
    const config = this.#config;
    const watermarks = this.watermarks;
    const { settings, ingest, accounting } = this.#parts;
    const laneTime = (lane.time ??= watermarks.lane(lane.partition));
    const now = settings.clock.now();
    const value = chunk.values[i];
    const held = Math.min(size, settings.recordLimit);
    let time: number | undefined;
    let failure: unknown;
    if (config.extract === undefined) {
      time = toEventTime(chunk.eventTimes?.[i]);
    } else {
      try {
        time = toEventTime(config.extract(value));
      } catch (error) {
        failure = error;
      }
    }
    if (time === undefined) {
      if (config.invalid === 'dead-letter') {
        if (watermarks.touch(laneTime, now)) this.checkBuckets();
        const details =
          failure === undefined
            ? {
                message: 'the event time is missing or not a valid time (ms since epoch, Date or ISO string)',
              }
            : { message: `the event-time extractor threw: ${describeError(failure)}` };
        ingest.addReject(lane, { offset, reason: 'invalid_event_time', details, value }, held);
        return false;
      }
      time = now;
    }
    const limit = watermarks.watermark - config.allowedLateness;
    if (time < limit) {
      accounting.counts.late++;
      if (watermarks.touch(laneTime, now)) this.checkBuckets();
      if (config.late !== 'include') {
        const details = {
          eventTime: time,
          watermark: watermarks.watermark,
          allowedLateness: config.allowedLateness,
        };
        const reject: LaneReject = { offset, reason: 'too_late', details, value };
        if (config.late === 'drop') reject.drop = true;
        ingest.addReject(lane, reject, held);
        return false;
      }
      this.#noteBucket(time, lane.partition, offset);
    } else {
      // Into its bucket first: the watermark this record moves must not close it under its feet.
      this.#noteBucket(time, lane.partition, offset);
      if (watermarks.observe(laneTime, time, now)) this.checkBuckets();
    }
    this.#admitted = time;
    return true;
  }

  /** Appends the admitted event time, aligned with the value just pushed. */
  pushAdmitted(lane: Lane<unknown>): void {
    const times = (lane.eventTimes ??= new Array<number | undefined>(lane.records).fill(undefined));
    times.push(this.#admitted);
  }

  /** Counts a record into its event-time bucket (for `partition-complete`). */
  #noteBucket(time: number, partition: string, offset: number): void {
    let open = this.#lastBucket;
    if (
      open === undefined ||
      time < open.bucket.start ||
      time >= open.bucket.end ||
      !this.#buckets.has(open.bucket.start)
    ) {
      const bucket = bucketOf(time, this.#config.partitionBy);
      open = this.#buckets.get(bucket.start);
      if (open === undefined) {
        open = { bucket, records: 0, offsets: new Map(), reopened: this.#completed.has(bucket.start) };
        this.#buckets.set(bucket.start, open);
      }
      this.#lastBucket = open;
    }
    open.records++;
    open.offsets.set(partition, offset);
  }

  /**
   * Declares complete every event-time bucket the watermark has passed (end + allowedLateness)
   * whose records are all committed.
   */
  checkBuckets(): void {
    if (this.#buckets.size === 0) return;
    const { settings, commits } = this.#parts;
    // At the end of the input the watermark is +∞: every bucket is final.
    const watermark = this.watermarks.ended ? Number.POSITIVE_INFINITY : this.watermarks.watermark;
    const lateness = this.#config.allowedLateness;
    const ready: OpenBucket[] = [];
    for (const open of this.#buckets.values()) {
      if (open.bucket.end + lateness > watermark) continue;
      let committed = true;
      for (const [partition, offset] of open.offsets) {
        const done = commits.committedOf(partition);
        if (done === undefined || done < offset) {
          committed = false;
          break;
        }
      }
      if (committed) ready.push(open);
    }
    ready.sort((a, b) => a.bucket.start - b.bucket.start);
    for (const open of ready) {
      this.#buckets.delete(open.bucket.start);
      this.#completed.add(open.bucket.start);
      if (this.#lastBucket === open) this.#lastBucket = undefined;
      const event = { bucket: open.bucket, watermark, records: open.records, reopened: open.reopened };
      settings.events.emit('partition-complete', event);
      if (settings.sink.partitionComplete !== undefined) this.#tellSink(event);
      settings.logger.debug(
        { pipeline: settings.name, bucket: open.bucket.path, records: open.records },
        'event-time bucket complete',
      );
    }
  }

  /** The source ended and everything is committed: no event time can come any more. */
  finish(): void {
    if (this.watermarks.finish()) this.checkBuckets();
  }

  /** A source partition was revoked: buckets no longer wait for its commits (its next owner's do). */
  forget(partition: string): void {
    for (const open of this.#buckets.values()) open.offsets.delete(partition);
  }

  /** Resolves once every `partitionComplete` call handed to the sink has settled. */
  sinkNotices(): Promise<void> {
    return this.#sinkNotices;
  }

  /** Hands a completed bucket to the sink's hook, one call at a time (awaited before close). */
  #tellSink(event: PartitionComplete): void {
    const { sink, logger, name } = this.#parts.settings;
    this.#sinkNotices = this.#sinkNotices
      .then(() => sink.partitionComplete!(event))
      .catch((error: unknown) => {
        logger.warn(
          { pipeline: name, bucket: event.bucket.path, err: error },
          'the sink failed to mark an event-time partition complete (its records are committed)',
        );
      });
  }

  /** Event time → commit of a committed batch's records: up to 64 samples per batch, weighted. */
  sampleLatency(batch: Batch<unknown>, now: number): void {
    const times = batch.eventTimes;
    if (times === undefined || times.length === 0) return;
    const stride = Math.max(1, Math.floor(times.length / 64));
    for (let i = 0; i < times.length; i += stride) {
      const time = times[i];
      if (time !== undefined) this.#latency.add(Math.max(0, now - time), Math.min(stride, times.length - i));
    }
  }

  metrics(now: number): NonNullable<PipelineMetrics['eventTime']> {
    const watermarks = this.watermarks;
    const finite = (w: number) => (Number.isFinite(w) ? w : undefined);
    const watermark = finite(watermarks.watermark);
    const idleTimeout = this.#config.idleTimeout;
    return {
      watermark,
      lagMs: watermark === undefined ? undefined : now - watermark,
      lanes: [...watermarks.lanes()].map((lane: LaneTime) => ({
        partition: lane.partition,
        watermark: finite(watermarks.of(lane)),
        idle: now - lane.lastArrival >= idleTimeout,
      })),
      openPartitions: [...this.#buckets.values()]
        .sort((a, b) => a.bucket.start - b.bucket.start)
        .map((open) => open.bucket.path),
      latency: this.#latency.snapshot(),
    };
  }
}
