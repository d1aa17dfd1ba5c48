/**
 * Vitest global setup: provides `s3` (endpoint and credentials) to the S3 integration tests. With
 * `MICROBATCH_S3_ENDPOINT` (plus `MICROBATCH_S3_ACCESS_KEY_ID`, `MICROBATCH_S3_SECRET_ACCESS_KEY`
 * and optionally `MICROBATCH_S3_REGION`) that server is used as it is; otherwise one S3Proxy
 * (transient backend) is started from the jar in .cache/s3proxy (fetched first when missing) and
 * stopped after the run. It is started only when a file under test/integration/s3/ (or
 * test/integration/snowflake/, whose seed test stages on S3) is part of the
 * run, so other runs pay nothing for it. Tests that stop and restart a server start their own.
 */
import type { TestProject } from 'vitest/node';
import { type S3Endpoint, startS3Proxy } from '../../infra/s3proxy/server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The S3 server of the integration tests; `undefined` when the run has no S3 test. */
    s3: S3Endpoint | undefined;
  }
}

const S3_TESTS = /[\\/]test[\\/]integration[\\/](s3|snowflake)[\\/]/;

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const endpoint = process.env.MICROBATCH_S3_ENDPOINT?.trim();
  if (endpoint) {
    const accessKeyId = process.env.MICROBATCH_S3_ACCESS_KEY_ID;
    const secretAccessKey = process.env.MICROBATCH_S3_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new Error(
        'MICROBATCH_S3_ENDPOINT is set: also set MICROBATCH_S3_ACCESS_KEY_ID and MICROBATCH_S3_SECRET_ACCESS_KEY',
      );
    }
    project.provide('s3', {
      endpoint,
      region: process.env.MICROBATCH_S3_REGION ?? 'us-east-1',
      accessKeyId,
      secretAccessKey,
    });
    return undefined;
  }
  if (!runsS3Tests(project)) {
    project.provide('s3', undefined);
    return undefined;
  }
  const server = await startS3Proxy();
  project.provide('s3', {
    endpoint: server.endpoint,
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
  });
  return () => server.stop();
}

/** Whether this run includes an S3 test file (see the Kafka setup for the API used). */
function runsS3Tests(project: TestProject): boolean {
  try {
    return project.vitest.state.getPaths().some((file) => S3_TESTS.test(file));
  } catch {
    return false;
  }
}
