/**
 * The Snowflake double's COPY INTO and PUT, against the documented behaviour (SNOWFLAKE-S3.md §2,
 * §10): the three result shapes, load history per table keyed by name and checksum, its 64-day
 * expiry and the LOAD_UNCERTAIN rule, FORCE, ON_ERROR, matching by column name, and the errors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileStorage } from '../../src/lake/file-storage.js';
import type { ObjectStorage } from '../../src/lake/storage.js';
import {
  exec,
  LOAD_HISTORY_MS,
  LOADED_BEFORE,
  type SnowflakeConnectionLike,
  SnowflakeDouble,
  type SnowflakeDoubleOptions,
  ZERO_FILES,
} from '../support/snowflake/index.js';

const T = '"DB"."SCH"."EVENTS"';
const COLUMNS = [
  'file',
  'status',
  'rows_parsed',
  'rows_loaded',
  'error_limit',
  'errors_seen',
  'first_error',
  'first_error_line',
  'first_error_character',
  'first_error_column_name',
];
const DAY = 24 * 60 * 60 * 1000;

let dir: string;
let storage: ObjectStorage;
let double: SnowflakeDouble;
let conn: SnowflakeConnectionLike;

async function start(options: Partial<SnowflakeDoubleOptions> = {}): Promise<void> {
  await double?.close();
  double = await SnowflakeDouble.create({
    schemas: ['DB.SCH'],
    stages: { '@db.sch.stg': storage },
    ...options,
  });
  conn = double.connection();
  await exec(conn, `CREATE TABLE ${T} ("ID" NUMBER(38,0) NOT NULL, "NAME" VARCHAR, "PAYLOAD" VARIANT)`);
}

/** Stages a Parquet file made by DuckDB from `select` under `key`. */
async function stage(key: string, select: string): Promise<void> {
  const path = join(dir, `tmp-${Math.random().toString(36).slice(2)}.parquet`);
  await double.scratch.run(`COPY (${select}) TO '${path}' (FORMAT PARQUET)`);
  await storage.put(key, readFileSync(path));
  rmSync(path);
}

const rowsOf = (n: number, from = 1) =>
  `SELECT i AS id, 'n' || i AS name, {'k': i} AS payload FROM range(${from}, ${from + n}) t(i)`;

const copy = (files: string[] | undefined, extra = '') =>
  exec(
    conn,
    `COPY INTO ${T} FROM @db.sch.stg/in/${files === undefined ? '' : ` FILES = (${files.map((f) => `'${f}'`).join(', ')})`} FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE${extra}`,
  );

const count = async () => Number((await double.query(`SELECT count(*) AS N FROM ${T}`))[0]!.N);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'double-copy-'));
  storage = fileStorage(join(dir, 'stage'));
  await start();
});

