/**
 * Compaction's default merge: Parquet files joined at the row-group level, without decoding a value.
 * The output is `PAR1`, every input's column chunks copied byte for byte in input order, a new footer
 * listing all the row groups with their offsets moved, the footer length and `PAR1`
 * (https://parquet.apache.org/docs/file-format/). The footer is the first input's FileMetaData with
 * `num_rows` and `row_groups` replaced, read and written with the generic Thrift codec so that
 * fields this code does not know survive untouched.
 *
 * Field ids below are those of parquet.thrift (apache/parquet-format, src/main/thrift/parquet.thrift).
 */
import { crc32 } from 'node:zlib';
import {
  decodeStruct,
  encodeList,
  encodeStruct,
  getField,
  readInteger,
  StructWriter,
  scanList,
  scanStruct,
  setField,
  ThriftCode,
  type ThriftStruct,
} from '../parquet/thrift.js';
import { CorruptParquetError, InputError, isCorrupt, type Merged, prefetch } from './compact-parquet.js';

const FILE = { version: 1, schema: 2, numRows: 3, rowGroups: 4, keyValueMetadata: 5, encryption: 8 };
const ROW_GROUP = { columns: 1, numRows: 3, fileOffset: 5, ordinal: 7 };
const CHUNK = {
  filePath: 1,
  fileOffset: 2,
  metaData: 3,
  offsetIndexOffset: 4,
  offsetIndexLength: 5,
  columnIndexOffset: 6,
  columnIndexLength: 7,
  cryptoMetadata: 8,
  encryptedMetadata: 9,
};
const COLUMN = {
  totalCompressedSize: 7,
  dataPageOffset: 9,
  indexPageOffset: 10,
  dictionaryPageOffset: 11,
  bloomFilterOffset: 14,
  bloomFilterLength: 15,
};
const PAGE = { compressedSize: 3, crc: 4 };

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // PAR1

/** A file's footer, decoded, and where it starts. */
export interface Footer {
  /** The FileMetaData struct; its binary values are views into the file's bytes. */
  metadata: ThriftStruct;
  /** The FileMetaData bytes, as written. */
  raw: Uint8Array;
  /** The offset of the footer's first byte (the end of the data). */
  start: number;
}

/** Reads the footer of a whole Parquet file. Throws on anything that is not plain (unencrypted) Parquet. */
export function readFooter(bytes: Uint8Array): Footer {
  const { raw, start } = footerBytes(bytes);
  return { metadata: decodeFooter(raw), raw, start };
}

/** The FileMetaData bytes of a whole file, after checking the magic and the length. */
export function footerBytes(bytes: Uint8Array): { raw: Uint8Array; start: number } {
  if (bytes.length < 12 || !hasMagic(bytes, 0)) {
    throw new CorruptParquetError('not a Parquet file: PAR1 missing at the start or the end');
  }
  const length = footerLength(bytes, bytes.length);
  const start = bytes.length - 8 - length;
  return { raw: bytes.subarray(start, bytes.length - 8), start };
}

/**
 * The length of the FileMetaData of a file of `size` bytes, from the file's last bytes (`tail`, at
 * least 8 of them), after checking the trailing magic and that the footer fits in the file.
 */
export function footerLength(tail: Uint8Array, size: number): number {
  if (size < 12 || tail.length < 8 || !hasMagic(tail, tail.length - 4)) {
    throw new CorruptParquetError('not a Parquet file: PAR1 missing at the start or the end');
  }
  const length = new DataView(tail.buffer, tail.byteOffset, tail.byteLength).getUint32(tail.length - 8, true);
  if (size - 8 - length < 4) throw new CorruptParquetError(`footer length ${length} is larger than the file`);
  return length;
}

function hasMagic(bytes: Uint8Array, at: number): boolean {
  return MAGIC.every((b, i) => bytes[at + i] === b);
}

/**
 * A key equal for two files exactly when their row groups can share one footer: the Parquet schema
 * (the SchemaElement list, byte for byte) and the Arrow schema that Arrow writers store in the
 * `ARROW:schema` key-value entry (time zones, dictionary flags…). Other key-value entries may differ;
 * the output keeps the first input's. Throws on anything {@link readFooter} refuses.
 *
 * It runs once per candidate file, so it only walks the footer's bytes: no tree is built.
 */
export function footerKey(bytes: Uint8Array): string {
  return footerKeyOf(footerBytes(bytes).raw);
}

