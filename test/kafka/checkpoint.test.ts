/**
 * kafkaCheckpoint: the commit-metadata encoding (round trip, size, refusal of what is not ours or
 * does not agree with the offset) and the store on the consumer double (states shared by the
 * group, commits only for owned partitions, the source's commit folded into the checkpoint's).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { PartitionCheckpoint } from '../../src/checkpoint/types.js';
import { silentLogger } from '../../src/core/logger.js';
import {
  decodeCheckpointMetadata,
  encodeCheckpointMetadata,
  kafkaCheckpoint,
  pipelineTag,
} from '../../src/kafka/checkpoint.js';
import { kafkaSource } from '../../src/kafka/index.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { testClock } from '../../src/testing/clock.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, expectInvalid, rejection, thrown } from '../support.js';
import { FakeCluster } from './fake-kafka.js';

const where = { partition: 'orders-0', pipeline: 'orders', groupId: 'g' };
const tag = pipelineTag('orders');

/** Valid states: ordered, non-overlapping plans after `committed`, offsets below 2^53. */
const states = fc
  .record({
    committed: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
    steps: fc.array(fc.record({ gap: fc.nat({ max: 1000 }), span: fc.nat({ max: 1_000_000 }) }), {
      maxLength: 12,
    }),
    base: fc.integer({ min: 0, max: 2 ** 40 }),
  })
  .filter(({ committed, steps }) => committed !== undefined || steps.length > 0)
  .map(({ committed, steps, base }): PartitionCheckpoint => {
    let next = committed === undefined ? base : committed + 1;
    const plans = steps.map(({ gap, span }) => {
      const firstOffset = next + gap;
      next = firstOffset + span + 1;
      return { firstOffset, lastOffset: firstOffset + span };
    });
    return committed === undefined ? { plans } : { committed, plans };
  });

/** The offset the store commits with a state. */
const offsetOf = (state: PartitionCheckpoint) =>
  state.committed !== undefined ? state.committed + 1 : state.plans[0]!.firstOffset;

describe('checkpoint metadata', () => {
  test.prop([states])('reads back every state it writes', (state) => {
    const text = encodeCheckpointMetadata(state, tag);
    expect(decodeCheckpointMetadata(offsetOf(state), text, tag, where)).toEqual(state);
  });

  it('is compact: a committed offset and a few plans take a few dozen bytes', () => {
    const state = {
      committed: 1_000_000_000_041,
      plans: [
        { firstOffset: 1_000_000_000_042, lastOffset: 1_000_000_010_041 },
        { firstOffset: 1_000_000_010_042, lastOffset: 1_000_000_020_041 },
      ],
    };
    expect(encodeCheckpointMetadata(state, tag)).toBe(`mb1;${tag};1000000000041;1000000000042+9999,0+9999`);
  });

  it('leaves only the offset of metadata that is not ours (empty, or written by a tool)', () => {
    expect(decodeCheckpointMetadata(42, null, tag, where)).toEqual({ committed: 41, plans: [] });
    expect(decodeCheckpointMetadata(42, '', tag, where)).toEqual({ committed: 41, plans: [] });
    expect(decodeCheckpointMetadata(0, 'something else', tag, where)).toEqual({ plans: [] });
    expect(decodeCheckpointMetadata(-1, null, tag, where)).toBeUndefined();
  });

  it('refuses a state of another pipeline, a corrupt one, and one the offset contradicts', () => {
    const other = encodeCheckpointMetadata({ committed: 41, plans: [] }, pipelineTag('prices'));
    const wrongPipeline = expectCode(
      thrown(() => decodeCheckpointMetadata(42, other, tag, where)),
      'MB_CHECKPOINT_FAILED',
    );
    expect(wrongPipeline.details).toMatchObject({ reason: 'pipeline', partition: 'orders-0' });
    expect(wrongPipeline.message).toContain("another pipeline than 'orders'");
    const corrupt = expectCode(
      thrown(() => decodeCheckpointMetadata(42, `mb1;${tag};41;x`, tag, where)),
      'MB_CHECKPOINT_FAILED',
    );
    expect(corrupt.details.reason).toBe('corrupt');
    const moved = expectCode(
      thrown(() =>
        decodeCheckpointMetadata(
          100,
          encodeCheckpointMetadata({ committed: 41, plans: [] }, tag),
          tag,
          where,
        ),
      ),
      'MB_CHECKPOINT_FAILED',
    );
    expect(moved.details.reason).toBe('offset');
    expect(moved.message).toContain('the committed offset is 100');
  });
});

