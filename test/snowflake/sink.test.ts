/** snowflakeSink over the contract double: the per-batch protocol, replays, failures and their classes. */
import { afterEach, describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { fileStorage } from '../../src/lake/file-storage.js';
import {
  type SnowflakeLoad,
  snowflakeInternalStage,
  snowflakeSink,
  stagedFileName,
} from '../../src/snowflake/index.js';
import { exec } from '../support/snowflake/double.js';
import { rejection } from '../support.js';
import { batch, Event, ids, ledger, STAGE, TABLE, type World, world, write } from './sink-helpers.js';

let w: World | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

function sinkOf(world: World, extra: Partial<Parameters<typeof snowflakeSink>[0]> = {}) {
  return snowflakeSink({
    connection: world.double.connection(),
    table: TABLE,
    stage: { name: `${STAGE}/events`, storage: world.storage },
    schema: Event,
    ...extra,
  });
}

/** The statements of the sink's session(s) since `from`, as kinds, the helper's queries left out. */
function kinds(world: World, from = 0): string[] {
  return world.double.statements
    .slice(from)
    .filter((s) => !/^SELECT "ID"|^SELECT "PARTITION"/.test(s.sqlText))
    .map((s) => s.kind);
}

describe('snowflakeSink over the double', () => {
  it('stages the batch write-once, then BEGIN, ledger lookup, COPY, ledger insert, COMMIT', async () => {
    w = await world();
    const loads: SnowflakeLoad[] = [];
    const sink = sinkOf(w, { onLoad: (load) => loads.push(load) });
    await sink.open(w.context);
    const from = w.double.statements.length;
    const b = batch('0', 0, 2);
    await sink.write(b, write);
    expect(kinds(w, from)).toEqual(['BEGIN', 'SELECT', 'COPY', 'INSERT', 'COMMIT']);
    const copy = w.double.statementsOf('COPY').at(-1)!;
    expect(copy.sqlText).toBe(
      `COPY INTO "DB"."SCH"."EVENTS" FROM @DB.SCH.STG/events FILES = ('${stagedFileName(b.id)}') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT`,
    );
    expect(await w.storage.head(`events/${stagedFileName(b.id)}`)).toBeDefined();
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    expect(await ledger(w.double)).toEqual([`0:${b.id}`]);
    expect(await sink.committed('0')).toBe(2);
    expect(await sink.committed('1')).toBeUndefined();
    expect(loads).toMatchObject([{ batchId: b.id, staged: 'created', copy: 'loaded', rows: 3 }]);
    // Record values travel as Parquet and binds only; no statement names FORCE or PURGE.
    for (const s of w.double.statements) {
      expect(s.sqlText).not.toMatch(/FORCE|PURGE|0-1/);
    }
  });

  it('writes a replayed batch id once: the ledger lookup finds it and rolls back', async () => {
    w = await world();
    const loads: SnowflakeLoad[] = [];
    const sink = sinkOf(w, { onLoad: (load) => loads.push(load) });
    await sink.open(w.context);
    await sink.write(batch('0', 0, 2), write);
    const from = w.double.statements.length;
    await sink.write(batch('0', 0, 2), write);
    expect(kinds(w, from)).toEqual(['BEGIN', 'SELECT', 'ROLLBACK']);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    expect(loads.at(-1)).toMatchObject({ staged: 'exists', copy: 'in-ledger', rows: 0 });
  });

  for (const skippedFiles of ['rows', 'omit'] as const) {
    it(`counts files COPY says were loaded before as written (${skippedFiles === 'rows' ? 'LOAD_SKIPPED' : '0 files processed'}), no new rows`, async () => {
      w = await world({ skippedFiles });
      const loads: SnowflakeLoad[] = [];
      const sink = sinkOf(w, { onLoad: (load) => loads.push(load) });
      await sink.open(w.context);
      const b = batch('0', 0, 2);
      await sink.write(b, write);
      // The ledger lost the row (someone deleted it); the load history still has the file.
      await w.double.query('DELETE FROM "DB"."SCH"."MICROBATCH_LEDGER"');
      await sink.write(b, write);
      expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
      expect(await ledger(w.double)).toEqual([`0:${b.id}`]);
      expect(loads.at(-1)).toMatchObject({ copy: 'loaded-before', rows: 0 });
    });
  }

  it('ignores an onLoad that throws: the batch is committed and not written again', async () => {
    w = await world();
    const sink = sinkOf(w, {
      onLoad: () => {
        throw new Error('observer bug');
      },
    });
    await sink.open(w.context);
    await sink.write(batch('0', 0, 2), write);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    expect(w.double.statementsOf('COPY').length).toBe(1);
  });

  it('fails with MB_LEDGER_AHEAD when another batch of the partition overlaps, writing nothing', async () => {
    w = await world();
    const sink = sinkOf(w);
    await sink.open(w.context);
    await sink.write(batch('0', 0, 9), write);
    const from = w.double.statements.length;
    const error = await rejection(sink.write(batch('0', 5, 12), write));
    expect(MicrobatchError.is(error, 'MB_LEDGER_AHEAD')).toBe(true);
    expect((error as Error).message).toMatch(/overlaps this batch's range 5–12/);
    expect(kinds(w, from)).toEqual(['BEGIN', 'SELECT', 'ROLLBACK']);
    expect((await ids(w.double)).length).toBe(10);
  });

  for (const code of ['000610', '000625', '000630', 'ECONNRESET']) {
    it(`rolls back and retries on ${code} (back-pressure), loading once`, async () => {
      w = await world();
      const sink = sinkOf(w);
      await sink.open(w.context);
      w.double.inject({ kind: 'COPY', error: code, times: 1 });
      const from = w.double.statements.length;
      const error = await rejection(sink.write(batch('0', 0, 2), write));
      expect(MicrobatchError.is(error, 'MB_SINK_FAILED')).toBe(true);
      expect((error as MicrobatchError).retryable).toBe(true);
      expect((error as MicrobatchError).details).toMatchObject({
        class: 'backpressure',
        statement: 'COPY INTO "DB"."SCH"."EVENTS"',
      });
      expect(kinds(w, from)).toEqual(['BEGIN', 'SELECT', 'COPY', 'ROLLBACK']);
      await sink.write(batch('0', 0, 2), write);
      expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    });
  }

  it('survives a COMMIT whose answer was lost: the retry finds the ledger row', async () => {
    w = await world();
    const sink = sinkOf(w);
    await sink.open(w.context);
    w.double.inject({ kind: 'COMMIT', error: 'network', ran: true, times: 1 });
    const error = await rejection(sink.write(batch('0', 0, 2), write));
    expect((error as MicrobatchError).retryable).toBe(true);
    await sink.write(batch('0', 0, 2), write);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    expect(await sink.committed('0')).toBe(2);
  });

  it('fails fatally on 390114 without connect(), saying to pass one', async () => {
    w = await world();
    const sink = sinkOf(w);
    await sink.open(w.context);
    w.double.inject({ kind: 'BEGIN', error: '390114', times: 1 });
    const error = (await rejection(sink.write(batch('0', 0, 2), write))) as MicrobatchError;
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/390114.*pass connect: \(\) => …/);
  });

  it('opens a new connection through connect() after 390114 and goes on', async () => {
    w = await world();
    const double = w.double;
    let opened = 0;
    const sink = sinkOf(w, {
      connection: undefined,
      connect: () => {
        opened++;
        return double.connection();
      },
    });
    await sink.open(w.context);
    expect(opened).toBe(1);
    double.inject({ kind: 'COPY', error: '390114', times: 1 });
    const error = (await rejection(sink.write(batch('0', 0, 2), write))) as MicrobatchError;
    expect(error.retryable).toBe(true);
    await sink.write(batch('0', 0, 2), write);
    expect(opened).toBe(2);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
  });

  for (const [code, pattern] of [
    ['001003', /COPY INTO "DB"."SCH"."EVENTS" failed \(001003.*Hint: a SQL compilation error/],
    ['003001', /COPY INTO "DB"."SCH"."EVENTS" failed \(003001.*Hint: the role lacks a privilege/],
  ] as const) {
    it(`is fatal on ${code}, naming the statement`, async () => {
      w = await world();
      const sink = sinkOf(w);
      await sink.open(w.context);
      w.double.inject({ kind: 'COPY', error: code, times: 1 });
      const error = (await rejection(sink.write(batch('0', 0, 2), write))) as MicrobatchError;
      expect(error.code).toBe('MB_SINK_FAILED');
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(pattern);
      expect(await ids(w.double)).toEqual([]);
    });
  }

  it('refuses to record a batch COPY did not see: stage.name and stage.storage pointing apart', async () => {
    w = await world({ skippedFiles: 'omit' });
    const elsewhere = fileStorage(`${w.dir}/elsewhere`);
    const sink = sinkOf(w, { stage: { name: `${STAGE}/events`, storage: elsewhere } });
    await sink.open(w.context);
    const error = (await rejection(sink.write(batch('0', 0, 2), write))) as MicrobatchError;
    expect(error.message).toMatch(
      /stage.name and stage.storage must point at the same location|does not exist|not found/,
    );
    expect(await ledger(w.double)).toEqual([]);
  });

  it('creates the ledger when missing, and checks the table on open()', async () => {
    w = await world();
    await w.double.query('DROP TABLE "DB"."SCH"."MICROBATCH_LEDGER"');
    const sink = sinkOf(w);
    await sink.open(w.context);
    expect(await ledger(w.double)).toEqual([]);
    const missing = sinkOf(w, { table: 'DB.SCH.NOPE' });
    const error = (await rejection(missing.open(w.context))) as MicrobatchError;
    expect(error.message).toMatch(/cannot load into "DB"."SCH"."NOPE".*snowflakeTableDDL/);
    const created = sinkOf(w, { table: 'DB.SCH.NEW_EVENTS', createTable: true });
    await created.open(w.context);
    await created.write(batch('0', 0, 1), write);
    expect(await ids(w.double, 'DB.SCH.NEW_EVENTS')).toEqual(['0-0', '0-1']);
  });

  it('runs one transaction at a time on a shared connection', async () => {
    w = await world();
    const connection = w.double.connection();
    const a = sinkOf(w, { connection });
    const b = sinkOf(w, { connection });
    await a.open(w.context);
    await b.open(w.context);
    const from = w.double.statements.length;
    await Promise.all([
      a.write(batch('0', 0, 4), write),
      b.write(batch('1', 0, 4), write),
      a.write(batch('2', 0, 4), write),
    ]);
    const seen = kinds(w, from).join(' ');
    expect(seen).toBe(Array(3).fill('BEGIN SELECT COPY INSERT COMMIT').join(' '));
    expect((await ids(w.double)).length).toBe(15);
  });

  it('rolls back a write aborted mid-transaction, and the rewrite loads once', async () => {
    w = await world();
    const sink = sinkOf(w);
    await sink.open(w.context);
    w.double.inject({ kind: 'COPY', latencyMs: 100, times: 1 });
    const controller = new AbortController();
    const copies = w.double.statementsOf('COPY').length;
    const from = w.double.statements.length;
    const pending = sink.write(batch('0', 0, 2), { signal: controller.signal, attempt: 1 });
    // Aborted while the COPY runs: the transaction is open.
    const poll = setInterval(() => {
      if (w!.double.statementsOf('COPY').length > copies) {
        clearInterval(poll);
        controller.abort(new Error('stop'));
      }
    }, 1);
    expect(MicrobatchError.is(await rejection(pending), 'MB_ABORTED')).toBe(true);
    await sink.write(batch('0', 0, 2), write);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    // The aborted transaction rolls back before the rewrite's begins (one transaction at a time).
    expect(kinds(w, from)).toEqual([
      'BEGIN',
      'SELECT',
      'COPY',
      'ROLLBACK',
      'BEGIN',
      'SELECT',
      'COPY',
      'INSERT',
      'COMMIT',
    ]);
  });

  it('stages through PUT for an internal stage (AUTO_COMPRESS=FALSE, OVERWRITE=FALSE)', async () => {
    w = await world();
    const connection = w.double.connection();
    const internal = fileStorage(`${w.dir}/internal`);
    w.double.addStage('@DB.SCH.INTERNAL', internal);
    const stage = snowflakeInternalStage({ connection, stage: '@DB.SCH.INTERNAL' });
    const loads: SnowflakeLoad[] = [];
    const sink = sinkOf(w, {
      connection,
      stage: { name: '@DB.SCH.INTERNAL/events', storage: stage },
      onLoad: (load) => loads.push(load),
    });
    await sink.open(w.context);
    await sink.write(batch('0', 0, 2), write);
    const put = w.double.statementsOf('PUT')[0]!;
    expect(put.sqlText).toMatch(
      /^PUT 'file:\/\/\/.*\/part-[^/]+\.parquet' @DB\.SCH\.INTERNAL\/events AUTO_COMPRESS=FALSE OVERWRITE=FALSE$/,
    );
    expect(await internal.head(`events/${stagedFileName(batch('0', 0, 2).id)}`)).toBeDefined();
    await w.double.query('DELETE FROM "DB"."SCH"."MICROBATCH_LEDGER"');
    await sink.write(batch('0', 0, 2), write);
    expect(loads.map((l) => [l.staged, l.copy])).toEqual([
      ['created', 'loaded'],
      ['exists', 'loaded-before'],
    ]);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    expect((await exec(connection, 'SELECT COUNT(*) AS "N" FROM "DB"."SCH"."EVENTS"'))[0]).toBeDefined();
  });
});
