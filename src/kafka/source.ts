import type { Cursor } from '../core/batch.js';
import type { Clock } from '../core/clock.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { parseCount, parseDuration, parseSize, show } from '../core/units.js';
import { toEventTime } from '../event-time/buckets.js';
import type { Source, SourceChunk, SourceContext, SourceReader, SourceRejection } from '../sources/types.js';
import { type FetchedBatch, type KafkaClient, kafkajsClient } from './client.js';
import { type ConsumerLink, commitOwned, linkOf, wakeJoinWaiters } from './link.js';
import { decimal, decodeJson, headersOf, viewOf } from './message.js';
import type { KafkaMessage, KafkaSourceOptions } from './options.js';
import { kafkaPartition, parseKafkaPartition } from './partition.js';
import type { KafkaBatchLike, KafkaConsumerLike } from './types.js';

/** What {@link KafkaSource.metrics} returns. */
export interface KafkaSourceMetrics {
  /** Partitions (`<topic>-<partition>`) assigned to this consumer at the last group join. */
  assigned: string[];
  /** Whether the partitions are paused because the queue in front of the pipeline is full. */
  paused: boolean;
  /** Records fetched and not yet taken by the pipeline. */
  queued: { records: number; bytes: number };
  /** Group joins after the first one: each revokes every partition held before it. */
  rebalances: number;
  /** Records fetched before a seek (or before the position the pipeline resumes at), dropped. */
  staleDropped: number;
  /** Records queued for the pipeline and dropped at a rebalance (the next owner reads them again). */
  handedOver: number;
}

/** A Kafka source; see {@link kafkaSource}. */
export interface KafkaSource<T> extends Source<T> {
  readonly kind: 'kafka';
  /** A snapshot of the consumer side: assignment, pause state, queue. */
  metrics(): KafkaSourceMetrics;
}

/** Heartbeats while a batch waits for its partition's resume position, ms (kafkajs throttles them). */
const HEARTBEAT_EVERY = 3000;

/** Kafka's legal topic names. */
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * Reads Kafka topics through your consumer: one lane per topic-partition (`<topic>-<partition>`),
 * offsets committed (`last + 1`) only after the records are written, partitions paused while the
 * pipeline cannot take more, and every partition revoked at a group rebalance, to be resumed from
 * the checkpoint by whoever owns it next. With {@link kafkaCheckpoint} the effect is exactly-once
 * across crashes and rebalances; see docs/kafka.md.
 */
export function kafkaSource<T = unknown>(options: KafkaSourceOptions<T>): KafkaSource<T> {
  const settings = resolveOptions(options);
  const stats = {
    reader: undefined as KafkaReader<T> | undefined,
  };
  let opened = false;
  return {
    kind: 'kafka',
    replayable: true,
    metrics() {
      return (
        stats.reader?.metrics() ?? {
          assigned: [],
          paused: false,
          queued: { records: 0, bytes: 0 },
          rebalances: 0,
          staleDropped: 0,
          handedOver: 0,
        }
      );
    },
    async open(context) {
      if (opened) {
        throw new MicrobatchError(
          'MB_CLOSED',
          'kafkaSource: this source was already opened; make a new one (with a new consumer) for another pipeline',
        );
      }
      opened = true;
      const link = linkOf(settings.consumer);
      if (link.source) {
        throw invalidOptions(
          'kafkaSource: another kafkaSource is reading with this consumer object; give each source its own consumer',
        );
      }
      const reader = new KafkaReader<T>(settings, kafkajsClient(settings.consumer), context, link);
      stats.reader = reader;
      await reader.start();
      return reader;
    },
  };
}

interface Settings<T> {
  consumer: KafkaConsumerLike;
  topics: string[];
  fromBeginning: boolean;
  decode: ((message: KafkaMessage) => T) | undefined;
  eventTime: ((message: KafkaMessage, value: T) => number | Date | string | undefined) | undefined;
  highWaterMark: number;
  lowWaterMark: number;
  partitionsConsumedConcurrently: number;
  rebalanceWait: number;
  disconnectOnClose: boolean;
}

