import type { Duration, Size } from '../core/units.js';
import type { KafkaAdminLike, KafkaConsumerLike, KafkaHeaders, KafkaProducerLike } from './types.js';

/** A fetched message as `decode` and `eventTime` see it: the raw bytes and where they come from. */
export interface KafkaMessage {
  topic: string;
  partition: number;
  /** The offset as a number (Kafka offsets stay below 2^53). */
  offset: number;
  key: Buffer | null;
  /** `null` for a tombstone. */
  value: Buffer | null;
  /** The message timestamp, ms since epoch (create time or log-append time, per the topic). */
  timestamp: number;
  headers: KafkaHeaders | undefined;
}

/** Options of {@link kafkaSource}. */
export interface KafkaSourceOptions<T> {
  /**
   * A connected consumer of your client (kafkajs `kafka.consumer({ groupId })` after `connect()`).
   * The source subscribes it, runs it with `autoCommit: false` and `eachBatchAutoResolve: false`,
   * and commits offsets itself once records are written. Do not call `run()` yourself.
   */
  consumer: KafkaConsumerLike;
  /** Topic names to read (exact names: every partition becomes a lane of the pipeline). */
  topics: readonly string[];
  /**
   * Where a partition starts when neither the consumer group nor the pipeline's checkpoint has a
   * committed offset for it: the earliest offset (`true`) or new messages only (`false`).
   * @default false
   */
  fromBeginning?: boolean;
  /**
   * Turns a message into a record. Throwing makes the message a dead letter with reason `malformed`
   * (its raw value bytes kept as the letter's value, topic/partition/offset/key and the error in
   * its details); reading goes on.
   * @default JSON.parse of the value as UTF-8; a tombstone (null value) becomes `null`
   */
  decode?: (message: KafkaMessage) => T;
  /**
   * The record's event time (ms since epoch, a `Date` or an ISO string), used by `.eventTime()`
   * when it has no extractor of its own, and by event-time metrics.
   * @default the message timestamp
   */
  eventTime?: (message: KafkaMessage, value: T) => number | Date | string | undefined;
  /**
   * Records fetched but not yet taken by the pipeline, in bytes (message keys and values). Above
   * it, every assigned partition is paused (`consumer.pause`); they resume once the pipeline has
   * taken the queue below `lowWaterMark`. The pipeline stops taking records when its memory budget
   * is full and writes are saturated, so this bounds what waits in front of it.
   * @default '8MB'
   */
  highWaterMark?: Size;
  /** Resume paused partitions below this many queued bytes. @default half of `highWaterMark` */
  lowWaterMark?: Size;
  /**
   * How many partitions kafkajs hands over at the same time (its `partitionsConsumedConcurrently`).
   * @default 1
   */
  partitionsConsumedConcurrently?: number;
  /**
   * How long a commit waits for the group to settle after a rebalance error before it gives up
   * (the partition is then reported as handed over, not failed), in ms or a duration string.
   * @default '60s'
   */
  rebalanceWait?: Duration;
  /**
   * Disconnect the consumer when the pipeline closes the source. Turn it off to keep using the
   * consumer object afterwards (it is stopped either way).
   * @default true
   */
  disconnectOnClose?: boolean;
}

/** Options of {@link kafkaCheckpoint}. */
export interface KafkaCheckpointOptions {
  /**
   * The same consumer object the pipeline's {@link kafkaSource} reads with: states are committed
   * through it (as commit metadata next to the committed offset), so only the partition's current
   * owner writes them.
   */
  consumer: KafkaConsumerLike;
  /** An admin client of the same cluster (kafkajs `kafka.admin()`, connected), to read the states back. */
  admin: KafkaAdminLike;
  /** The consumer's group id. */
  groupId: string;
  /**
   * The broker's `offset.metadata.max.bytes` (4096 unless changed). A state that does not fit is
   * refused with `MB_CHECKPOINT_FAILED` (`reason: 'too_large'`) before anything is written.
   * @default 4096
   */
  maxMetadataBytes?: number;
}

/** Options of {@link kafkaDeadLetter}. */
export interface KafkaDeadLetterOptions {
  /** A connected producer of your client (kafkajs `kafka.producer()` after `connect()`). */
  producer: KafkaProducerLike;
  /** The dead-letter topic. */
  topic: string;
  /** Acknowledgements the producer waits for: -1 (all in-sync replicas), 0 or 1. @default -1 */
  acks?: -1 | 0 | 1;
  /** Request timeout handed to `producer.send`, in ms or a duration string. @default '30s' */
  timeout?: Duration;
  /** Messages per `producer.send` call. @default 500 */
  messagesPerSend?: number;
  /**
   * Longest message value, in bytes: a longer one is cut to this size and the message carries
   * `mb-truncated: <original size>`. Keep it below the topic's `max.message.bytes`.
   * @default '900KB'
   */
  maxValueBytes?: Size;
  /** Longest `mb-details` header (JSON of the letter's details), in bytes; longer is cut. @default '16KB' */
  maxDetailsBytes?: Size;
}

export type { KafkaAdminLike, KafkaConsumerLike, KafkaProducerLike };
