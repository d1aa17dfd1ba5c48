/**
 * `microbatch/s3`: the Parquet lake (and warehouse stages) on Amazon S3 or an S3-compatible server.
 * `@aws-sdk/client-s3` is an optional peer, loaded when a pipeline using it starts.
 * @packageDocumentation
 */
export { isRetryableS3 } from './errors.js';
export { type S3ClientLike, type S3StorageOptions, s3Storage } from './storage.js';
