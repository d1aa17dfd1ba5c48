/**
 * The Snowflake double's driver surface, sessions and transactions, fault injection, statement
 * record and remote use, against the documented behaviour (SNOWFLAKE-S3.md §1.4–1.6, §3, §10).
 * COPY and PUT: double-copy.test.ts.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWorker } from '../support/processes.js';
import {
  exec,
  remoteSnowflakeConnection,
  type SnowflakeConnectionLike,
  SnowflakeDouble,
  serveSnowflakeDouble,
} from '../support/snowflake/index.js';

const T = '"DB"."SCH"."T"';
let double: SnowflakeDouble;
let a: SnowflakeConnectionLike;
let b: SnowflakeConnectionLike;

beforeEach(async () => {
  double = await SnowflakeDouble.create({ schemas: ['DB.SCH'] });
  a = double.connection();
  b = double.connection();
  await exec(a, `CREATE TABLE ${T} ("ID" NUMBER(38,0) NOT NULL, "NAME" VARCHAR)`);
});

afterEach(async () => {
  await double.close();
});

const ids = async (connection: SnowflakeConnectionLike = b) =>
  (await exec(connection, `SELECT "ID" FROM ${T} ORDER BY "ID"`)).map((r) => r.ID);
const insert = (connection: SnowflakeConnectionLike, id: number) =>
  exec(connection, `INSERT INTO ${T} ("ID", "NAME") VALUES (?, ?)`, [id, `n${id}`]);

describe('driver surface', () => {
  it('execute returns the statement at once and calls complete once, later, with (err, stmt, rows)', async () => {
    const calls: unknown[][] = [];
    const done = new Promise<void>((resolve) => {
      const statement = a.execute({
        sqlText: 'SELECT 1 AS one, \'x\' AS "lower"',
        complete: (...args) => {
          calls.push(args);
          resolve();
        },
      });
      expect(calls).toEqual([]);
      expect(statement.getSqlText()).toBe('SELECT 1 AS one, \'x\' AS "lower"');
      expect(statement.getQueryId()).toBe(statement.getStatementId());
    });
    await done;
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toHaveLength(1);
    const [error, statement, rows] = calls[0] as [
      unknown,
      { getQueryId(): string; getNumRows(): number },
      unknown,
    ];
    expect(error).toBeUndefined();
    expect(rows).toEqual([{ ONE: 1, lower: 'x' }]);
    expect(statement.getNumRows()).toBe(1);
  });

  it('moves pristine → connected → terminated: 407001 before connect, 407002 after destroy, 405503 on reconnect', async () => {
    const c = double.createConnection();
    await expect(exec(c, 'SELECT 1')).rejects.toMatchObject({ code: 407001 });
    await c.connectAsync();
    expect(c.isUp()).toBe(true);
    expect(await exec(c, 'SELECT 2 AS X')).toEqual([{ X: 2 }]);
    await new Promise<void>((resolve) => c.destroy(() => resolve()));
    expect(c.isUp()).toBe(false);
    await expect(exec(c, 'SELECT 1')).rejects.toMatchObject({ code: 407002 });
    await expect(c.connectAsync()).rejects.toMatchObject({ code: 405503 });
  });

  it('binds values to ? placeholders; DML answers the Snowflake counts; Snowflake types map to DuckDB', async () => {
    expect(await insert(a, 1)).toEqual([{ 'number of rows inserted': 1 }]);
    expect(await exec(a, `UPDATE ${T} SET "NAME" = ? WHERE "ID" = ?`, ['one', 1])).toEqual([
      { 'number of rows updated': 1, 'number of multi-joined rows updated': 0 },
    ]);
    await exec(
      a,
      'CREATE TABLE "DB"."SCH"."L" ("K" VARCHAR NOT NULL, "N" NUMBER(38,0), "AT" TIMESTAMP_TZ, "F" FLOAT, "V" VARIANT, PRIMARY KEY ("K"))',
    );
    const merge = `MERGE INTO "DB"."SCH"."L" t USING (SELECT ? AS K, ?::NUMBER(38,0) AS N) s ON t."K" = s.K
      WHEN MATCHED AND s.N > t."N" THEN UPDATE SET "N" = s.N WHEN NOT MATCHED THEN INSERT ("K", "N", "AT") VALUES (s.K, s.N, CURRENT_TIMESTAMP())`;
    expect(await exec(a, merge, ['k', 5])).toEqual([
      { 'number of rows inserted': 1, 'number of rows updated': 0 },
    ]);
    expect(await exec(a, merge, ['k', 7])).toEqual([
      { 'number of rows inserted': 0, 'number of rows updated': 1 },
    ]);
    // PRIMARY KEY is not enforced (Snowflake records it only).
    await exec(a, `INSERT INTO "DB"."SCH"."L" ("K", "N", "AT") VALUES ('k', 1, ?)`, ['2026-01-01T00:00:00Z']);
    const rows = await exec(a, 'SELECT "K", "N", "AT" FROM "DB"."SCH"."L" ORDER BY "N"');
    expect(rows.map((r) => r.N)).toEqual([1, 7]);
    expect(rows[0]!.AT).toEqual(new Date('2026-01-01T00:00:00Z'));
    expect(await exec(a, 'DELETE FROM "DB"."SCH"."L" WHERE "N" < ?', [5])).toEqual([
      { 'number of rows deleted': 1 },
    ]);
  });

  it('MERGE with two source rows for one target row: 100090 Duplicate row detected, nothing changed', async () => {
    await insert(a, 1);
    const dup = (target: string) =>
      exec(
        a,
        `MERGE INTO ${target} USING (SELECT ?::NUMBER AS ID, 'x' AS NAME UNION ALL SELECT ?, 'y') s ON ${target === T ? T : 't'}."ID" = s.ID
         WHEN MATCHED THEN UPDATE SET "NAME" = s.NAME WHEN NOT MATCHED THEN INSERT ("ID", "NAME") VALUES (s.ID, s.NAME)`,
        [1, 1],
      );
    await expect(dup(`${T} t`)).rejects.toMatchObject({ code: '100090', sqlState: '42P18' });
    await expect(dup(T)).rejects.toMatchObject({ code: '100090' });
    expect(await exec(a, `SELECT "NAME" FROM ${T}`)).toEqual([{ NAME: 'n1' }]);
    // Two source rows for two different keys are fine.
    await exec(
      a,
      `MERGE INTO ${T} t USING (SELECT ?::NUMBER AS ID UNION ALL SELECT ?) s ON t."ID" = s.ID
       WHEN MATCHED THEN UPDATE SET "NAME" = 'm' WHEN NOT MATCHED THEN INSERT ("ID", "NAME") VALUES (s.ID, 'i')`,
      [1, 2],
    );
    expect(await exec(a, `SELECT "ID", "NAME" FROM ${T} ORDER BY "ID"`)).toEqual([
      { ID: 1, NAME: 'm' },
      { ID: 2, NAME: 'i' },
    ]);
  });

  it('folds unquoted identifiers to upper case and keeps quoted ones; unknown objects are 002003', async () => {
    await exec(a, 'create table db.sch.lower_case (id number, "quoted" varchar)');
    await exec(a, `insert into db.sch.lower_case (id, "quoted") values (1, 'q')`);
    expect(await exec(a, 'select id, "quoted" from "DB"."SCH"."LOWER_CASE"')).toEqual([
      { ID: 1, quoted: 'q' },
    ]);
    await expect(exec(a, 'SELECT * FROM "DB"."SCH"."MISSING"')).rejects.toMatchObject({
      name: 'OperationFailedError',
      code: '002003',
      sqlState: '42S02',
    });
    await expect(exec(a, 'SELEC nonsense')).rejects.toMatchObject({ code: '001003', sqlState: '42000' });
  });
});

describe('sessions and transactions', () => {
  it('a transaction is visible to other sessions only after COMMIT; ROLLBACK discards it', async () => {
    await exec(a, 'BEGIN');
    await insert(a, 1);
    expect(await ids(a)).toEqual([1]);
    expect(await ids(b)).toEqual([]);
    await exec(a, 'COMMIT');
    expect(await ids(b)).toEqual([1]);
    await exec(a, 'BEGIN TRANSACTION');
    await insert(a, 2);
    await exec(a, 'ROLLBACK');
    expect(await ids(b)).toEqual([1]);
  });

  it('outside BEGIN each statement commits on its own; BEGIN inside a transaction is ignored; COMMIT without one is fine', async () => {
    await insert(a, 1);
    expect(await ids(b)).toEqual([1]);
    await exec(a, 'BEGIN');
    await insert(a, 2);
    await exec(a, 'BEGIN');
    await exec(a, 'ROLLBACK');
    expect(await ids(a)).toEqual([1]);
    await exec(a, 'COMMIT');
    await exec(a, 'ROLLBACK');
  });

  it('DDL commits the open transaction and runs on its own', async () => {
    await exec(a, 'BEGIN');
    await insert(a, 1);
    await exec(a, 'CREATE TABLE "DB"."SCH"."OTHER" ("X" NUMBER)');
    await exec(a, 'ROLLBACK');
    expect(await ids(b)).toEqual([1]);
  });

  it('a statement failing inside a transaction leaves it open (an injected failure)', async () => {
    await exec(a, 'BEGIN');
    await insert(a, 1);
    double.inject({ kind: 'INSERT', error: '000630', times: 1 });
    await expect(insert(a, 2)).rejects.toMatchObject({ code: '000630' });
    await insert(a, 3);
    await exec(a, 'COMMIT');
    expect(await ids(b)).toEqual([1, 3]);
  });

  it('destroying a connection rolls back its open transaction and releases its table locks', async () => {
    await exec(a, 'BEGIN');
    await insert(a, 1);
    let waited = false;
    const other = insert(b, 2).then(() => {
      waited = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(waited).toBe(false);
    await new Promise<void>((resolve) => a.destroy(() => resolve()));
    await other;
    expect(await ids(b)).toEqual([2]);
  });

  it('more than maxLockWaiters statements waiting on one table lock: 000625', async () => {
    await double.close();
    double = await SnowflakeDouble.create({ schemas: ['DB.SCH'], maxLockWaiters: 2 });
    a = double.connection();
    await exec(a, `CREATE TABLE ${T} ("ID" NUMBER(38,0) NOT NULL, "NAME" VARCHAR)`);
    await exec(a, 'BEGIN');
    await insert(a, 1);
    const waiting = [insert(double.connection(), 2), insert(double.connection(), 3)];
    await new Promise((r) => setTimeout(r, 30));
    await expect(insert(double.connection(), 4)).rejects.toMatchObject({ code: '000625', sqlState: '57014' });
    await exec(a, 'COMMIT');
    await Promise.all(waiting);
    expect(await ids(a)).toEqual([1, 2, 3]);
  });
});

describe('fault injection', () => {
  it('fails matching statements with the code, SQL state and driver shape, for N times', async () => {
    const fault = double.inject({ kind: 'INSERT', error: '000610', times: 2 });
    for (let i = 0; i < 2; i++) {
      const error = await insert(a, 1).catch((e: unknown) => e);
      expect(error).toMatchObject({
        name: 'OperationFailedError',
        code: '000610',
        message: expect.stringContaining('Exceeded number of allowed concurrent requests per user'),
        data: { errorCode: '000610', queryId: expect.any(String) },
      });
    }
    await insert(a, 1);
    expect(fault.hits).toBe(2);
    expect(await ids()).toEqual([1]);
  });

  it('matches by regular expression and session, until cleared', async () => {
    const fault = double.inject({ sql: /"NAME" = \?/, session: a.getId(), error: '003001' });
    await expect(exec(a, `UPDATE ${T} SET "NAME" = ? WHERE "ID" = 1`, ['x'])).rejects.toMatchObject({
      code: '003001',
      sqlState: '42501',
    });
    await exec(b, `UPDATE ${T} SET "NAME" = ? WHERE "ID" = 1`, ['x']);
    await expect(exec(a, `UPDATE ${T} SET "NAME" = ? WHERE "ID" = 1`, ['x'])).rejects.toMatchObject({
      code: '003001',
    });
    fault.clear();
    await exec(a, `UPDATE ${T} SET "NAME" = ? WHERE "ID" = 1`, ['x']);
    double.inject({ kind: 'SELECT', error: '000625' });
    double.clearFaults();
    await ids();
  });

  it('knows the back-pressure and fatal codes', async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ['000625', '57014', /20 statements limit/],
      ['000630', '57014', /timeout/],
      ['000604', '57014', /canceled/],
      ['000603', 'XX000', /internal error/],
      ['001003', '42000', /compilation error/],
      ['003001', '42501', /Insufficient privileges/],
    ];
    for (const [code, sqlState, message] of cases) {
      double.inject({ kind: 'SELECT', error: code, times: 1 });
      await expect(ids(a)).rejects.toMatchObject({ code, sqlState, message: expect.stringMatching(message) });
    }
  });

  it("network errors are the driver's 401001 with the socket error as the cause", async () => {
    double.inject({ kind: 'COMMIT', error: 'ECONNRESET', times: 1 });
    double.inject({ kind: 'SELECT', error: 'network', times: 1 });
    await expect(exec(a, 'COMMIT')).rejects.toMatchObject({
      name: 'NetworkError',
      code: 401001,
      cause: { code: 'ECONNRESET' },
    });
    await expect(ids()).rejects.toMatchObject({ code: 401001 });
  });

  it('ran: true runs the statement and loses the answer (the ambiguous COMMIT)', async () => {
    await exec(a, 'BEGIN');
    await insert(a, 1);
    double.inject({ kind: 'COMMIT', error: 'network', ran: true, times: 1 });
    await expect(exec(a, 'COMMIT')).rejects.toMatchObject({ code: 401001 });
    expect(await ids(b)).toEqual([1]);
  });

  it('without ran, an injected COMMIT failure leaves the transaction open and uncommitted', async () => {
    await exec(a, 'BEGIN');
    await insert(a, 1);
    double.inject({ kind: 'COMMIT', error: 'network', times: 1 });
    await expect(exec(a, 'COMMIT')).rejects.toMatchObject({ code: 401001 });
    expect(await ids(b)).toEqual([]);
    await exec(a, 'ROLLBACK');
    expect(await ids(b)).toEqual([]);
  });

  it('390114 ends the session: its transaction rolls back and later statements get 407002', async () => {
    await exec(a, 'BEGIN');
    await insert(a, 1);
    double.inject({ kind: 'INSERT', error: '390114', times: 1 });
    await expect(insert(a, 2)).rejects.toMatchObject({ code: '390114', sqlState: '08001' });
    await expect(ids(a)).rejects.toMatchObject({ code: 407002 });
    expect(a.isUp()).toBe(false);
    expect(await ids(b)).toEqual([]);
  });

  it('when: hits only while the predicate holds; terminate: the session dies as with a killed client', async () => {
    let on = false;
    const fault = double.inject({ kind: 'INSERT', error: '000625', when: () => on });
    await insert(a, 1);
    on = true;
    await expect(insert(a, 2)).rejects.toMatchObject({ code: '000625' });
    on = false;
    await insert(a, 3);
    expect(fault.hits).toBe(1);
    fault.clear();

    await exec(a, 'BEGIN');
    await insert(a, 4);
    double.inject({ kind: 'COMMIT', terminate: true, times: 1 });
    await expect(exec(a, 'COMMIT')).rejects.toMatchObject({ code: 401001 });
    await expect(exec(a, 'ROLLBACK')).rejects.toMatchObject({ code: 407002 });
    expect(await ids(b)).toEqual([1, 3]);
  });

  it('adds latency through the injected sleep', async () => {
    await double.close();
    const slept: number[] = [];
    double = await SnowflakeDouble.create({
      schemas: ['DB.SCH'],
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    a = double.connection();
    double.inject({ kind: 'SELECT', latencyMs: 1500, times: 2 });
    await exec(a, 'SELECT 1');
    await exec(a, 'SELECT 1');
    await exec(a, 'SELECT 1');
    expect(slept).toEqual([1500, 1500]);
    expect(double.statementsOf('SELECT').map((s) => s.injected)).toEqual([false, false, false]);
  });

  it('maxConcurrentStatements answers 000610 above the cap', async () => {
    await double.close();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    double = await SnowflakeDouble.create({
      schemas: ['DB.SCH'],
      maxConcurrentStatements: 1,
      sleep: () => gate,
    });
    a = double.connection();
    b = double.connection();
    double.inject({ kind: 'SELECT', latencyMs: 1, times: 1 });
    const slow = exec(a, 'SELECT 1 AS X');
    await new Promise((r) => setTimeout(r, 10));
    await expect(exec(b, 'SELECT 2')).rejects.toMatchObject({ code: '000610' });
    release();
    expect(await slow).toEqual([{ X: 1 }]);
    expect(await exec(b, 'SELECT 2 AS Y')).toEqual([{ Y: 2 }]);
  });
});

describe('asynchronous statements', () => {
  it('asyncExec completes at submission; getQueryStatus shows QUEUED, BLOCKED, SUCCESS or FAILED_WITH_ERROR', async () => {
    await double.close();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    double = await SnowflakeDouble.create({ schemas: ['DB.SCH'], sleep: () => gate });
    a = double.connection();
    b = double.connection();
    await exec(a, `CREATE TABLE ${T} ("ID" NUMBER(38,0) NOT NULL, "NAME" VARCHAR)`);
    const submit = (connection: SnowflakeConnectionLike, sqlText: string) =>
      new Promise<{ id: string; rows: unknown }>((resolve) => {
        const statement = connection.execute({
          sqlText,
          asyncExec: true,
          complete: (_error, _statement, rows) => resolve({ id: statement.getQueryId(), rows }),
        });
      });

    // QUEUED while an injected latency holds it.
    double.inject({ kind: 'SELECT', latencyMs: 1_000, times: 1 });
    const queued = await submit(a, 'SELECT 7 AS X');
    expect(queued.rows).toEqual([]);
    expect(await a.getQueryStatus!(queued.id)).toBe('QUEUED');
    release();
    expect(await a.getResultsFromQueryId!({ queryId: queued.id })).toEqual([{ X: 7 }]);
    expect(await a.getQueryStatus!(queued.id)).toBe('SUCCESS');

    // BLOCKED while another transaction holds the table.
    await exec(a, 'BEGIN');
    await insert(a, 1);
    const blocked = await submit(b, `INSERT INTO ${T} ("ID") VALUES (2)`);
    await expect.poll(() => b.getQueryStatus!(blocked.id)).toBe('BLOCKED');
    await exec(a, 'COMMIT');
    await b.getResultsFromQueryId!({ queryId: blocked.id });
    expect(await b.getQueryStatus!(blocked.id)).toBe('SUCCESS');

    // A failure: FAILED_WITH_ERROR, and the error from the ThrowIfError variant and the results.
    const failed = await submit(a, 'SELECT * FROM "DB"."SCH"."MISSING"');
    await expect(a.getResultsFromQueryId!({ queryId: failed.id })).rejects.toMatchObject({ code: '002003' });
    expect(await a.getQueryStatus!(failed.id)).toBe('FAILED_WITH_ERROR');
    await expect(a.getQueryStatusThrowIfError!(failed.id)).rejects.toMatchObject({ code: '002003' });
    expect(double.statements.find((s) => s.queryId === failed.id)).toMatchObject({ outcome: 'error' });
  });
});

describe('statement record', () => {
  it('records every statement with its text, binds, session, kind and outcome', async () => {
    double.statements.length = 0;
    await exec(a, 'BEGIN');
    await insert(a, 5);
    double.inject({ kind: 'COMMIT', error: '000630', times: 1 });
    await exec(a, 'COMMIT').catch(() => {});
    await exec(a, 'COMMIT');
    expect(
      double.statements.map(({ session, kind, sqlText, binds, outcome, error, injected }) => ({
        session,
        kind,
        sqlText,
        binds,
        outcome,
        code: error?.code,
        injected,
      })),
    ).toEqual([
      {
        session: a.getId(),
        kind: 'BEGIN',
        sqlText: 'BEGIN',
        binds: [],
        outcome: 'ok',
        code: undefined,
        injected: false,
      },
      {
        session: a.getId(),
        kind: 'INSERT',
        sqlText: `INSERT INTO ${T} ("ID", "NAME") VALUES (?, ?)`,
        binds: [5, 'n5'],
        outcome: 'ok',
        code: undefined,
        injected: false,
      },
      {
        session: a.getId(),
        kind: 'COMMIT',
        sqlText: 'COMMIT',
        binds: [],
        outcome: 'error',
        code: '000630',
        injected: true,
      },
      {
        session: a.getId(),
        kind: 'COMMIT',
        sqlText: 'COMMIT',
        binds: [],
        outcome: 'ok',
        code: undefined,
        injected: false,
      },
    ]);
    expect(double.statements[2]!.queryId).not.toBe(double.statements[3]!.queryId);
  });
});

describe('remote use', () => {
  it('forwards execute() over a socket, with the same results and errors', async () => {
    const server = await serveSnowflakeDouble(double);
    const remote = remoteSnowflakeConnection(server.url);
    try {
      await exec(remote, 'BEGIN');
      await insert(remote, 1);
      expect(await ids(b)).toEqual([]);
      await exec(remote, 'COMMIT');
      expect(await ids(b)).toEqual([1]);
      const rows = await exec(remote, `SELECT "ID", ?::TIMESTAMP_TZ AS "AT" FROM ${T}`, [
        '2026-01-01T00:00:00Z',
      ]);
      expect(rows).toEqual([{ ID: 1, AT: new Date('2026-01-01T00:00:00Z') }]);
      double.inject({ kind: 'SELECT', error: '000610', times: 1 });
      await expect(ids(remote)).rejects.toMatchObject({ name: 'OperationFailedError', code: '000610' });
      double.inject({ kind: 'SELECT', error: 'network', times: 1 });
      await expect(ids(remote)).rejects.toMatchObject({ code: 401001, cause: { code: 'ECONNRESET' } });
    } finally {
      remote.destroy();
      await server.close();
    }
    await expect(ids(remote)).rejects.toMatchObject({ code: 407002 });
  });

  it('a client process killed inside a transaction: its session ends and the transaction rolls back', async () => {
    const server = await serveSnowflakeDouble(double);
    try {
      const worker = startWorker(fileURLToPath(new URL('./double-remote-worker.ts', import.meta.url)), [
        server.url,
        T,
      ]);
      await expect.poll(() => worker.output(), { timeout: 30_000 }).toContain('open');
      // The child holds the table lock in its open transaction: a write here waits for it.
      let written = false;
      const write = insert(b, 2).then(() => {
        written = true;
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(written).toBe(false);
      worker.child.kill('SIGKILL');
      await worker.exited;
      await write;
      expect(await ids(b)).toEqual([2]);
    } finally {
      await server.close();
    }
  });
});
