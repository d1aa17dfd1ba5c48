/**
 * The row-group copy reads only the byte ranges it needs, as a test suite run on every storage
 * (test/lake/compact-ranges.test.ts on fileStorage, test/integration/s3/compact-ranges.test.ts on
 * S3Proxy): a lake partition of multi-megabyte inputs made of small row groups is compacted through
 * a storage wrapper that records every `get` and its range, and every write. No input may be read
 * whole, no read may be larger than a row group (or the copy's read size, or the footer probe), the
 * output must be written as a stream of pieces no larger than that either, and the output must read
 * back (hyparquet, a reader we did not write) as the inputs' rows, in order.
 */
import { randomBytes } from 'node:crypto';
import { Int32, Table, tableToIPC, Utf8, vectorFromArray } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';
import { describe, expect, it } from 'vitest';
import { TAIL_BYTES } from '../../src/lake/compact-io.js';
import { COPY_READ_BYTES, readFooter } from '../../src/lake/compact-rowgroups.js';
import { compactLake, type ObjectStorage } from '../../src/lake/index.js';
import { getField, type ThriftStruct } from '../../src/parquet/thrift.js';
import { readWithHyparquet } from '../parquet/readers.js';

const TABLE = 'events';
const PARTITION = `${TABLE}/dt=2026-11-25/`;

/** One input: `rows` rows of an id and ~240 bytes of random text, in row groups of 1,000 rows (~250KB). */
function inputFile(first: number, rows: number): Uint8Array {
  const ids = Array.from({ length: rows }, (_, i) => first + i);
  const table = new Table({
    id: vectorFromArray(ids, new Int32()),
    payload: vectorFromArray(
      ids.map(() => randomBytes(120).toString('hex')),
      new Utf8(),
    ),
  });
  const props = new WriterPropertiesBuilder()
    .setCompression(Compression.UNCOMPRESSED)
    .setDictionaryEnabled(false)
    .setMaxRowGroupSize(1_000)
    .build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), props);
}

interface Recorded {
  gets: { key: string; offset?: number; length?: number; returned: number }[];
  whole: { key: string; size: number }[];
  streamedPieces: number[];
}

/** `storage`, with every get, whole write and streamed piece recorded. */
function recording(storage: ObjectStorage): { storage: ObjectStorage; log: Recorded } {
  const log: Recorded = { gets: [], whole: [], streamedPieces: [] };
  const wrapped: ObjectStorage = {
    kind: storage.kind,
    url: (key) => storage.url(key),
    open: (options) => storage.open?.(options) ?? Promise.resolve(),
    async get(key, options = {}) {
      const bytes = await storage.get(key, options);
      log.gets.push({
        key,
        ...(options.range === undefined
          ? {}
          : { offset: options.range.offset, length: options.range.length }),
        returned: bytes?.length ?? 0,
      });
      return bytes;
    },
    putIfAbsent(key, body, options) {
      log.whole.push({ key, size: body.length });
      return storage.putIfAbsent(key, body, options);
    },
    put: (key, body, options) => storage.put(key, body, options),
    head: (key, options) => storage.head(key, options),
    list: (prefix, options) => storage.list(prefix, options),
    delete: (keys, options) => storage.delete(keys, options),
    abortIncomplete: (prefix, options) => storage.abortIncomplete(prefix, options),
  };
  if (storage.putIfAbsentStream !== undefined) {
    const stream = storage.putIfAbsentStream.bind(storage);
    wrapped.putIfAbsentStream = (key, body, options) =>
      stream(
        key,
        async function* () {
          for await (const piece of body()) {
            log.streamedPieces.push(piece.length);
            yield piece;
          }
        },
        options,
      );
  }
  return { storage: wrapped, log };
}

