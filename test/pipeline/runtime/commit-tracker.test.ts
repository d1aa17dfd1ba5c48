import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { CheckpointStore, PartitionCheckpoint } from '../../../src/checkpoint/types.js';
import type { ErrorCode } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import { EventHub } from '../../../src/pipeline/events.js';
import { Accounting } from '../../../src/pipeline/runtime/accounting.js';
import { CommitTracker, type InFlightBatch } from '../../../src/pipeline/runtime/commit-tracker.js';
import type { SealedLane } from '../../../src/pipeline/runtime/lane.js';
import { MemoryBudget } from '../../../src/pipeline/runtime/memory-budget.js';
import type { Parts } from '../../../src/pipeline/runtime/parts.js';
import { testClock } from '../../../src/testing/clock.js';

/** A commit tracker with just the parts it calls: no retries, a clock, events, maybe a checkpoint. */
function tracker(checkpoint: CheckpointStore | undefined) {
  const clock = testClock();
  const events = new EventHub('t', silentLogger);
  const failures: unknown[] = [];
  const parts = {
    settings: { name: 't', clock, logger: silentLogger, events, checkpoint },
    lifecycle: {
      fatal: undefined,
      deadlineMissed: false,
      fail: (error: unknown) => failures.push(error),
    },
    accounting: new Accounting(),
    budget: new MemoryBudget(1e9),
    writer: {
      retryContext: (_entry: InFlightBatch, failure: ErrorCode, what: string) => ({
        clock,
        policy: { maxAttempts: 1, initialDelay: 0, maxDelay: 0, attemptTimeout: Number.POSITIVE_INFINITY },
        signal: new AbortController().signal,
        failure,
        what,
      }),
      onIdle: async () => {},
    },
    eventTime: undefined,
  } as unknown as { -readonly [K in keyof Parts]: Parts[K] };
  const commits = new CommitTracker(parts);
  parts.commits = commits;
  return { commits, events, failures, parts };
}

/** A store whose saves land a loop turn later, so a commit that does not await its save is seen. */
function slowStore() {
  const states = new Map<string, PartitionCheckpoint>();
  const store = {
    kind: 'slow',
    durable: true,
    states,
    load: (partition: string) => states.get(partition),
    async save(partition: string, state: PartitionCheckpoint) {
      await new Promise((resolve) => setImmediate(resolve));
      states.set(partition, structuredClone(state));
    },
  };
  return store satisfies CheckpointStore;
}

const sealed = (firstOffset: number, lastOffset: number): SealedLane<unknown> => ({
  batch: {
    id: `b${firstOffset}`,
    partition: 'p',
    firstOffset,
    lastOffset,
    records: [],
    bytes: 0,
    reason: 'records',
    openedAt: 0,
    closedAt: 0,
  },
  rejected: [],
  heldBytes: 10,
  count: lastOffset - firstOffset + 1,
});

const summary = {
  id: '',
  partition: 'p',
  firstOffset: 0,
  lastOffset: 0,
  records: 0,
  bytes: 0,
  reason: 'records' as const,
  openedAt: 0,
  closedAt: 0,
};

/** Batch sizes, and the order in which their writes finish (a permutation by sort keys). */
const scenario = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.double({ noNaN: true })), {
    minLength: 1,
    maxLength: 12,
  })
  .map((batches) => ({
    sizes: batches.map(([size]) => size),
    order: batches
      .map((b, k) => [b[1], k] as const)
      .sort((x, y) => x[0] - y[0])
      .map(([, k]) => k),
  }));

describe('CommitTracker', () => {
  test.prop([scenario, fc.boolean()])(
    'commits in flush order, never past an unwritten batch; with a checkpoint, saves before each commit event and prunes committed plans',
    async ({ sizes, order }, withCheckpoint) => {
      const store = withCheckpoint ? slowStore() : undefined;
      const { commits, events, failures } = tracker(store);
      const partition = commits.of('p');
      const entries: InFlightBatch[] = [];
      let next = 0;
      for (const size of sizes) {
        entries.push(commits.add(sealed(next, next + size - 1), summary, false));
        next += size;
      }
      expect(commits.inFlight.batches).toBe(sizes.length);
      if (store !== undefined) expect(partition.plans).toHaveLength(sizes.length);
      const committedOffsets: number[] = [];
      events.on('commit', ({ offset }) => {
        // Every batch up to this offset is written, and the first one after it is not (or there is none).
        const upTo = entries.findIndex((e) => e.batch.lastOffset === offset);
        expect(upTo).toBeGreaterThanOrEqual(0);
        expect(entries.slice(0, upTo + 1).every((e) => e.written)).toBe(true);
        if (store !== undefined) {
          // The checkpoint already says so: a commit event never waits for its save.
          const saved = store.states.get('p')!;
          expect(saved.committed).toBe(offset);
          expect(saved.plans.every((plan) => plan.firstOffset > offset)).toBe(true);
        }
        committedOffsets.push(offset);
      });
      const advancing: Promise<void>[] = [];
      for (const k of order) {
        entries[k]!.written = true;
        commits.landed(entries[k]!);
        advancing.push(commits.advance(partition)); // not awaited: commits overlap writes
      }
      await Promise.all(advancing);
      // Wait out a commit loop still running (a later advance returned early while it ran).
      while (partition.committing) await new Promise((resolve) => setImmediate(resolve));
      expect(failures).toEqual([]);
      // Strictly increasing, ending at the last batch.
      expect(committedOffsets).toEqual([...committedOffsets].sort((a, b) => a - b));
      expect(new Set(committedOffsets).size).toBe(committedOffsets.length);
      expect(committedOffsets.at(-1)).toBe(next - 1);
      expect(partition.committed).toBe(next - 1);
      expect(partition.batches).toEqual([]);
      expect(partition.plans).toEqual([]);
      expect(commits.inFlight).toEqual({ batches: 0, records: 0, bytes: 0 });
      expect(commits.holds('p')).toBe(false);
    },
  );

  test.prop([fc.integer({ min: 1, max: 8 }), fc.nat()])(
    'forget hands over every unwritten batch once and commits nothing more',
    async (n, writtenMask) => {
      const { commits, parts } = tracker(undefined);
      const partition = commits.of('p');
      const entries = Array.from({ length: n }, (_, k) =>
        commits.add(sealed(k * 2, k * 2 + 1), summary, false),
      );
      parts.budget.reserve(10 * n);
      let unwritten = 0;
      entries.forEach((entry, k) => {
        if ((writtenMask >> k) & 1) {
          entry.written = true;
          commits.landed(entry);
        } else unwritten += entry.count;
      });
      expect(commits.forget('p')).toBe(unwritten);
      expect(entries.every((e) => e.handedOver)).toBe(true);
      expect(commits.inFlight).toEqual({ batches: 0, records: 0, bytes: 0 });
      expect(parts.budget.held).toBe(0);
      await commits.advance(partition);
      expect(partition.committed).toBeUndefined();
      expect(commits.partitions.has('p')).toBe(false);
    },
  );
});
