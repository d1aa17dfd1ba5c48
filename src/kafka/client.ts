import type {
  KafkaBatchLike,
  KafkaConsumerLike,
  KafkaEachBatchPayloadLike,
  KafkaEventLike,
} from './types.js';

/**
 * The seam between microbatch's Kafka code and a Kafka client: everything `kafkaSource` and
 * `kafkaCheckpoint` ask of a consumer goes through a {@link KafkaClient}, and only
 * {@link kafkajsClient} knows kafkajs's calls, payloads and event names. A second client (e.g.
 * `@platformatic/kafka`, whose consumer is a stream of messages with `bigint` offsets) becomes one
 * more function that returns a `KafkaClient` — grouping its messages into {@link FetchedBatch}es
 * per partition and mapping its group events onto {@link ClientHandlers} — without touching the
 * source, the checkpoint or the pipeline. See docs/kafka.md ("The client seam").
 */
export interface KafkaClient {
  /**
   * Subscribes to `topics` and starts fetching; resolves once the client runs (its group join and
   * fetches happen afterwards, reported through `handlers`). Offsets are never committed by the
   * client itself, and a fetched batch's messages are not marked consumed until `resolve()`.
   */
  start(config: ClientRunConfig, handlers: ClientHandlers): Promise<void>;
  /** Moves the fetch position of a partition; batches fetched before become stale. */
  seek(topic: string, partition: number, offset: number): void;
  /** Stops fetching these partitions until {@link KafkaClient.resume}. */
  pause(partitions: TopicPartitions[]): void;
  resume(partitions: TopicPartitions[]): void;
  /** Commits `offset` (the next one to read) and its metadata, per partition, in one request. */
  commit(offsets: ClientOffset[]): Promise<void>;
  /** Stops fetching and leaves the group's processing; the client stays connected. */
  stop(): Promise<void>;
  disconnect(): Promise<void>;
  /** Removes the listeners `start` installed. */
  detach(): void;
}

/** How {@link KafkaClient.start} runs the consumer. */
export interface ClientRunConfig {
  topics: string[];
  fromBeginning: boolean;
  /** How many partitions' batches may be handed over at the same time. */
  partitionsConsumedConcurrently: number;
}

/** Partitions of one topic. */
export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

/** An offset to commit. */
export interface ClientOffset {
  topic: string;
  partition: number;
  /** The next offset to read (`last + 1`). */
  offset: number;
  metadata: string | null;
}

/** Messages of one partition, fetched together, as the source reads them. */
export interface FetchedBatch extends KafkaBatchLike {
  /** Marks the batch consumed up to `offset` (the fetch position moves on; nothing is committed). */
  resolve(offset: string): void;
  /** Keeps the group membership alive while the batch waits. */
  heartbeat(): Promise<void>;
  /** The consumer still runs. */
  isRunning(): boolean;
  /** A seek since the fetch made the batch obsolete. */
  isStale(): boolean;
}

/** What the client reports to the source. */
export interface ClientHandlers {
  /** A fetched batch; the next one of the same partition waits until this resolves. */
  batch(batch: FetchedBatch): Promise<void>;
  /** The consumer joined the group with this assignment (topic → partitions). */
  joined(assignment: Record<string, number[]>): void;
  /** The group started rebalancing. */
  rebalancing(): void;
  /** The consumer crashed; `restart`: the client restarts it by itself. */
  crashed(error: unknown, restart: boolean): void;
  /** The consumer stopped. */
  stopped(): void;
}

/** kafkajs's instrumentation events the client listens to. */
const EVENTS = {
  groupJoin: 'consumer.group_join',
  rebalancing: 'consumer.rebalancing',
  crash: 'consumer.crash',
  stop: 'consumer.stop',
} as const;

const clients = new WeakMap<object, KafkaClient>();

/**
 * The {@link KafkaClient} of a kafkajs 2.x consumer (or one with a KafkaJS-compatible API), one per
 * consumer object: `run({ eachBatch })` with `autoCommit: false` and `eachBatchAutoResolve: false`,
 * `commitOffsets` for commits, instrumentation events for the group.
 */
export function kafkajsClient(consumer: KafkaConsumerLike): KafkaClient {
  let client = clients.get(consumer);
  if (client !== undefined) return client;
  const off: (() => void)[] = [];
  const listen = (event: string, listener: (event: KafkaEventLike) => void) => {
    const remove = consumer.on(event, listener);
    if (typeof remove === 'function') off.push(remove);
  };
  client = {
    async start(config, handlers) {
      listen(EVENTS.groupJoin, (event) => {
        const payload = event.payload as { memberAssignment?: Record<string, number[]> } | undefined;
        handlers.joined(payload?.memberAssignment ?? {});
      });
      listen(EVENTS.rebalancing, () => handlers.rebalancing());
      listen(EVENTS.crash, (event) => {
        const payload = event.payload as { error?: unknown; restart?: unknown } | undefined;
        handlers.crashed(payload?.error, payload?.restart === true);
      });
      listen(EVENTS.stop, () => handlers.stopped());
      await consumer.subscribe({ topics: config.topics, fromBeginning: config.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
        eachBatch: (payload) => handlers.batch(fetchedBatch(payload)),
      });
    },
    seek(topic, partition, offset) {
      consumer.seek({ topic, partition, offset: String(offset) });
    },
    pause(partitions) {
      consumer.pause(partitions);
    },
    resume(partitions) {
      consumer.resume(partitions);
    },
    commit(offsets) {
      return consumer.commitOffsets(
        offsets.map(({ topic, partition, offset, metadata }) => ({
          topic,
          partition,
          offset: String(offset),
          metadata,
        })),
      );
    },
    stop() {
      return consumer.stop();
    },
    disconnect() {
      return consumer.disconnect();
    },
    detach() {
      for (const remove of off.splice(0)) remove();
    },
  };
  clients.set(consumer, client);
  return client;
}

/** kafkajs's `eachBatch` payload as a {@link FetchedBatch}: its batch, with the payload's calls. */
function fetchedBatch(payload: KafkaEachBatchPayloadLike): FetchedBatch {
  const { batch } = payload;
  return {
    topic: batch.topic,
    partition: batch.partition,
    messages: batch.messages,
    resolve: (offset) => payload.resolveOffset(offset),
    heartbeat: () => payload.heartbeat(),
    isRunning: () => payload.isRunning(),
    isStale: () => payload.isStale(),
  };
}
