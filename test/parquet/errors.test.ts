import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { encodeParquet } from '../../src/parquet/encode.js';
import { expectCode, rejection } from '../support.js';

const Price = z.object({
  id: z.string(),
  price: z.number(),
  qty: z.int32(),
  n64: z.int(),
  at: z.date(),
  ok: z.boolean(),
  side: z.enum(['buy', 'sell']),
  meta: z.object({ source: z.string(), tags: z.array(z.string()) }).nullable(),
  lines: z.array(z.object({ sku: z.string(), price: z.number() })),
});

const good = (i: number) => ({
  id: `p${i}`,
  price: i + 0.5,
  qty: i,
  n64: i * 1_000,
  at: new Date(i),
  ok: i % 2 === 0,
  side: 'buy',
  meta: { source: 'web', tags: ['a'] },
  lines: [{ sku: 's', price: 1 }],
});

/** Encodes 20 good records with `patch` applied to record 17, expecting MB_ENCODE_FAILED. */
async function misfit(patch: Record<string, unknown>, remove?: string) {
  const records: Record<string, unknown>[] = Array.from({ length: 20 }, (_, i) => good(i));
  Object.assign(records[17]!, patch);
  if (remove !== undefined) delete records[17]![remove];
  const error = expectCode(await rejection(encodeParquet(records, Price)), 'MB_ENCODE_FAILED');
  expect(error.details.row).toBe(17);
  return error.message;
}

describe('encodeParquet names every misfit', () => {
  it('a string in a float64 column', async () => {
    expect(await misfit({ price: '12,50' })).toBe(
      "column 'price' (float64) at row 17: expected a number, got '12,50'",
    );
  });

  it('int32 out of range, NaN and fractions in an int32 column', async () => {
    expect(await misfit({ qty: 2 ** 31 })).toBe(
      "column 'qty' (int32) at row 17: expected an integer in [-2147483648, 2147483647], got 2147483648",
    );
    expect(await misfit({ qty: Number.NaN })).toContain(
      "column 'qty' (int32) at row 17: expected an integer",
    );
    expect(await misfit({ qty: 1.5 })).toContain('got 1.5');
  });

  it('an unsafe number, NaN or a string in an int64 column', async () => {
    expect(await misfit({ n64: 2 ** 60 })).toContain(
      "column 'n64' (int64) at row 17: expected a safe integer or a bigint in int64 range, got",
    );
    expect(await misfit({ n64: Number.NaN })).toContain('got NaN');
    expect(await misfit({ n64: 2n ** 63n })).toContain('got 9223372036854775808n');
  });

  it('an invalid Date or an unparseable string in a timestamp column', async () => {
    expect(await misfit({ at: new Date('nope') })).toBe(
      "column 'at' (timestamp) at row 17: expected a Date, an ISO 8601 string or ms since the epoch within ±8640000000000000 ms, got an invalid Date",
    );
    // Past the range of a Date: refused, never wrapped (1e20 ms used to be stored as 7766279631452241920).
    expect(await misfit({ at: 1e20 })).toContain('got 100000000000000000000');
    expect(await misfit({ at: 2 ** 53 })).toContain('got 9007199254740992');
    expect(await misfit({ at: -8.64e15 - 1 })).toContain('got -8640000000000001');
    // A zoneless date-time that is not ISO 8601 is not read in the machine's zone: refused.
    expect(await misfit({ at: '2026/11/25 14:00:00' })).toContain("got '2026/11/25 14:00:00'");
    expect(await misfit({ at: 'yesterday' })).toContain("got 'yesterday'");
    expect(await misfit({ at: Number.POSITIVE_INFINITY })).toContain('got Infinity');
  });

  it('a missing non-nullable field, and null in a non-nullable column', async () => {
    expect(await misfit({}, 'id')).toBe(
      "column 'id' (string) at row 17: expected a string, got undefined (missing)",
    );
    expect(await misfit({ ok: null })).toBe("column 'ok' (boolean) at row 17: expected a boolean, got null");
  });

  it('a value outside an enum', async () => {
    expect(await misfit({ side: 'hold' })).toBe(
      "column 'side' (enum) at row 17: expected one of 'buy', 'sell', got 'hold'",
    );
  });

  it('wrong types inside structs and lists, by path', async () => {
    expect(await misfit({ meta: { source: 7, tags: [] } })).toBe(
      "column 'meta.source' (string) at row 17: expected a string, got 7",
    );
    expect(await misfit({ meta: { source: 'x', tags: ['a', 5] } })).toBe(
      "column 'meta.tags[]' (string) at row 17: expected a string, got 5",
    );
    expect(await misfit({ lines: [{ sku: 's', price: 1 }, { sku: 's' }] })).toBe(
      "column 'lines[].price' (float64) at row 17: expected a number, got undefined (missing)",
    );
    expect(await misfit({ meta: 'web' })).toBe(
      "column 'meta' (struct) at row 17: expected an object, got 'web'",
    );
    expect(await misfit({ lines: { sku: 's' } })).toBe(
      "column 'lines' (list) at row 17: expected an array, got an object",
    );
  });

  it('a record that is not an object', async () => {
    const error = expectCode(await rejection(encodeParquet([good(0), 'text'], Price)), 'MB_ENCODE_FAILED');
    expect(error.message).toBe("row 1: expected an object (a record), got 'text'");
  });

  it('shortens long values in the message', async () => {
    const message = await misfit({ price: 'y'.repeat(10_000) });
    expect(message.length).toBeLessThan(160);
    expect(message).toContain("'yyy");
  });

  it('a null struct skips its fields: no error for their missing values', async () => {
    const records = [good(0), { ...good(1), meta: null }];
    await expect(encodeParquet(records, Price)).resolves.toBeInstanceOf(Uint8Array);
  });
});
