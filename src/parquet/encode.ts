import type * as ParquetWasm from 'parquet-wasm';
import { invalidOptions, MicrobatchError } from '../core/errors.js';
import { loadPeer } from '../core/peers.js';
import { parseCount, show } from '../core/units.js';
import { CREATED_BY } from '../core/version.js';
import { type ArrowModule, arrowField, buildColumn, buildFlatColumns, isFlat } from './columns.js';
import { type ArrowMessageModule, loadArrowMessage, streamOf } from './ipc.js';
import { requireParquetPeers } from './peers.js';
import { type ParquetColumn, type ParquetColumnInput, type ParquetSchema, parquetSchema } from './schema.js';

/** Compression codecs for {@link encodeParquet}. */
export type ParquetCompression = 'zstd' | 'snappy' | 'gzip' | 'lz4' | 'brotli' | 'none';

/** Options of {@link encodeParquet}. */
export interface EncodeParquetOptions {
  /** The codec of every column. `'lz4'` is Parquet's LZ4_RAW. @default 'zstd' */
  compression?: ParquetCompression;
  /** The most rows in one row group, in rows. @default 1048576 (parquet-rs' default) */
  rowGroupSize?: number;
}

/** A schema as {@link encodeParquet} and the lake sink take it: see {@link parquetSchema}. */
export type ParquetSchemaInput = ParquetSchema | readonly ParquetColumnInput[] | object;

const COMPRESSIONS: readonly ParquetCompression[] = ['zstd', 'snappy', 'gzip', 'lz4', 'brotli', 'none'];
const DEFAULT_ROW_GROUP_SIZE = 1_048_576;

/** Checked encoder options, so that a sink can validate them once, when it is built. */
export interface ResolvedEncodeOptions {
  readonly compression: ParquetCompression;
  readonly rowGroupSize: number;
}

/** Checks {@link EncodeParquetOptions}; `what` names the caller in messages. */
export function resolveEncodeOptions(
  options: EncodeParquetOptions | undefined,
  what: string,
): ResolvedEncodeOptions {
  const compression = options?.compression ?? 'zstd';
  if (!COMPRESSIONS.includes(compression)) {
    throw invalidOptions(
      `${what}: compression must be one of ${COMPRESSIONS.join(', ')}; got ${show(compression)}`,
      {
        option: 'compression',
      },
    );
  }
  const rowGroupSize = parseCount(options?.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE, `${what}: rowGroupSize`);
  return { compression, rowGroupSize };
}

type Peers = { A: ArrowModule; M: ArrowMessageModule; P: typeof ParquetWasm };

/** apache-arrow and parquet-wasm, loaded on first use: importing microbatch loads neither. */
async function peers(): Promise<Peers> {
  await requireParquetPeers('encodeParquet'); // names every missing peer at once
  const [A, M, P] = await Promise.all([
    loadPeer<ArrowModule>('apache-arrow', 'encodeParquet', () => import('apache-arrow')),
    loadArrowMessage('encodeParquet'),
    loadPeer<typeof ParquetWasm>('parquet-wasm', 'encodeParquet', () => import('parquet-wasm')),
  ]);
  return { A, M, P };
}

/** The Arrow schema of each column list, built once (the IPC schema message is cached on it). */
const arrowSchemas = new WeakMap<readonly ParquetColumn[], import('apache-arrow').Schema>();

/**
 * Encodes records as one Parquet file, in memory. Each column is built straight into Arrow buffers
 * and written with parquet-wasm; `apache-arrow` and `parquet-wasm` are optional peers loaded on the
 * first call (`MB_MISSING_PEER` when missing).
 *
 * Values must fit their column: strings for `string`; one of `values` for `enum`; numbers for
 * `float64`; integers in range for `int32`; safe-integer numbers or bigints for `int64`; a `Date`, an
 * ISO 8601 string (a date-time without a zone is UTC) or ms since the epoch for `timestamp`; objects
 * for `struct`, arrays for `list`; `null`/`undefined` where the column is nullable. A value that does
 * not fit is `MB_ENCODE_FAILED`, naming the column path, the row and the value, e.g.
 * `column 'price' (float64) at row 17: expected a number, got '12,50'`. Fields not in the schema are
 * ignored.
 *
 * @param schema a zod object schema, explicit columns, or a {@link parquetSchema} result.
 */
