/**
 * The row-group copy (src/lake/compact-rowgroups.ts) checked by readers that share no code with it:
 * merged files read back by DuckDB and hyparquet (+ hyparquet-compressors) equal to their inputs —
 * random nested/nullable schemas, every codec, several row groups per input, data page v1 and v2,
 * dictionary on and off, page indexes present or not — and DuckDB's parquet_metadata() lists the
 * inputs' row groups at their new offsets. Damaged inputs are refused, naming the input.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, it } from '@fast-check/vitest';
import { Float64, Int32, Int64, Table, tableToIPC, Utf8, vectorFromArray } from 'apache-arrow';
import {
  Compression,
  EnabledStatistics,
  Table as WasmTable,
  WriterPropertiesBuilder,
  WriterVersion,
  writeParquet,
} from 'parquet-wasm';
import { afterAll, describe, expect } from 'vitest';
import { z } from 'zod';
import { InputError } from '../../src/lake/compact-parquet.js';
import { footerKey, mergeRowGroups, readFooter } from '../../src/lake/compact-rowgroups.js';
import { encodeParquet, type ParquetCompression } from '../../src/parquet/encode.js';
import { decodeStruct, encodeStruct, getField, type ThriftStruct } from '../../src/parquet/thrift.js';
import { queryDuckDB, readWithHyparquet, sqlString } from '../parquet/readers.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mb-rowgroups-'));
  dirs.push(dir);
  return dir;
}

const merge = (files: Uint8Array[]) => mergeRowGroups(files.length, async (i) => files[i]!);

/** DuckDB's rows of a file as JSON text (bigints as strings), in file order. */
async function duckRows(path: string): Promise<string[]> {
  const rows = await queryDuckDB(`SELECT * FROM read_parquet(${sqlString(path)})`);
  return rows.map((row) => JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
}

const CODECS: ParquetCompression[] = ['zstd', 'snappy', 'gzip', 'lz4', 'brotli', 'none'];

// A nested, nullable schema covering the encoder's types (structs, lists, timestamps, enums, int64).
const Event = z.object({
  id: z.int(),
  name: z.string().nullable(),
  price: z.number(),
  qty: z.int32().nullable(),
  ok: z.boolean(),
  at: z.date(),
  color: z.enum(['red', 'green']).nullable(),
  tags: z.array(z.string()).nullable(),
  where: z.object({ city: z.string(), zip: z.int32().nullable() }).nullable(),
});

const event = (id: number) =>
  fc.record({
    id: fc.constant(id),
    name: fc.option(fc.string({ maxLength: 10 }), { nil: null }),
    price: fc.double({ noNaN: true, noDefaultInfinity: true }),
    qty: fc.option(fc.integer(), { nil: null }),
    ok: fc.boolean(),
    at: fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }),
    color: fc.option(fc.constantFrom('red' as const, 'green' as const), { nil: null }),
    tags: fc.option(fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), { nil: null }),
    where: fc.option(
      fc.record({ city: fc.string({ maxLength: 6 }), zip: fc.option(fc.integer(), { nil: null }) }),
      {
        nil: null,
      },
    ),
  });

/** 1–4 inputs, each with its own codec, row-group size and 0–30 rows (ids continue across files). */
const inputs = fc.array(
  fc.record({
    codec: fc.constantFrom(...CODECS),
    rowGroupSize: fc.integer({ min: 1, max: 12 }),
    rows: fc.nat({ max: 30 }),
  }),
  { minLength: 1, maxLength: 4 },
);

/** Every ColumnChunk struct of a file's footer. */
function chunksOf(bytes: Uint8Array): ThriftStruct[] {
  const groups = getField(readFooter(bytes).metadata, 4) as { items: ThriftStruct[] };
  return groups.items.flatMap((group) => (getField(group, 1) as { items: ThriftStruct[] }).items);
}

