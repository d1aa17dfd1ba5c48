/**
 * The zoneless rule does not depend on the machine's zone: `zoneless.test.ts` passes in child
 * processes under TZ=America/New_York (UTC−5 in November) and TZ=Asia/Kolkata (UTC+5:30), where
 * `Date.parse('2026-11-25 14:00:00')` gives 19:00Z and 08:30Z.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the encoder under other time zones', () => {
  it.each([
    ['America/New_York', 300],
    ['Asia/Kolkata', -330],
  ])(
    'TZ=%s: zoneless.test.ts passes',
    async (tz, offset) => {
      // The premise: in that zone, Date.parse reads a zoneless string with a space as local time.
      const probe = await run(process.execPath, ['-e', "console.log(Date.parse('2026-11-25 14:00:00'))"], {
        env: { ...process.env, TZ: tz },
      });
      expect(Number(probe.stdout.trim())).toBe(Date.UTC(2026, 10, 25, 14) + offset * 60_000);
      const { stdout } = await run(
        process.execPath,
        [
          fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url)),
          'run',
          'test/parquet/zoneless.test.ts',
        ],
        { cwd: root, env: { ...process.env, TZ: tz, MB_EXPECT_TZ_OFFSET: String(offset), CI: '1' } },
      );
      // execFile rejects on a non-zero exit; the count proves the tests ran rather than being filtered out.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
      expect(stdout.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(/Tests\s+3 passed \(3\)/);
    },
    120_000,
  );
});
