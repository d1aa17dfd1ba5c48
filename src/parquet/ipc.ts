import type * as Arrow from 'apache-arrow';
import type * as ArrowMessage from 'apache-arrow/ipc/metadata/message';
import { loadPeer } from '../core/peers.js';

// An Arrow IPC stream (schema message, one record batch, end of stream) assembled by hand for
// parquet-wasm. apache-arrow's `tableToIPC` writes every buffer as a chunk and joins the chunks into a
// new array: measured at a third of the encoder's time for 1M records, most of it allocation and GC.
// Here the flatbuffer metadata still comes from apache-arrow (`Message.encode`), and the bodies are
// copied once into a buffer that is reused from batch to batch: parquet-wasm copies the stream into
// its own memory before `Table.fromIPCStream` returns, so the next batch may overwrite it.

/** apache-arrow's IPC metadata classes (not part of its main entry point). */
export type ArrowMessageModule = typeof ArrowMessage;

let messageModule: Promise<ArrowMessageModule> | undefined;

/**
 * Loads the metadata module of the same apache-arrow install as the main entry, after the main entry
 * (so a missing apache-arrow is `MB_MISSING_PEER`; `loadPeer` caches by package name).
 */
export function loadArrowMessage(what: string): Promise<ArrowMessageModule> {
  messageModule ??= loadPeer<unknown>('apache-arrow', what, () => import('apache-arrow')).then(
    () => import('apache-arrow/ipc/metadata/message') as Promise<ArrowMessageModule>,
  );
  messageModule.catch(() => {
    messageModule = undefined;
  });
  return messageModule;
}

/** The largest stream whose buffer is kept for the next batch, in bytes (a bigger one is dropped). */
const KEEP_AT_MOST = 64 * 1024 * 1024;
let scratch: Uint8Array | undefined;

const schemaMessages = new WeakMap<Arrow.Schema, Uint8Array>();

/** Type ids (apache-arrow's `Type` enum) of the layouts written here. */
const UTF8 = 5;
const BOOL = 6;
const LIST = 12;
const STRUCT = 13;

/**
 * The Arrow IPC stream of one record batch with `schema` and top-level `columns`, as a view that is
 * valid until the next call: hand it to parquet-wasm (which copies it) before anything else runs.
 */
export function streamOf(
  M: ArrowMessageModule,
  schema: Arrow.Schema,
  columns: readonly Arrow.Data[],
  length: number,
): Uint8Array {
  let schemaMessage = schemaMessages.get(schema);
  if (schemaMessage === undefined) {
    schemaMessage = frame(M.Message.encode(M.Message.from(schema)));
    schemaMessages.set(schema, schemaMessage);
  }
  const nodes: ArrowMessage.FieldNode[] = [];
  const parts: ArrayBufferView[] = [];
  for (const data of columns) collect(M, data, nodes, parts);
  const regions: ArrowMessage.BufferRegion[] = [];
  let bodyLength = 0;
  for (const part of parts) {
    regions.push(new M.BufferRegion(bodyLength, part.byteLength));
    bodyLength += pad8(part.byteLength);
  }
  const header = new M.RecordBatch(length, nodes, regions, null);
  const batchMessage = frame(M.Message.encode(M.Message.from(header, bodyLength)));

  const total = schemaMessage.byteLength + batchMessage.byteLength + bodyLength + 8;
  let out: Uint8Array;
  if (scratch !== undefined && scratch.byteLength >= total) out = scratch;
  else {
    out = new Uint8Array(total);
    if (total <= KEEP_AT_MOST) scratch = out;
  }
  out.set(schemaMessage, 0);
  let at = schemaMessage.byteLength;
  out.set(batchMessage, at);
  at += batchMessage.byteLength;
  for (const part of parts) {
    const bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
    out.set(bytes, at);
    const end = at + pad8(bytes.byteLength);
    out.fill(0, at + bytes.byteLength, end);
    at = end;
  }
  // End of stream: the continuation marker and a zero metadata length.
  out.fill(0xff, at, at + 4);
  out.fill(0, at + 4, at + 8);
  return out.subarray(0, total);
}

/** The field nodes and buffers of `data` and its children, in the order of the IPC format. */
function collect(
  M: ArrowMessageModule,
  data: Arrow.Data,
  nodes: ArrowMessage.FieldNode[],
  parts: ArrayBufferView[],
): void {
  nodes.push(new M.FieldNode(data.length, data.nullCount));
  // A column without nulls has an empty validity buffer.
  parts.push(data.nullCount > 0 ? data.nullBitmap!.subarray(0, (data.length + 7) >> 3) : EMPTY);
  const typeId = data.typeId as number;
  if (typeId === UTF8) {
    parts.push(data.valueOffsets!.subarray(0, data.length + 1), data.values as Uint8Array);
  } else if (typeId === LIST) {
    parts.push(data.valueOffsets!.subarray(0, data.length + 1));
    collect(M, data.children[0]!, nodes, parts);
  } else if (typeId === STRUCT) {
    for (const child of data.children) collect(M, child, nodes, parts);
  } else if (typeId === BOOL) {
    parts.push((data.values as Uint8Array).subarray(0, (data.length + 7) >> 3));
  } else {
    parts.push(data.values as ArrayBufferView);
  }
}

const EMPTY = new Uint8Array(0);

/** A message with its continuation marker and length prefix, padded to 8 bytes. */
function frame(metadata: Uint8Array): Uint8Array {
  const size = pad8(metadata.byteLength + 8);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, -1, true);
  view.setInt32(4, size - 8, true);
  out.set(metadata, 8);
  return out;
}

const pad8 = (n: number) => (n + 7) & ~7;
