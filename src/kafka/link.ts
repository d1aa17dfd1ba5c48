import type { Clock } from '../core/clock.js';
import { describeError, isRetryable, MicrobatchError } from '../core/errors.js';
import type { ClientOffset, KafkaClient } from './client.js';

/**
 * What a {@link kafkaSource} and a {@link kafkaCheckpoint} over the same consumer object share:
 * which partitions the consumer owns since its last group join, and whether a checkpoint commits
 * the offsets (so that the source does not commit them without the checkpoint's metadata).
 */
export interface ConsumerLink {
  /** A kafkaSource is open on the consumer: ownership below is known. */
  source: boolean;
  /** A kafkaCheckpoint is open on the consumer: it commits offsets together with the states. */
  checkpoint: boolean;
  /** Group joins seen; every join revokes what the previous one assigned. */
  epoch: number;
  /** Lane names (`<topic>-<partition>`) assigned at the last join. */
  assigned: Set<string>;
  /** The group started rebalancing (`consumer.rebalancing`) and has not joined again yet. */
  rebalancing: boolean;
  /** The consumer runs (joined, not crashed or stopped). */
  running: boolean;
  /** The consumer crashed and its client will not restart it: nothing can be committed any more. */
  crashed: boolean;
  /** Called at the next join (or when the consumer stops). */
  joinWaiters: (() => void)[];
}

const links = new WeakMap<object, ConsumerLink>();

/** The link of a consumer object, made on first use. */
export function linkOf(consumer: object): ConsumerLink {
  let link = links.get(consumer);
  if (link === undefined) {
    link = {
      source: false,
      checkpoint: false,
      epoch: 0,
      assigned: new Set(),
      rebalancing: false,
      running: false,
      crashed: false,
      joinWaiters: [],
    };
    links.set(consumer, link);
  }
  return link;
}

/** Wakes what waits for the next join. */
export function wakeJoinWaiters(link: ConsumerLink): void {
  for (const wake of link.joinWaiters.splice(0)) wake();
}

// Group-membership errors of a commit: the group is rebalancing or this member's generation is
// over, so the commit was refused and the partitions are about to be (or were) reassigned.
const REBALANCE_ERRORS = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
]);

/**
 * The error and its causes: kafkajs's retrier wraps what it gives up on in a
 * `KafkaJSNonRetriableError` (or `KafkaJSNumberOfRetriesExceeded`) whose `cause` is the original.
 */
function* chain(
  error: unknown,
): Generator<{ retriable?: unknown; name?: unknown; type?: unknown; code?: unknown }> {
  let current = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    yield current as { retriable?: unknown; name?: unknown; type?: unknown; code?: unknown };
    const cause = (current as { cause?: unknown }).cause;
    if (cause === current) return;
    current = cause;
  }
}

/** Whether a client error says the group is rebalancing or this member left it. */
export function isRebalanceError(error: unknown): boolean {
  for (const e of chain(error)) if (typeof e.type === 'string' && REBALANCE_ERRORS.has(e.type)) return true;
  return false;
}

// kafkajs gives up after its own retries with these; a later attempt may well succeed.
const TRANSIENT_NAMES = new Set([
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSLockTimeout',
]);
const TRANSIENT_TYPES = new Set([
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'REQUEST_TIMED_OUT',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
]);

/**
 * Whether a client error may succeed when retried: kafkajs says so (`retriable`, its spelling), or
 * the error or one of its causes is a lost connection, a timeout or a coordinator or leader move.
 */
export function isClientRetriable(error: unknown): boolean {
  for (const e of chain(error)) {
    if (e.retriable === true && e.name !== 'KafkaJSNonRetriableError') return true;
    if (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) return true;
    if (typeof e.type === 'string' && TRANSIENT_TYPES.has(e.type)) return true;
    if (isRetryable({ code: e.code })) return true;
  }
  return false;
}

/** The error a commit of a partition this consumer no longer owns fails with. */
export function revokedError(partition: string, why: string): MicrobatchError {
  return new MicrobatchError(
    'MB_COMMIT_FAILED',
    `partition '${partition}' is no longer assigned to this consumer (${why}); its next owner replays what was not committed`,
    { details: { partition, revoked: true } },
  );
}

