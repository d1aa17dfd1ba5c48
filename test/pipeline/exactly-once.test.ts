import { describe, expect, it } from 'vitest';
import type { CheckpointStore, PartitionCheckpoint } from '../../src/checkpoint/types.js';
import type { Batch } from '../../src/core/batch.js';
import type { MicrobatchError } from '../../src/core/errors.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { DeliveryReport } from '../../src/pipeline/report.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { fromIterable } from '../../src/sources/iterable.js';
import type { Source } from '../../src/sources/types.js';
import { testClock } from '../../src/testing/clock.js';
import { type ScriptedRecord, scriptedSource } from '../../src/testing/scripted-source.js';
import { triggers } from '../../src/triggers/index.js';
import { expectCode, expectInvalid, rejection } from '../support.js';

/** A store kept in a map; `durable` says what it claims. Counts saves, can fail them. */
function mapStore(durable = true, initial: Record<string, PartitionCheckpoint> = {}) {
  const states = new Map(Object.entries(initial));
  let failures: { retryable: boolean; times: number } | undefined;
  const store = {
    kind: 'map',
    durable,
    states,
    saves: 0,
    failSaves(retryable: boolean, times: number) {
      failures = { retryable, times };
    },
    load: (partition: string) => states.get(partition),
    save(partition: string, state: PartitionCheckpoint) {
      if (failures !== undefined && failures.times > 0) {
        failures.times--;
        throw Object.assign(new Error('disk says no'), { retryable: failures.retryable });
      }
      store.saves++;
      states.set(partition, structuredClone(state));
    },
  };
  return store satisfies CheckpointStore;
}

const script = (n: number, partition = '0'): ScriptedRecord<number>[] =>
  Array.from({ length: n }, (_, i) => ({ at: 0, partition, value: i }));

const reportOf = (error: MicrobatchError) => error.details.report as DeliveryReport;

