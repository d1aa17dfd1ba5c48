/**
 * The part of a Kafka client that microbatch calls, declared structurally so that no client's types
 * reach microbatch's public `.d.ts` and importing `microbatch/kafka` never loads a client. kafkajs
 * 2.x objects satisfy these interfaces, and so do the objects of clients with a KafkaJS-compatible
 * API (Confluent's `@confluentinc/kafka-javascript` in its KafkaJS mode). Offsets are decimal
 * strings, as on the wire; microbatch turns them into numbers (they stay below 2^53).
 */

/** Message headers as kafkajs gives them: a value, or several for a header sent more than once. */
export type KafkaHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** A fetched message, as the `eachBatch` payload holds it. */
export interface KafkaMessageLike {
  key: Buffer | null;
  value: Buffer | null;
  /** Milliseconds since epoch, as a decimal string. */
  timestamp: string;
  /** Decimal string. */
  offset: string;
  headers?: KafkaHeaders;
}

/** A fetched batch of one topic-partition. */
export interface KafkaBatchLike {
  topic: string;
  partition: number;
  messages: KafkaMessageLike[];
}

/** What `eachBatch` receives (kafkajs `EachBatchPayload`); microbatch uses this subset. */
export interface KafkaEachBatchPayloadLike {
  batch: KafkaBatchLike;
  /** Moves the consumer's fetch position past `offset` (not a commit). */
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  /** True while the consumer runs. */
  isRunning(): boolean;
  /** True when a `seek()` made this batch obsolete: its records must be dropped. */
  isStale(): boolean;
}

/** An instrumentation event (`consumer.group_join`, …): kafkajs puts the data in `payload`. */
export interface KafkaEventLike {
  payload?: unknown;
}

/** The consumer calls microbatch makes. */
export interface KafkaConsumerLike {
  subscribe(subscription: { topics: string[]; fromBeginning?: boolean }): Promise<void>;
  run(config: {
    autoCommit?: boolean;
    eachBatchAutoResolve?: boolean;
    partitionsConsumedConcurrently?: number;
    eachBatch?: (payload: KafkaEachBatchPayloadLike) => Promise<void>;
  }): Promise<void>;
  commitOffsets(
    offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[],
  ): Promise<void>;
  seek(position: { topic: string; partition: number; offset: string }): void;
  pause(topics: { topic: string; partitions?: number[] }[]): void;
  resume(topics: { topic: string; partitions?: number[] }[]): void;
  /**
   * Subscribes to an instrumentation event; returns the function that removes the listener.
   * microbatch listens to `consumer.group_join`, `consumer.rebalancing`, `consumer.crash` and
   * `consumer.stop`.
   */
  on(event: string, listener: (event: KafkaEventLike) => void): () => void;
  stop(): Promise<void>;
  disconnect(): Promise<void>;
}

/** The admin call `kafkaCheckpoint` reads committed offsets and their metadata with. */
export interface KafkaAdminLike {
  fetchOffsets(options: { groupId: string; topics?: string[] }): Promise<
    {
      topic: string;
      partitions: { partition: number; offset: string; metadata?: string | null }[];
    }[]
  >;
}

/** A message as `kafkaDeadLetter` produces it. */
export interface KafkaOutgoingMessage {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers: Record<string, string>;
}

/** The producer call `kafkaDeadLetter` makes. */
export interface KafkaProducerLike {
  send(record: {
    topic: string;
    messages: KafkaOutgoingMessage[];
    acks?: number;
    timeout?: number;
  }): Promise<unknown>;
}