afterEach(async () => {
  await double.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('COPY result shapes', () => {
  it('A: one row per file with the ten lower-case columns, rows matched by name', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await stage('in/b.parquet', rowsOf(2, 10));
    const rows = await copy(['a.parquet', 'b.parquet']);
    expect(rows.map((r) => Object.keys(r))).toEqual([COLUMNS, COLUMNS]);
    expect(rows).toEqual([
      {
        file: 'stg/in/a.parquet',
        status: 'LOADED',
        rows_parsed: 3,
        rows_loaded: 3,
        error_limit: 1,
        errors_seen: 0,
        first_error: null,
        first_error_line: null,
        first_error_character: null,
        first_error_column_name: null,
      },
      expect.objectContaining({ file: 'stg/in/b.parquet', status: 'LOADED', rows_loaded: 2 }),
    ]);
    expect(await double.query(`SELECT "ID", "NAME", "PAYLOAD" FROM ${T} ORDER BY "ID"`)).toEqual([
      { ID: 1, NAME: 'n1', PAYLOAD: { k: 1 } },
      { ID: 2, NAME: 'n2', PAYLOAD: { k: 2 } },
      { ID: 3, NAME: 'n3', PAYLOAD: { k: 3 } },
      { ID: 10, NAME: 'n10', PAYLOAD: { k: 10 } },
      { ID: 11, NAME: 'n11', PAYLOAD: { k: 11 } },
    ]);
  });

  it('C: an explicitly listed file loaded before answers LOAD_SKIPPED, File was loaded before.', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await copy(['a.parquet']);
    expect(await copy(['a.parquet'])).toEqual([
      {
        file: 'stg/in/a.parquet',
        status: 'LOAD_SKIPPED',
        rows_parsed: 0,
        rows_loaded: 0,
        error_limit: null,
        errors_seen: 1,
        first_error: LOADED_BEFORE,
        first_error_line: null,
        first_error_character: null,
        first_error_column_name: null,
      },
    ]);
    expect(await count()).toBe(3);
  });

  it('B: a prefix whose files were all loaded answers Copy executed with 0 files processed.', async () => {
    await stage('in/a.parquet', rowsOf(3));
    expect(await copy(undefined)).toEqual([expect.objectContaining({ status: 'LOADED', rows_loaded: 3 })]);
    expect(await copy(undefined)).toEqual([{ status: ZERO_FILES }]);
    // A prefix with nothing under it too.
    expect(
      await exec(
        conn,
        `COPY INTO ${T} FROM @db.sch.stg/empty/ FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE`,
      ),
    ).toEqual([{ status: ZERO_FILES }]);
    expect(await count()).toBe(3);
  });

  it("skippedFiles: 'omit' answers shape B for listed files loaded before; upper-case columns on request", async () => {
    await start({ skippedFiles: 'omit', copyColumns: 'upper' });
    await stage('in/a.parquet', rowsOf(1));
    const [first] = await copy(['a.parquet']);
    expect(Object.keys(first!)).toEqual(COLUMNS.map((c) => c.toUpperCase()));
    expect(await copy(['a.parquet'])).toEqual([{ STATUS: ZERO_FILES }]);
  });

  it('PATTERN selects files under the path; a mix lists only the files processed', async () => {
    await stage('in/a.parquet', rowsOf(1));
    await stage('in/b.csv', rowsOf(1, 5));
    await copy(['a.parquet']);
    await stage('in/c.parquet', rowsOf(2, 20));
    const rows = await copy(undefined, " PATTERN = '.*[.]parquet'");
    expect(rows).toEqual([
      expect.objectContaining({ file: 'stg/in/c.parquet', status: 'LOADED', rows_loaded: 2 }),
    ]);
  });

  it('names the file by its full URL for an external (S3) stage', async () => {
    const s3Like: ObjectStorage = { ...storage, kind: 's3', url: (key) => `s3://bucket/lake/${key}` };
    await start({ stages: { '@"DB"."SCH"."STG"': s3Like } });
    await stage('in/a.parquet', rowsOf(1));
    const rows = await exec(
      conn,
      `COPY INTO ${T} FROM @"DB"."SCH"."STG"/in/ FILES = ('a.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE`,
    );
    expect(rows[0]!.file).toBe('s3://bucket/lake/in/a.parquet');
  });
});