/** Registers the suite; `make()` returns a fresh, empty storage and a way to drop it. */
export function compactRangesSuite(
  name: string,
  make: () => Promise<{ storage: ObjectStorage; cleanup(): Promise<void> }>,
): void {
  describe(`copy-mode compaction reads by byte range and writes a stream: ${name}`, () => {
    it('never reads an input whole nor more than a row group at once; the output reads back row for row', async () => {
      const { storage: inner, cleanup } = await make();
      try {
        await inner.open?.();
        // Three inputs of 12,000 rows (~3MB each, 12 row groups of ~250KB): 9MB in one bin, so the
        // output goes up in several parts on S3.
        const inputs = [0, 1, 2].map((n) => inputFile(n * 12_000, 12_000));
        for (const [n, bytes] of inputs.entries())
          await inner.putIfAbsent(`${PARTITION}part-${n}.parquet`, bytes);
        await inner.put(`${PARTITION}_SUCCESS`, new Uint8Array(0));
        const expected = (await Promise.all(inputs.map((bytes) => readWithHyparquet(bytes)))).flat();
        expect(expected).toHaveLength(36_000);
        for (const bytes of inputs) expect(bytes.length).toBeGreaterThan(2 * COPY_READ_BYTES);

        const { storage, log } = recording(inner);
        const report = await compactLake({ storage, table: TABLE, targetFileBytes: '64MB' });
        expect(report).toMatchObject({ mode: 'copy', outputs: 1, filesBefore: 3, filesAfter: 1 });

        const inputGets = log.gets.filter((g) => /\/part-\d\.parquet$/.test(g.key));
        expect(inputGets.length).toBeGreaterThan(0);
        // No input is read whole: every read has a range, within the footer probe or the copy's
        // read size (each row group here is ~250KB, well under it).
        const limit = Math.max(TAIL_BYTES, COPY_READ_BYTES);
        for (const get of inputGets) {
          expect(get.length, `${get.key} read whole`).toBeDefined();
          expect(get.length!, `${get.key} +${get.offset}`).toBeLessThanOrEqual(limit);
          expect(get.returned).toBeLessThanOrEqual(limit);
        }
        // The output is streamed, never handed over whole.
        const outputs = log.whole.filter((w) => w.key.endsWith('.parquet'));
        expect(outputs, 'the output was written from one buffer').toEqual([]);
        expect(log.streamedPieces.length).toBeGreaterThan(3);
        expect(Math.max(...log.streamedPieces)).toBeLessThanOrEqual(limit);

        const [output] = (await inner.list(PARTITION)).objects.filter((o) => o.key.endsWith('.parquet'));
        expect(output!.key).toMatch(/compacted-[0-9a-f]{16}\.parquet$/);
        const rows = await readWithHyparquet((await inner.get(output!.key))!);
        expect(rows).toEqual(expected);
        expect(await inner.abortIncomplete(TABLE)).toBe(0);
      } finally {
        await cleanup();
      }
    });

    it('a page found damaged while the copy streams: the write is abandoned, the intent rolled back, the bin skipped', async () => {
      const { storage, cleanup } = await make();
      try {
        await storage.open?.();
        const inputs = [0, 1, 2].map((n) => inputFile(n * 12_000, 12_000));
        // The last row group of the last input: its first page header overwritten. The footers are
        // intact, so the damage is found only when the copy reaches it, after the intent and (on S3)
        // parts of the output went up.
        const damaged = Buffer.from(inputs[2]!);
        const groups = getField(readFooter(damaged).metadata, 4) as { items: ThriftStruct[] };
        const chunk = (getField(groups.items.at(-1)!, 1) as { items: ThriftStruct[] }).items[0]!;
        const page = getField(getField(chunk, 3) as ThriftStruct, 9) as { value: bigint };
        damaged.fill(0xff, Number(page.value), Number(page.value) + 16);
        inputs[2] = damaged;
        for (const [n, bytes] of inputs.entries())
          await storage.putIfAbsent(`${PARTITION}part-${n}.parquet`, bytes);
        await storage.put(`${PARTITION}_SUCCESS`, new Uint8Array(0));
        const report = await compactLake({ storage, table: TABLE, targetFileBytes: '64MB' });
        expect(report.outputs).toBe(0);
        expect(report.skippedBins.map((s) => [s.reason, s.file])).toEqual([['corrupt', 'part-2.parquet']]);
        const keys = (await storage.list(PARTITION)).objects.map((o) => o.key.slice(PARTITION.length));
        expect(keys).toEqual(['_SUCCESS', 'part-0.parquet', 'part-1.parquet', 'part-2.parquet']);
        expect(await storage.abortIncomplete(TABLE)).toBe(0);
      } finally {
        await cleanup();
      }
    });
  });
}
