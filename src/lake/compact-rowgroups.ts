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
  const { struct, end } = decodeStruct(raw);
  if (end !== raw.length) throw new CorruptParquetError('the footer does not end where its length says');
  if (getField(struct, FILE.encryption) !== undefined)
    throw new CorruptParquetError('encrypted Parquet is not supported');
  return { metadata: struct, raw, start };
}

/** The FileMetaData bytes of a whole file, after checking the magic and the length. */
function footerBytes(bytes: Uint8Array): { raw: Uint8Array; start: number } {
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

/**
 * Joins the inputs' row groups into one Parquet file without decoding any value. `read(i)` loads
 * input `i`; an input that is not plain Parquet, whose footer key differs from the first input's,
 * or whose column chunks do not parse as a sequence of pages (each page header decoded and, where
 * the writer stored a CRC, checked) is thrown as {@link InputError} naming its index.
 *
 * Dropped from the output footer: the page index references (ColumnChunk 4–7: the column and offset
 * indexes live after the row groups and hold absolute offsets) and the bloom filter references
 * (ColumnMetaData 14–15); readers work without them. Kept: statistics, encodings, codecs, the
 * schema, and the first input's key-value metadata and `created_by`.
 *
 * Only the first input's footer is decoded into a tree; the row groups of every input are rewritten
 * while their bytes are walked (fields kept are copied as written), which is most of the speed.
 *
 * Memory: the inputs' bytes (all held until the output is assembled) plus the output.
 */
export async function mergeRowGroups(
  count: number,
  read: (index: number) => Promise<Uint8Array>,
): Promise<Merged> {
  const pieces: Uint8Array[] = [new Uint8Array(MAGIC)];
  let position = 4;
  const rowGroups: Uint8Array[] = [];
  let rows = 0;
  let first: { metadata: ThriftStruct; key: string } | undefined;
  let next = prefetch(read, 0, count);
  for (let i = 0; i < count; i++) {
    const bytes = (await next)!;
    next = prefetch(read, i + 1, count);
    try {
      const key = footerKey(bytes);
      const { raw, start: dataEnd } = footerBytes(bytes);
      if (first === undefined) first = { metadata: readFooter(bytes).metadata, key };
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
        const moved = moveRowGroup(raw, start, bytes, dataEnd, position, rowGroups.length);
        for (const chunk of moved.chunks) {
          pieces.push(chunk);
          position += chunk.length;
        }
        rowGroups.push(moved.group);
      });
      rows += fileRows;
    } catch (error) {
      // Only what the parsing recognised as a damaged file; anything else is a bug and stops the run.
      if (isCorrupt(error)) throw new InputError(i, error);
      throw error;
    }
  }
  if (first === undefined) throw new RangeError('mergeRowGroups needs at least one input');
  const metadata = first.metadata;
  setField(metadata, FILE.numRows, { kind: 'i64', value: BigInt(rows) });
  setField(metadata, FILE.rowGroups, encodeList(ThriftCode.STRUCT, rowGroups));
  const footer = encodeStruct(metadata);
  const tail = new Uint8Array(8);
  new DataView(tail.buffer).setUint32(0, footer.length, true);
  tail.set(MAGIC, 4);
  pieces.push(footer, tail);
  return { bytes: Buffer.concat(pieces), rows };
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

/**
 * One input row group (the RowGroup struct at `at` in the footer `raw`) moved to `position` in the
 * output: the bytes of each column chunk (after checking that they parse as pages) and the RowGroup
 * re-encoded with its offsets shifted, the page index and bloom filter references left out, and
 * every other field copied as written.
 */
function moveRowGroup(
  raw: Uint8Array,
  at: number,
  bytes: Uint8Array,
  dataEnd: number,
  position: number,
  ordinal: number,
): { group: Uint8Array; chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  const columns: Uint8Array[] = [];
  let cursor = position;
  const fields = fieldsOf(raw, at);
  const list = fields.find((f) => f.id === ROW_GROUP.columns && f.code === ThriftCode.LIST);
  if (list === undefined) throw new CorruptParquetError('a row group has no columns list');
  scanList(raw, list.start, (code, start) => {
    if (code !== ThriftCode.STRUCT) throw new CorruptParquetError('a column chunk is not a struct');
    const moved = moveChunk(raw, start, bytes, dataEnd, cursor);
    columns.push(moved.chunk);
    chunks.push(moved.data);
    cursor += moved.data.length;
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

/** One ColumnChunk struct at `at`, moved to `position`: its data bytes and its new encoding. */
function moveChunk(
  raw: Uint8Array,
  at: number,
  bytes: Uint8Array,
  dataEnd: number,
  position: number,
): { chunk: Uint8Array; data: Uint8Array } {
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
  checkPages(bytes, start, start + length);
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
  return { chunk: chunk.finish(), data: bytes.subarray(start, start + length) };
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
