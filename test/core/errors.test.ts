import { describe, expect, it } from 'vitest';
import {
  describeError,
  ERROR_CODES,
  invalidOptions,
  isRetryable,
  MicrobatchError,
  retryAfterOf,
} from '../../src/core/errors.js';

describe('MicrobatchError', () => {
  it.each(ERROR_CODES.map((code) => [code]))('constructs %s with its code and the class name', (code) => {
    const error = new MicrobatchError(code, `something about ${code}`);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(code);
    expect(error.name).toBe('MicrobatchError');
    expect(error.message).toBe(`something about ${code}`);
    expect(error.retryable).toBe(false);
    expect(error.retryAfter).toBeUndefined();
    expect(error.details).toEqual({});
    expect(MicrobatchError.is(error)).toBe(true);
    expect(MicrobatchError.is(error, code)).toBe(true);
    expect(String(error)).toBe(`MicrobatchError: something about ${code}`);
  });

  it('has stable, distinct MB_ codes', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) expect(code).toMatch(/^MB_[A-Z_]+$/);
    expect(ERROR_CODES).toEqual(
      expect.arrayContaining([
        'MB_INVALID_OPTIONS',
        'MB_SINK_FAILED',
        'MB_SOURCE_FAILED',
        'MB_CLOSED',
        'MB_MISSING_PEER',
        'MB_LEDGER_AHEAD',
        'MB_TIMEOUT',
      ]),
    );
  });

  it('keeps cause, retryable, retryAfter and details', () => {
    const cause = new Error('socket hang up');
    const error = new MicrobatchError('MB_SINK_FAILED', 'write failed', {
      cause,
      retryable: true,
      retryAfter: 250,
      details: { pipeline: 'prices' },
    });
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(true);
    expect(error.retryAfter).toBe(250);
    expect(error.details).toEqual({ pipeline: 'prices' });
  });

  it('has no cause property when none is given', () => {
    expect('cause' in new MicrobatchError('MB_CLOSED', 'closed')).toBe(false);
  });

  describe('is()', () => {
    const error = new MicrobatchError('MB_CLOSED', 'closed');

    it('matches any code without a code argument', () => {
      expect(MicrobatchError.is(error)).toBe(true);
    });

    it('matches only the given code with one', () => {
      expect(MicrobatchError.is(error, 'MB_CLOSED')).toBe(true);
      expect(MicrobatchError.is(error, 'MB_SINK_FAILED')).toBe(false);
    });

    it.each([
      ['undefined', undefined],
      ['null', null],
      ['a string', 'MB_CLOSED'],
      ['a number', 42],
      ['a plain Error', new Error('closed')],
      ['a TypeError', new TypeError('x is not a function')],
    ])('is false on %s', (_, value) => {
      expect(MicrobatchError.is(value)).toBe(false);
      expect(MicrobatchError.is(value, 'MB_CLOSED')).toBe(false);
    });

    it('is false on a plain object that fakes the fields', () => {
      const fake = {
        name: 'MicrobatchError',
        code: 'MB_CLOSED',
        message: 'closed',
        retryable: false,
        details: {},
      };
      expect(MicrobatchError.is(fake)).toBe(false);
      expect(MicrobatchError.is(fake, 'MB_CLOSED')).toBe(false);
    });

    it('is false on an Error subclass that fakes the name and code', () => {
      class Impostor extends Error {
        override readonly name = 'MicrobatchError';
        readonly code = 'MB_CLOSED';
      }
      expect(MicrobatchError.is(new Impostor('closed'))).toBe(false);
    });

    it('recognises the brand across class copies (the other build of the package)', () => {
      // The dual ESM/CJS build has two class objects; the brand is a registered symbol.
      const foreign = Object.assign(new Error('from the other build'), { code: 'MB_CLOSED' });
      Object.defineProperty(foreign, Symbol.for('microbatch.error'), { value: true });
      expect(MicrobatchError.is(foreign, 'MB_CLOSED')).toBe(true);
    });

    it('does not make the brand enumerable (it stays out of JSON and spreads)', () => {
      const copy = { ...error };
      expect(MicrobatchError.is(copy)).toBe(false);
    });
  });
});