function resolveOptions<T>(options: KafkaSourceOptions<T>): Settings<T> {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`kafkaSource(options): expected an object; got ${show(options)}`);
  }
  const { consumer } = options;
  for (const method of [
    'subscribe',
    'run',
    'commitOffsets',
    'seek',
    'pause',
    'resume',
    'on',
    'stop',
    'disconnect',
  ]) {
    if (typeof (consumer as unknown as Record<string, unknown> | undefined)?.[method] !== 'function') {
      throw invalidOptions(
        `kafkaSource({ consumer }): expected a Kafka consumer (kafkajs kafka.consumer({ groupId })); it has no ${method}() method`,
      );
    }
  }
  if (!Array.isArray(options.topics) || options.topics.length === 0) {
    throw invalidOptions('kafkaSource({ topics }): give at least one topic name');
  }
  for (const topic of options.topics) {
    if (typeof topic !== 'string' || !TOPIC.test(topic)) {
      throw invalidOptions(
        `kafkaSource({ topics }): ${show(topic)} is not a Kafka topic name (1 to 249 characters of A-Z a-z 0-9 . _ -)`,
      );
    }
  }
  for (const name of ['decode', 'eventTime'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw invalidOptions(`kafkaSource({ ${name} }): expected a function; got ${show(options[name])}`);
    }
  }
  const highWaterMark = parseSize(options.highWaterMark ?? 8 * 1024 * 1024, 'kafkaSource({ highWaterMark })');
  const lowWaterMark =
    options.lowWaterMark === undefined
      ? Math.floor(highWaterMark / 2)
      : parseSize(options.lowWaterMark, 'kafkaSource({ lowWaterMark })');
  if (lowWaterMark > highWaterMark) {
    throw invalidOptions(
      `kafkaSource: lowWaterMark (${lowWaterMark} bytes) must be ≤ highWaterMark (${highWaterMark} bytes)`,
    );
  }
  return {
    consumer,
    topics: [...new Set(options.topics)],
    fromBeginning: options.fromBeginning === true,
    decode: options.decode,
    eventTime: options.eventTime,
    highWaterMark,
    lowWaterMark,
    partitionsConsumedConcurrently: parseCount(
      options.partitionsConsumedConcurrently ?? 1,
      'kafkaSource({ partitionsConsumedConcurrently })',
    ),
    rebalanceWait: parseDuration(options.rebalanceWait ?? 60_000, 'kafkaSource({ rebalanceWait })'),
    disconnectOnClose: options.disconnectOnClose ?? true,
  };
}

/** A partition assigned at the current group join. */
interface Assigned {
  topic: string;
  partition: number;
  name: string;
  /** Resolves once the partition's resume position is known (and sought). */
  ready: Promise<void>;
  prepared: boolean;
  /** Offsets below this are not taken (records of a fetch from before a seek). */
  next: number;
}

/** A chunk waiting for the pipeline. */
interface Queued<T> {
  chunk: SourceChunk<T>;
  bytes: number;
  records: number;
}

/** The open source: the bridge between kafkajs's push (`eachBatch`) and the pipeline's pull (`read`). */
class KafkaReader<T> implements SourceReader<T> {
  readonly #settings: Settings<T>;
  readonly #client: KafkaClient;
  readonly #context: SourceContext;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #link: ConsumerLink;
  #assigned = new Map<string, Assigned>();
  #queue: Queued<T>[] = [];
  #head = 0;
  #queuedBytes = 0;
  #queuedRecords = 0;
  #waiter: { resolve: (chunk: SourceChunk<T> | null) => void; reject: (error: unknown) => void } | undefined;
  #failure: MicrobatchError | undefined;
  #paused = false;
  #stopped = false;
  #closed = false;
  #joins = 0;
  #staleDropped = 0;
  #handedOver = 0;

