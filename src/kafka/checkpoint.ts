import { createHash } from 'node:crypto';
import { checkPartitionCheckpoint } from '../checkpoint/state.js';
import type {
  CheckpointContext,
  CheckpointStore,
  PartitionCheckpoint,
  PlannedBatch,
} from '../checkpoint/types.js';
import { type Clock, systemClock } from '../core/clock.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { parseCount, show } from '../core/units.js';
import { kafkajsClient } from './client.js';
import { commitOwned, isClientRetriable, linkOf } from './link.js';
import type { KafkaCheckpointOptions } from './options.js';
import { parseKafkaPartition } from './partition.js';

/** A checkpoint store in the consumer group's commit metadata; see {@link kafkaCheckpoint}. */
export interface KafkaCheckpointStore extends CheckpointStore {
  readonly kind: 'kafka';
  readonly durable: true;
  /** States committed so far (one `commitOffsets` call each). */
  readonly saves: number;
}

/** Version prefix of the metadata format. */
const PREFIX = 'mb1';

/**
 * Keeps each partition's checkpoint state in the consumer group, as the metadata string committed
 * with the partition's offset: `committed + 1` as the offset (or the first planned offset before
 * anything was committed) and the plans as `mb1;<pipeline tag>;<committed>;<plans>`. Every worker
 * of the group reads it when it is assigned the partition. Commits go through the consumer only
 * while it owns the partition; a state longer than `maxMetadataBytes` is refused with
 * `MB_CHECKPOINT_FAILED` (`details.reason: 'too_large'`).
 */
export function kafkaCheckpoint(options: KafkaCheckpointOptions): KafkaCheckpointStore {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`kafkaCheckpoint(options): expected an object; got ${show(options)}`);
  }
  const { consumer, admin, groupId } = options;
  if (typeof (consumer as { commitOffsets?: unknown } | undefined)?.commitOffsets !== 'function') {
    throw invalidOptions(
      'kafkaCheckpoint({ consumer }): expected the Kafka consumer your kafkaSource reads with (it commits the states)',
    );
  }
  if (typeof (admin as { fetchOffsets?: unknown } | undefined)?.fetchOffsets !== 'function') {
    throw invalidOptions(
      'kafkaCheckpoint({ admin }): expected a connected Kafka admin client (kafkajs kafka.admin()), to read states back',
    );
  }
  if (typeof groupId !== 'string' || groupId.length === 0) {
    throw invalidOptions(
      `kafkaCheckpoint({ groupId }): expected the consumer's group id; got ${show(groupId)}`,
    );
  }
  const maxMetadataBytes = parseCount(
    options.maxMetadataBytes ?? 4096,
    'kafkaCheckpoint({ maxMetadataBytes })',
  );
  const link = linkOf(consumer);
  const client = kafkajsClient(consumer);
  let tag: string | undefined;
  let pipeline = '';
  let clock: Clock = systemClock;
  let saves = 0;
  /** How long a commit waits for the group to settle after a rebalance error, ms. */
  const rebalanceWait = 60_000;

  const where = (partition: string) => {
    const parsed = parseKafkaPartition(partition);
    if (parsed === undefined) {
      throw new MicrobatchError(
        'MB_CHECKPOINT_FAILED',
        `kafkaCheckpoint: '${partition}' is not a Kafka partition name (<topic>-<partition>); use it with kafkaSource`,
        { details: { partition, reason: 'partition' } },
      );
    }
    return parsed;
  };
  const opened = () => {
    if (tag === undefined) {
      throw new MicrobatchError('MB_CLOSED', 'kafkaCheckpoint: the store is not open (a pipeline opens it)');
    }
    return tag;
  };

  return {
    kind: 'kafka',
    durable: true,
    get saves() {
      return saves;
    },
    open(context: CheckpointContext) {
      if (link.checkpoint) {
        throw new MicrobatchError(
          'MB_CHECKPOINT_FAILED',
          `kafkaCheckpoint: another kafkaCheckpoint is open on this consumer; a consumer serves one pipeline`,
          { details: { reason: 'locked' } },
        );
      }
      link.checkpoint = true;
      pipeline = context.pipeline;
      tag = pipelineTag(context.pipeline);
      clock = context.clock;
    },
    async load(partition) {
      const own = opened();
      const { topic, partition: number } = where(partition);
      let found: { offset: string; metadata?: string | null } | undefined;
      try {
        const topics = await admin.fetchOffsets({ groupId, topics: [topic] });
        found = topics.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === number);
      } catch (error) {
        throw new MicrobatchError(
          'MB_CHECKPOINT_FAILED',
          `kafkaCheckpoint: could not read the committed offset of '${partition}' in group '${groupId}': ${describeError(error)}`,
          { cause: error, retryable: isClientRetriable(error), details: { partition, reason: 'io' } },
        );
      }
      const offset = found === undefined ? -1 : Number(found.offset);
      return decodeCheckpointMetadata(offset, found?.metadata ?? null, own, { partition, pipeline, groupId });
    },
    async save(partition, state) {
      const own = opened();
      const { topic, partition: number } = where(partition);
      const offset = state.committed !== undefined ? state.committed + 1 : state.plans[0]?.firstOffset;
      if (offset === undefined) return; // nothing committed, nothing planned: nothing to keep
      const metadata = encodeCheckpointMetadata(state, own);
      const bytes = Buffer.byteLength(metadata);
      if (bytes > maxMetadataBytes) {
        throw new MicrobatchError(
          'MB_CHECKPOINT_FAILED',
          `kafkaCheckpoint: the state of partition '${partition}' (${state.plans.length} planned batches) takes ${bytes} bytes of commit metadata, more than maxMetadataBytes (${maxMetadataBytes}, the broker's offset.metadata.max.bytes). Lower the pipeline's write concurrency or make batches larger so fewer are planned at once, or raise offset.metadata.max.bytes and maxMetadataBytes together.`,
          {
            details: {
              partition,
              reason: 'too_large',
              bytes,
              limit: maxMetadataBytes,
              plans: state.plans.length,
            },
          },
        );
      }
      await commitOwned(link, client, partition, [{ topic, partition: number, offset, metadata }], {
        clock,
        rebalanceWait,
        code: 'MB_CHECKPOINT_FAILED',
      });
      saves++;
    },
    close() {
      if (tag !== undefined) link.checkpoint = false;
      tag = undefined;
    },
  };
}

