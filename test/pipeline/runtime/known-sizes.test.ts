/**
 * The ingest's known-sizes path (chunks that carry each record's size, as Kafka's do) takes records
 * in runs. It must cut the same batches as the exact, record-by-record path: the same records, ids,
 * offsets, metadata, reasons and dead letters, under any budget, record cap and record sizes. (A
 * record without a size is sized differently by the two paths by design — the sampled average, or
 * an estimate of that record — so every record here has one.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../../../src/core/batch.js';
import { silentLogger } from '../../../src/core/logger.js';
import { pipeline } from '../../../src/pipeline/builder.js';
import { memorySink } from '../../../src/sinks/memory.js';
import type { Source, SourceChunk } from '../../../src/sources/types.js';
import { triggers } from '../../../src/triggers/index.js';
import type { Trigger } from '../../../src/triggers/types.js';

/** A source handing over the given chunks (copied: the pipeline may keep the arrays). */
function chunkSource(chunks: SourceChunk<number>[]): Source<number> {
  return {
    kind: 'chunks',
    replayable: false,
    open() {
      let next = 0;
      return {
        read() {
          const chunk = chunks[next++];
          if (chunk === undefined) return null;
          return {
            ...chunk,
            values: chunk.values.slice(),
            ...(chunk.offsets !== undefined && { offsets: chunk.offsets.slice() }),
            ...(chunk.bytes !== undefined && { bytes: chunk.bytes.slice() }),
            ...(chunk.eventTimes !== undefined && { eventTimes: chunk.eventTimes.slice() }),
            ...(chunk.keys !== undefined && { keys: chunk.keys.slice() }),
          };
        },
        close() {},
      };
    },
  };
}

interface Spec {
  partition: string;
  records: number;
  /** Offsets skipped before each record (0: consecutive). */
  gaps: number[];
  sizes: number[];
  times: boolean;
  keys: boolean;
  listed: boolean;
  owned: boolean;
}

const specArb = (maxSize: number) =>
  fc.integer({ min: 1, max: 60 }).chain((records) =>
    fc.record({
      partition: fc.constantFrom('a', 'b', 'c'),
      records: fc.constant(records),
      gaps: fc.array(fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 3 })), {
        minLength: records,
        maxLength: records,
      }),
      sizes: fc.array(
        fc.oneof(
          { weight: 8, arbitrary: fc.integer({ min: 1, max: 400 }) },
          { weight: 1, arbitrary: fc.integer({ min: 1, max: maxSize }) },
        ),
        { minLength: records, maxLength: records },
      ),
      times: fc.boolean(),
      keys: fc.boolean(),
      listed: fc.boolean(),
      owned: fc.boolean(),
    }),
  );

/** Chunks from specs: offsets increase per partition; values are the offsets. */
function chunksOf(specs: Spec[]): SourceChunk<number>[] {
  const next = new Map<string, number>();
  return specs.map((spec) => {
    let offset = next.get(spec.partition) ?? 0;
    const offsets: number[] = [];
    for (let i = 0; i < spec.records; i++) {
      offset += spec.gaps[i]!;
      offsets.push(offset++);
    }
    next.set(spec.partition, offset);
    const consecutive = offsets.every((o, i) => o === offsets[0]! + i);
    const chunk: SourceChunk<number> = {
      partition: spec.partition,
      values: offsets.slice(),
      ...(spec.listed || !consecutive ? { offsets } : { firstOffset: offsets[0]! }),
      bytes: spec.sizes,
      owned: spec.owned,
    };
    if (spec.times) chunk.eventTimes = offsets.map((o) => 1_700_000_000_000 + o);
    if (spec.keys) chunk.keys = offsets.map((o) => (o % 3 === 0 ? undefined : `k${o}`));
    return chunk;
  });
}

/** Everything a batch says, without what differs between two runs (times, the run's epoch in the id). */
function shape(batch: Batch<number>) {
  const { openedAt: _o, closedAt: _c, id, ...rest } = batch;
  return { ...rest, id: id.split('.').slice(-1)[0] };
}