  constructor(settings: Settings<T>, client: KafkaClient, context: SourceContext, link: ConsumerLink) {
    this.#settings = settings;
    this.#client = client;
    this.#context = context;
    this.#clock = context.clock;
    this.#logger = context.logger;
    this.#link = link;
  }

  async start(): Promise<void> {
    const link = this.#link;
    link.source = true;
    link.assigned = new Set();
    link.rebalancing = false;
    link.running = false;
    link.crashed = false;
    this.#context.signal.addEventListener('abort', () => this.#settleWaiter(), { once: true });
    try {
      await this.#client.start(
        {
          topics: this.#settings.topics,
          fromBeginning: this.#settings.fromBeginning,
          partitionsConsumedConcurrently: this.#settings.partitionsConsumedConcurrently,
        },
        {
          batch: (batch) => this.#eachBatch(batch),
          joined: (assignment) => this.#onJoin(assignment),
          rebalancing: () => {
            link.rebalancing = true;
          },
          crashed: (error, restart) => this.#onCrash(error, restart),
          stopped: () => {
            link.running = false;
            wakeJoinWaiters(link);
          },
        },
      );
    } catch (error) {
      this.#client.detach();
      link.source = false;
      throw new MicrobatchError(
        'MB_SOURCE_FAILED',
        `kafkaSource: could not subscribe to ${this.#settings.topics.join(', ')} and run the consumer: ${describeError(error)}`,
        { cause: error, retryable: false },
      );
    }
  }

  metrics(): KafkaSourceMetrics {
    return {
      assigned: [...this.#assigned.keys()],
      paused: this.#paused,
      queued: { records: this.#queuedRecords, bytes: this.#queuedBytes },
      rebalances: Math.max(0, this.#joins - 1),
      staleDropped: this.#staleDropped,
      handedOver: this.#handedOver,
    };
  }

  // ─── the pipeline's side ──────────────────────────────────────────────────────────────────────

  read(): SourceChunk<T> | null | Promise<SourceChunk<T> | null> {
    if (this.#head < this.#queue.length) return this.#take();
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#stopped || this.#closed || this.#context.signal.aborted) return null;
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /**
   * Commits `cursor.offset + 1`. With a {@link kafkaCheckpoint} over the same consumer this does
   * nothing: the checkpoint's save right after commits the offset together with the plans.
   */
  async commit(cursor: Cursor): Promise<void> {
    const link = this.#link;
    if (link.checkpoint) return;
    const where = parseKafkaPartition(cursor.partition);
    if (where === undefined) {
      throw new MicrobatchError(
        'MB_COMMIT_FAILED',
        `kafkaSource: '${cursor.partition}' is not a partition of this source`,
      );
    }
    await commitOwned(
      link,
      this.#client,
      cursor.partition,
      [{ topic: where.topic, partition: where.partition, offset: cursor.offset + 1, metadata: null }],
      { clock: this.#clock, rebalanceWait: this.#settings.rebalanceWait, code: 'MB_COMMIT_FAILED' },
    );
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    // Fetch nothing more; what is queued is still handed over, and commits keep working until close.
    this.#pause();
    if (this.#head >= this.#queue.length) this.#settleWaiter();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopped = true;
    this.#client.detach();
    const link = this.#link;
    link.source = false;
    link.running = false;
    link.assigned = new Set();
    wakeJoinWaiters(link);
    this.#settleWaiter();
    this.#queue = [];
    this.#head = 0;
    if (this.#settings.disconnectOnClose) await this.#client.disconnect();
    else await this.#client.stop();
  }

  #take(): SourceChunk<T> {
    const queued = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as Queued<T>;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    this.#queuedBytes -= queued.bytes;
    this.#queuedRecords -= queued.records;
    if (this.#paused && !this.#stopped && this.#queuedBytes <= this.#settings.lowWaterMark) this.#resume();
    return queued.chunk;
  }

  /** Wakes a pending read: with the failure, or `null` (stopped, closed, aborted). */
  #settleWaiter(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    if (this.#failure !== undefined) waiter.reject(this.#failure);
    else waiter.resolve(null);
  }

  #fail(error: MicrobatchError): void {
    this.#failure ??= error;
    if (this.#head >= this.#queue.length) this.#settleWaiter();
  }

  // ─── the consumer's side ──────────────────────────────────────────────────────────────────────

  /**
   * A group join. kafkajs uses the eager protocol: a rebalance takes every partition from every
   * member, and after the join it fetches each assigned partition from its committed offset. So
   * every partition held before is revoked here — too late to commit anything of it (the group's
   * generation changed), so the pipeline gives up what it holds uncommitted — and each assigned
   * partition is resumed from the checkpoint, which the previous owner may have moved.
   */
  #onJoin(assignment: Record<string, number[]>): void {
    if (this.#closed) return;
    const link = this.#link;
    const previous = [...this.#assigned.keys()];
    this.#joins++;
    link.epoch++;
    link.rebalancing = false;
    link.running = true;
    // Queued chunks all belong to revoked partitions: never handed over, read again by their owner.
    for (let i = this.#head; i < this.#queue.length; i++) this.#handedOver += this.#queue[i]!.records;
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    this.#queuedRecords = 0;
    if (this.#paused) this.#resume();
    const revoking =
      previous.length > 0 && this.#context.revoke !== undefined ? this.#context.revoke(previous) : undefined;
    const next = new Map<string, Assigned>();
    for (const topic of this.#settings.topics) {
      for (const partition of assignment[topic] ?? []) {
        const name = kafkaPartition(topic, partition);
        const assigned: Assigned = {
          topic,
          partition,
          name,
          ready: Promise.resolve(),
          prepared: false,
          next: Number.NEGATIVE_INFINITY,
        };
        next.set(name, assigned);
      }
    }
    this.#assigned = next;
    link.assigned = new Set(next.keys());
    // Commits that waited for this join now find their partitions revoked.
    wakeJoinWaiters(link);
    this.#logger.info(
      { source: 'kafka', assigned: [...next.keys()], revoked: previous },
      'kafka consumer joined the group',
    );
    for (const assigned of next.values()) {
      assigned.ready = this.#prepare(assigned, revoking);
      assigned.ready.catch((error: unknown) => {
        this.#fail(
          MicrobatchError.wrap(
            error,
            'MB_SOURCE_FAILED',
            `kafkaSource: could not find where to resume partition '${assigned.name}'`,
          ),
        );
      });
    }
  }

  /** Finds where the pipeline resumes a newly assigned partition and seeks there. */
  async #prepare(assigned: Assigned, revoking: Promise<unknown> | undefined): Promise<void> {
    if (revoking !== undefined) await revoking;
    const context = this.#context;
    let at: number | undefined;
    if (context.resumeAt !== undefined) at = await context.resumeAt(assigned.name);
    else {
      const after = await context.resumeAfter?.(assigned.name);
      at = after === undefined ? undefined : after + 1;
    }
    if (this.#assigned.get(assigned.name) !== assigned) return; // revoked meanwhile
    if (at !== undefined) {
      // Batches fetched before this are stale (`isStale()`), and dropped below `next` as well.
      this.#client.seek(assigned.topic, assigned.partition, at);
      assigned.next = at;
    }
    assigned.prepared = true;
  }

  #onCrash(error: unknown, restart: boolean): void {
    const link = this.#link;
    link.running = false;
    wakeJoinWaiters(link);
    if (restart) {
      this.#logger.warn(
        { source: 'kafka', err: describeError(error) },
        'kafka consumer crashed; the client restarts it',
      );
      return;
    }
    link.crashed = true;
    this.#fail(
      new MicrobatchError(
        'MB_SOURCE_FAILED',
        `kafkaSource: the consumer crashed and will not restart: ${describeError(error)}`,
        { cause: error },
      ),
    );
  }

  async #eachBatch(batch: FetchedBatch): Promise<void> {
    if (this.#stopped) return;
    const name = kafkaPartition(batch.topic, batch.partition);
    const assigned = this.#assigned.get(name);
    if (assigned === undefined) return; // not assigned here (any more)
    if (!assigned.prepared) {
      try {
        await this.#waitBeating(assigned.ready, batch);
      } catch (error) {
        // A heartbeat that failed (the group rebalances) must reach the client, which rejoins.
        if (!MicrobatchError.is(error)) throw error;
        return;
      }
    }
    if (this.#assigned.get(name) !== assigned || this.#stopped || batch.isStale() || !batch.isRunning()) {
      this.#staleDropped += batch.messages.length;
      return;
    }
    const messages = batch.messages;
    if (messages.length === 0) return;
    let queued: Queued<T> | undefined;
    try {
      queued = this.#decode(batch, assigned);
    } catch (error) {
      // An offset that is not a number below 2^53: the source fails (the client would only retry).
      if (!MicrobatchError.is(error)) throw error;
      this.#fail(error);
      return;
    }
    if (queued !== undefined) this.#enqueue(queued);
    // The consumer's fetch position moves on; nothing is committed before the records are written.
    batch.resolve(messages[messages.length - 1]!.offset);
  }

  /** Awaits `promise`, heartbeating meanwhile so the group does not evict this member. */
  async #waitBeating(promise: Promise<void>, batch: FetchedBatch): Promise<void> {
    let done = false;
    const settled = promise.then(
      () => {
        done = true;
      },
      (error: unknown) => {
        done = true;
        throw error;
      },
    );
    while (!done) {
      let timer: unknown;
      const beat = new Promise<boolean>((resolve) => {
        timer = this.#clock.setTimeout(() => resolve(true), HEARTBEAT_EVERY);
      });
      const ended = await Promise.race([settled.then(() => false), beat]);
      this.#clock.clearTimeout(timer);
      if (ended && !done) await batch.heartbeat();
    }
    await settled;
  }

  /**
   * One fetched batch as a chunk: decoded values, or rejects for what does not decode. Per message it
   * allocates only what the chunk keeps (the value, its size and time); offsets are listed only once
   * they stop being consecutive, keys and headers only once a message has one.
   */
  #decode(batch: KafkaBatchLike, assigned: Assigned): Queued<T> | undefined {
    const { topic, partition } = batch;
    const { decode, eventTime } = this.#settings;
    const messages = batch.messages;
    const n = messages.length;
    // Sized for the whole batch up front (no growing by copies); cut to what was taken at the end.
    const values = new Array<T>(n);
    const sizes = new Array<number>(n);
    const times = new Array<number | undefined>(n);
    let k = 0;
    let offsets: number[] | undefined;
    let firstOffset = -1;
    let lastOffset = -1;
    let keys: (string | undefined)[] | undefined;
    let headers: (Readonly<Record<string, string>> | undefined)[] | undefined;
    let rejected: SourceRejection[] | undefined;
    let bytes = 0;
    let next = assigned.next;
    let lastStamp: string | undefined;
    let lastTime = Number.NaN;
    for (let i = 0; i < n; i++) {
      const message = messages[i]!;
      const offset = decimal(message.offset);
      if (!Number.isSafeInteger(offset) || offset < 0) {
        assigned.next = next;
        throw new MicrobatchError(
          'MB_SOURCE_FAILED',
          `kafkaSource: partition '${assigned.name}' returned offset ${show(message.offset)}, not an integer below 2^53`,
        );
      }
      if (offset < next) {
        this.#staleDropped++;
        continue;
      }
      next = offset + 1;
      const { key, value: raw } = message;
      const size = (raw?.length ?? 0) + (key?.length ?? 0);
      bytes += size;
      // Messages of a producer batch mostly share their millisecond: parse a timestamp once per run.
      const stamp = message.timestamp;
      if (stamp !== lastStamp) {
        lastStamp = stamp;
        lastTime = decimal(stamp);
      }
      const timestamp = lastTime;
      let value: T;
      let view: KafkaMessage | undefined;
      try {
        if (decode === undefined) value = decodeJson(raw) as T;
        else {
          view = viewOf(topic, partition, offset, timestamp, message);
          value = decode(view);
        }
      } catch (error) {
        (rejected ??= []).push({
          offset,
          reason: 'malformed',
          details: {
            topic,
            partition,
            offset,
            ...(key !== null && key !== undefined && { key: key.toString('utf8') }),
            error: describeError(error),
          },
          // The raw bytes, for the dead-letter topic to carry unchanged.
          value: raw,
          bytes: size,
        });
        continue;
      }
      if (k === 0) firstOffset = offset;
      else if (offsets !== undefined) offsets.push(offset);
      else if (offset !== lastOffset + 1) {
        // The first gap: list every offset from here on.
        offsets = new Array<number>(k);
        for (let j = 0; j < k; j++) offsets[j] = firstOffset + j;
        offsets.push(offset);
      }
      lastOffset = offset;
      values[k] = value;
      sizes[k] = size;
      if (eventTime === undefined) times[k] = Number.isFinite(timestamp) ? timestamp : undefined;
      else {
        view ??= viewOf(topic, partition, offset, timestamp, message);
        let time: number | undefined;
        try {
          time = toEventTime(eventTime(view, value));
        } catch {
          time = undefined; // `.eventTime()` judges a missing time by its `invalid` policy
        }
        times[k] = time;
      }
      if (key !== null && key !== undefined) {
        keys ??= new Array<string | undefined>(k).fill(undefined);
        keys.push(key.toString('utf8'));
      } else keys?.push(undefined);
      const text = message.headers === undefined ? undefined : headersOf(message.headers);
      if (text !== undefined) {
        headers ??= new Array<Readonly<Record<string, string>> | undefined>(k).fill(undefined);
        headers.push(text);
      } else headers?.push(undefined);
      k++;
    }
    assigned.next = next;
    if (k < n) {
      values.length = k;
      sizes.length = k;
      times.length = k;
    }
    const records = k + (rejected?.length ?? 0);
    if (records === 0) return undefined;
    // Values around a reject are not consecutive: their offsets are listed.
    if (rejected !== undefined && offsets === undefined) {
      offsets = new Array<number>(k);
      for (let j = 0; j < k; j++) offsets[j] = firstOffset + j;
    }
    const chunk: SourceChunk<T> = {
      partition: assigned.name,
      values,
      owned: true,
      ...(offsets === undefined ? { firstOffset } : { offsets }),
      bytes: sizes,
      eventTimes: times,
    };
    if (keys !== undefined) chunk.keys = keys;
    if (headers !== undefined) chunk.headers = headers;
    if (rejected !== undefined) chunk.rejected = rejected;
    return { chunk, bytes, records };
  }

  #enqueue(queued: Queued<T>): void {
    const waiter = this.#waiter;
    if (waiter !== undefined && this.#head >= this.#queue.length) {
      this.#waiter = undefined;
      waiter.resolve(queued.chunk);
      return;
    }
    this.#queue.push(queued);
    this.#queuedBytes += queued.bytes;
    this.#queuedRecords += queued.records;
    if (!this.#paused && this.#queuedBytes > this.#settings.highWaterMark) this.#pause();
  }

  #topicPartitions(): { topic: string; partitions: number[] }[] {
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of this.#assigned.values()) {
      let list = byTopic.get(topic);
      if (list === undefined) byTopic.set(topic, (list = []));
      list.push(partition);
    }
    return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
  }

  #pause(): void {
    const topics = this.#topicPartitions();
    this.#paused = true;
    if (topics.length > 0) this.#client.pause(topics);
    this.#logger.debug(
      { source: 'kafka', queuedBytes: this.#queuedBytes, highWaterMark: this.#settings.highWaterMark },
      'kafka partitions paused: the pipeline is not taking records',
    );
  }

  #resume(): void {
    const topics = this.#topicPartitions();
    this.#paused = false;
    if (topics.length > 0) this.#client.resume(topics);
    this.#logger.debug({ source: 'kafka', queuedBytes: this.#queuedBytes }, 'kafka partitions resumed');
  }
}