describe('exactly-once: plans, replay and ledgers', () => {
  it('stores each plan before the first write attempt, and clears it with the commit', async () => {
    const clock = testClock();
    const store = mapStore();
    const seen: PartitionCheckpoint[] = [];
    const sink: Sink<number> = {
      write(batch) {
        // The checkpoint already holds this batch's range when the write starts.
        seen.push(structuredClone(store.states.get(batch.partition)!));
      },
    };
    const report = await clock.runUntil(
      pipeline({ name: 'plans', clock, checkpoint: store, concurrency: 1 })
        .source(scriptedSource(clock, script(6), { replayable: true }))
        .trigger(triggers.volume({ records: 3 }))
        .sink(sink)
        .build()
        .run(),
    );
    expect(seen[0]!.plans).toContainEqual({ firstOffset: 0, lastOffset: 2 });
    expect(seen[1]!.plans).toContainEqual({ firstOffset: 3, lastOffset: 5 });
    expect(store.states.get('0')).toEqual({ committed: 5, plans: [] });
    expect(report.guarantee).toBe('exactly-once');
  });

  it('replays a planned batch after a crash with the same range and id, reason replay', async () => {
    const clock = testClock();
    // An earlier run planned 0–3 and 4–5 (and maybe wrote them) but committed nothing.
    const store = mapStore(true, {
      '0': {
        plans: [
          { firstOffset: 0, lastOffset: 3 },
          { firstOffset: 4, lastOffset: 5 },
        ],
      },
    });
    const sink = memorySink<number>();
    const report = await clock.runUntil(
      pipeline({ name: 'replay', clock, checkpoint: store })
        .source(scriptedSource(clock, script(9), { replayable: true }))
        .trigger(triggers.volume({ records: 2 })) // a different trigger now: the plans still win
        .sink(sink)
        .build()
        .run(),
    );
    expect(sink.batches.map((b) => [b.id, b.reason, b.records])).toEqual([
      ['replay.0.0000000000000000-0000000000000003', 'replay', [0, 1, 2, 3]],
      ['replay.0.0000000000000004-0000000000000005', 'replay', [4, 5]],
      ['replay.0.0000000000000006-0000000000000007', 'records', [6, 7]],
      ['replay.0.0000000000000008-0000000000000008', 'drain', [8]],
    ]);
    expect(report.batches.byReason).toEqual({ replay: 2, records: 1, drain: 1 });
    expect(store.states.get('0')).toEqual({ committed: 8, plans: [] });
  });

  it('resumes the source after the committed offset and drops a plan the source already passed', async () => {
    const clock = testClock();
    const store = mapStore(true, { '0': { committed: 2, plans: [{ firstOffset: 3, lastOffset: 4 }] } });
    const sink = memorySink<number>();
    // A source whose own commit got ahead of the checkpoint (Kafka commits first): it starts at 5.
    const records = script(8)
      .map((r, i) => ({ ...r, offset: i }))
      .slice(5);
    const report = await clock.runUntil(
      pipeline({ name: 'stale', clock, checkpoint: store })
        .source(scriptedSource(clock, records, { replayable: true }))
        .trigger(triggers.volume({ records: 10 }))
        .sink(sink)
        .build()
        .run(),
    );
    expect(sink.batches.map((b) => [b.firstOffset, b.lastOffset, b.reason])).toEqual([[5, 7, 'drain']]);
    expect(report.records.in).toBe(3);
    expect(store.states.get('0')).toEqual({ committed: 7, plans: [] });
  });

  it('fails with MB_LEDGER_AHEAD when the source went back behind the committed offset', async () => {
    const clock = testClock();
    const store = mapStore(true, { '0': { committed: 5, plans: [] } });
    const sink = memorySink<number>();
    // A source that ignores the checkpoint and starts again at 0 (a recreated topic).
    const source: Source<number> = { ...fromIterable([0, 1, 2]), replayable: true };
    const error = expectCode(
      await clock.runUntil(
        rejection(
          pipeline({ name: 'behind', clock, checkpoint: store }).source(source).sink(sink).build().run(),
        ),
      ),
      'MB_LEDGER_AHEAD',
    );
    expect(error.message).toContain("resumed partition '0' at offset 0");
    expect(error.message).toContain('already committed');
    expect(error.details).toMatchObject({ partition: '0', sourceOffset: 0, committed: 5 });
    expect(sink.batches).toEqual([]);
    expect(reportOf(error).status).toBe('failed');
  });

  it("fails with MB_LEDGER_AHEAD when the sink's ledger is past anything planned", async () => {
    const clock = testClock();
    const store = mapStore(true, { '0': { committed: 5, plans: [{ firstOffset: 6, lastOffset: 9 }] } });
    const sink: Sink<number> = { write() {}, committed: () => 50 };
    const error = expectCode(
      await clock.runUntil(
        rejection(
          pipeline({ name: 'ahead', clock, checkpoint: store })
            .source(scriptedSource(clock, script(12), { replayable: true }))
            .sink(sink)
            .build()
            .run(),
        ),
      ),
      'MB_LEDGER_AHEAD',
    );
    expect(error.message).toContain('the sink holds offset 50');
    expect(error.details).toMatchObject({ ledger: 50, planned: 9 });
  });

  it('fails with MB_LEDGER_AHEAD when a durable checkpoint has no record of what the sink holds', async () => {
    const clock = testClock();
    const sink: Sink<number> = { write() {}, committed: () => 3 };
    const error = expectCode(
      await clock.runUntil(
        rejection(
          pipeline({ name: 'lost', clock, checkpoint: mapStore(true) })
            .source(scriptedSource(clock, script(5), { replayable: true }))
            .sink(sink)
            .build()
            .run(),
        ),
      ),
      'MB_LEDGER_AHEAD',
    );
    expect(error.message).toContain('has no record of it');
  });

  it('without a durable checkpoint, skips records at or below the ledger and writes a partition in order', async () => {
    const clock = testClock();
    const written: Batch<number>[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const sink: Sink<number> = {
      committed: (partition) => (partition === 'a' ? 4 : undefined),
      async write(batch) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 10));
        inFlight--;
        written.push(batch);
      },
    };
    const records = [...script(10, 'a'), ...script(4, 'b')];
    const report = await clock.runUntil(
      pipeline({ name: 'ledger', clock, concurrency: 4 })
        .source(scriptedSource(clock, records, { replayable: true }))
        .trigger(triggers.volume({ records: 2 }))
        .sink(sink)
        .build()
        .run(),
    );
    const a = written.filter((b) => b.partition === 'a');
    expect(a.flatMap((b) => b.records)).toEqual([5, 6, 7, 8, 9]);
    expect(a.map((b) => b.firstOffset)).toEqual([...a.map((b) => b.firstOffset)].sort((x, y) => x - y));
    expect(report.records.skipped).toBe(5);
    expect(report.records.in).toBe(9);
    expect(report.records.written).toBe(9);
    // One write per partition at a time (two partitions: at most two at once).
    expect(maxInFlight).toBeLessThanOrEqual(2);
    expect(report.guarantee).toBe('at-least-once');
  });

  it('retries a checkpoint save that fails with a retryable error, and fails on a fatal one', async () => {
    const clock = testClock();
    const flaky = mapStore();
    flaky.failSaves(true, 3);
    const ok = await clock.runUntil(
      pipeline({ name: 'retry-save', clock, checkpoint: flaky, retry: { initialDelay: 5 } })
        .source(scriptedSource(clock, script(3), { replayable: true }))
        .sink(memorySink())
        .build()
        .run(),
    );
    expect(ok.records.written).toBe(3);
    expect(flaky.states.get('0')).toEqual({ committed: 2, plans: [] });

    const broken = mapStore();
    broken.failSaves(false, 1);
    const sink = memorySink<number>();
    const error = expectCode(
      await clock.runUntil(
        rejection(
          pipeline({ name: 'fatal-save', clock, checkpoint: broken })
            .source(scriptedSource(clock, script(3), { replayable: true }))
            .sink(sink)
            .build()
            .run(),
        ),
      ),
      'MB_CHECKPOINT_FAILED',
    );
    expect(error.message).toContain("checkpoint save of partition '0'");
    expect(sink.batches).toEqual([]); // nothing is written without its plan
  });

  it('fails with MB_CHECKPOINT_FAILED when the store returns an impossible state', async () => {
    const clock = testClock();
    const store = mapStore(true, {
      '0': {
        committed: 5,
        plans: [
          { firstOffset: 3, lastOffset: 4 }, // before the committed offset
        ],
      },
    });
    const error = expectCode(
      await clock.runUntil(
        rejection(
          pipeline({ name: 'corrupt', clock, checkpoint: store })
            .source(scriptedSource(clock, script(8), { replayable: true }))
            .sink(memorySink())
            .build()
            .run(),
        ),
      ),
      'MB_CHECKPOINT_FAILED',
    );
    expect(error.message).toContain("invalid state for partition '0'");
  });

  it('reports its guarantee: exactly-once, at-least-once or best-effort', () => {
    const replayable = () => scriptedSource(testClock(), [], { replayable: true });
    const build = (checkpoint?: CheckpointStore, source: Source<unknown> = replayable()) =>
      pipeline({ name: 'g', ...(checkpoint && { checkpoint }) })
        .source(source)
        .sink(memorySink())
        .build();
    expect(build(mapStore(true)).metrics().guarantee).toBe('exactly-once');
    expect(build(mapStore(false)).metrics().guarantee).toBe('at-least-once');
    expect(build().metrics().guarantee).toBe('at-least-once');
    expect(build(undefined, fromIterable([])).metrics().guarantee).toBe('best-effort');
    expect(build(mapStore(true)).metrics().checkpoint).toEqual({ kind: 'map', durable: true });
  });

  it('rejects a checkpoint with a source that cannot replay, and a checkpoint that is not a store', () => {
    expectInvalid(
      () =>
        pipeline({ name: 'nr', checkpoint: mapStore() })
          .source(fromIterable([1]))
          .sink(memorySink())
          .build(),
      "pipeline 'nr'",
      'needs a replayable source',
    );
    expectInvalid(
      () =>
        pipeline({ name: 'bad', checkpoint: { dir: '/tmp' } as unknown as CheckpointStore })
          .source(scriptedSource(testClock(), [], { replayable: true }))
          .sink(memorySink())
          .build(),
      'checkpoint must be a CheckpointStore',
    );
  });

  it('a stop in the middle of a replay leaves the plan to the next run, whole', async () => {
    const clock = testClock();
    const store = mapStore(true, { '0': { plans: [{ firstOffset: 0, lastOffset: 5 }] } });
    const sink = memorySink<number>();
    // Offsets 0–2 are there now, 3–5 arrive later: the stop comes in between.
    const records = script(6).map((r, i) => ({ ...r, at: i < 3 ? 0 : 10_000 }));
    const p = pipeline({ name: 'half', clock, checkpoint: store })
      .source(scriptedSource(clock, records, { replayable: true, endless: true }))
      .sink(sink)
      .build();
    await p.start();
    await clock.advance(100);
    const report = await clock.runUntil(p.stop());
    expect(sink.batches).toEqual([]);
    expect(report.undelivered).toEqual([
      { partition: '0', firstOffset: 0, lastOffset: 2, records: 3, state: 'buffered' },
    ]);
    expect(store.states.get('0')).toEqual({ plans: [{ firstOffset: 0, lastOffset: 5 }] });

    // The next run gets the whole range.
    const clock2 = testClock(clock.now());
    const sink2 = memorySink<number>();
    await clock2.runUntil(
      pipeline({ name: 'half', clock: clock2, checkpoint: store })
        .source(scriptedSource(clock2, script(6), { replayable: true }))
        .sink(sink2)
        .build()
        .run(),
    );
    expect(sink2.batches.map((b) => [b.id, b.reason])).toEqual([
      ['half.0.0000000000000000-0000000000000005', 'replay'],
    ]);
  });
});
