/**
 * An in-memory double of the kafkajs subset microbatch uses, faithful to the behaviours the
 * adapter depends on (read from kafkajs 2.2.4's runner, consumerGroup and offsetManager):
 * - a group join emits `consumer.group_join` with `payload.memberAssignment`, and every assigned
 *   partition is then fetched from the group's committed offset (positions are not kept across
 *   joins: eager protocol);
 * - `seek()` is applied at the next fetch; until then `isStale()` is true for that partition;
 * - `resolveOffset()` moves the fetch position only; `commitOffsets()` stores offset and metadata
 *   for the group, refused with `REBALANCE_IN_PROGRESS` while the group rebalances and with
 *   `ILLEGAL_GENERATION` from a member of an older generation (no partition-ownership check, as in
 *   Kafka's classic protocol);
 * - paused partitions are not fetched.
 * Fetching is driven by the test (`fetchOnce()`) or by a loop (`run()` starts one that yields to
 * the event loop between rounds), so tests control interleavings.
 */
import type {
  KafkaAdminLike,
  KafkaConsumerLike,
  KafkaEachBatchPayloadLike,
  KafkaEventLike,
  KafkaHeaders,
  KafkaOutgoingMessage,
  KafkaProducerLike,
} from '../../src/kafka/types.js';

export interface StoredMessage {
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  headers?: KafkaHeaders;
}

interface GroupState {
  generation: number;
  rebalancing: boolean;
  offsets: Map<string, { offset: number; metadata: string | null }>;
}

const tp = (topic: string, partition: number) => `${topic}-${partition}`;

/** Stored messages as kafkajs hands them to `eachBatch`: offsets and timestamps as strings. */
function batchMessages(messages: readonly StoredMessage[]): KafkaEachBatchPayloadLike['batch']['messages'] {
  return messages.map((m) => ({
    key: m.key,
    value: m.value,
    timestamp: String(m.timestamp),
    offset: String(m.offset),
    ...(m.headers !== undefined && { headers: m.headers }),
  }));
}

/** A protocol error as kafkajs raises it (`type`, `retriable`). */
export class FakeProtocolError extends Error {
  constructor(
    readonly type: string,
    readonly retriable: boolean,
  ) {
    super(`fake broker: ${type}`);
    this.name = 'KafkaJSProtocolError';
  }
}

export class FakeCluster {
  readonly topics = new Map<string, StoredMessage[][]>();
  readonly groups = new Map<string, GroupState>();
  /** Every successful commit, in order. */
  readonly commits: {
    group: string;
    topic: string;
    partition: number;
    offset: number;
    metadata: string | null;
  }[] = [];

  createTopic(topic: string, partitions: number): void {
    this.topics.set(
      topic,
      Array.from({ length: partitions }, () => []),
    );
  }

  /** Appends messages to a partition; returns their offsets. */
  produce(topic: string, partition: number, messages: Partial<Omit<StoredMessage, 'offset'>>[]): number[] {
    const log = this.topics.get(topic)![partition]!;
    return messages.map((m) => {
      const offset = log.length === 0 ? 0 : log[log.length - 1]!.offset + 1;
      log.push({
        offset,
        key: m.key ?? null,
        value: m.value ?? null,
        timestamp: m.timestamp ?? 1_700_000_000_000 + offset,
        ...(m.headers && { headers: m.headers }),
      });
      return offset;
    });
  }

  /** Produces JSON values. */
  produceJson(topic: string, partition: number, values: unknown[]): number[] {
    return this.produce(
      topic,
      partition,
      values.map((v) => ({ value: Buffer.from(JSON.stringify(v)) })),
    );
  }

  group(groupId: string): GroupState {
    let state = this.groups.get(groupId);
    if (state === undefined) {
      state = { generation: 0, rebalancing: false, offsets: new Map() };
      this.groups.set(groupId, state);
    }
    return state;
  }

  consumer(groupId: string, options: { maxMessagesPerBatch?: number } = {}): FakeConsumer {
    return new FakeConsumer(this, groupId, options.maxMessagesPerBatch ?? 100);
  }

  admin(): KafkaAdminLike & { calls: number } {
    const cluster = this;
    return {
      calls: 0,
      async fetchOffsets({ groupId, topics }) {
        this.calls++;
        const group = cluster.group(groupId);
        return (topics ?? [...cluster.topics.keys()]).map((topic) => ({
          topic,
          partitions: cluster.topics.get(topic)!.map((_, partition) => {
            const stored = group.offsets.get(tp(topic, partition));
            return { partition, offset: String(stored?.offset ?? -1), metadata: stored?.metadata ?? null };
          }),
        }));
      },
    };
  }