function context(pipelineName = 'orders') {
  return { pipeline: pipelineName, clock: testClock(), logger: silentLogger };
}

describe('kafkaCheckpoint', () => {
  it('checks its options', () => {
    const cluster = new FakeCluster();
    const consumer = cluster.consumer('g');
    expectInvalid(
      () => kafkaCheckpoint({ consumer: {} as never, admin: cluster.admin(), groupId: 'g' }),
      'consumer',
    );
    expectInvalid(() => kafkaCheckpoint({ consumer, admin: {} as never, groupId: 'g' }), 'admin');
    expectInvalid(() => kafkaCheckpoint({ consumer, admin: cluster.admin(), groupId: '' }), 'groupId');
  });

  it('commits the offset and the plans together, and another member of the group reads them', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 2);
    const a = cluster.consumer('g');
    const store = kafkaCheckpoint({ consumer: a, admin: cluster.admin(), groupId: 'g' });
    await store.open!(context());
    cluster.assign('g', new Map([[a, {}]])); // a member of the group's generation
    await store.save('orders-1', { committed: 41, plans: [{ firstOffset: 42, lastOffset: 57 }] });
    await store.save('orders-0', { plans: [{ firstOffset: 7, lastOffset: 9 }] }); // nothing committed yet
    expect(cluster.committed('g', 'orders', 1)).toEqual({ offset: 42, metadata: `mb1;${tag};41;42+15` });
    expect(cluster.committed('g', 'orders', 0)).toEqual({ offset: 7, metadata: `mb1;${tag};;7+2` });
    const b = kafkaCheckpoint({ consumer: cluster.consumer('g'), admin: cluster.admin(), groupId: 'g' });
    await b.open!(context());
    expect(await b.load('orders-1')).toEqual({ committed: 41, plans: [{ firstOffset: 42, lastOffset: 57 }] });
    expect(await b.load('orders-0')).toEqual({ plans: [{ firstOffset: 7, lastOffset: 9 }] });
    expect(store.saves).toBe(2);
  });

  it('refuses a state larger than the commit metadata allows, before committing anything', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    const consumer = cluster.consumer('g');
    const store = kafkaCheckpoint({ consumer, admin: cluster.admin(), groupId: 'g', maxMetadataBytes: 64 });
    await store.open!(context());
    cluster.assign('g', new Map([[consumer, {}]]));
    const plans = Array.from({ length: 20 }, (_, i) => ({
      firstOffset: 100 + i * 10,
      lastOffset: 109 + i * 10,
    }));
    const error = expectCode(
      await rejection(Promise.resolve(store.save('orders-0', { committed: 99, plans }))),
      'MB_CHECKPOINT_FAILED',
    );
    expect(error.details).toMatchObject({ reason: 'too_large', limit: 64, plans: 20 });
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('offset.metadata.max.bytes');
    expect(cluster.commits).toEqual([]);
  });

  test.prop([fc.array(fc.nat({ max: 100_000 }), { minLength: 1, maxLength: 400 })])(
    'refuses exactly the states whose metadata is over the limit',
    async (spans) => {
      const cluster = new FakeCluster();
      cluster.createTopic('orders', 1);
      const consumer = cluster.consumer('g');
      const store = kafkaCheckpoint({ consumer, admin: cluster.admin(), groupId: 'g' });
      await store.open!(context());
      cluster.assign('g', new Map([[consumer, {}]]));
      let next = 0;
      const plans = spans.map((span) => {
        const plan = { firstOffset: next, lastOffset: next + span };
        next += span + 1;
        return plan;
      });
      const state = { plans };
      const fits = Buffer.byteLength(encodeCheckpointMetadata(state, tag)) <= 4096;
      const saving = Promise.resolve(store.save('orders-0', state));
      if (fits) {
        await saving;
        expect(await store.load('orders-0')).toEqual(state);
      } else {
        expectCode(await rejection(saving), 'MB_CHECKPOINT_FAILED');
        expect(cluster.commits).toEqual([]);
      }
    },
  );

  it('makes the source commit nothing itself: offset and plans go out in one commit', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produceJson(
      'orders',
      0,
      Array.from({ length: 25 }, (_, i) => i),
    );
    const consumer = cluster.consumer('g', { maxMessagesPerBatch: 10 });
    const admin = cluster.admin();
    const sink = memorySink<number>();
    const p = pipeline({ name: 'orders', checkpoint: kafkaCheckpoint({ consumer, admin, groupId: 'g' }) })
      .source(kafkaSource<number>({ consumer, topics: ['orders'], fromBeginning: true }))
      .trigger(triggers.volume({ records: 10 }))
      .sink(sink)
      .build();
    await p.start();
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    for (let i = 0; i < 3; i++) await consumer.fetchOnce();
    await p.stop();
    // Each batch: a plan save (offset unchanged, the plan added), then the commit (offset moved, plan gone).
    expect(cluster.commits.map((c) => [c.offset, c.metadata])).toEqual([
      [0, `mb1;${tag};;0+9`],
      [10, `mb1;${tag};9;`],
      [10, `mb1;${tag};9;10+9`],
      [20, `mb1;${tag};19;`],
      [20, `mb1;${tag};19;20+4`],
      [25, `mb1;${tag};24;`],
    ]);
    expect(sink.records).toHaveLength(25);
  });

  it('replays a plan of a worker that crashed: same range, same batch id', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 1);
    cluster.produceJson(
      'orders',
      0,
      Array.from({ length: 30 }, (_, i) => i),
    );
    const admin = cluster.admin();
    // The crashed worker planned 0-16 (a time trigger cut it there) and committed nothing.
    const crashed = cluster.consumer('g');
    const before = kafkaCheckpoint({ consumer: crashed, admin, groupId: 'g' });
    await before.open!(context());
    cluster.assign('g', new Map([[crashed, {}]]));
    await before.save('orders-0', { plans: [{ firstOffset: 0, lastOffset: 16 }] });
    before.close!();

    const consumer = cluster.consumer('g', { maxMessagesPerBatch: 7 });
    const sink = memorySink<number>();
    const p = pipeline({ name: 'orders', checkpoint: kafkaCheckpoint({ consumer, admin, groupId: 'g' }) })
      .source(kafkaSource<number>({ consumer, topics: ['orders'] })) // latest: only the checkpoint knows where to start
      .trigger(triggers.volume({ records: 10 }))
      .sink(sink)
      .build();
    await p.start();
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    consumer.startLoop();
    for (
      let i = 0;
      i < 2000 && (cluster.committed('g', 'orders', 0)?.offset !== 27 || p.metrics().counts.in < 30);
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const report = await p.stop();
    expect(sink.batches.map((b) => [b.firstOffset, b.lastOffset, b.reason])).toEqual([
      [0, 16, 'replay'],
      [17, 26, 'records'],
      [27, 29, 'drain'],
    ]);
    expect(sink.batches[0]!.id).toBe('orders.orders-0.0000000000000000-0000000000000016');
    expect(report.records).toMatchObject({ in: 30, written: 30 });
  });

  it('refuses commits for a partition not assigned to the consumer', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('orders', 2);
    const consumer = cluster.consumer('g');
    const source = kafkaSource({ consumer, topics: ['orders'] });
    const store = kafkaCheckpoint({ consumer, admin: cluster.admin(), groupId: 'g' });
    await store.open!(context());
    await source.open({ ...context(), signal: new AbortController().signal });
    cluster.assign('g', new Map([[consumer, { orders: [0] }]]));
    await store.save('orders-0', { committed: 1, plans: [] });
    const error = expectCode(
      await rejection(Promise.resolve(store.save('orders-1', { committed: 1, plans: [] }))),
      'MB_COMMIT_FAILED',
    );
    expect(error.details).toMatchObject({ partition: 'orders-1', revoked: true });
    expect(cluster.commits.map((c) => c.partition)).toEqual([0]);
  });
});
