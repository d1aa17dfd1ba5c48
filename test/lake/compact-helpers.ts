/**
 * Builds lake tables for the compaction tests, following the lake layout contract directly with
 * apache-arrow + parquet-wasm (the lake sink and encoder are written in parallel), and reads them
 * back with DuckDB and hyparquet.
 */
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Float64, Int32, Int64, Table, tableToIPC, Utf8, type Vector, vectorFromArray } from 'apache-arrow';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';
import { atomicFiles } from '../../src/sinks/atomic-file.js';

/** A row of the test tables; `version: 2` files carry an extra `note` column. */
export interface Row {
  id: number;
  amount: number;
  sku: string;
  note?: string;
}

/** Encodes rows as Parquet bytes (v1: id int32, amount float64, sku utf8; v2: + note utf8). */
export function encodeRows(
  rows: readonly Row[],
  version: 1 | 2 = 1,
  compression = Compression.ZSTD,
): Uint8Array {
  const columns = withIds(
    rows,
    vectorFromArray(
      rows.map((r) => r.id),
      new Int32(),
    ),
  );
  if (version === 2) {
    columns.note = vectorFromArray(
      rows.map((r) => r.note ?? ''),
      new Utf8(),
    );
  }
  return encodeTable(columns, compression);
}

/** An int64 variant (same column names, different type) for the "schemas kept apart" test. */
export function encodeRowsInt64Ids(rows: readonly Row[]): Uint8Array {
  const ids = vectorFromArray(
    rows.map((r) => BigInt(r.id)),
    new Int64(),
  );
  return encodeTable(withIds(rows, ids), Compression.ZSTD);
}

/** The columns every version shares, after the given `id` column. */
function withIds(rows: readonly Row[], id: Vector): Record<string, Vector> {
  return {
    id,
    amount: vectorFromArray(
      rows.map((r) => r.amount),
      new Float64(),
    ),
    sku: vectorFromArray(
      rows.map((r) => r.sku),
      new Utf8(),
    ),
  };
}

function encodeTable(columns: Record<string, Vector>, compression: Compression): Uint8Array {
  const props = new WriterPropertiesBuilder().setCompression(compression).build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(new Table(columns), 'stream')), props);
}

/** Writes `part-<batch>.parquet` into `<dir>/<table>/<partition>/` atomically, like the sink. */
export async function writeDataFile(
  dir: string,
  table: string,
  partition: string,
  batch: string,
  bytes: Uint8Array,
): Promise<string> {
  const partitionDir = join(dir, table, partition);
  await atomicFiles(partitionDir).write(`part-${batch}`, '.parquet', bytes);
  return join(partitionDir, `part-${batch}.parquet`);
}

/**
 * Writes the `_SUCCESS` marker. File mtimes are set explicitly (all data files 10 s before the
 * marker) so that "not newer than the marker" does not depend on the file system's timestamp
 * granularity; `late` files get an mtime after it.
 */
export async function closePartition(
  dir: string,
  table: string,
  partition: string,
  at = Date.now(),
): Promise<void> {
  const partitionDir = join(dir, table, partition);
  for (const name of await readdir(partitionDir)) {
    if (name.endsWith('.parquet'))
      await utimes(join(partitionDir, name), (at - 10_000) / 1000, (at - 10_000) / 1000);
  }
  const marker = join(partitionDir, '_SUCCESS');
  await writeFile(
    marker,
    JSON.stringify({ pipeline: 'test', watermark: at, records: 0, completedAt: new Date(at).toISOString() }),
  );
  await utimes(marker, at / 1000, at / 1000);
}

/** Makes a file newer than its partition's marker (a late record arrived after `_SUCCESS`). */
export async function makeLate(file: string, at = Date.now()): Promise<void> {
  await utimes(file, (at + 10_000) / 1000, (at + 10_000) / 1000);
}

/** Every file below `root`, relative, sorted (the whole state of a lake, for before/after comparisons). */
export async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

/** A row as read back, with its hive partition columns. */
export type ReadRow = Record<string, string | number | null>;

let duck: Promise<DuckDBInstance> | undefined;

/** All rows of a table through DuckDB with hive partitioning, sorted by id (then by partition). */
export async function readWithDuckDB(dir: string, table: string): Promise<ReadRow[]> {
  duck ??= DuckDBInstance.create(':memory:');
  const connection = await (await duck).connect();
  try {
    const glob = join(dir, table, '**', '*.parquet').replaceAll("'", "''");
    const reader = await connection.runAndReadAll(
      `SELECT * FROM read_parquet('${glob}', hive_partitioning = true, union_by_name = true)`,
    );
    const rows = reader.getRowObjectsJS() as Record<string, unknown>[];
    return rows.map(normalize).sort(byIdThenPartition);
  } finally {
    connection.closeSync();
  }
}

/** All rows through hyparquet, file by file, with the partition values parsed from the path. */
export async function readWithHyparquet(dir: string, table: string): Promise<ReadRow[]> {
  const root = join(dir, table);
  const rows: ReadRow[] = [];
  for (const path of await listTree(root)) {
    const name = path.split('/').pop()!;
    if (!name.endsWith('.parquet') || name.startsWith('.') || name.startsWith('_')) continue;
    const bytes = await readFile(join(root, path));
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const hive = Object.fromEntries(
      path
        .split('/')
        .slice(0, -1)
        .map((segment) => segment.split('=') as [string, string]),
    );
    for (const row of (await parquetReadObjects({ file, compressors })) as Record<string, unknown>[]) {
      const { note: _note, ...rest } = row;
      rows.push(normalize({ ...rest, ...hive }));
    }
  }
  return rows.sort(byIdThenPartition);
}

function normalize(row: Record<string, unknown>): ReadRow {
  const out: ReadRow = {};
  for (const [key, value] of Object.entries(row)) {
    if (key === 'note') continue;
    // DuckDB types hive values (dt → DATE, hr → BIGINT); compare them as text.
    if (value instanceof Date) out[key] = value.toISOString().slice(0, 10);
    else if (typeof value === 'bigint') out[key] = Number(value);
    else out[key] = value === undefined ? null : (value as string | number | null);
  }
  for (const key of ['dt', 'hr']) if (key in out && out[key] !== null) out[key] = String(out[key]);
  return out;
}

function byIdThenPartition(a: ReadRow, b: ReadRow): number {
  return Number(a.id) - Number(b.id) || JSON.stringify(a).localeCompare(JSON.stringify(b));
}

/** `count` rows with ids from `first`, deterministic values. */
export function rows(first: number, count: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({
    id: first + i,
    amount: ((first + i) % 1000) / 4,
    sku: `sku-${(first + i) % 37}`,
  }));
}

/** Removes a directory tree (tests' afterEach). */
export async function removeTree(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Creates a directory (and parents). */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}