  /** Starts a rebalance: commits are refused until {@link assign}. */
  startRebalance(groupId: string): void {
    this.group(groupId).rebalancing = true;
  }

  /** Completes a rebalance: a new generation, each consumer gets its partitions (others none). */
  assign(groupId: string, assignment: Map<FakeConsumer, Record<string, number[]>>): void {
    const group = this.group(groupId);
    group.generation++;
    group.rebalancing = false;
    for (const [consumer, partitions] of assignment) consumer.join(group.generation, partitions);
  }

  committed(groupId: string, topic: string, partition: number) {
    return this.group(groupId).offsets.get(tp(topic, partition));
  }
}

export class FakeConsumer implements KafkaConsumerLike {
  readonly #cluster: FakeCluster;
  readonly groupId: string;
  readonly #perBatch: number;
  readonly #listeners = new Map<string, Set<(event: KafkaEventLike) => void>>();
  #eachBatch: ((payload: KafkaEachBatchPayloadLike) => Promise<void>) | undefined;
  generation = -1;
  assignment: Record<string, number[]> = {};
  readonly positions = new Map<string, number>();
  readonly seeks = new Map<string, number>();
  readonly paused = new Set<string>();
  readonly calls: { method: string; args: unknown }[] = [];
  subscribed: { topics: string[]; fromBeginning?: boolean } | undefined;
  running = false;
  #loop: Promise<void> | undefined;
  /** Heartbeats sent from `eachBatch` payloads of {@link deliverBatch}. */
  heartbeats = 0;
  /** Makes `heartbeat()` fail like kafkajs during a rebalance. */
  heartbeatError: Error | undefined;
  /** The next commitOffsets calls fail with these errors, in order. */
  readonly commitErrors: Error[] = [];

  constructor(cluster: FakeCluster, groupId: string, perBatch: number) {
    this.#cluster = cluster;
    this.groupId = groupId;
    this.#perBatch = perBatch;
  }

  on(event: string, listener: (event: KafkaEventLike) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit(event: string, payload: unknown): void {
    for (const listener of this.#listeners.get(event) ?? []) listener({ payload });
  }

  listenerCount(): number {
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  async subscribe(subscription: { topics: string[]; fromBeginning?: boolean }): Promise<void> {
    this.calls.push({ method: 'subscribe', args: subscription });
    this.subscribed = subscription;
  }

  async run(config: Parameters<KafkaConsumerLike['run']>[0]): Promise<void> {
    this.calls.push({ method: 'run', args: { ...config, eachBatch: typeof config.eachBatch } });
    this.#eachBatch = config.eachBatch;
    this.running = true;
  }

  /** The group assigned these partitions: positions come from the committed offsets. */
  join(generation: number, assignment: Record<string, number[]>): void {
    this.generation = generation;
    this.assignment = assignment;
    this.positions.clear();
    this.seeks.clear();
    const group = this.#cluster.group(this.groupId);
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const p of partitions) {
        const committed = group.offsets.get(tp(topic, p))?.offset;
        const log = this.#cluster.topics.get(topic)![p]!;
        const start = committed ?? (this.subscribed?.fromBeginning ? 0 : (log.at(-1)?.offset ?? -1) + 1);
        this.positions.set(tp(topic, p), start);
      }
    }
    this.emit('consumer.group_join', { memberAssignment: assignment, groupId: this.groupId });
  }

  /** One fetch round: each assigned, unpaused partition with messages gets one batch. */
  async fetchOnce(): Promise<number> {
    if (!this.running || this.#eachBatch === undefined) return 0;
    let delivered = 0;
    // Seeks are applied at the start of a fetch, like kafkajs's seekOffsets().
    for (const [key, offset] of this.seeks) this.positions.set(key, offset);
    this.seeks.clear();
    const fetched: { topic: string; partition: number; messages: StoredMessage[] }[] = [];
    for (const [topic, partitions] of Object.entries(this.assignment)) {
      for (const partition of partitions) {
        const key = tp(topic, partition);
        if (this.paused.has(key)) continue;
        const position = this.positions.get(key)!;
        const log = this.#cluster.topics.get(topic)![partition]!;
        const messages = log.filter((m) => m.offset >= position).slice(0, this.#perBatch);
        if (messages.length > 0) fetched.push({ topic, partition, messages });
      }
    }
    const generation = this.generation;
    for (const { topic, partition, messages } of fetched) {
      if (!this.running || this.generation !== generation) break;
      const key = tp(topic, partition);
      await this.#eachBatch({
        batch: {
          topic,
          partition,
          messages: batchMessages(messages),
        },
        resolveOffset: (offset) => {
          if (this.generation === generation) this.positions.set(key, Number(offset) + 1);
        },
        heartbeat: async () => {
          if (this.heartbeatError !== undefined) throw this.heartbeatError;
        },
        isRunning: () => this.running,
        isStale: () => this.seeks.has(key) || this.generation !== generation,
      });
      delivered += messages.length;
    }
    return delivered;
  }

  /**
   * Hands one batch to `eachBatch` directly, from `fromOffset` (up to the batch size), as a fetch
   * that happened before a seek would: `stale` makes `isStale()` true. Returns the positions the
   * payload resolved.
   */
  async deliverBatch(
    topic: string,
    partition: number,
    fromOffset: number,
    options: { stale?: boolean } = {},
  ): Promise<number[]> {
    const log = this.#cluster.topics.get(topic)![partition]!;
    const messages = log.filter((m) => m.offset >= fromOffset).slice(0, this.#perBatch);
    const resolved: number[] = [];
    await this.#eachBatch!({
      batch: {
        topic,
        partition,
        messages: batchMessages(messages),
      },
      resolveOffset: (offset) => resolved.push(Number(offset)),
      heartbeat: async () => {
        this.heartbeats++;
      },
      isRunning: () => this.running,
      isStale: () => options.stale === true,
    });
    return resolved;
  }

