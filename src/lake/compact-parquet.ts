/**
 * The Parquet side of compaction: reading a file's Arrow schema, and merging the files of one bin
 * into one Parquet file. parquet-wasm and apache-arrow are optional peers, loaded on first use.
 */
import { loadPeer } from '../core/peers.js';
import { ThriftError } from '../parquet/thrift.js';

type ParquetWasm = typeof import('parquet-wasm');
type Arrow = typeof import('apache-arrow');

/** The compression codecs compaction can write. */
export type CompactionCompression = 'zstd' | 'snappy' | 'gzip' | 'brotli' | 'lz4' | 'none';

/** Every accepted value of {@link CompactionCompression}, for validation and the CLI. */
export const COMPRESSIONS: readonly CompactionCompression[] = [
  'zstd',
  'snappy',
  'gzip',
  'brotli',
  'lz4',
  'none',
];

interface Peers {
  wasm: ParquetWasm;
  arrow: Arrow;
}

async function peers(): Promise<Peers> {
  const [wasm, arrow] = await Promise.all([
    loadPeer<ParquetWasm>('parquet-wasm', 'compactLake', () => import('parquet-wasm')),
    loadPeer<Arrow>('apache-arrow', 'compactLake', () => import('apache-arrow')),
  ]);
  return { wasm, arrow };
}

/**
 * A key that is equal for two files exactly when their Arrow schemas are the same: field names,
 * types (with children, time units and zones) and nullability, in order. Schema metadata (the
 * writer's name…) does not count. Throws on a file that is not Parquet.
 */
export async function schemaKey(bytes: Uint8Array): Promise<string> {
  const { wasm, arrow } = await peers();
  let ipc: Uint8Array;
  try {
    ipc = wasm.readSchema(bytes).intoIPCStream();
  } catch (error) {
    // parquet-wasm's reader fails only on the bytes it was given.
    throw new CorruptParquetError(`parquet-wasm cannot read the schema: ${describe(error)}`, {
      cause: error,
    });
  }
  // Decoding a schema with apache-arrow costs milliseconds; the files of a table mostly share one,
  // byte for byte, so each distinct encoding is decoded once.
  const raw = Buffer.from(ipc).toString('base64');
  let key = schemaKeys.get(raw);
  if (key === undefined) {
    key = JSON.stringify(arrow.tableFromIPC(ipc).schema.fields.map(describeField));
    if (schemaKeys.size >= 1_000) schemaKeys.clear();
    schemaKeys.set(raw, key);
  }
  return key;
}

const schemaKeys = new Map<string, string>();

function describeField(field: import('apache-arrow').Field): unknown {
  return [field.name, String(field.type), field.nullable, (field.type.children ?? []).map(describeField)];
}

/** The result of {@link mergeParquet}. */
export interface Merged {
  bytes: Uint8Array;
  rows: number;
}

/**
 * Reads each input (in the order given, one file's bytes at a time), concatenates the rows and
 * writes one Parquet file. `read(i)` loads input `i`; a decoding failure is thrown as
 * {@link InputError} naming the index.
 *
 * The rows never leave Arrow's binary form: each input is decoded by parquet-wasm into an Arrow IPC
 * stream, the streams are joined into one (the first stream's schema message, then every stream's
 * batch messages, then one end marker), and parquet-wasm encodes that. The inputs of a bin have the
 * same schema (see {@link schemaKey}), so their batches fit the first schema. Peak memory: two to
 * three times the decoded size of the bin (the joined stream, and the wasm heap's copy of it and of
 * the arrays read from it while the output is encoded), plus the output bytes. The wasm heap keeps its high-water mark for the life of
 * the process.
 */