describe('load history', () => {
  it('is kept per table, keyed by file name and content checksum', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await copy(['a.parquet']);
    expect(double.loadHistory('DB.SCH.EVENTS')).toEqual([
      {
        file: 'stg/in/a.parquet',
        checksum: expect.stringMatching(/^[0-9a-f]{32}$/),
        at: expect.any(Number),
        rows: 3,
      },
    ]);
    // Same name, new content: a new checksum, loaded again.
    await stage('in/a.parquet', rowsOf(2, 100));
    expect(await copy(['a.parquet'])).toEqual([
      expect.objectContaining({ status: 'LOADED', rows_loaded: 2 }),
    ]);
    expect(await count()).toBe(5);
    // Another table has its own history.
    await exec(conn, 'CREATE TABLE "DB"."SCH"."OTHER" ("ID" NUMBER)');
    const other = await exec(
      conn,
      `COPY INTO "DB"."SCH"."OTHER" FROM @db.sch.stg/in FILES = ('a.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE`,
    );
    expect(other).toEqual([expect.objectContaining({ status: 'LOADED', rows_loaded: 2 })]);
  });

  it('commits with the transaction: a rolled-back COPY leaves no history, another session waits and then skips', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await exec(conn, 'BEGIN');
    await copy(['a.parquet']);
    await exec(conn, 'ROLLBACK');
    expect(double.loadHistory('DB.SCH.EVENTS')).toEqual([]);
    expect(await count()).toBe(0);

    await exec(conn, 'BEGIN');
    await copy(['a.parquet']);
    // Another session's COPY into the same table waits for the table lock of the open transaction.
    const other = double.connection();
    let otherDone = false;
    const otherCopy = exec(
      other,
      `COPY INTO ${T} FROM @db.sch.stg/in/ FILES = ('a.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE`,
    ).finally(() => {
      otherDone = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(otherDone).toBe(false);
    expect(double.loadHistory('DB.SCH.EVENTS')).toEqual([]);
    await exec(conn, 'COMMIT');
    expect(await otherCopy).toEqual([
      expect.objectContaining({ status: 'LOAD_SKIPPED', first_error: LOADED_BEFORE }),
    ]);
    expect(await count()).toBe(3);
  });

  it('a session sees its own uncommitted loads: the same file twice in one transaction loads once', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await exec(conn, 'BEGIN');
    expect(await copy(['a.parquet'])).toEqual([expect.objectContaining({ status: 'LOADED' })]);
    expect(await copy(['a.parquet'])).toEqual([expect.objectContaining({ status: 'LOAD_SKIPPED' })]);
    await exec(conn, 'COMMIT');
    expect(await count()).toBe(3);
  });

  it('CREATE OR REPLACE TABLE and TRUNCATE reset it', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await copy(['a.parquet']);
    await exec(conn, `TRUNCATE TABLE ${T}`);
    expect(await copy(['a.parquet'])).toEqual([expect.objectContaining({ status: 'LOADED' })]);
    await exec(
      conn,
      `CREATE OR REPLACE TABLE ${T} ("ID" NUMBER(38,0) NOT NULL, "NAME" VARCHAR, "PAYLOAD" VARIANT)`,
    );
    expect(double.loadHistory('DB.SCH.EVENTS')).toEqual([]);
    expect(await copy(['a.parquet'])).toEqual([expect.objectContaining({ status: 'LOADED' })]);
    expect(await count()).toBe(3);
  });

  it('FORCE = TRUE loads files loaded before again (duplicates)', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await copy(['a.parquet']);
    expect(await copy(['a.parquet'], ' FORCE = TRUE')).toEqual([
      expect.objectContaining({ status: 'LOADED', rows_loaded: 3 }),
    ]);
    expect(await count()).toBe(6);
  });

  it('expires after 64 days: an old file of a table first loaded long ago is then of unknown status and skipped (LOAD_UNCERTAIN_FILES loads it)', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await copy(['a.parquet']);
    double.advance(LOAD_HISTORY_MS - DAY);
    expect(await copy(['a.parquet'])).toEqual([expect.objectContaining({ status: 'LOAD_SKIPPED' })]);
    double.advance(2 * DAY);
    // History expired; the file and the table's first load are older than 64 days: status unknown, skipped.
    expect(await copy(['a.parquet'])).toEqual([{ status: ZERO_FILES }]);
    expect(await copy(['a.parquet'], ' LOAD_UNCERTAIN_FILES = TRUE')).toEqual([
      expect.objectContaining({ status: 'LOADED', rows_loaded: 3 }),
    ]);
    expect(await count()).toBe(6);
  });

  it('expired history of a table first loaded recently: the file loads again', async () => {
    await stage('in/a.parquet', rowsOf(3));
    await exec(conn, 'CREATE TABLE "DB"."SCH"."LATE" ("ID" NUMBER)');
    const late = (extra = '') =>
      exec(
        conn,
        `COPY INTO "DB"."SCH"."LATE" FROM @db.sch.stg/in FILES = ('a.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE${extra}`,
      );
    double.advance(100 * DAY);
    // The file is 100 days old but the table never loaded anything: its status is known (not loaded).
    expect(await late()).toEqual([expect.objectContaining({ status: 'LOADED', rows_loaded: 3 })]);
    expect(await late()).toEqual([expect.objectContaining({ status: 'LOAD_SKIPPED' })]);
  });
});