/** {@link footerKey} from the FileMetaData bytes alone (read by range from the end of a large file). */
export function footerKeyOf(raw: Uint8Array): string {
  let schema: string | undefined;
  let arrow = '';
  let encrypted = false;
  const end = scanStruct(raw, 0, (id, code, start, stop) => {
    if (id === FILE.schema && code === ThriftCode.LIST) schema = latin1(raw.subarray(start, stop));
    else if (id === FILE.keyValueMetadata && code === ThriftCode.LIST) arrow = arrowSchema(raw, start);
    else if (id === FILE.encryption) encrypted = true;
  });
  if (end !== raw.length) throw new CorruptParquetError('the footer does not end where its length says');
  if (encrypted) throw new CorruptParquetError('encrypted Parquet is not supported');
  if (schema === undefined) throw new CorruptParquetError('the footer has no schema');
  return `${schema}|${arrow}`;
}

/** The value of the `ARROW:schema` entry of the key-value list at `offset`, as latin1; '' if none. */
function arrowSchema(raw: Uint8Array, offset: number): string {
  let found = '';
  scanList(raw, offset, (code, start) => {
    if (code !== ThriftCode.STRUCT) return;
    let key = '';
    let value = '';
    scanStruct(raw, start, (id, fieldCode, from, to) => {
      if (fieldCode !== ThriftCode.BINARY) return;
      // A binary value is its varint length, then the bytes.
      const bytes = binaryAt(raw, from, to);
      if (id === 1) key = latin1(bytes);
      else if (id === 2) value = latin1(bytes);
    });
    if (key === 'ARROW:schema') found = value;
  });
  return found;
}

function binaryAt(raw: Uint8Array, from: number, to: number): Uint8Array {
  let at = from;
  while (raw[at]! & 0x80) at++;
  return raw.subarray(at + 1, to);
}

const latin1 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/** An input's footer, as {@link planRowGroupCopy} needs it. */
export interface InputFooter {
  /** The FileMetaData bytes. */
  raw: Uint8Array;
  /** The offset of the footer's first byte: the end of the input's data. */
  start: number;
}

/**
 * One ranged read of an input that the copy makes: bytes `offset` to `offset + length` of input
 * `input`, holding `chunks` (column chunks at offsets relative to the read, in output order).
 */
export interface CopyRead {
  readonly input: number;
  readonly offset: number;
  readonly length: number;
  readonly chunks: readonly { readonly at: number; readonly length: number }[];
}

/** What {@link planRowGroupCopy} worked out from the footers alone. */
export interface CopyPlan {
  /** The reads, in output order. */
  readonly reads: readonly CopyRead[];
  /** The end of the output: its footer, the footer's length and `PAR1`. */
  readonly tail: Uint8Array;
  /** The output's size in bytes. */
  readonly size: number;
  /** The output's rows. */
  readonly rows: number;
}

/** Reads of one input are joined while they stay within this many bytes (a row group larger than it is read alone). */
export const COPY_READ_BYTES = 1024 * 1024;
// A gap between two row groups of an input up to this is read along rather than splitting the read.
const READ_GAP_BYTES = 8 * 1024;

/**
 * The first half of the row-group copy: from the inputs' footers alone (`footer(i)`, fetched one
 * ahead), the output's layout and footer, and the byte ranges of the inputs to copy into it. Each row
 * group becomes one ranged read covering its column chunks (or one per chunk when they are scattered
 * through the file); consecutive row groups of an input share a read up to `readBytes`. An input that
 * is not plain Parquet, or whose footer key differs from the first input's, is thrown as
 * {@link InputError} naming its index. Memory: the output footer being built, one input footer at a
 * time (two with the one fetched ahead).
 *
 * Dropped from the output footer: the page index references (ColumnChunk 4–7: the column and offset
 * indexes live after the row groups and hold absolute offsets) and the bloom filter references
 * (ColumnMetaData 14–15); readers work without them. Kept: statistics, encodings, codecs, the
 * schema, and the first input's key-value metadata and `created_by`. Only the first input's footer is
 * decoded into a tree; the row groups of every input are rewritten while their bytes are walked
 * (fields kept are copied as written).
 */
