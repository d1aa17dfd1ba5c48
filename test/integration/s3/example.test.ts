/**
 * examples/s3-lake.ts against the S3 server of the run. The examples test (test/examples) runs every
 * example without a server, where this one only prints how to run it; here it runs for real.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';
import { s3Endpoint } from './helpers.js';

const root = resolve(import.meta.dirname, '../../..');
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

it('examples/s3-lake.ts writes the lake to S3, compacts it and checks it', async () => {
  const server = s3Endpoint();
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (done) => {
      execFile(
        process.execPath,
        [tsxCli, '--tsconfig', 'examples/tsconfig.json', 'examples/s3-lake.ts'],
        {
          cwd: root,
          timeout: 110_000,
          env: {
            ...process.env,
            MICROBATCH_S3_ENDPOINT: server.endpoint,
            MICROBATCH_S3_ACCESS_KEY_ID: server.accessKeyId,
            MICROBATCH_S3_SECRET_ACCESS_KEY: server.secretAccessKey,
          },
        },
        (error, out, err) =>
          done({ code: error === null ? 0 : Number(error.code ?? 1), stdout: out, stderr: err }),
      );
    },
  );
  expect(code, `examples/s3-lake.ts failed:\n${stdout}\n${stderr}`).toBe(0);
  expect(stdout).toContain('written: 2000');
  expect(stdout).toContain('all checks passed');
}, 120_000);