describe('ON_ERROR', () => {
  const mixed = `SELECT * FROM (VALUES ('1', 'a'), ('x', 'b'), ('3', 'c'), ('y', 'd')) t(id, name)`;

  it('ABORT_STATEMENT (the default) fails the statement with a data error: nothing loaded, no history', async () => {
    await stage('in/good.parquet', rowsOf(2));
    await stage('in/bad.parquet', mixed);
    const error = await copy(['good.parquet', 'bad.parquet']).catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'OperationFailedError',
      code: '100038',
      sqlState: '22018',
      message: expect.stringContaining("File 'stg/in/bad.parquet', line 2"),
    });
    expect(await count()).toBe(0);
    expect(double.loadHistory('DB.SCH.EVENTS')).toEqual([]);
    const explicit = await copy(['bad.parquet'], ' ON_ERROR = ABORT_STATEMENT').catch((e: unknown) => e);
    expect(explicit).toMatchObject({ code: '100038' });
  });

  it('SKIP_FILE answers LOAD_FAILED for the bad file and loads the others', async () => {
    await stage('in/good.parquet', rowsOf(2));
    await stage('in/bad.parquet', mixed);
    const rows = await copy(['good.parquet', 'bad.parquet'], ' ON_ERROR = SKIP_FILE');
    expect(rows).toEqual([
      expect.objectContaining({ status: 'LOADED', rows_loaded: 2, errors_seen: 0 }),
      expect.objectContaining({
        file: 'stg/in/bad.parquet',
        status: 'LOAD_FAILED',
        rows_parsed: 4,
        rows_loaded: 0,
        error_limit: 1,
        errors_seen: 2,
        first_error_line: 2,
        first_error_column_name: '"EVENTS"["ID":1]',
      }),
    ]);
    expect(await count()).toBe(2);
    // The failed file is not in the history: fixed and restaged, it loads.
    expect(double.loadHistory('DB.SCH.EVENTS').map((r) => r.file)).toEqual(['stg/in/good.parquet']);
    // SKIP_FILE_3: two errors are below the limit, the good rows load.
    expect(await copy(['bad.parquet'], ' ON_ERROR = SKIP_FILE_3')).toEqual([
      expect.objectContaining({ status: 'PARTIALLY_LOADED', rows_loaded: 2, error_limit: 3 }),
    ]);
  });

  it('CONTINUE loads the good rows and answers PARTIALLY_LOADED', async () => {
    await stage('in/bad.parquet', mixed);
    const rows = await copy(['bad.parquet'], ' ON_ERROR = CONTINUE');
    expect(rows).toEqual([
      expect.objectContaining({ status: 'PARTIALLY_LOADED', rows_parsed: 4, rows_loaded: 2, errors_seen: 2 }),
    ]);
    expect((await double.query(`SELECT "ID" FROM ${T} ORDER BY "ID"`)).map((r) => r.ID)).toEqual([1, 3]);
  });

  it('VALIDATION_MODE loads nothing: RETURN_ERRORS lists each rejected record, RETURN_n_ROWS returns rows or fails', async () => {
    await stage('in/good.parquet', rowsOf(3));
    await stage('in/bad.parquet', mixed);
    const errors = await copy(['good.parquet', 'bad.parquet'], ' VALIDATION_MODE = RETURN_ERRORS');
    expect(errors).toEqual(
      [2, 4].map((line) =>
        expect.objectContaining({
          FILE: 'stg/in/bad.parquet',
          LINE: line,
          ROW_NUMBER: line,
          CODE: 100038,
          SQL_STATE: '22018',
          COLUMN_NAME: '"EVENTS"["ID":1]',
        }),
      ),
    );
    expect(await copy(['good.parquet'], ' VALIDATION_MODE = RETURN_ALL_ERRORS')).toEqual([]);
    expect(await copy(['good.parquet'], ' VALIDATION_MODE = RETURN_2_ROWS')).toEqual([
      { ID: 1, NAME: 'n1', PAYLOAD: { k: 1 } },
      { ID: 2, NAME: 'n2', PAYLOAD: { k: 2 } },
    ]);
    await expect(copy(['bad.parquet'], ' VALIDATION_MODE = RETURN_2_ROWS')).rejects.toMatchObject({
      code: '100038',
    });
    expect(await count()).toBe(0);
    expect(double.loadHistory('DB.SCH.EVENTS')).toEqual([]);
  });

  it('a NULL for a NOT NULL column is a data error (100072)', async () => {
    await stage('in/nulls.parquet', `SELECT 'no id' AS name`);
    await expect(copy(['nulls.parquet'])).rejects.toMatchObject({ code: '100072', sqlState: '22000' });
  });

  it('a file that is not Parquet fails the statement, or is LOAD_FAILED under SKIP_FILE', async () => {
    await storage.put('in/junk.parquet', new TextEncoder().encode('not parquet at all'));
    await expect(copy(['junk.parquet'])).rejects.toMatchObject({ name: 'OperationFailedError' });
    expect(await copy(['junk.parquet'], ' ON_ERROR = SKIP_FILE')).toEqual([
      expect.objectContaining({ status: 'LOAD_FAILED', rows_loaded: 0 }),
    ]);
  });
});