  /** Fetches in a loop (yielding to the event loop between rounds) until stopped. */
  startLoop(): void {
    this.#loop ??= (async () => {
      while (this.running) {
        await this.fetchOnce();
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
  }

  async commitOffsets(
    offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[],
  ): Promise<void> {
    this.calls.push({ method: 'commitOffsets', args: offsets });
    const injected = this.commitErrors.shift();
    if (injected !== undefined) throw injected;
    const group = this.#cluster.group(this.groupId);
    if (group.rebalancing) throw new FakeProtocolError('REBALANCE_IN_PROGRESS', false);
    if (this.generation !== group.generation) throw new FakeProtocolError('ILLEGAL_GENERATION', false);
    for (const o of offsets) {
      group.offsets.set(tp(o.topic, o.partition), { offset: Number(o.offset), metadata: o.metadata ?? null });
      this.#cluster.commits.push({
        group: this.groupId,
        topic: o.topic,
        partition: o.partition,
        offset: Number(o.offset),
        metadata: o.metadata ?? null,
      });
    }
  }

  seek(position: { topic: string; partition: number; offset: string }): void {
    this.calls.push({ method: 'seek', args: position });
    this.seeks.set(tp(position.topic, position.partition), Number(position.offset));
  }

  pause(topics: { topic: string; partitions?: number[] }[]): void {
    this.calls.push({ method: 'pause', args: topics });
    for (const { topic, partitions } of topics)
      for (const p of partitions ?? []) this.paused.add(tp(topic, p));
  }

  resume(topics: { topic: string; partitions?: number[] }[]): void {
    this.calls.push({ method: 'resume', args: topics });
    for (const { topic, partitions } of topics)
      for (const p of partitions ?? []) this.paused.delete(tp(topic, p));
  }

  async stop(): Promise<void> {
    this.calls.push({ method: 'stop', args: undefined });
    this.running = false;
    await this.#loop;
    this.emit('consumer.stop', null);
  }

  async disconnect(): Promise<void> {
    this.calls.push({ method: 'disconnect', args: undefined });
    await this.stop();
  }
}

/** A producer double that records what it was asked to send, and can fail on demand. */
export function fakeProducer(): KafkaProducerLike & {
  sent: { topic: string; messages: KafkaOutgoingMessage[]; acks?: number; timeout?: number }[];
  failures: Error[];
} {
  return {
    sent: [],
    failures: [],
    async send(record) {
      const failure = this.failures.shift();
      if (failure !== undefined) throw failure;
      this.sent.push(record);
      return [];
    },
  };
}
