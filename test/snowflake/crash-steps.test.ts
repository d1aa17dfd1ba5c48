/**
 * A crash at each step of the snowflakeSink's per-batch protocol, injected in-process, then
 * recovery by a new pipeline (new sink, new connection, same checkpoint directory, same double):
 * - after the stage write (the Parquet file is on the stage, no transaction began);
 * - after COPY, before COMMIT (the session dies: the transaction with the COPY and the ledger row
 *   rolls back, and with it the file's load history);
 * - after COMMIT, before the source commit (rows and ledger row are in; the checkpoint still says
 *   the batch is not committed).
 * Afterwards the table holds every record exactly once, the ledger each batch once, and no COPY
 * ever used FORCE.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileCheckpoint } from '../../src/checkpoint/file.js';
import type { CheckpointStore, PartitionCheckpoint } from '../../src/checkpoint/types.js';
import type { ObjectStorage } from '../../src/lake/storage.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { snowflakeSink } from '../../src/snowflake/index.js';
import { testClock } from '../../src/testing/clock.js';
import { type ScriptedRecord, scriptedSource } from '../../src/testing/scripted-source.js';
import { triggers } from '../../src/triggers/index.js';
import type { SnowflakeConnectionLike } from '../support/snowflake/index.js';
import { rejection } from '../support.js';
import { Event, ids, ledger, STAGE, TABLE, type World, world } from './sink-helpers.js';

let w: World | undefined;
let checkpoints: string | undefined;
afterEach(async () => {
  await w?.close();
  if (checkpoints !== undefined) await rm(checkpoints, { recursive: true, force: true });
  w = undefined;
  checkpoints = undefined;
});

type Step = 'after the stage write' | 'after COPY, before COMMIT' | 'after COMMIT, before the source commit';

/** 60 records over two partitions, 4 per 100 ms. */
const script: ScriptedRecord<Event>[] = Array.from({ length: 60 }, (_, i) => ({
  at: Math.floor(i / 4) * 100,
  partition: i % 2 === 0 ? 'a' : 'b',
  value: { id: `e${i}`, n: i },
}));

class Crash extends Error {
  constructor(step: Step) {
    super(`crash ${step}`);
  }
}

/** A stage storage whose `putIfAbsent` number `at` writes the file, then crashes. */
function crashingStorage(storage: ObjectStorage, at: number): ObjectStorage {
  let puts = 0;
  return {
    ...storage,
    async putIfAbsent(key, body, options) {
      const result = await storage.putIfAbsent(key, body, options);
      if (++puts === at) throw new Crash('after the stage write');
      return result;
    },
  };
}

/** A checkpoint store whose first source commit after `commits()` reached `at` crashes before it is saved. */
function crashingCheckpoint(store: CheckpointStore, commits: () => number, at: number): CheckpointStore {
  const last = new Map<string, number | undefined>();
  let crashed = false;
  return {
    kind: store.kind,
    durable: store.durable,
    open: (context) => store.open?.(context),
    load: (partition) => store.load(partition),
    close: () => store.close?.(),
    async save(partition: string, state: PartitionCheckpoint) {
      const advances = state.committed !== undefined && state.committed !== last.get(partition);
      if (!crashed && advances && commits() >= at) {
        crashed = true;
        throw new Crash('after COMMIT, before the source commit');
      }
      await store.save(partition, state);
      last.set(partition, state.committed);
    },
  };
}

async function run(
  step: Step | undefined,
  at: number,
): Promise<{ result: unknown; connection: SnowflakeConnectionLike }> {
  const double = w!.double;
  const connection = double.connection();
  const okCommits = () =>
    double.statements.filter(
      (s) => s.session === connection.getId() && s.kind === 'COMMIT' && s.outcome === 'ok',
    ).length;
  if (step === 'after COPY, before COMMIT') {
    // The process dies once the COPY and the ledger row are in: the COMMIT never arrives; the
    // session ends with the client, and its transaction rolls back.
    double.inject({
      kind: 'COMMIT',
      session: connection.getId(),
      when: () => okCommits() + 1 === at,
      error: new Crash(step),
      terminate: true,
      times: 1,
    });
  }
  const clock = testClock();
  const store = fileCheckpoint({ dir: checkpoints! });
  const sink = snowflakeSink({
    connection,
    table: TABLE,
    stage: {
      name: `${STAGE}/events`,
      storage: step === 'after the stage write' ? crashingStorage(w!.storage, at) : w!.storage,
    },
    schema: Event,
  });
  const checkpoint =
    step === 'after COMMIT, before the source commit' ? crashingCheckpoint(store, okCommits, at) : store;
  const p = pipeline({
    name: 'crash',
    clock,
    checkpoint,
    concurrency: 1,
    retry: { initialDelay: 10, maxDelay: 40 },
  })
    .source(scriptedSource(clock, script, { replayable: true }))
    .trigger(triggers.volume({ records: 5 }))
    .sink(sink)
    .build();
  const running = p.run();
  const result =
    step === undefined ? await clock.runUntil(running) : await clock.runUntil(rejection(running));
  return { result, connection };
}

const steps: Step[] = [
  'after the stage write',
  'after COPY, before COMMIT',
  'after COMMIT, before the source commit',
];

describe('snowflakeSink: a crash at each step of a batch, then recovery', () => {
  for (const step of steps) {
    for (const at of [1, 4]) {
      it(`${step} (batch ${at}): no loss, no duplicate`, async () => {
        w = await world();
        checkpoints = await mkdtemp(join(tmpdir(), 'snowflake-crash-'));
        const double = w.double;

        const crashed = await run(step, at);
        expect(String((crashed.result as Error).message)).toContain(`crash ${step}`);
        const before = await ids(double);
        expect(before.length).toBeLessThan(script.length);
        expect(new Set(before).size).toBe(before.length);
        const staged = (await w.storage.list('events/')).objects.length;
        if (step === 'after the stage write') {
          // The file of the crashed batch is on the stage; its rows are not in the table.
          expect(staged).toBe(at);
          expect(before).toHaveLength((at - 1) * 5);
        }
        if (step === 'after COPY, before COMMIT') {
          // The COPY ran in the transaction that died with the session: nothing of it remains.
          expect(
            double.statementsOf('COPY').filter((s) => s.session === crashed.connection.getId()).length,
          ).toBe(at);
          expect(before).toHaveLength((at - 1) * 5);
          expect(double.loadHistory(TABLE)).toHaveLength(at - 1);
        }
        if (step === 'after COMMIT, before the source commit')
          expect(before.length).toBeGreaterThanOrEqual(at * 5);

        // Recovery: a new pipeline, sink and connection over the same checkpoint and warehouse.
        const recovered = await run(undefined, 0);
        expect((recovered.result as { status: string }).status).toBe('completed');
        expect(await ids(double)).toEqual(script.map((r) => r.value.id).sort());
        const batches = await ledger(double);
        expect(batches).toHaveLength(script.length / 5);
        expect(new Set(batches).size).toBe(batches.length);
        expect(double.loadHistory(TABLE)).toHaveLength(script.length / 5);
        expect(double.statementsOf('COPY').every((s) => !/FORCE/i.test(s.sqlText))).toBe(true);
      });
    }
  }
});