describe('matching columns and errors', () => {
  it('matches case-insensitively, ignores extra fields, leaves missing columns NULL; CASE_SENSITIVE matches exact names', async () => {
    await stage('in/a.parquet', `SELECT 7 AS Id, 'x' AS extra`);
    await copy(['a.parquet']);
    expect(await double.query(`SELECT "ID", "NAME", "PAYLOAD" FROM ${T}`)).toEqual([
      { ID: 7, NAME: null, PAYLOAD: null },
    ]);
    await exec(conn, 'CREATE TABLE "DB"."SCH"."LOOSE" ("ID" NUMBER, "NAME" VARCHAR)');
    await stage('in/b.parquet', `SELECT 8 AS id, 'y' AS "NAME"`);
    await exec(
      conn,
      `COPY INTO "DB"."SCH"."LOOSE" FROM @db.sch.stg/in FILES = ('b.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_SENSITIVE`,
    );
    expect(await double.query('SELECT "ID", "NAME" FROM "DB"."SCH"."LOOSE"')).toEqual([
      { ID: null, NAME: 'y' },
    ]);
  });

  it('answers the documented errors: missing file 091016, unknown table or stage 002003, no MATCH_BY_COLUMN_NAME 002019, over 1000 FILES', async () => {
    await expect(copy(['missing.parquet'])).rejects.toMatchObject({ code: '091016', sqlState: '22000' });
    await expect(
      exec(
        conn,
        `COPY INTO "DB"."SCH"."NOPE" FROM @db.sch.stg/in FILES = ('a.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE`,
      ),
    ).rejects.toMatchObject({ code: '002003', sqlState: '42S02' });
    await expect(
      exec(
        conn,
        `COPY INTO ${T} FROM @db.sch.nostage/in FILES = ('a.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE`,
      ),
    ).rejects.toMatchObject({ code: '002003' });
    await stage('in/a.parquet', rowsOf(1));
    await expect(
      exec(conn, `COPY INTO ${T} FROM @db.sch.stg/in FILES = ('a.parquet') FILE_FORMAT = (TYPE = PARQUET)`),
    ).rejects.toMatchObject({ code: '002019', sqlState: '0A000' });
    const many = Array.from({ length: 1001 }, (_, i) => `f${i}.parquet`);
    await expect(copy(many)).rejects.toMatchObject({ code: '001003' });
  });

  it('PURGE = TRUE deletes the loaded files from the stage', async () => {
    await stage('in/a.parquet', rowsOf(1));
    await copy(['a.parquet'], ' PURGE = TRUE');
    expect(await storage.head('in/a.parquet')).toBeUndefined();
  });
});

describe('PUT to an internal stage', () => {
  it('uploads a local file, answers SKIPPED for an existing name with OVERWRITE=FALSE, gzips with AUTO_COMPRESS=TRUE', async () => {
    const local = join(dir, 'part-1.parquet');
    writeFileSync(local, 'PAR1 bytes');
    const put = (options: string) => exec(conn, `PUT 'file://${local}' @db.sch.stg/up ${options}`);
    expect(await put('AUTO_COMPRESS=FALSE OVERWRITE=FALSE')).toEqual([
      {
        source: 'part-1.parquet',
        target: 'part-1.parquet',
        sourceSize: 10,
        targetSize: 10,
        sourceCompression: 'NONE',
        targetCompression: 'NONE',
        status: 'UPLOADED',
        message: '',
      },
    ]);
    expect(new TextDecoder().decode(await storage.get('up/part-1.parquet'))).toBe('PAR1 bytes');
    writeFileSync(local, 'other content');
    expect(await put('AUTO_COMPRESS=FALSE OVERWRITE=FALSE')).toEqual([
      expect.objectContaining({ status: 'SKIPPED', targetSize: 0 }),
    ]);
    expect(new TextDecoder().decode(await storage.get('up/part-1.parquet'))).toBe('PAR1 bytes');
    expect(await put('AUTO_COMPRESS=FALSE OVERWRITE=TRUE')).toEqual([
      expect.objectContaining({ status: 'UPLOADED' }),
    ]);
    expect(await put('')).toEqual([
      expect.objectContaining({ target: 'part-1.parquet.gz', targetCompression: 'GZIP' }),
    ]);
    expect(await storage.head('up/part-1.parquet.gz')).toBeDefined();
  });
});