export async function planRowGroupCopy(
  count: number,
  footer: (index: number) => Promise<InputFooter>,
  readBytes = COPY_READ_BYTES,
): Promise<CopyPlan> {
  let position = 4;
  const rowGroups: Uint8Array[] = [];
  const reads: CopyRead[] = [];
  let rows = 0;
  let first: { metadata: ThriftStruct; key: string } | undefined;
  let next = prefetch(footer, 0, count);
  for (let i = 0; i < count; i++) {
    try {
      const found = await next;
      next = prefetch(footer, i + 1, count);
      const { raw, start: dataEnd } = found!;
      const key = footerKeyOf(raw);
      if (first === undefined) first = { metadata: decodeFooter(raw), key };
      else if (key !== first.key)
        throw new CorruptParquetError('its schema differs from the first input of the bin');
      let groupsAt = -1;
      let fileRows = -1;
      scanStruct(raw, 0, (id, code, start) => {
        if (id === FILE.rowGroups && code === ThriftCode.LIST) groupsAt = start;
        else if (id === FILE.numRows && code === ThriftCode.I64) fileRows = readInteger(raw, start);
      });
      if (groupsAt < 0 || fileRows < 0)
        throw new CorruptParquetError('the footer has no row_groups or num_rows');
      scanList(raw, groupsAt, (code, start) => {
        if (code !== ThriftCode.STRUCT) throw new CorruptParquetError('a row group is not a struct');
        const moved = moveRowGroup(raw, start, dataEnd, position, rowGroups.length);
        rowGroups.push(moved.group);
        for (const read of readsOf(i, moved.chunks)) addRead(reads, read, readBytes);
        for (const chunk of moved.chunks) position += chunk.length;
      });
      rows += fileRows;
    } catch (error) {
      // Only what the parsing recognised as a damaged file; anything else is a bug and stops the run.
      if (isCorrupt(error)) throw new InputError(i, error);
      throw error;
    }
  }
  if (first === undefined) throw new RangeError('planRowGroupCopy needs at least one input');
  const metadata = first.metadata;
  setField(metadata, FILE.numRows, { kind: 'i64', value: BigInt(rows) });
  setField(metadata, FILE.rowGroups, encodeList(ThriftCode.STRUCT, rowGroups));
  const encoded = encodeStruct(metadata);
  const tail = new Uint8Array(encoded.length + 8);
  tail.set(encoded);
  new DataView(tail.buffer).setUint32(encoded.length, encoded.length, true);
  tail.set(MAGIC, encoded.length + 4);
  return { reads, tail, size: position + tail.length, rows };
}

/** The FileMetaData tree of a footer; refuses encrypted files. */
function decodeFooter(raw: Uint8Array): ThriftStruct {
  const { struct, end } = decodeStruct(raw);
  if (end !== raw.length) throw new CorruptParquetError('the footer does not end where its length says');
  if (getField(struct, FILE.encryption) !== undefined)
    throw new CorruptParquetError('encrypted Parquet is not supported');
  return struct;
}

/** The reads of one row group: one over all its chunks, or one per chunk when they are scattered. */
function readsOf(input: number, chunks: readonly ChunkRange[]): CopyRead[] {
  if (chunks.length === 0) return [];
  const from = Math.min(...chunks.map((c) => c.start));
  const to = Math.max(...chunks.map((c) => c.start + c.length));
  const total = chunks.reduce((sum, c) => sum + c.length, 0);
  if (to - from <= total + READ_GAP_BYTES) {
    return [
      {
        input,
        offset: from,
        length: to - from,
        chunks: chunks.map((c) => ({ at: c.start - from, length: c.length })),
      },
    ];
  }
  return chunks.map((c) => ({
    input,
    offset: c.start,
    length: c.length,
    chunks: [{ at: 0, length: c.length }],
  }));
}

/** Appends `read`, joined to the last read when it continues it in the same input and both fit `limit`. */
function addRead(reads: CopyRead[], read: CopyRead, limit: number): void {
  const last = reads[reads.length - 1];
  const end = last === undefined ? 0 : last.offset + last.length;
  if (
    last !== undefined &&
    last.input === read.input &&
    read.offset >= end &&
    read.offset - end <= READ_GAP_BYTES &&
    read.offset + read.length - last.offset <= limit
  ) {
    const shift = read.offset - last.offset;
    reads[reads.length - 1] = {
      input: last.input,
      offset: last.offset,
      length: read.offset + read.length - last.offset,
      chunks: [...last.chunks, ...read.chunks.map((c) => ({ at: c.at + shift, length: c.length }))],
    };
  } else reads.push(read);
}

/**
 * The second half of the row-group copy: the output's bytes, in order (`PAR1`, every column chunk,
 * the footer), made from `plan`'s reads. `range(input, offset, length)` fetches one read; the next
 * read is fetched while the current one is handed on, so at most two reads are held. Each chunk's
 * pages are checked before it is yielded (see {@link checkPages}); a damaged chunk, or a read that
 * comes back shorter than the footer said (the input changed since), throws {@link InputError}
 * naming the input.
 */
