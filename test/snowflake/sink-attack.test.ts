/** snowflakeSink attacked as a hostile user would: odd staged files, short COPY results, secrets in errors. */
import { afterEach, describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { scrubSecrets } from '../../src/snowflake/errors.js';
import { type SnowflakeLoad, snowflakeSink, stagedFileName } from '../../src/snowflake/index.js';
import type { SnowflakeConnectionLike, SnowflakeExecuteOptions } from '../../src/snowflake/types.js';
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

/** `connection`, with COPY's answer rewritten by `edit`. */
function rewritingCopy(
  connection: SnowflakeConnectionLike,
  edit: (rows: Record<string, unknown>[]) => Record<string, unknown>[],
): SnowflakeConnectionLike {
  return {
    execute(options: SnowflakeExecuteOptions) {
      if (!options.sqlText.startsWith('COPY')) return connection.execute(options);
      return connection.execute({
        ...options,
        complete: (err, stmt, rows) => options.complete(err, stmt, rows === undefined ? rows : edit(rows)),
      });
    },
  };
}

describe('snowflakeSink under attack', () => {
  it('never loads a staged file of other content as the batch: its own records load under another name', async () => {
    w = await world();
    const loads: SnowflakeLoad[] = [];
    const sink = sinkOf(w, { onLoad: (load) => loads.push(load) });
    await sink.open(w.context);
    const b = batch('0', 0, 2);
    // Another run staged other records under this batch's key (and never loaded them).
    const other = { ...b, records: b.records.map((r) => ({ ...r, id: `other-${r.n}` })) };
    w.double.inject({ kind: 'COPY', error: '001003', times: 1 });
    await rejection(sink.write(other, write));
    expect(await w.storage.head(`events/${stagedFileName(b.id)}`)).toBeDefined();
    await sink.write(b, write);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    expect(await ledger(w.double)).toEqual([`0:${b.id}`]);
    expect(loads.at(-1)).toMatchObject({ copy: 'loaded', records: 3, rows: 3 });
    expect(loads.at(-1)!.url).not.toContain(stagedFileName(b.id));
    // A replay of the same records finds the ledger row.
    await sink.write(b, write);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
    expect(loads.at(-1)).toMatchObject({ copy: 'in-ledger' });
  });

  it('does not count a LOADED file with fewer rows than the batch as written', async () => {
    w = await world();
    const sink = sinkOf(w, {
      connection: rewritingCopy(w.double.connection(), (rows) =>
        rows.map((r) => ({ ...r, rows_loaded: Number(r.rows_loaded) - 1 })),
      ),
    });
    await sink.open(w.context);
    const error = (await rejection(sink.write(batch('0', 0, 2), write))) as MicrobatchError;
    expect(error.code).toBe('MB_SINK_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/loaded 2 rows.*3 records/);
    expect(await ids(w.double)).toEqual([]);
    expect(await ledger(w.double)).toEqual([]);
  });

  for (const status of ['PARTIALLY_LOADED', 'LOAD_FAILED']) {
    it(`does not count ${status} as written, and rolls back`, async () => {
      w = await world();
      const sink = sinkOf(w, {
        connection: rewritingCopy(w.double.connection(), (rows) =>
          rows.map((r) => ({ ...r, status, first_error: 'Numeric value is not recognized' })),
        ),
      });
      await sink.open(w.context);
      const error = (await rejection(sink.write(batch('0', 0, 2), write))) as MicrobatchError;
      expect(error.code).toBe('MB_SINK_FAILED');
      expect(error.message).toContain(status);
      expect(await ids(w.double)).toEqual([]);
      expect(await ledger(w.double)).toEqual([]);
    });
  }

  it('keeps secrets a driver error carries out of MicrobatchError messages', async () => {
    w = await world();
    const leaky = Object.assign(
      new Error(
        'Failed to connect to account xy12345 with user LOADER password=hunter2 token: ver:1-hint:abc123secret',
      ),
      { code: '390100' },
    );
    const sink = sinkOf(w, {
      connection: undefined,
      connect: () => {
        throw leaky;
      },
    });
    const error = (await rejection(sink.open(w.context))) as MicrobatchError;
    expect(error).toBeInstanceOf(MicrobatchError);
    expect(error.message).not.toMatch(/hunter2|abc123secret/);
    const failing = sinkOf(w, {
      connection: {
        execute(options: SnowflakeExecuteOptions) {
          options.complete(Object.assign(leaky, { code: '000610' }), {}, undefined);
        },
      },
    });
    const second = (await rejection(failing.open(w.context))) as MicrobatchError;
    expect(second.message).not.toMatch(/hunter2|abc123secret/);
  });

  it('after the 64-day load history expired, a replay is still stopped by the ledger', async () => {
    w = await world();
    const sink = sinkOf(w);
    await sink.open(w.context);
    const b = batch('0', 0, 2);
    await sink.write(b, write);
    w.double.advance(65 * 24 * 3600 * 1000);
    const from = w.double.statements.length;
    await sink.write(b, write);
    expect(w.double.statementsOf('COPY').filter((s) => w!.double.statements.indexOf(s) >= from)).toEqual([]);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
  });

  for (const kind of ['COPY', 'INSERT', 'COMMIT'] as const) {
    for (const ran of [false, true]) {
      it(`390114 on ${kind}${ran ? ' (ran, answer lost)' : ''} with connect(): the batch is retried whole on a new session, loaded once`, async () => {
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
        double.inject({ kind, error: '390114', ran, times: 1 });
        const error = (await rejection(sink.write(batch('0', 0, 2), write))) as MicrobatchError;
        expect(error.retryable).toBe(true);
        // Nothing half done: the old session's transaction is gone, unless its COMMIT ran.
        expect(await ids(double)).toEqual(kind === 'COMMIT' && ran ? ['0-0', '0-1', '0-2'] : []);
        await sink.write(batch('0', 0, 2), write);
        expect(opened).toBe(2);
        expect(await ids(double)).toEqual(['0-0', '0-1', '0-2']);
        expect(await ledger(double)).toHaveLength(1);
      });
    }
  }

  it('loads a batch of a partition with odd characters under a safe file name, the partition bound', async () => {
    w = await world();
    const sink = sinkOf(w);
    await sink.open(w.context);
    const partition = 'a/../b\'); DROP TABLE "DB"."SCH"."EVENTS"; --é';
    const b = batch(partition, 0, 1);
    await sink.write(b, write);
    const copy = w.double.statementsOf('COPY').at(-1)!;
    expect(copy.sqlText).toMatch(/FILES = \('part-[A-Za-z0-9._=-]+\.parquet'\)/);
    expect(await sink.committed(partition)).toBe(1);
    expect((await ids(w.double)).length).toBe(2);
  });

  it('after 390114 on a given connection, a reopened sink does not go back to that dead connection', async () => {
    w = await world();
    const double = w.double;
    let opened = 0;
    const sink = sinkOf(w, {
      connect: () => {
        opened++;
        return double.connection();
      },
    });
    await sink.open(w.context);
    double.inject({ kind: 'COPY', error: '390114', times: 1 });
    await rejection(sink.write(batch('0', 0, 2), write));
    await sink.write(batch('0', 0, 2), write);
    expect(opened).toBe(1);
    sink.close();
    await sink.open(w.context);
    await sink.write(batch('0', 3, 5), write);
    expect(await sink.committed('0')).toBe(5);
    expect((await ids(double)).length).toBe(6);
  });

  it('does not count an empty COPY answer as loaded before, even for a file staged by an earlier attempt', async () => {
    w = await world();
    let empty = true;
    const sink = sinkOf(w, {
      connection: rewritingCopy(w.double.connection(), (rows) => (empty ? [] : rows)),
    });
    await sink.open(w.context);
    const b = batch('0', 0, 2);
    // An earlier attempt staged the file and crashed before its transaction.
    w.double.inject({ kind: 'BEGIN', error: '000610', times: 1 });
    await rejection(sink.write(b, write));
    const error = (await rejection(sink.write(b, write))) as MicrobatchError;
    expect(error.code).toBe('MB_SINK_FAILED');
    expect(error.message).toMatch(/COPY answered no rows/);
    expect(await ledger(w.double)).toEqual([]);
    empty = false;
    await sink.write(b, write);
    expect(await ids(w.double)).toEqual(['0-0', '0-1', '0-2']);
  });

  it('scrubs the credential forms a driver or proxy message may carry', () => {
    const said = scrubSecrets(
      'connect https://loader:s3cr3t@xy12345.snowflakecomputing.com failed; {"password": "p@ss w0rd", privateKeyPass=kp1, token: tk2, Authorization: Bearer abc123}',
    );
    expect(said).not.toMatch(/s3cr3t|p@ss|w0rd|kp1|tk2|abc123/);
    expect(said).toContain('https://loader:***@xy12345.snowflakecomputing.com');
  });
});
