/** An S3 client for a server of the tests or benchmarks (S3Proxy, or MICROBATCH_S3_ENDPOINT). */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Endpoint } from './server.js';

/** A client for `server` with path-style addressing (S3Proxy serves no virtual hosts). */
export function s3ClientFor(server: S3Endpoint, config: S3ClientConfig = {}): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    ...config,
  });
}