/** A dead letter without what differs between two runs. */
function letter(dead: { at: unknown; batchId?: string }) {
  const { at: _at, batchId, ...rest } = dead;
  return { ...rest, batch: batchId?.split('.').slice(-1)[0] };
}

/**
 * A trigger that looks at a lane every `every` records (its headroom) and flushes it once it holds
 * `flushAt`: the trigger's checks, not only the record cap, must fall where the exact path has them.
 */
function everyTrigger(every: number, flushAt: number, cap: number): Trigger {
  return {
    description: `every ${every}`,
    mode: 'test',
    usesBytes: false,
    caps: { records: cap, bytes: Number.POSITIVE_INFINITY },
    check: (lane) => (lane.records >= flushAt ? 'records' : undefined),
    deadline: () => Number.POSITIVE_INFINITY,
    headroom: () => every,
  };
}

async function run(chunks: SourceChunk<number>[], budget: number, trigger: Trigger, exact: boolean) {
  const sink = memorySink<number>();
  const report = await pipeline({
    name: 'known',
    logger: silentLogger,
    maxBufferBytes: budget,
    // Set explicitly to the default limit, so the exact path sizes every record with no other change.
    ...(exact && { maxRecordBytes: Math.min(1024 * 1024, budget) }),
  })
    .source(chunkSource(chunks))
    .trigger(trigger)
    .sink(sink)
    .build()
    .run();
  return { batches: sink.batches.map(shape), report };
}

describe('ingest: the known-sizes path', () => {
  it('cuts the same batches as the exact path, record for record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 500, max: 20_000 }),
        fc.integer({ min: 1, max: 40 }),
        fc.option(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 30 }))),
        fc.array(specArb(30_000), { minLength: 1, maxLength: 12 }),
        async (budget, cap, every, specs) => {
          const chunks = chunksOf(specs);
          const trigger = () =>
            every === null ? triggers.volume({ records: cap }) : everyTrigger(every[0], every[1], cap);
          const known = await run(chunks, budget, trigger(), false);
          const exact = await run(chunks, budget, trigger(), true);
          expect(known.batches).toEqual(exact.batches);
          expect(known.report.records).toEqual(exact.report.records);
          expect(known.report.deadLetters?.map(letter)).toEqual(exact.report.deadLetters?.map(letter));
          // Every record once, in order per partition; metadata aligned with the values.
          const total = specs.reduce((sum, s) => sum + s.records, 0);
          const written = known.batches.reduce((sum, b) => sum + b.records.length, 0);
          expect(written + (known.report.deadLetters?.length ?? 0)).toBe(total);
          for (const batch of known.batches) {
            if (batch.eventTimes !== undefined) expect(batch.eventTimes).toHaveLength(batch.records.length);
            if (batch.keys !== undefined) expect(batch.keys).toHaveLength(batch.records.length);
            if (batch.offsets !== undefined) expect(batch.offsets).toEqual(batch.records);
            else expect(batch.records).toEqual(batch.records.map((_, i) => batch.firstOffset + i));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sizes a record the usual way when its known size runs short, is not a number or is negative (it hung on NaN)', async () => {
    const values = Array.from({ length: 50 }, (_, i) => i);
    // 24 sizes for 50 values, among them NaN and a negative one.
    const bytes = [10, 10, Number.NaN, 10, -500, ...Array.from({ length: 19 }, () => 10)];
    for (const exact of [false, true]) {
      const chunks: SourceChunk<number>[] = [{ partition: 'a', values, firstOffset: 0, bytes, owned: false }];
      const outcome = await Promise.race([
        run(chunks, 10_000, triggers.volume({ records: 7 }), exact),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000)),
      ]);
      expect(outcome).not.toBe('hung');
      if (outcome === 'hung') return;
      expect(outcome.report.status).toBe('completed');
      expect(outcome.batches.flatMap((b) => b.records)).toEqual(values);
      expect(outcome.batches.map((b) => b.records.length)).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
    }
  });
});
