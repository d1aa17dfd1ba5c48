/**
 * How S3 failures are classified (retry and widen the adaptive window, or stop with a message saying
 * what to fix), on errors shaped like the SDK's (`name`, `$metadata.httpStatusCode`, `$fault`), and
 * s3Storage's option checks. The same errors from a real server are in test/integration/s3.
 */
import { describe, expect, it } from 'vitest';
import { isRetryable, MicrobatchError } from '../../src/core/errors.js';
import { s3Error } from '../../src/s3/errors.js';
import { isRetryableS3, s3Storage } from '../../src/s3/index.js';

const sdkError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), {
    name,
    $fault: status !== undefined && status < 500 ? 'client' : 'server',
    $metadata: status === undefined ? {} : { httpStatusCode: status },
    ...extra,
  });

describe('S3 error classification', () => {
  it.each([
    ['SlowDown', 503],
    ['RequestTimeout', 400],
    ['InternalError', 500],
    ['ServiceUnavailable', 503],
    ['ConditionalRequestConflict', 409],
    ['TooManyRequestsException', 429],
    ['BadGateway', 502],
  ])('%s (%i) is retryable back-pressure', (name, status) => {
    const error = s3Error('create', 's3://b/k', 'b', sdkError(name, status));
    expect(error.code).toBe('MB_SINK_FAILED');
    expect(error.retryable).toBe(true);
    expect(isRetryable(error)).toBe(true);
    expect(error.details).toMatchObject({ s3Code: name, status, url: 's3://b/k' });
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE'])(
    'a connection failure (%s) is retryable',
    (code) => {
      const error = Object.assign(new Error('socket'), { code });
      expect(isRetryableS3(error)).toBe(true);
      expect(isRetryableS3(Object.assign(new TypeError('fetch failed'), { cause: error }))).toBe(true);
    },
  );

  it.each([
    ['AccessDenied', 403, /check the credentials .* IAM policy/],
    ['InvalidAccessKeyId', 403, /check the credentials/],
    ['SignatureDoesNotMatch', 403, /check the credentials/],
    ['NoSuchBucket', 404, /the bucket 'b' does not exist/],
    ['PermanentRedirect', 301, /another region/],
    ['InvalidRequest', 400, /InvalidRequest \(400\)/],
    ['EntityTooSmall', 400, /EntityTooSmall/],
  ])('%s (%i) is fatal with a clear message', (name, status, message) => {
    const error = s3Error('create', 's3://b/k', 'b', sdkError(name, status));
    expect(error.retryable).toBe(false);
    expect(isRetryable(error)).toBe(false);
    expect(error.message).toMatch(message);
    expect(error.message).toContain('s3://b/k');
  });

  it('a TypeError (a bug) is fatal, and a MicrobatchError passes through unchanged', () => {
    expect(isRetryableS3(new TypeError('x is undefined'))).toBe(false);
    const own = new MicrobatchError('MB_ABORTED', 'stop');
    expect(s3Error('read', 's3://b/k', 'b', own)).toBe(own);
  });
});

describe('s3Storage options', () => {
  const client = { send: async () => ({}) };
  it.each([
    [{ client, bucket: 'ab' }, /bucket must be an S3 bucket name/],
    [{ client, bucket: 'Has_Upper' }, /bucket must be an S3 bucket name/],
    [{ client: {}, bucket: 'bucket' }, /client must be an S3Client/],
    [{ client, bucket: 'bucket', partSize: '1MiB' }, /partSize must be between 5MiB and 5GiB/],
    [{ client, bucket: 'bucket', prefix: '/abs' }, /must not start with/],
    [{ client, bucket: 'bucket', prefix: 'a/../b' }, /'\.\.' segment/],
    [{ client, bucket: 'bucket', partConcurrency: 0 }, /partConcurrency/],
  ])('rejects %o', (options, message) => {
    let error: unknown;
    try {
      s3Storage(options as never);
    } catch (e) {
      error = e;
    }
    expect(MicrobatchError.is(error, 'MB_INVALID_OPTIONS'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('names objects as s3:// URLs under its prefix', () => {
    expect(s3Storage({ client, bucket: 'bucket', prefix: 'lake' }).url('t/x.parquet')).toBe(
      's3://bucket/lake/t/x.parquet',
    );
    expect(s3Storage({ client, bucket: 'bucket' }).url('t/x.parquet')).toBe('s3://bucket/t/x.parquet');
  });
});
