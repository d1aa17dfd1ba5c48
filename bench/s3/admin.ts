/** The S3 benchmarks' side of a server: the orchestrator's client, and the workers' credentials. */
import type { S3Client } from '@aws-sdk/client-s3';
import { s3ClientFor } from '../../test/infra/s3proxy/client.js';
import type { S3Endpoint } from '../../test/infra/s3proxy/server.js';

/**
 * A client for the orchestrator (buckets, request counts), after passing the server's credentials
 * to the workers it spawns through MB_S3_ACCESS_KEY_ID / MB_S3_SECRET_ACCESS_KEY (bench/s3/worker.ts).
 */
export function adminClient(server: S3Endpoint): S3Client {
  process.env.MB_S3_ACCESS_KEY_ID = server.accessKeyId;
  process.env.MB_S3_SECRET_ACCESS_KEY = server.secretAccessKey;
  return s3ClientFor(server);
}