describe('mergeRowGroups', () => {
  it.prop([inputs, fc.integer()], { numRuns: 25 })(
    'merged files read back equal to their inputs in DuckDB and hyparquet (nested, nulls, every codec)',
    async (specs, seed) => {
      const dir = await scratch();
      const files: Uint8Array[] = [];
      let next = 0;
      for (const spec of specs) {
        const records = fc.sample(fc.tuple(...Array.from({ length: spec.rows }, (_, i) => event(next + i))), {
          seed,
          numRuns: 1,
        })[0]!;
        next += spec.rows;
        files.push(
          await encodeParquet(records, Event, { compression: spec.codec, rowGroupSize: spec.rowGroupSize }),
        );
      }
      const merged = await merge(files);
      expect(merged.rows).toBe(next);
      const out = join(dir, 'merged.parquet');
      await writeFile(out, merged.bytes);

      // hyparquet: the merged rows are the inputs' rows, in input order. hyparquet-compressors cannot
      // decode parquet-wasm's LZ4_RAW pages of a few bytes (it fails on such an input file itself,
      // "lz4 offset out of range"), so files with lz4 inputs are checked by DuckDB alone.
      if (!specs.some((spec) => spec.codec === 'lz4')) {
        const expected = (await Promise.all(files.map(readWithHyparquet))).flat();
        expect(await readWithHyparquet(merged.bytes)).toEqual(expected);
      }
      // DuckDB: the same, and the same row groups (each input's, in order, with their codecs).
      const paths = await Promise.all(
        files.map(async (bytes, i) => {
          const path = join(dir, `in-${i}.parquet`);
          await writeFile(path, bytes);
          return path;
        }),
      );
      expect(await duckRows(out)).toEqual((await Promise.all(paths.map(duckRows))).flat());
      const groups = (path: string) =>
        queryDuckDB(
          `SELECT row_group_id, row_group_num_rows AS n, compression, column_id FROM parquet_metadata(${sqlString(path)}) ORDER BY row_group_id, column_id`,
        );
      let offset = 0;
      const want: Record<string, unknown>[] = [];
      for (const path of paths) {
        const own = await groups(path);
        for (const g of own) want.push({ ...g, row_group_id: BigInt(Number(g.row_group_id) + offset) });
        offset += new Set(own.map((g) => g.row_group_id)).size;
      }
      expect(await groups(out)).toEqual(want);
      // The footer we wrote is one the codec re-encodes byte for byte.
      const footer = readFooter(merged.bytes);
      const raw = merged.bytes.subarray(footer.start, merged.bytes.length - 8);
      expect(Buffer.from(encodeStruct(decodeStruct(raw).struct)).equals(Buffer.from(raw))).toBe(true);
    },
    120_000,
  );

  it.prop(
    [
      fc.array(
        fc.record({
          version: fc.constantFrom(WriterVersion.V1, WriterVersion.V2),
          dictionary: fc.boolean(),
          statistics: fc.constantFrom(
            EnabledStatistics.None,
            EnabledStatistics.Chunk,
            EnabledStatistics.Page,
          ),
          pageRows: fc.constantFrom(2, 7, 1000),
          codec: fc.constantFrom(
            Compression.ZSTD,
            Compression.SNAPPY,
            Compression.UNCOMPRESSED,
            Compression.LZ4_RAW,
          ),
        }),
        { minLength: 2, maxLength: 3 },
      ),
    ],
    { numRuns: 15 },
  )(
    'inputs with data page v2, many pages per chunk, dictionaries and page indexes merge and read back',
    async (writers) => {
      const dir = await scratch();
      const files = writers.map((w, f) => {
        const ids = Array.from({ length: 40 }, (_, i) => f * 1000 + i);
        const table = new Table({
          id: vectorFromArray(ids.map(BigInt), new Int64()),
          n: vectorFromArray(
            ids.map((i) => (i % 3 === 0 ? null : i % 11)),
            new Int32(),
          ),
          x: vectorFromArray(
            ids.map((i) => i / 8),
            new Float64(),
          ),
          s: vectorFromArray(
            ids.map((i) => (i % 5 === 0 ? null : `v${i % 4}`)),
            new Utf8(),
          ),
        });
        const props = new WriterPropertiesBuilder()
          .setWriterVersion(w.version)
          .setDictionaryEnabled(w.dictionary)
          .setStatisticsEnabled(w.statistics)
          // Small batches and a tiny page size limit cut a chunk into many pages.
          .setWriteBatchSize(w.pageRows)
          .setDataPageSizeLimit(w.pageRows === 1000 ? 1 << 20 : 64)
          .setMaxRowGroupSize(25)
          .setCompression(w.codec)
          .build();
        return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), props);
      });
      // Files written with different properties still share one schema: they merge.
      expect(new Set(files.map((b) => footerKey(b))).size).toBe(1);
      const merged = await merge(files);
      const out = join(dir, 'merged.parquet');
      await writeFile(out, merged.bytes);
      const expected = (await Promise.all(files.map(readWithHyparquet))).flat();
      expect(await readWithHyparquet(merged.bytes)).toEqual(expected);
      const [summary] = await queryDuckDB(
        `SELECT count(*) AS n, sum(id) AS ids, sum(n) AS ns, count(s) AS ss, sum(x) AS xs FROM read_parquet(${sqlString(out)})`,
      );
      const ids = expected.reduce<bigint>((t, r) => t + (r.id as bigint), 0n);
      expect(summary).toMatchObject({ n: BigInt(expected.length), ids: BigInt(ids) });
      expect(Number(summary!.ns)).toBe(expected.reduce((t, r) => t + ((r.n as number | null) ?? 0), 0));
      expect(Number(summary!.ss)).toBe(expected.filter((r) => r.s !== null).length);
      // A filter DuckDB can push into row-group statistics still finds exactly the right rows.
      const [picked] = await queryDuckDB(
        `SELECT count(*) AS n FROM read_parquet(${sqlString(out)}) WHERE id BETWEEN 1010 AND 1029`,
      );
      expect(picked!.n).toBe(
        BigInt(expected.filter((r) => (r.id as bigint) >= 1010n && (r.id as bigint) <= 1029n).length),
      );
      const [meta] = await queryDuckDB(
        `SELECT count(DISTINCT row_group_id) AS groups FROM parquet_metadata(${sqlString(out)})`,
      );
      expect(meta!.groups).toBe(BigInt(writers.length * 2)); // 40 rows in groups of 25 per input
      // Writers with page statistics write page indexes; the output refers to none (they would hold
      // the inputs' absolute offsets), and every page offset it lists lands on a page of the right type.
      if (writers.some((w) => w.statistics === EnabledStatistics.Page)) {
        expect(files.some((b) => chunksOf(b).some((c) => getField(c, 4) !== undefined))).toBe(true);
      }
      for (const chunk of chunksOf(merged.bytes)) {
        expect(chunk.fields.map((f) => f.id).filter((id) => id >= 4 && id <= 7)).toEqual([]);
        const meta = getField(chunk, 3) as ThriftStruct;
        expect(getField(meta, 14)).toBeUndefined();
        const pageType = (id: number) => {
          const offset = getField(meta, id);
          if (offset?.kind !== 'i64') return undefined;
          return getField(decodeStruct(merged.bytes, Number(offset.value)).struct, 1);
        };
        expect([0, 3]).toContain((pageType(9) as { value: number }).value); // DATA_PAGE, DATA_PAGE_V2
        const dictionary = pageType(11);
        if (dictionary !== undefined) expect(dictionary).toEqual({ kind: 'i32', value: 2 }); // DICTIONARY_PAGE
      }
    },
    120_000,
  );

  it('refuses an input whose schema differs from the first, naming its index', async () => {
    const a = await encodeParquet([{ id: 1 }], z.object({ id: z.int() }));
    const b = await encodeParquet([{ id: 1 }], z.object({ id: z.int32() }));
    const error = await merge([a, a, b]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect(error).toMatchObject({ index: 2, message: 'its schema differs from the first input of the bin' });
  });

  it('refuses a damaged column chunk, a cut file and a file that is not Parquet', async () => {
    const good = await encodeParquet(
      Array.from({ length: 50 }, (_, id) => ({ id, s: `text ${id}` })),
      z.object({ id: z.int(), s: z.string() }),
    );
    const damaged = Uint8Array.from(good);
    damaged.fill(0xff, 4, 20); // the first page header
    const cut = Uint8Array.from(good.subarray(0, good.length - 9));
    for (const [bad, what] of [
      [damaged, /page|type code|varint|size/],
      [cut, /PAR1/],
      [new TextEncoder().encode('PAR1 not really PAR1'), /footer|larger than the file|end of input/],
    ] as const) {
      const error = await merge([good, bad]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).index).toBe(1);
      expect((error as InputError).message).toMatch(what);
    }
  });
});
