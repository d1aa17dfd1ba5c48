/**
 * examples/kafka.ts against the real broker. The examples test (test/examples) runs every example
 * without a broker, where this one only prints how to run it; here it runs for real, and its printed
 * report must show every message delivered: 1,000 written, the broken one dead-lettered.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';
import { kafkaBrokers } from './helpers.js';

const root = resolve(import.meta.dirname, '../../..');
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

it('examples/kafka.ts loads 1,000 prices exactly once and dead-letters the broken message', async () => {
  const brokers = kafkaBrokers();
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (done) => {
      execFile(
        process.execPath,
        [tsxCli, '--tsconfig', 'examples/tsconfig.json', 'examples/kafka.ts'],
        {
          cwd: root,
          timeout: 110_000,
          env: { ...process.env, MICROBATCH_KAFKA_BROKERS: brokers.join(',') },
        },
        (error, out, err) =>
          done({ code: error === null ? 0 : Number(error.code ?? 1), stdout: out, stderr: err }),
      );
    },
  );
  expect(code, `examples/kafka.ts failed:\n${stdout}\n${stderr}`).toBe(0);
  expect(stdout).toContain('guarantee: exactly-once');
  expect(stdout).toMatch(/in: 1001,\s+written: 1000,\s+deadLettered: 1,/);
}, 120_000);
