/**
 * The runtime's partition-ownership hook, `SourceContext.revoke`, driven by a hand-written source
 * on the injected clock: flush and commit within the deadline, or hand over what is not committed
 * (plans kept for the next owner), forget the partition, and keep the report adding up.
 */
import { describe, expect, it } from 'vitest';
import { memoryCheckpoint } from '../../src/checkpoint/memory.js';
import type { Batch, Cursor } from '../../src/core/batch.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { DeliveryReport } from '../../src/pipeline/report.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import type { RevokeResult, Source, SourceChunk, SourceContext } from '../../src/sources/types.js';
import { testClock } from '../../src/testing/clock.js';
import { triggers } from '../../src/triggers/index.js';

/** A replayable source fed by the test: `push` a chunk, `revoke` partitions through the context. */
function handSource() {
  const queue: SourceChunk<number>[] = [];
  let wake: ((chunk: SourceChunk<number> | null) => void) | undefined;
  let ended = false;
  let context: SourceContext | undefined;
  const commits: Cursor[] = [];
  const source: Source<number> & {
    push(partition: string, first: number, count: number): void;
    revoke(partitions: string[], deadline?: number): Promise<RevokeResult>;
    end(): void;
    commits: Cursor[];
    context(): SourceContext;
  } = {
    kind: 'hand',
    replayable: true,
    commits,
    context: () => context!,
    push(partition, first, count) {
      const chunk = {
        partition,
        values: Array.from({ length: count }, (_, i) => first + i),
        firstOffset: first,
      };
      if (wake !== undefined) {
        const w = wake;
        wake = undefined;
        w(chunk);
      } else queue.push(chunk);
    },
    revoke(partitions, deadline) {
      return context!.revoke!(partitions, deadline === undefined ? undefined : { deadline });
    },
    end() {
      ended = true;
      wake?.(null);
    },
    open(ctx) {
      context = ctx;
      return {
        read: () => {
          const next = queue.shift();
          if (next !== undefined) return next;
          if (ended) return null;
          return new Promise((resolve) => {
            wake = resolve;
          });
        },
        commit(cursor) {
          commits.push(cursor);
        },
        close() {},
      };
    },
  };
  return source;
}