describe('invalidOptions', () => {
  it('builds MB_INVALID_OPTIONS with details', () => {
    const error = invalidOptions("pipeline 'p': concurrency must be finite", { option: 'concurrency' });
    expect(MicrobatchError.is(error, 'MB_INVALID_OPTIONS')).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.details).toEqual({ option: 'concurrency' });
  });
});

describe('isRetryable', () => {
  it('looks through causes: a fetch failure wrapping a socket error is retryable', () => {
    const fetchFailure = new TypeError('fetch failed', {
      cause: Object.assign(new Error('socket'), { code: 'ECONNRESET' }),
    });
    expect(isRetryable(fetchFailure)).toBe(true);
    expect(isRetryable(new TypeError('fetch failed', { cause: new Error('bad certificate') }))).toBe(false);
    // An explicit flag on the outer error wins over its cause.
    const wrapped = Object.assign(new Error('no'), { retryable: false, cause: { code: 'ECONNRESET' } });
    expect(isRetryable(wrapped)).toBe(false);
  });

  it('follows an explicit boolean retryable flag before anything else', () => {
    expect(isRetryable({ retryable: true })).toBe(true);
    expect(isRetryable({ retryable: false, code: 'ECONNRESET', statusCode: 503 })).toBe(false);
    expect(isRetryable(new MicrobatchError('MB_SINK_FAILED', 'x', { retryable: true }))).toBe(true);
    expect(isRetryable(new MicrobatchError('MB_SINK_FAILED', 'x'))).toBe(false);
    expect(isRetryable(Object.assign(new TypeError('x'), { retryable: true }))).toBe(true);
  });

  it.each([
    'ECONNRESET',
    'ECONNREFUSED',
    'ECONNABORTED',
    'EPIPE',
    'ETIMEDOUT',
    'EAI_AGAIN',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ENOTFOUND',
    'UND_ERR_SOCKET',
    'UND_ERR_CONNECT_TIMEOUT',
  ])('retries network error code %s', (code) => {
    expect(isRetryable(Object.assign(new Error(`connect ${code}`), { code }))).toBe(true);
  });

  it.each([408, 425, 429, 500, 502, 503, 504])('retries HTTP status %i (statusCode or status)', (status) => {
    expect(isRetryable({ statusCode: status })).toBe(true);
    expect(isRetryable(Object.assign(new Error('http'), { status }))).toBe(true);
  });

  it.each([400, 401, 403, 404, 409, 413, 422, 501])('does not retry HTTP status %i', (status) => {
    expect(isRetryable({ statusCode: status })).toBe(false);
  });

  it('treats plain errors, bugs and unknown codes as fatal', () => {
    expect(isRetryable(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(false);
    expect(isRetryable(new Error('duplicate key value violates unique constraint'))).toBe(false);
    expect(isRetryable(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(false);
    expect(isRetryable({ retryable: 'yes' })).toBe(false);
    expect(isRetryable({ statusCode: '503' })).toBe(false);
  });

  it.each([undefined, null, 'ECONNRESET', 503, true])('is false on the non-object %s', (value) => {
    expect(isRetryable(value)).toBe(false);
  });
});

describe('retryAfterOf', () => {
  it('reads a finite non-negative retryAfter', () => {
    expect(retryAfterOf(new MicrobatchError('MB_SINK_FAILED', 'x', { retryAfter: 1500 }))).toBe(1500);
    expect(retryAfterOf({ retryAfter: 0 })).toBe(0);
  });

  it.each([[{ retryAfter: -1 }], [{ retryAfter: Number.NaN }], [{ retryAfter: '5' }], [{}], [null], ['x']])(
    'ignores %j',
    (value) => {
      expect(retryAfterOf(value)).toBeUndefined();
    },
  );
});

describe('describeError', () => {
  it('uses an error message, or the string form of anything else', () => {
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError('plain')).toBe('plain');
    expect(describeError(42)).toBe('42');
    expect(describeError(undefined)).toBe('undefined');
  });
});