export async function mergeParquet(
  count: number,
  read: (index: number) => Promise<Uint8Array>,
  compression: CompactionCompression,
): Promise<Merged> {
  const { wasm } = await peers();
  const pieces: Uint8Array[] = [];
  let rows = 0;
  // The next file is read while this one is decoded (two files' bytes in memory at most).
  let next = prefetch(read, 0, count);
  for (let i = 0; i < count; i++) {
    const bytes = (await next)!;
    next = prefetch(read, i + 1, count);
    try {
      let table: ReturnType<ParquetWasm['readParquet']>;
      try {
        table = wasm.readParquet(bytes);
      } catch (error) {
        throw new CorruptParquetError(`parquet-wasm cannot read the file: ${describe(error)}`, {
          cause: error,
        });
      }
      for (const batch of table.recordBatches()) {
        rows += batch.numRows;
        batch.free();
      }
      const stream = table.intoIPCStream();
      // Batches keep their order: rows come out in input order, each file's rows in its own order.
      pieces.push(i === 0 ? withoutEnd(stream) : withoutEnd(withoutSchema(stream)));
    } catch (error) {
      if (isCorrupt(error)) throw new InputError(i, error);
      throw error;
    }
  }
  pieces.push(END_OF_STREAM);
  let joined: Uint8Array | undefined = Buffer.concat(pieces);
  pieces.length = 0; // the per-file streams can go before the wasm copy is made
  try {
    const table = wasm.Table.fromIPCStream(joined);
    joined = undefined;
    const props = new wasm.WriterPropertiesBuilder().setCompression(CODECS(wasm)[compression]).build();
    // writeParquet frees the table and the properties (REFERENCE.md §6): new ones for every call.
    return { bytes: wasm.writeParquet(table, props), rows };
  } catch (error) {
    throw new OutputEncodeError(`parquet-wasm cannot write the merged file: ${describe(error)}`, {
      cause: error,
    });
  }
}

/**
 * Starts `read(index)` when `index < count`; a failure surfaces when the result is awaited (and is
 * not an unhandled rejection if it never is, because an earlier file failed).
 */
export function prefetch<T>(
  read: (index: number) => Promise<T>,
  index: number,
  count: number,
): Promise<T | undefined> {
  if (index >= count) return Promise.resolve(undefined);
  const pending = read(index);
  pending.catch(() => {});
  return pending;
}

// Arrow IPC stream framing (arrow.apache.org/docs/format/Columnar.html#encapsulated-message-format):
// each message is 0xFFFFFFFF, an int32 metadata length, the flatbuffer metadata (padded to 8 bytes),
// then the body; the stream starts with the schema message (no body) and ends with 0xFFFFFFFF 0x00000000.
const CONTINUATION = 0xffffffff;
const END_OF_STREAM = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** The stream after its first message, the schema. */
function withoutSchema(stream: Uint8Array): Uint8Array {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  if (view.getUint32(0, true) !== CONTINUATION) throw new Error('unexpected Arrow IPC framing');
  return stream.subarray(8 + view.getInt32(4, true));
}

/** The stream without its end-of-stream marker. */
function withoutEnd(stream: Uint8Array): Uint8Array {
  const tail = stream.subarray(stream.length - 8);
  if (!tail.every((byte, i) => byte === END_OF_STREAM[i])) throw new Error('unexpected Arrow IPC end marker');
  return stream.subarray(0, stream.length - 8);
}

/**
 * A file is not readable Parquet: what the footer and page parsing (compact-rowgroups) or the
 * Parquet reader (the rewrite mode) found wrong with its bytes. Compaction skips the bin of such a
 * file; any other error (a bug, an I/O failure) stops the run instead.
 */
export class CorruptParquetError extends Error {
  override readonly name = 'CorruptParquetError';
}

/** True for an error that says the bytes are damaged: {@link CorruptParquetError} or a Thrift decoding failure. */
export function isCorrupt(error: unknown): boolean {
  return error instanceof CorruptParquetError || error instanceof ThriftError;
}

/** The output of a bin could not be encoded (the rewrite mode's Parquet writer refused the rows). */
export class OutputEncodeError extends Error {
  override readonly name = 'OutputEncodeError';
}

/** Input `index` of {@link mergeParquet} is not readable Parquet. */
export class InputError extends Error {
  constructor(
    readonly index: number,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

const CODECS = (wasm: ParquetWasm): Record<CompactionCompression, number> => ({
  zstd: wasm.Compression.ZSTD,
  snappy: wasm.Compression.SNAPPY,
  gzip: wasm.Compression.GZIP,
  brotli: wasm.Compression.BROTLI,
  lz4: wasm.Compression.LZ4_RAW,
  none: wasm.Compression.UNCOMPRESSED,
});

/**
 * True when `bytes` look like a whole Parquet file: `PAR1` at both ends. The output is renamed into
 * place only once complete, so this only fails on a file damaged by something else.
 */
export function looksComplete(head: Uint8Array, tail: Uint8Array): boolean {
  const magic = (b: Uint8Array) =>
    b.length >= 4 && b[0] === 0x50 && b[1] === 0x41 && b[2] === 0x52 && b[3] === 0x31;
  return magic(head) && magic(tail.subarray(tail.length - 4));
}
