/**
 * Zoneless date-times are stored by one rule, whatever the machine's time zone: UTC.
 * `timezone.test.ts` runs this file again in child processes under other `TZ` settings; there,
 * MB_EXPECT_TZ_OFFSET (minutes, as `getTimezoneOffset` gives it) proves the child's zone took effect.
 */
import { describe, expect, it } from 'vitest';
import { encodeParquet } from '../../src/parquet/encode.js';
import { queryDuckDB, readWithHyparquet } from './readers.js';

const T14 = Date.UTC(2026, 10, 25, 14);

describe('zoneless date-times are UTC on any machine', () => {
  it('the process runs in the zone it was given', () => {
    const expected = process.env.MB_EXPECT_TZ_OFFSET;
    if (expected !== undefined) expect(new Date(T14).getTimezoneOffset()).toBe(Number(expected));
    else expect(typeof new Date(T14).getTimezoneOffset()).toBe('number');
  });

  it("'T', a space, no seconds, fractions: all stored as the same UTC instant; other shapes refused", async () => {
    const texts = [
      '2026-11-25T14:00:00',
      '2026-11-25 14:00:00',
      '2026-11-25 14:00',
      '2026-11-25T14:00:00.000',
    ];
    const bytes = await encodeParquet(
      texts.map((at) => ({ at })),
      [{ name: 'at', type: 'timestamp' }],
    );
    const rows = await readWithHyparquet(bytes);
    expect(rows.map((r) => (r.at as Date).getTime())).toEqual(texts.map(() => T14));
    await expect(
      encodeParquet([{ at: '2026/11/25 14:00:00' }], [{ name: 'at', type: 'timestamp' }]),
    ).rejects.toThrow(/column 'at' \(timestamp\) at row 0/);
  });

  it('DuckDB reads the same instant', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'mb-zoneless-'));
    try {
      const path = join(dir, 'z.parquet');
      await writeFile(
        path,
        await encodeParquet([{ at: '2026-11-25 14:00:00' }], [{ name: 'at', type: 'timestamp' }]),
      );
      const rows = await queryDuckDB(`SELECT epoch_ms("at") AS ms FROM '${path}'`);
      expect(Number(rows[0]!.ms)).toBe(T14);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