export async function encodeParquet(
  records: readonly unknown[],
  schema: ParquetSchemaInput,
  options?: EncodeParquetOptions,
): Promise<Uint8Array> {
  const resolved = resolveEncodeOptions(options, 'encodeParquet');
  const columns = parquetSchema(schema).columns;
  if (!Array.isArray(records))
    throw invalidOptions(`encodeParquet(records): expected an array; got ${show(records)}`);
  return encodeColumns(records, columns, resolved);
}

/**
 * {@link encodeParquet} after the checks. `rows[i]` is the row number of `records[i]` in messages
 * (the lake sink encodes one partition's records of a batch and names rows of the batch).
 */
export async function encodeColumns(
  records: readonly unknown[],
  columns: readonly ParquetColumn[],
  options: ResolvedEncodeOptions,
  rows?: Int32Array,
): Promise<Uint8Array> {
  const { A, M, P } = await peers();
  // Everything from here to the write is synchronous: the stream buffer is shared between calls.
  const data =
    (isFlat(columns) ? buildFlatColumns(A, columns, records) : undefined) ??
    checkedColumns(A, records, columns, rows);
  let schema = arrowSchemas.get(columns);
  if (schema === undefined) {
    schema = new A.Schema(columns.map((c) => arrowField(A, c)));
    arrowSchemas.set(columns, schema);
  }
  const empty = emptyLeaves(columns, records, options.rowGroupSize);
  return writeIpc(
    P,
    streamOf(M, schema, data, records.length),
    options,
    [...new Set([...highCardinality(columns, records), ...empty.topLevel])],
    empty.nested && options.compression === 'lz4',
  );
}

/**
 * Leaf columns with no value at all in some row group. parquet-rs writes such a column chunk with a
 * dictionary page of zero bytes; LZ4_RAW turns it into a one-byte block that hyparquet-compressors
 * refuses (`lz4 offset out of range 0`), failing the whole file. An empty dictionary is useless
 * anyway, so a top-level column gets none; a nested leaf cannot be addressed by parquet-wasm's
 * per-column setting (it takes one path segment), so with lz4 the file then has no dictionaries.
 * Cheap: each row group is scanned only until every leaf has shown a value (usually row one).
 */
export function emptyLeaves(
  columns: readonly ParquetColumn[],
  records: readonly unknown[],
  rowGroupSize: number,
): { topLevel: string[]; nested: boolean } {
  const topLevel: string[] = [];
  let nested = false;
  for (const column of columns) {
    const leaves = countLeaves(column);
    for (let from = 0; from < records.length || from === 0; from += rowGroupSize) {
      const to = Math.min(records.length, from + rowGroupSize);
      const found = new Set<ParquetColumn>();
      for (let i = from; i < to && found.size < leaves; i++) {
        markLeaves(column, (records[i] as Record<string, unknown>)[column.name], found);
      }
      if (found.size < leaves) {
        if (column.type === 'struct' || column.type === 'list') nested = true;
        else topLevel.push(column.name);
        break;
      }
      if (records.length === 0) break;
    }
  }
  return { topLevel, nested };
}

function countLeaves(column: ParquetColumn): number {
  if (column.type === 'struct') return column.fields!.reduce((n, f) => n + countLeaves(f), 0);
  if (column.type === 'list') return countLeaves(column.items!);
  return 1;
}

/** Adds to `found` every leaf column of `column` that has a value in `v`. */
function markLeaves(column: ParquetColumn, v: unknown, found: Set<ParquetColumn>): void {
  if (v === null || v === undefined) return;
  if (column.type === 'struct') {
    for (const field of column.fields!) markLeaves(field, (v as Record<string, unknown>)[field.name], found);
  } else if (column.type === 'list') {
    for (const item of v as unknown[]) markLeaves(column.items!, item, found);
  } else found.add(column);
}

/**
 * The checked path: one array of values per column, then each column built with every value checked
 * (nested columns, and any batch the one-pass builder gave back, e.g. to name a misfit).
 */
function checkedColumns(
  A: ArrowModule,
  records: readonly unknown[],
  columns: readonly ParquetColumn[],
  rows: Int32Array | undefined,
): import('apache-arrow').Data[] {
  const values = splitColumns(records, columns, rows);
  return columns.map((column, c) => buildColumn(A, column, values[c]!, { path: column.name, rows }));
}

/**
 * The values of each top-level column, in one pass over the records. The loop is generated per
 * schema so that each field is a named property access (`r["sku"]`) with its own inline cache:
 * reading `record[name]` with a variable name is several times slower on records of one shape.
 */