/** A sink whose writes wait until the test releases them. */
function gatedSink() {
  const inner = memorySink<number>();
  const gates: (() => void)[] = [];
  let open = false;
  const sink: Sink<number> & { release(): void; readonly records: readonly number[]; waiting(): number } = {
    kind: 'gated',
    get records() {
      return inner.records;
    },
    waiting: () => gates.length,
    release() {
      open = true;
      for (const gate of gates.splice(0)) gate();
    },
    async write(batch: Batch<number>, options) {
      if (!open) await new Promise<void>((resolve) => gates.push(resolve));
      return inner.write(batch, options);
    },
  };
  return sink;
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

const adds = (report: DeliveryReport) => {
  const r = report.records;
  return (
    r.written + r.deadLettered + r.duplicates + r.filtered + r.droppedLate + r.undelivered + r.handedOver
  );
};

describe('SourceContext.revoke', () => {
  it('flushes and commits the partitions when that fits the deadline', async () => {
    const clock = testClock();
    const source = handSource();
    const sink = memorySink<number>();
    const p = pipeline({ name: 'rev', clock }).source(source).trigger(triggers.time('1h')).sink(sink).build();
    const revokes: unknown[] = [];
    p.on('revoke', (event) => revokes.push(event));
    await p.start();
    source.push('a', 0, 5);
    source.push('b', 0, 3);
    await settle();
    const result = await source.revoke(['a'], 5000);
    expect(result).toEqual({ committed: ['a'], handedOver: [] });
    expect(revokes).toEqual([result]);
    expect(sink.batches.map((b) => [b.partition, b.reason, b.firstOffset, b.lastOffset])).toEqual([
      ['a', 'revoke', 0, 4],
    ]);
    expect(source.commits).toEqual([{ partition: 'a', offset: 4 }]);
    expect(p.metrics().lanes.map((l) => l.partition)).toEqual(['b']); // 'a' forgotten, 'b' untouched
    source.end();
    const report = await p.run();
    expect(report.records).toMatchObject({ in: 8, written: 8, handedOver: 0 });
  });

  it('hands over what is not committed at the deadline, keeps its plans, and does not count it twice', async () => {
    const clock = testClock();
    const source = handSource();
    const sink = gatedSink();
    const checkpoint = memoryCheckpoint();
    const p = pipeline({ name: 'rev', clock, checkpoint })
      .source(source)
      .trigger(triggers.volume({ records: 4 }))
      .sink(sink)
      .build();
    await p.start();
    source.push('a', 0, 10); // batches 0-3 and 4-7 cut (their writes wait), 8-9 buffered
    await settle();
    expect(sink.waiting()).toBeGreaterThan(0);
    const revoking = source.revoke(['a'], 1000);
    await settle();
    await clock.advance(1000);
    const result = await revoking;
    expect(result).toEqual({ committed: [], handedOver: [{ partition: 'a', records: 10 }] });
    // The plans of the cut batches stay for the next owner: nothing was committed.
    expect(checkpoint.state('rev').a).toEqual({
      plans: [
        { firstOffset: 0, lastOffset: 3 },
        { firstOffset: 4, lastOffset: 7 },
        { firstOffset: 8, lastOffset: 9 },
      ],
    });
    // The writes in flight finish (one effect per id) but are not committed or counted again.
    sink.release();
    await settle();
    expect(source.commits).toEqual([]);
    expect(p.metrics().counts).toMatchObject({ in: 10, written: 0, handedOver: 10, undelivered: 0 });
    expect(p.metrics().buffer.heldBytes).toBe(0);
    expect(checkpoint.state('rev').a?.committed).toBeUndefined();

    // The partition comes back: its state is loaded again and the plans are replayed, same ranges.
    source.push('a', 0, 12);
    source.end();
    const report = await p.run();
    expect(report.records).toMatchObject({ in: 22, written: 12, handedOver: 10 });
    expect(report.records.in).toBe(adds(report));
    expect(report.batches.byReason.replay).toBe(3);
    expect(checkpoint.state('rev').a).toEqual({ committed: 11, plans: [] });
  });

  it('gives the partitions up at once without a deadline', async () => {
    const clock = testClock();
    const source = handSource();
    const sink = memorySink<number>();
    const p = pipeline({ name: 'rev', clock }).source(source).trigger(triggers.time('1h')).sink(sink).build();
    await p.start();
    source.push('a', 0, 5);
    await settle();
    const result = source.revoke(['a', 'unknown']);
    // Forgotten before the promise is even awaited.
    expect(p.metrics().lanes).toEqual([]);
    expect(await result).toEqual({ committed: ['unknown'], handedOver: [{ partition: 'a', records: 5 }] });
    source.end();
    const report = await p.run();
    expect(sink.records).toEqual([]);
    expect(report.records).toMatchObject({ in: 5, written: 0, handedOver: 5, undelivered: 0 });
    expect(report.committed).toEqual({});
  });

  it('does not fail the pipeline when a revoked partition cannot commit', async () => {
    const clock = testClock();
    const source = handSource();
    const sink = gatedSink();
    const p = pipeline({ name: 'rev', clock })
      .source({
        ...source,
        open(ctx) {
          const reader = source.open(ctx) as Awaited<ReturnType<typeof source.open>>;
          return {
            ...reader,
            commit(cursor) {
              if (cursor.partition === 'a')
                throw Object.assign(new Error('not the owner'), { retryable: false });
            },
          };
        },
      })
      .trigger(triggers.volume({ records: 2 }))
      .sink(sink)
      .build();
    await p.start();
    source.push('a', 0, 2);
    await settle(); // batch 0-1 is being written
    await source.revoke(['a']);
    sink.release(); // its write completes: the commit is refused, which no longer matters
    await settle();
    source.push('b', 0, 2);
    source.end();
    const report = await p.run();
    expect(report.status).toBe('completed');
    expect(report.records).toMatchObject({ in: 4, written: 2, handedOver: 2 });
    expect(report.committed).toEqual({ b: 1 });
  });

  it('never lets a revoked partition save its checkpoint state over the next owner state', async () => {
    const clock = testClock();
    const source = handSource();
    const store = memoryCheckpoint();
    // Saves take effect in call order (the store contract); those called while `hold` is set wait
    // for the test, so one can be in flight across the revocation, and later ones queue behind it.
    let hold = true;
    const held: (() => void)[] = [];
    const saved: { plans: number; committed: number | undefined }[] = [];
    let previous: Promise<void> = Promise.resolve();
    const checkpoint = {
      ...store,
      kind: 'gated',
      durable: true,
      save(partition: string, state: Parameters<typeof store.save>[1]) {
        const gate = hold ? new Promise<void>((resolve) => held.push(resolve)) : undefined;
        const before = previous;
        previous = (async () => {
          await before;
          await gate;
          saved.push({ plans: state.plans.length, committed: state.committed });
          await store.save(partition, state);
        })();
        return previous;
      },
    };
    const sink = memorySink<number>();
    const p = pipeline({ name: 'rev', clock, checkpoint })
      .source(source)
      .trigger(triggers.volume({ records: 2 }))
      .sink(sink)
      .build();
    await p.start();
    source.push('a', 0, 2); // batch 0-1: its plan save waits
    await settle();
    source.push('a', 2, 2); // batch 2-3: queued behind it, marks the partition's state dirty
    await settle();
    expect(held).toHaveLength(1);
    expect(p.metrics().inFlight.batches).toBe(2);
    await source.revoke(['a']);
    hold = false;
    source.push('a', 0, 6); // the partition again: its state is loaded afresh, batched anew
    source.end();
    await settle();
    for (const release of held.splice(0)) release(); // the old save lands now
    const report = await p.run();
    expect(report.records).toMatchObject({ in: 10, written: 6, handedOver: 4 });
    // After the old save, nothing of the revoked partition's state was saved again. Its state had
    // two plans (0-1, 2-3) and nothing committed; the new owner cut its three batches from one
    // chunk, so it never saves exactly two plans without a commit. Saved between the new owner's
    // saves, the old state would be what a crash at that moment leaves behind.
    expect(saved).not.toContainEqual({ plans: 2, committed: undefined });
    expect(saved[0]).toEqual({ plans: 1, committed: undefined }); // the old save that was in flight
    expect(store.state('rev').a).toEqual({ committed: 5, plans: [] });
    expect(saved.at(-1)).toEqual({ plans: 0, committed: 5 });
  });
});