/** A short, stable tag of a pipeline name: states of another pipeline in the same group are refused. */
export function pipelineTag(pipeline: string): string {
  return createHash('sha256').update(pipeline).digest('hex').slice(0, 8);
}

/**
 * The metadata string of a state: `mb1;<tag>;<committed>;<plans>`, `committed` empty when absent,
 * plans as `<first>+<span>` for the first one and `<gap>+<span>` after it (`gap`: offsets skipped
 * since the previous plan's end, almost always 0), so a plan usually costs a few characters.
 */
export function encodeCheckpointMetadata(state: PartitionCheckpoint, tag: string): string {
  const plans: string[] = [];
  let previous: number | undefined;
  for (const plan of state.plans) {
    const start = previous === undefined ? plan.firstOffset : plan.firstOffset - previous - 1;
    plans.push(`${start}+${plan.lastOffset - plan.firstOffset}`);
    previous = plan.lastOffset;
  }
  return `${PREFIX};${tag};${state.committed ?? ''};${plans.join(',')}`;
}

const FORMAT = /^mb1;([0-9a-f]{8});(\d*);((?:\d+\+\d+)(?:,\d+\+\d+)*)?$/;

/**
 * The state of a partition from its committed offset (`-1`: none) and metadata. Metadata that is
 * not ours (empty, or written by another tool) leaves only the offset: `committed = offset − 1`.
 * Ours must belong to this pipeline and agree with the offset; anything else is refused with
 * `MB_CHECKPOINT_FAILED` rather than guessed at.
 */
export function decodeCheckpointMetadata(
  offset: number,
  metadata: string | null,
  tag: string,
  where: { partition: string; pipeline: string; groupId: string },
): PartitionCheckpoint | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0) return undefined;
  const fail = (reason: string, what: string) =>
    new MicrobatchError(
      'MB_CHECKPOINT_FAILED',
      `kafkaCheckpoint: the commit metadata of partition '${where.partition}' in group '${where.groupId}' ${what}. Nothing was skipped or rewritten; to start the partition over on purpose, reset the group's offset for it (which clears the metadata) and clear the sink's data for it.`,
      { details: { partition: where.partition, reason, offset, metadata } },
    );
  if (metadata === null || !metadata.startsWith(`${PREFIX};`)) {
    return offset > 0 ? { committed: offset - 1, plans: [] } : { plans: [] };
  }
  const match = FORMAT.exec(metadata);
  if (match === null)
    throw fail('corrupt', `is not a microbatch checkpoint state: ${JSON.stringify(metadata)}`);
  if (match[1] !== tag) {
    throw fail(
      'pipeline',
      `belongs to another pipeline than '${where.pipeline}' (two pipelines share the consumer group, or the pipeline was renamed)`,
    );
  }
  const plans: PlannedBatch[] = [];
  let previous: number | undefined;
  for (const text of match[3] === undefined ? [] : match[3].split(',')) {
    const [start, span] = text.split('+').map(Number) as [number, number];
    const firstOffset = previous === undefined ? start : previous + 1 + start;
    plans.push({ firstOffset, lastOffset: firstOffset + span });
    previous = firstOffset + span;
  }
  const state = match[2] === '' ? { plans } : { committed: Number(match[2]), plans };
  let checked: PartitionCheckpoint;
  try {
    checked = checkPartitionCheckpoint(state);
  } catch (error) {
    throw fail('corrupt', `holds an invalid state (${describeError(error)})`);
  }
  const expected = checked.committed !== undefined ? checked.committed + 1 : checked.plans[0]?.firstOffset;
  if (expected !== offset) {
    throw fail(
      'offset',
      `says the next offset is ${expected ?? 'unknown'}, but the committed offset is ${offset} (was the offset moved by another tool?)`,
    );
  }
  return checked;
}
