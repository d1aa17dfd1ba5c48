/**
 * Independent readers for the Parquet tests: DuckDB (the engine users query lakes with) and
 * hyparquet (a pure-JS reader, with hyparquet-compressors for zstd). Neither shares code with the
 * writer (parquet-wasm), so a round trip through them checks the file, not the writer against itself.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

/** Every row of a Parquet file, read by hyparquet. */
export async function readWithHyparquet(bytes: Uint8Array): Promise<Record<string, unknown>[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return parquetReadObjects({ file, compressors });
}

/** Runs `sql` in a fresh in-memory DuckDB and returns the rows as JS values (BIGINT → bigint). */
export async function queryDuckDB(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** A path as a single-quoted SQL string literal. */
export const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;