export async function* copyRowGroups(
  plan: CopyPlan,
  range: (input: number, offset: number, length: number) => Promise<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  yield new Uint8Array(MAGIC);
  const { reads } = plan;
  const fetch = (k: number) => range(reads[k]!.input, reads[k]!.offset, reads[k]!.length);
  let next = prefetch(fetch, 0, reads.length);
  for (let k = 0; k < reads.length; k++) {
    const read = reads[k]!;
    const bytes = (await next)!;
    next = prefetch(fetch, k + 1, reads.length);
    try {
      if (bytes.length !== read.length) {
        throw new CorruptParquetError(
          `bytes ${read.offset}+${read.length} came back with ${bytes.length} bytes: the file is not what its footer says (changed since it was listed?)`,
        );
      }
      for (const chunk of read.chunks) checkPages(bytes, chunk.at, chunk.at + chunk.length);
    } catch (error) {
      if (isCorrupt(error)) throw new InputError(read.input, error);
      throw error;
    }
    // Chunks that follow each other in the read go out as one piece (the usual case: a writer lays
    // a row group's chunks out in column order), so a small file is one piece, not one per column.
    let from = read.chunks[0]?.at ?? 0;
    let to = from;
    for (const chunk of read.chunks) {
      if (chunk.at !== to) {
        yield bytes.subarray(from, to);
        from = chunk.at;
        to = chunk.at;
      }
      to += chunk.length;
    }
    if (to > from) yield bytes.subarray(from, to);
  }
  yield plan.tail;
}

/**
 * Joins whole Parquet files' row groups into one file in memory: {@link planRowGroupCopy} and
 * {@link copyRowGroups} over `read(i)`, each input's bytes. Compaction streams instead (ranged reads
 * in, a streamed write out); this is the same copy for callers that hold the files.
 */
export async function mergeRowGroups(
  count: number,
  read: (index: number) => Promise<Uint8Array>,
): Promise<Merged> {
  const files: Uint8Array[] = [];
  const plan = await planRowGroupCopy(count, async (i) => {
    files[i] = await read(i);
    return footerBytes(files[i]!);
  });
  const pieces: Uint8Array[] = [];
  for await (const piece of copyRowGroups(plan, async (i, offset, length) =>
    files[i]!.subarray(offset, offset + length),
  ))
    pieces.push(piece);
  return { bytes: Buffer.concat(pieces), rows: plan.rows };
}

/** A field as {@link scanStruct} reports it. */
interface Span {
  id: number;
  code: number;
  start: number;
  end: number;
}

function fieldsOf(raw: Uint8Array, at: number): Span[] {
  const fields: Span[] = [];
  scanStruct(raw, at, (id, code, start, end) => fields.push({ id, code, start, end }));
  return fields;
}

const integerOf = (raw: Uint8Array, fields: readonly Span[], id: number): number | undefined => {
  const field = fields.find((f) => f.id === id);
  return field === undefined || field.code !== ThriftCode.I64 ? undefined : readInteger(raw, field.start);
};

/** Where a column chunk's bytes are in its input. */
interface ChunkRange {
  start: number;
  length: number;
}

/**
 * One input row group (the RowGroup struct at `at` in the footer `raw`) moved to `position` in the
 * output: where each column chunk is in the input (in output order), and the RowGroup re-encoded
 * with its offsets shifted, the page index and bloom filter references left out, and every other
 * field copied as written.
 */
function moveRowGroup(
  raw: Uint8Array,
  at: number,
  dataEnd: number,
  position: number,
  ordinal: number,
): { group: Uint8Array; chunks: ChunkRange[] } {
  const chunks: ChunkRange[] = [];
  const columns: Uint8Array[] = [];
  let cursor = position;
  const fields = fieldsOf(raw, at);
  const list = fields.find((f) => f.id === ROW_GROUP.columns && f.code === ThriftCode.LIST);
  if (list === undefined) throw new CorruptParquetError('a row group has no columns list');
  scanList(raw, list.start, (code, start) => {
    if (code !== ThriftCode.STRUCT) throw new CorruptParquetError('a column chunk is not a struct');
    const moved = moveChunk(raw, start, dataEnd, cursor);
    columns.push(moved.chunk);
    chunks.push(moved.range);
    cursor += moved.range.length;
  });
  const group = new StructWriter();
  for (const f of fields) {
    if (f.id === ROW_GROUP.columns) group.set(f.id, encodeList(ThriftCode.STRUCT, columns));
    else if (f.id === ROW_GROUP.fileOffset) group.set(f.id, { kind: 'i64', value: BigInt(position) });
    else if (f.id === ROW_GROUP.ordinal) {
      // An i16: past 32,767 row groups, leave it out rather than wrap around.
      if (ordinal <= 0x7fff) group.set(f.id, { kind: 'i16', value: ordinal });
    } else group.copy(f.id, f.code, raw, f.start, f.end);
  }
  return { group: group.finish(), chunks };
}