function splitColumns(
  records: readonly unknown[],
  columns: readonly ParquetColumn[],
  rows?: Int32Array,
): unknown[][] {
  const names = columns.map((c) => c.name);
  const key = names.join('\u0000');
  let split = splitters.get(key);
  if (split === undefined) {
    const reads = names.map((name, c) => `c${c}[i] = r[${JSON.stringify(name)}];`).join(' ');
    const lists = names.map((_, c) => `c${c}`).join(', ');
    const init = names.map((_, c) => `const c${c} = new Array(n);`).join(' ');
    // A record that is not an object stops the loop; its index is returned in place of the columns.
    split = new Function(
      'records',
      `const n = records.length; ${init}
       for (let i = 0; i < n; i++) {
         const r = records[i];
         if (typeof r !== 'object' || r === null) return i;
         ${reads}
       }
       return [${lists}];`,
    ) as Splitter;
    if (splitters.size >= 64) splitters.clear();
    splitters.set(key, split);
  }
  const out = split(records);
  if (typeof out === 'number') {
    const row = rows === undefined ? out : rows[out]!;
    throw new MicrobatchError(
      'MB_ENCODE_FAILED',
      `row ${row}: expected an object (a record), got ${show(records[out])}`,
      {
        details: { row },
      },
    );
  }
  return out;
}

/**
 * Top-level string, number and timestamp columns whose values look mostly distinct, judged on a
 * sample of up to 1,024 rows spread over the batch. Parquet's dictionary encoding pays off for
 * repeated values (a currency, a status); for ids, URLs and event times the writer builds a
 * dictionary for nothing, then falls back to plain encoding: measured at 4× the time of the whole
 * write for 1M distinct strings; for 100k distinct timestamps, a file 45% larger than plain.
 * Internal (the benchmark gives the plain Arrow path the same writer properties); `records` must be
 * objects.
 */
export function highCardinality(columns: readonly ParquetColumn[], records: readonly unknown[]): string[] {
  const out: string[] = [];
  const sample = Math.min(records.length, 1_024);
  if (sample < 64) return out;
  const step = records.length / sample;
  for (const column of columns) {
    if (
      column.type === 'boolean' ||
      column.type === 'enum' ||
      column.type === 'struct' ||
      column.type === 'list'
    )
      continue;
    const seen = new Set<unknown>();
    // The records are objects: the columns were built from them.
    for (let k = 0; k < sample; k++) {
      const v = (records[Math.floor(k * step)] as Record<string, unknown>)[column.name];
      // Dates are compared by time: two Date objects are distinct members of a Set.
      seen.add(v instanceof Date ? v.getTime() : v);
    }
    if (seen.size > sample / 2) out.push(column.name);
  }
  return out;
}

type Splitter = (records: readonly unknown[]) => unknown[][] | number;
const splitters = new Map<string, Splitter>();

const CODECS: Record<ParquetCompression, keyof typeof ParquetWasm.Compression> = {
  zstd: 'ZSTD',
  snappy: 'SNAPPY',
  gzip: 'GZIP',
  lz4: 'LZ4_RAW',
  brotli: 'BROTLI',
  none: 'UNCOMPRESSED',
};

/** Writes an Arrow IPC stream as Parquet. parquet-wasm frees the table and the properties it gets. */
export function writeIpc(
  P: typeof ParquetWasm,
  ipc: Uint8Array,
  options: ResolvedEncodeOptions,
  noDictionary: readonly string[] = [],
  noDictionaries = false,
): Uint8Array {
  // parquet-rs' defaults besides the codec: data page v1 (v2 wrote 17% larger files and not every
  // engine reads it), page statistics (12–15% of the write, but readers skip pages with them), 1 MB
  // pages. Measurements in docs/parquet-lake.md, "Performance".
  let builder = new P.WriterPropertiesBuilder()
    .setCompression(P.Compression[CODECS[options.compression]])
    .setMaxRowGroupSize(options.rowGroupSize)
    .setCreatedBy(CREATED_BY);
  if (noDictionaries) builder = builder.setDictionaryEnabled(false);
  for (const column of noDictionary) builder = builder.setColumnDictionaryEnabled(column, false);
  const properties = builder.build();
  try {
    return P.writeParquet(P.Table.fromIPCStream(ipc), properties);
  } catch (error) {
    throw new MicrobatchError('MB_ENCODE_FAILED', `parquet-wasm could not write the file: ${String(error)}`, {
      cause: error,
    });
  }
}
