/** microbatch/snowflake without a server: identifiers, stage and file names, error classes, COPY results, options. */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { batchId } from '../../src/core/batch.js';
import { MicrobatchError } from '../../src/core/errors.js';
import { fromIterable, pipeline, type Sink, validate } from '../../src/index.js';
import { copyStatement, readCopyResult, stagedFileName, stagedKey } from '../../src/snowflake/copy.js';
import { classifyCode, snowflakeError } from '../../src/snowflake/errors.js';
import {
  fileLiteral,
  parseStage,
  qualifiedName,
  quoteIdentifier,
  snowflakeName,
} from '../../src/snowflake/identifiers.js';
import { snowflakeInternalStage, snowflakeSink } from '../../src/snowflake/index.js';
import { expectCode, rejection, thrown } from '../support.js';

/** Throws MB_INVALID_OPTIONS with a message matching `pattern`. */
function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  expect(expectCode(thrown(fn), 'MB_INVALID_OPTIONS').message).toMatch(pattern);
}

const connection = { execute: () => undefined };
const storage = {
  kind: 'memory',
  url: (key: string) => `memory:///${key}`,
  putIfAbsent: async () => ({ outcome: 'created' as const }),
};
const base = {
  connection,
  table: 'DB.SCH.EVENTS',
  stage: { name: '@DB.SCH.STG/events', storage },
  schema: [{ name: 'id', type: 'string' as const }],
};

describe('identifiers', () => {
  it('folds names Snowflake takes unquoted to upper case and keeps the rest exactly', () => {
    expect(snowflakeName('events', 't')).toBe('EVENTS');
    expect(snowflakeName('user_id$2', 't')).toBe('USER_ID$2');
    expect(snowflakeName('event time', 't')).toBe('event time');
    expect(snowflakeName('Région', 't')).toBe('Région');
    expect(snowflakeName('"events"', 't')).toBe('events');
    expect(snowflakeName('"a""b"', 't')).toBe('a"b');
    expect(quoteIdentifier('we"ird', 't')).toBe('"we""ird"');
  });

  it('rejects empty, over-long and control-character names', () => {
    for (const bad of ['', 'a'.repeat(256), 'a\u0000b', 'line\nbreak', 42, undefined]) {
      expectInvalid(() => snowflakeName(bad, 'table'), /table must be 1 to 255 characters/);
    }
  });

  it('qualifies table names from dotted strings and objects', () => {
    expect(qualifiedName('db.sch.events', 't')).toBe('"DB"."SCH"."EVENTS"');
    expect(qualifiedName('events', 't')).toBe('"EVENTS"');
    expect(qualifiedName({ database: 'db', schema: 'my.schema', name: 'events' }, 't')).toBe(
      '"DB"."my.schema"."EVENTS"',
    );
    expectInvalid(() => qualifiedName('a.b.c.d', 't'), /'table', 'schema.table'/);
    expectInvalid(() => qualifiedName({ database: 'db', name: 'x' }, 't'), /needs a schema/);
    expectInvalid(() => qualifiedName('a..b', 't'), /1 to 255/);
  });

  it('parses stage references strictly', () => {
    expect(parseStage('@DB.SCH.STG', 's')).toEqual({ stage: '@DB.SCH.STG', path: '' });
    expect(parseStage('@db.sch.stg/events/v1/', 's')).toEqual({ stage: '@db.sch.stg', path: 'events/v1' });
    expect(parseStage('@~/x', 's')).toEqual({ stage: '@~', path: 'x' });
    expect(parseStage('@%events', 's')).toEqual({ stage: '@%events', path: '' });
    for (const bad of [
      'DB.SCH.STG',
      '@"DB"."SCH"."STG"',
      "@stg/a' FORCE = TRUE --",
      '@stg/../x',
      '@stg//x',
      '@stg/.hidden',
      '@a.b.c.d',
      '@stg; DROP TABLE t',
      '@stg/a b',
    ]) {
      expectInvalid(() => parseStage(bad, 'stage.name'), /stage.name must look like/);
    }
  });

  it('names staged files after the batch id, distinctly and within the strict pattern', () => {
    const ids = [
      batchId('p', '0', 0, 9),
      batchId('p', 'eu/west "quoted"', 0, 9),
      batchId('p~1', '0', 0, 9),
      batchId('p', '~', 10, 19),
    ];
    const names = ids.map(stagedFileName);
    expect(new Set(names).size).toBe(ids.length);
    for (const name of names) {
      expect(name).toMatch(/^part-[A-Za-z0-9._=-]+\.parquet$/);
      expect(fileLiteral(name)).toBe(`'${name}'`);
    }
    expect(stagedKey({ stage: '@s', path: 'a/b' }, 'f.parquet')).toBe('a/b/f.parquet');
    expect(stagedKey({ stage: '@s', path: '' }, 'f.parquet')).toBe('f.parquet');
    for (const bad of ["x'.parquet", '../x.parquet', '.x', 'a//b', 'a\\b']) {
      expectInvalid(() => fileLiteral(bad), /not a safe name/);
    }
  });

  it('builds the COPY statement with FILES, Parquet, name matching and ABORT_STATEMENT, never FORCE or PURGE', () => {
    const sql = copyStatement('"DB"."SCH"."T"', parseStage('@DB.SCH.STG/events', 's'), ['part-a.parquet']);
    expect(sql).toBe(
      `COPY INTO "DB"."SCH"."T" FROM @DB.SCH.STG/events FILES = ('part-a.parquet') FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT`,
    );
    expect(sql).not.toMatch(/FORCE|PURGE/);
  });
});