/** Resolves at the next group join, or after `ms` (then `false`). */
function nextJoin(link: ConsumerLink, clock: Clock, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => {
      const at = link.joinWaiters.indexOf(done);
      if (at !== -1) link.joinWaiters.splice(at, 1);
      resolve(false);
    }, ms);
    const done = () => {
      clock.clearTimeout(timer);
      resolve(true);
    };
    link.joinWaiters.push(done);
  });
}

/** Waits for the group to join again; fails retryably when it does not within `rebalanceWait`. */
async function settle(
  link: ConsumerLink,
  partition: string,
  options: { clock: Clock; rebalanceWait: number; code: 'MB_COMMIT_FAILED' | 'MB_CHECKPOINT_FAILED' },
): Promise<void> {
  if (await nextJoin(link, options.clock, options.rebalanceWait)) return;
  throw new MicrobatchError(
    options.code,
    `cannot commit partition '${partition}': the consumer group did not settle within ${options.rebalanceWait} ms after a rebalance`,
    { retryable: true, details: { partition } },
  );
}

/**
 * Commits offsets of one partition through the consumer, only while this consumer owns it. kafkajs
 * does not fence commits by partition ownership (the coordinator checks the generation only), so a
 * member that lost a partition could otherwise overwrite its new owner's offset and plans:
 * - during a rebalance the commit waits for the join, after which the partition is revoked;
 * - a partition not assigned at the last join is refused;
 * - a commit refused for a rebalance reason waits for the join likewise;
 * - a join that happened while the commit was in flight makes it count as revoked.
 * Revocations fail with {@link revokedError}; the pipeline has forgotten the partition by then, so
 * they are not failures. Other errors are rethrown as `code`, retryable when the client says so.
 */
export async function commitOwned(
  link: ConsumerLink,
  client: KafkaClient,
  partition: string,
  offsets: ClientOffset[],
  options: { clock: Clock; rebalanceWait: number; code: 'MB_COMMIT_FAILED' | 'MB_CHECKPOINT_FAILED' },
): Promise<void> {
  if (link.source) {
    if (link.rebalancing) {
      await settle(link, partition, options);
      throw revokedError(partition, 'the group rebalanced');
    }
    if (!link.assigned.has(partition)) throw revokedError(partition, 'not assigned at the last group join');
    if (!link.running) throw notRunning(link, partition, options.code);
  }
  const epoch = link.epoch;
  try {
    await client.commit(offsets);
  } catch (error) {
    if (isRebalanceError(error)) {
      if (link.source && link.epoch === epoch) await settle(link, partition, options);
      throw revokedError(partition, `the commit was refused: ${describeError(error)}`);
    }
    throw new MicrobatchError(
      options.code,
      `commit of partition '${partition}' failed: ${describeError(error)}`,
      { cause: error, retryable: isClientRetriable(error), details: { partition } },
    );
  }
  if (link.source) {
    // A commit retried by the client across a join may have landed in the new generation: the
    // partition was revoked at that join, whoever owns it now.
    if (link.epoch !== epoch) throw revokedError(partition, 'the group rebalanced during the commit');
    // kafkajs returns without committing when its consumer stopped meanwhile (a crash it restarts
    // from): not known to be durable. Retried, it commits the same state again — unless the
    // partition is revoked by then, which the pipeline checks before each attempt.
    if (!link.running) throw notRunning(link, partition, options.code);
  }
}

/** A commit the consumer cannot make now: retryable while its client restarts it, not after a final crash. */
function notRunning(
  link: ConsumerLink,
  partition: string,
  code: 'MB_COMMIT_FAILED' | 'MB_CHECKPOINT_FAILED',
): MicrobatchError {
  return new MicrobatchError(
    code,
    link.crashed
      ? `cannot commit partition '${partition}': the consumer crashed and its client does not restart it`
      : `cannot commit partition '${partition}': the consumer is not running (stopped, or restarting after a crash)`,
    { retryable: !link.crashed, details: { partition } },
  );
}
