/**
 * How S3 failures are classified for the pipeline (retry with back-off and widen the adaptive
 * window, or stop with a clear message). The JS SDK v3 throws `S3ServiceException`s with `name`
 * (the S3 error code), `$metadata.httpStatusCode` and `$fault`; 412 and 409 of conditional writes
 * are not modelled classes, so the status is what is tested (SNOWFLAKE-S3.md §7). Network failures
 * carry Node's error codes (ECONNRESET…) on the error or its cause.
 */
import { isRetryable, MicrobatchError } from '../core/errors.js';

/** The parts of an SDK error this module reads. */
interface SdkError {
  name?: unknown;
  message?: unknown;
  Code?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** The HTTP status of an SDK error, when the server answered. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as SdkError | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The S3 error code (`SlowDown`, `NoSuchKey`, …) or the error's name. */
export function s3CodeOf(error: unknown): string {
  const e = error as SdkError | undefined;
  if (typeof e?.Code === 'string') return e.Code;
  return typeof e?.name === 'string' ? e.name : 'Error';
}

/** Throttling and transient server states: back off and try again. */
const RETRYABLE_CODES = new Set([
  'SlowDown',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'OperationAborted',
  'ConditionalRequestConflict',
  'TimeoutError',
]);
const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const AUTH_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
]);

/** True for a 412 Precondition Failed: the key exists (a conditional create lost). */
export const isPreconditionFailed = (error: unknown) =>
  statusOf(error) === 412 || s3CodeOf(error) === 'PreconditionFailed';
/** True for a 409 ConditionalRequestConflict: a concurrent write on the key; start the upload again. */
export const isConditionalConflict = (error: unknown) =>
  s3CodeOf(error) === 'ConditionalRequestConflict' ||
  (statusOf(error) === 409 && s3CodeOf(error) !== 'BucketAlreadyOwnedByYou');
/** True for "no such object" (GetObject's NoSuchKey, HeadObject's bare 404). */
export const isNotFound = (error: unknown) =>
  s3CodeOf(error) === 'NoSuchKey' ||
  s3CodeOf(error) === 'NotFound' ||
  (statusOf(error) === 404 && s3CodeOf(error) !== 'NoSuchBucket');

/** Whether retrying an S3 call that failed with `error` may succeed. */
export function isRetryableS3(error: unknown): boolean {
  const code = s3CodeOf(error);
  if (RETRYABLE_CODES.has(code)) return true;
  const status = statusOf(error);
  if (status !== undefined) return RETRYABLE_STATUSES.has(status);
  // No HTTP answer: a reset or refused connection, a socket timeout (Node's codes, maybe in `cause`).
  if ((error as SdkError | undefined)?.$retryable) return true;
  return isRetryable(error);
}

/**
 * The error a storage operation throws: `MB_SINK_FAILED`, retryable or not (see
 * {@link isRetryableS3}), with a message that names the operation, the object and, for the fatal
 * cases a person must fix (credentials, policy, bucket), what to check. Never includes credentials:
 * only the SDK's error code and message, the bucket and the key.
 */
export function s3Error(operation: string, url: string, bucket: string, error: unknown): MicrobatchError {
  if (MicrobatchError.is(error)) return error;
  const code = s3CodeOf(error);
  const status = statusOf(error);
  const message =
    typeof (error as SdkError | undefined)?.message === 'string' ? (error as Error).message : String(error);
  const retryable = isRetryableS3(error);
  let hint = '';
  if (code === 'NoSuchBucket')
    hint = `: the bucket '${bucket}' does not exist (create it, or fix the bucket option)`;
  else if (AUTH_CODES.has(code) || status === 403)
    hint =
      ': check the credentials of the S3 client and that its IAM policy allows this operation on the bucket and prefix (docs/s3.md, "Permissions")';
  else if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || status === 301)
    hint = `: the bucket '${bucket}' is in another region than the client's`;
  else if (retryable) hint = ' (retryable: the store is throttling or unreachable)';
  return new MicrobatchError(
    'MB_SINK_FAILED',
    `s3Storage: cannot ${operation} ${url}: ${code}${status ? ` (${status})` : ''}: ${message}${hint}`,
    {
      cause: error,
      retryable,
      details: { url, operation, s3Code: code, ...(status === undefined ? {} : { status }) },
    },
  );
}