describe('error classification', () => {
  const error = (code: string | number, sqlState?: string, message = 'boom') =>
    Object.assign(new Error(message), { code, ...(sqlState && { sqlState }) });

  it('treats warehouse saturation and network failures as back-pressure', () => {
    for (const code of [
      '000610',
      '000625',
      '000630',
      '000603',
      401001,
      '401002',
      'ECONNRESET',
      'NETWORK_ERROR',
    ]) {
      expect(classifyCode(error(code)), String(code)).toBe('backpressure');
    }
    expect(classifyCode(error('000999', '57014'))).toBe('backpressure');
    expect(classifyCode(Object.assign(new Error('fetch failed'), { cause: error('ETIMEDOUT') }))).toBe(
      'backpressure',
    );
  });

  it('never takes a code for a known one through the prototype chain', () => {
    for (const code of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(classifyCode(error(code)), code).toBe('fatal');
      expect(snowflakeError(error(code), 'snowflakeSink "T"', 'COPY INTO "T"', false).message).not.toMatch(
        /function|\[native code\]/,
      );
    }
  });

  it('asks for a new connection when the session is gone', () => {
    for (const code of ['390114', '390104', '390111', 407002, '405503']) {
      expect(classifyCode(error(code)), String(code)).toBe('reconnect');
    }
  });

  it('is fatal for compilation, permission and missing objects; data errors are their own class', () => {
    for (const code of ['001003', '003001', '002003', '000904', '000604', '002019']) {
      expect(classifyCode(error(code)), code).toBe('fatal');
    }
    expect(classifyCode(error('100038', '22018'))).toBe('data');
    expect(classifyCode(new TypeError('bug'))).toBe('fatal');
  });

  it('names the statement and the code, never binds; retryable only for back-pressure', () => {
    const e = snowflakeError(
      error('000610', undefined, 'Exceeded number of allowed concurrent requests'),
      'sink',
      'COPY INTO "T"',
      false,
    );
    expect(e).toBeInstanceOf(MicrobatchError);
    expect(e.code).toBe('MB_SINK_FAILED');
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/COPY INTO "T" failed \(000610, too many concurrent requests/);
    expect(e.details).toMatchObject({
      statement: 'COPY INTO "T"',
      snowflakeCode: '000610',
      class: 'backpressure',
    });

    const denied = snowflakeError(
      error('003001', '42501', 'Insufficient privileges to operate on table'),
      'sink',
      'ledger insert',
      true,
    );
    expect(denied.retryable).toBe(false);
    expect(denied.message).toMatch(
      /ledger insert failed .*Insufficient privileges.*Hint: the role lacks a privilege/,
    );
  });

  it('says to pass connect() when the master token expired and none was given', () => {
    const expired = error(
      '390114',
      '08001',
      'Authentication token has expired.  The user must authenticate again.',
    );
    const fatal = snowflakeError(expired, 'sink', 'BEGIN', false);
    expect(fatal.retryable).toBe(false);
    expect(fatal.message).toMatch(/pass connect: \(\) => … .* to snowflakeSink/);
    const retry = snowflakeError(expired, 'sink', 'BEGIN', true);
    expect(retry.retryable).toBe(true);
    expect(retry.message).toMatch(/a new connection is opened through connect\(\)/);
  });
});