/** One ColumnChunk struct at `at`, moved to `position`: where its bytes are and its new encoding. */
function moveChunk(
  raw: Uint8Array,
  at: number,
  dataEnd: number,
  position: number,
): { chunk: Uint8Array; range: ChunkRange } {
  const fields = fieldsOf(raw, at);
  if (fields.some((f) => f.id === CHUNK.filePath))
    throw new CorruptParquetError('a column chunk lives in another file (file_path)');
  if (fields.some((f) => f.id === CHUNK.cryptoMetadata || f.id === CHUNK.encryptedMetadata)) {
    throw new CorruptParquetError('encrypted column chunks are not supported');
  }
  const metaField = fields.find((f) => f.id === CHUNK.metaData && f.code === ThriftCode.STRUCT);
  if (metaField === undefined) throw new CorruptParquetError('a column chunk has no meta_data');
  const meta = fieldsOf(raw, metaField.start);
  const dataPage = integerOf(raw, meta, COLUMN.dataPageOffset);
  const length = integerOf(raw, meta, COLUMN.totalCompressedSize);
  if (dataPage === undefined || length === undefined) {
    throw new CorruptParquetError('a column chunk has no data_page_offset or total_compressed_size');
  }
  const dictionary = integerOf(raw, meta, COLUMN.dictionaryPageOffset);
  // Some writers store 0 for "no dictionary page"; a real one is before the first data page.
  const start = dictionary !== undefined && dictionary > 0 && dictionary < dataPage ? dictionary : dataPage;
  if (start < 4 || length <= 0 || start + length > dataEnd) {
    throw new CorruptParquetError(`a column chunk (${start}+${length}) is outside the data (4..${dataEnd})`);
  }
  const delta = position - start;
  const moved = (f: Span) => ({ kind: 'i64' as const, value: BigInt(readInteger(raw, f.start) + delta) });
  const metaOut = new StructWriter();
  for (const f of meta) {
    if (f.id === COLUMN.bloomFilterOffset || f.id === COLUMN.bloomFilterLength) continue;
    const offset =
      f.code === ThriftCode.I64 &&
      (f.id === COLUMN.dataPageOffset ||
        f.id === COLUMN.indexPageOffset ||
        (f.id === COLUMN.dictionaryPageOffset && (dictionary ?? 0) > 0));
    if (offset) metaOut.set(f.id, moved(f));
    else metaOut.copy(f.id, f.code, raw, f.start, f.end);
  }
  const chunk = new StructWriter();
  for (const f of fields) {
    if (f.id >= CHUNK.offsetIndexOffset && f.id <= CHUNK.columnIndexLength) continue;
    if (f.id === CHUNK.metaData)
      chunk.set(f.id, { kind: 'raw', code: ThriftCode.STRUCT, bytes: metaOut.finish() });
    // ColumnChunk.file_offset is deprecated; writers set it to the chunk's first page or to its end.
    // Either way it moves with the chunk (0, "unset", stays 0).
    else if (f.id === CHUNK.fileOffset && f.code === ThriftCode.I64 && readInteger(raw, f.start) !== 0)
      chunk.set(f.id, moved(f));
    else chunk.copy(f.id, f.code, raw, f.start, f.end);
  }
  return { chunk: chunk.finish(), range: { start, length } };
}

/**
 * Walks the pages of a column chunk: each PageHeader must decode, its compressed size must fit, and
 * the pages must end exactly at the chunk's end. A page with a CRC is checked against it. This is what
 * catches a damaged chunk without decompressing it (damage inside compressed data with no CRC is only
 * found by a reader).
 */
function checkPages(bytes: Uint8Array, start: number, end: number): void {
  const chunk = bytes.subarray(0, end);
  let at = start;
  while (at < end) {
    let size = -1;
    let crc: number | undefined;
    const body = scanStruct(chunk, at, (id, code, valueStart) => {
      if (id === PAGE.compressedSize && code === ThriftCode.I32) size = readInteger(chunk, valueStart);
      else if (id === PAGE.crc && code === ThriftCode.I32) crc = readInteger(chunk, valueStart);
    });
    if (size < 0 || body + size > end) {
      throw new CorruptParquetError(`a page at byte ${at} has no valid compressed_page_size`);
    }
    if (crc !== undefined && crc32(bytes.subarray(body, body + size)) !== crc >>> 0) {
      throw new CorruptParquetError(`the page at byte ${at} fails its CRC`);
    }
    at = body + size;
  }
}
