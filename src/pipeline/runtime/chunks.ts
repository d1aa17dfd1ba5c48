import { MicrobatchError } from '../../core/errors.js';
import type { SourceChunk, SourceRejection } from '../../sources/types.js';

/** Offset of the `i`-th value of a chunk. */
export function offsetAt(chunk: SourceChunk<unknown>, i: number): number {
  return chunk.offsets === undefined ? chunk.firstOffset! + i : chunk.offsets[i]!;
}

/**
 * The offset range and record count of what is left of a chunk from value `i` and reject `r` on
 * (values and rejects interleave by offset); `undefined` when nothing is left.
 */
export function rangeFrom(
  chunk: SourceChunk<unknown>,
  i: number,
  r: number,
): { firstOffset: number; lastOffset: number; records: number } | undefined {
  const values = chunk.values.length;
  const rejected: readonly SourceRejection[] = chunk.rejected ?? [];
  const records = values - i + rejected.length - r;
  if (records <= 0) return undefined;
  return {
    firstOffset: Math.min(
      i < values ? offsetAt(chunk, i) : Number.POSITIVE_INFINITY,
      rejected[r]?.offset ?? Number.POSITIVE_INFINITY,
    ),
    lastOffset: Math.max(values > i ? offsetAt(chunk, values - 1) : -1, rejected.at(-1)?.offset ?? -1),
    records,
  };
}

/** The part of a chunk from value `i` and reject `r` on. */
export function restOf(chunk: SourceChunk<unknown>, i: number, r: number): SourceChunk<unknown> {
  const rest: SourceChunk<unknown> = {
    partition: chunk.partition,
    values: chunk.values.slice(i),
    ...(chunk.offsets === undefined
      ? { firstOffset: chunk.firstOffset! + i }
      : { offsets: chunk.offsets.slice(i) }),
  };
  if (chunk.bytes !== undefined) rest.bytes = chunk.bytes.slice(i);
  if (chunk.eventTimes !== undefined) rest.eventTimes = chunk.eventTimes.slice(i);
  if (chunk.keys !== undefined) rest.keys = chunk.keys.slice(i);
  if (chunk.headers !== undefined) rest.headers = chunk.headers.slice(i);
  if (chunk.rejected !== undefined && r < chunk.rejected.length) rest.rejected = chunk.rejected.slice(r);
  return rest;
}

/**
 * Appends `source[from..to)` (or `undefined`s when there is no source) to `target`, creating it
 * back-filled with `undefined`s so that its length ends at `alignedLength`: metadata arrays stay
 * aligned with the values even when only some records bring metadata.
 */
export function appendAligned<V>(
  target: (V | undefined)[] | undefined,
  source: (V | undefined)[] | undefined,
  from: number,
  to: number,
  alignedLength: number,
): (V | undefined)[] {
  const out = target ?? new Array<V | undefined>(alignedLength - (to - from)).fill(undefined);
  for (let i = from; i < to; i++) out.push(source?.[i]);
  return out;
}

/** The error for a source that handed over `offset` after `previous` in the same partition. */
export function offsetOrderError(
  settings: { readonly name: string; readonly source: { readonly kind: string } },
  lane: { readonly partition: string },
  offset: number,
  previous: number,
): MicrobatchError {
  return new MicrobatchError(
    'MB_SOURCE_FAILED',
    `pipeline '${settings.name}': source '${settings.source.kind}' broke offset order in partition '${lane.partition}': offset ${offset} after ${previous}`,
    { details: { partition: lane.partition, offset, previous } },
  );
}