describe('COPY results', () => {
  const loaded = (file: string, rows: number) => ({
    file: `s3://bucket/stage/${file}`,
    status: 'LOADED',
    rows_parsed: rows,
    rows_loaded: rows,
    error_limit: 1,
    errors_seen: 0,
    first_error: null,
    first_error_line: null,
    first_error_character: null,
    first_error_column_name: null,
  });

  it('reads shape A (one row per file), in either column case', () => {
    expect(readCopyResult([loaded('a', 3), loaded('b', 4)], 'w')).toEqual({
      loaded: 2,
      skipped: 0,
      rows: 7,
      shape: 'files',
    });
    const upper = Object.fromEntries(Object.entries(loaded('a', 5)).map(([k, v]) => [k.toUpperCase(), v]));
    expect(readCopyResult([upper], 'w')).toEqual({ loaded: 1, skipped: 0, rows: 5, shape: 'files' });
  });

  it('reads shape B and shape C as loaded before, with no new rows', () => {
    expect(readCopyResult([{ status: 'Copy executed with 0 files processed.' }], 'w')).toEqual({
      loaded: 0,
      skipped: 0,
      rows: 0,
      shape: 'none',
    });
    expect(readCopyResult([{ STATUS: 'Copy executed with 0 files processed.' }], 'w').shape).toBe('none');
    const skipped = {
      ...loaded('a', 0),
      status: 'LOAD_SKIPPED',
      error_limit: null,
      errors_seen: 1,
      first_error: 'File was loaded before.',
    };
    expect(readCopyResult([skipped], 'w')).toEqual({ loaded: 0, skipped: 1, rows: 0, shape: 'files' });
  });

  it('fails on LOAD_FAILED, PARTIALLY_LOADED and unknown statuses, naming the file and the first error', () => {
    const failed = {
      ...loaded('a', 0),
      status: 'LOAD_FAILED',
      errors_seen: 2,
      first_error: "Numeric value 'abc' is not recognized",
      first_error_line: 3,
      first_error_column_name: '"EVENTS"["PRICE":2]',
    };
    expect(() => readCopyResult([failed], 'w')).toThrow(
      /w: COPY answered LOAD_FAILED for s3:\/\/bucket\/stage\/a: Numeric value 'abc' is not recognized \(line 3, column "EVENTS"\["PRICE":2\]\)/,
    );
    expect(() => readCopyResult([{ ...loaded('a', 1), status: 'PARTIALLY_LOADED' }], 'w')).toThrow(
      /PARTIALLY_LOADED/,
    );
    expect(() => readCopyResult([{ status: 'WHATEVER' }], 'w')).toThrow(/WHATEVER/);
  });
});

describe('snowflakeSink options', () => {
  it('accepts the documented options', () => {
    const sink = snowflakeSink(base);
    expect(sink.kind).toBe('snowflake');
    expect(sink.atomicLedger).toBe(true);
    expect(sink.columns).toEqual([{ name: 'ID', field: 'id', type: 'VARCHAR', nullable: false }]);
    expect(snowflakeSink({ ...base, connection: undefined, connect: () => connection }).kind).toBe(
      'snowflake',
    );
  });

  it('rejects bad options with MB_INVALID_OPTIONS', () => {
    expectInvalid(() => snowflakeSink({ ...base, extra: 1 } as never), /unknown option 'extra'/);
    expectInvalid(() => snowflakeSink({ ...base, connection: undefined }), /give connection/);
    expectInvalid(
      () => snowflakeSink({ ...base, connection: {} as never }),
      /connection must be a snowflake-sdk Connection/,
    );
    expectInvalid(() => snowflakeSink({ ...base, connect: 'x' as never }), /connect must be a function/);
    expectInvalid(
      () => snowflakeSink({ ...base, stage: { name: 'stg', storage } }),
      /stage.name must look like/,
    );
    expectInvalid(
      () => snowflakeSink({ ...base, stage: { name: '@stg', storage: {} as never } }),
      /stage.storage must be/,
    );
    expectInvalid(() => snowflakeSink({ ...base, table: 'a.b.c.d' }), /table/);
    expectInvalid(
      () => snowflakeSink({ ...base, timestamps: 'TIMESTAMP_LTZ' as never }),
      /timestamps must be/,
    );
    expectInvalid(() => snowflakeSink({ ...base, compression: 'lzma' as never }), /compression/);
    expectInvalid(() => snowflakeSink(null as never), /options must be an object/);
  });
});

describe('snowflakeSink types', () => {
  const Price = z.object({ sku: z.string(), price: z.number() });
  const Review = z.object({ id: z.string(), stars: z.int() });
  it('is a Sink of the zod schema output, and refuses another schema in a typed pipeline', () => {
    const make = () => snowflakeSink({ ...base, schema: Price });
    expectTypeOf(make).returns.toExtend<Sink<z.output<typeof Price>>>();
    const build = () =>
      pipeline({ name: 'typed' })
        .source(fromIterable<unknown>([]))
        .transform(validate(Price))
        // @ts-expect-error: the table expects Review records, the pipeline delivers Price records
        .sink(snowflakeSink({ ...base, schema: Review }));
    expectTypeOf(build).toBeFunction();
  });
});

describe('snowflakeInternalStage options', () => {
  it('checks the stage and refuses a local path that would need quoting in PUT', async () => {
    expectInvalid(
      () => snowflakeInternalStage({ connection, stage: "@stg/x' OVERWRITE=TRUE" }),
      /stage must look like/,
    );
    expectInvalid(
      () => snowflakeInternalStage({ connection: {} as never, stage: '@stg' }),
      /options must be/,
    );
    const stage = snowflakeInternalStage({ connection, stage: '@DB.SCH.STG', tmpDir: "/tmp/it's" });
    expect(
      expectCode(await rejection(stage.putIfAbsent('a/b.parquet', new Uint8Array(1))), 'MB_INVALID_OPTIONS')
        .message,
    ).toMatch(/cannot PUT .* use a plain tmpDir and key/);
    expectCode(await rejection(stage.putIfAbsent('../b.parquet', new Uint8Array(1))), 'MB_INVALID_OPTIONS');
    expect(stage.url('a/b.parquet')).toBe('@DB.SCH.STG/a/b.parquet');
  });
});
