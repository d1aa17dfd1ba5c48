/**
 * Copy-mode compaction on S3 (S3Proxy) reads by byte range and writes a stream, the output going up
 * as a multipart upload of 5MiB parts (test/lake/compact-ranges.ts).
 */
import { s3Storage } from '../../../src/s3/index.js';
import { compactRangesSuite } from '../../lake/compact-ranges.js';
import { dropBucket, newBucket, s3Client } from './helpers.js';

const client = s3Client();

compactRangesSuite('s3Storage (S3Proxy)', async () => {
  const bucket = await newBucket(client);
  return {
    storage: s3Storage({ client, bucket, prefix: 'lake/', multipartThreshold: '6MiB', partSize: '5MiB' }),
    cleanup: () => dropBucket(client, bucket),
  };
});
