import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import type { Cursor } from '../core/batch.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { parseCount, parseSize, type Size } from '../core/units.js';
import type { Source, SourceChunk, SourceReader, SourceRejection } from './types.js';

/** Options of {@link fromJsonLines}. */
export interface JsonLinesSourceOptions {
  /** Byte offset to start reading at (the start of a line). @default 0 */
  from?: number;
  /**
   * Resume after a committed record: the offset of the last record an earlier run committed. Reading
   * starts at the line after it. Exclusive with `from`.
   */
  after?: number;
  /** Partition name of the file's lane. @default the path */
  partition?: string;
  /** Bytes read from the file at a time. @default '256KB' */
  readBytes?: Size;
  /** Lines longer than this are dead-lettered as `too_large` without being parsed. @default '16MB' */
  maxLineBytes?: Size;
  /**
   * Lines whose arrays and objects nest deeper than this are dead-lettered as `malformed` without
   * being parsed: a value nested thousands of levels deep would overflow the stack of whatever
   * walks it later (`JSON.stringify` in a sink fails past about 4,000 levels). @default 1000
   */
  maxDepth?: number;
}

/** A JSON-lines source; `committed` is the cursor of the last record covered by a commit. */
export interface JsonLinesSource<T> extends Source<T> {
  readonly committed: Cursor | undefined;
}

const NEWLINE = 0x0a;

/**
 * Reads a file of JSON values, one per line. A record's offset is the byte offset where its line
 * starts, so a run can resume after a committed cursor: the pipeline's checkpoint store's, else
 * `{ after }`. A line that does not parse, is not valid UTF-8 or nests deeper than `maxDepth` is
 * dead-lettered as `malformed` with the raw text and the reason in `details.error`, and reading
 * goes on. Blank lines are skipped.
 */
export function fromJsonLines<T = unknown>(
  path: string,
  options: JsonLinesSourceOptions = {},
): JsonLinesSource<T> {
  if (typeof path !== 'string' || path.length === 0)
    throw invalidOptions('fromJsonLines(path): path must be a non-empty string');
  if (options.from !== undefined && options.after !== undefined) {
    throw invalidOptions('fromJsonLines: give either { from } or { after }, not both');
  }
  const start = options.from ?? options.after ?? 0;
  const from = parseCount(start, `fromJsonLines({ ${options.after === undefined ? 'from' : 'after'} })`, {
    min: 0,
  });
  const readBytes = parseSize(options.readBytes ?? 256 * 1024, 'fromJsonLines({ readBytes })');
  const maxLineBytes = parseSize(options.maxLineBytes ?? 16e6, 'fromJsonLines({ maxLineBytes })');
  const maxDepth = parseCount(options.maxDepth ?? 1000, 'fromJsonLines({ maxDepth })', {
    allowInfinity: true,
  });
  const partition = options.partition ?? path;
  let committed: Cursor | undefined;

  return {
    kind: 'json-lines',
    replayable: true,
    get committed() {
      return committed;
    },
    async open(context): Promise<SourceReader<T>> {
      // A checkpoint's committed cursor wins over the start position in the options: it is the
      // pipeline's own record of what was delivered.
      const resume = await context?.resumeAfter?.(partition);
      const start = resume === undefined ? from : resume;
      let file: Awaited<ReturnType<typeof open>>;
      try {
        file = await open(path, 'r');
      } catch (error) {
        throw new MicrobatchError(
          'MB_SOURCE_FAILED',
          `fromJsonLines: cannot open '${path}': ${describeError(error)}`,
          {
            cause: error,
            retryable: false,
          },
        );
      }
      let position = start; // file position of the next read
      let carry: Buffer = Buffer.alloc(0); // bytes of an unfinished line
      let carryStart = start; // file offset of carry[0]
      // Inside a line to discard (over-long, or the committed line we resume after) until its newline.
      let skipping = resume !== undefined || options.after !== undefined;
      let eof = false;
      const buffer = Buffer.allocUnsafe(readBytes);

      const parseLines = (data: Buffer, dataStart: number, chunk: SourceChunk<T>, final: boolean): number => {
        // Returns how many bytes of `data` were consumed (complete lines).
        let lineStart = 0;
        for (;;) {
          const nl = data.indexOf(NEWLINE, lineStart);
          if (nl === -1 && !final) return lineStart;
          const end = nl === -1 ? data.length : nl;
          if (end > lineStart || nl !== -1) addLine(data, lineStart, end, dataStart + lineStart, chunk);
          if (nl === -1) return data.length;
          lineStart = nl + 1;
        }
      };

      const addLine = (data: Buffer, start: number, end: number, offset: number, chunk: SourceChunk<T>) => {
        let stop = end;
        if (stop > start && data[stop - 1] === 0x0d) stop--; // CRLF
        const length = stop - start;
        if (length === 0) return;
        if (length > maxLineBytes) {
          // At most 256 bytes of the line itself (not of the lines after it in the buffer).
          const value = data.toString('utf8', start, Math.min(stop, start + 256));
          reject(chunk, {
            offset,
            reason: 'too_large',
            details: { bytes: length, limit: maxLineBytes },
            value,
            bytes: length,
          });
          return;
        }
        const text = data.toString('utf8', start, stop);
        if (text.trim().length === 0) return;
        // Decoding replaced invalid bytes with U+FFFD. Only a line holding one is checked byte by
        // byte (a real U+FFFD is valid UTF-8): one native search on the common path, measured at
        // about 20 ns a line, ~3% of JSON.parse on 120-byte lines.
        if (text.includes('\uFFFD') && !isUtf8(data.subarray(start, stop))) {
          const raw = data.toString('base64', start, stop);
          reject(chunk, {
            offset,
            reason: 'malformed',
            details: { error: 'invalid UTF-8', base64: raw },
            value: text,
            bytes: length,
          });
          return;
        }
        // Nesting deeper than maxDepth needs more than 2 × maxDepth bytes and more than maxDepth
        // opening brackets; only such lines are scanned (JSON.parse itself survives any depth).
        if (length > 2 * maxDepth && nestsDeeper(data, start, stop, maxDepth)) {
          reject(chunk, {
            offset,
            reason: 'malformed',
            details: { error: `nested deeper than ${maxDepth} levels`, maxDepth },
            value: text,
            bytes: length,
          });
          return;
        }
        try {
          const value = JSON.parse(text) as T;
          chunk.values.push(value);
          chunk.offsets!.push(offset);
          chunk.bytes!.push(length);
        } catch (error) {
          reject(chunk, {
            offset,
            reason: 'malformed',
            details: { error: describeError(error) },
            value: text,
            bytes: length,
          });
        }
      };

      const reject = (chunk: SourceChunk<T>, rejection: SourceRejection) => {
        (chunk.rejected ??= []).push(rejection);
      };

      return {
        async read(): Promise<SourceChunk<T> | null> {
          while (!eof) {
            const chunk: SourceChunk<T> = { partition, values: [], offsets: [], bytes: [] };
            const { bytesRead } = await file.read(buffer, 0, readBytes, position);
            const readStart = position;
            position += bytesRead;
            if (bytesRead === 0) eof = true;
            let data = buffer.subarray(0, bytesRead);
            let dataStart = readStart;
            if (skipping) {
              const nl = data.indexOf(NEWLINE);
              if (nl === -1) {
                if (eof) skipping = false;
                continue;
              }
              skipping = false;
              data = data.subarray(nl + 1);
              dataStart += nl + 1;
            }
            if (carry.length > 0) {
              data = Buffer.concat([carry, data]);
              dataStart = carryStart;
            }
            const consumed = parseLines(data, dataStart, chunk, eof);
            carry = Buffer.from(data.subarray(consumed));
            carryStart = dataStart + consumed;
            if (carry.length > maxLineBytes) {
              // A line too long to hold: dead-letter it by position and skip the rest of it.
              reject(chunk, {
                offset: carryStart,
                reason: 'too_large',
                details: { bytes: `more than ${maxLineBytes}`, limit: maxLineBytes },
                value: carry.toString('utf8', 0, 256),
                bytes: carry.length,
              });
              carry = Buffer.alloc(0);
              skipping = true;
            }
            if (chunk.values.length > 0 || chunk.rejected) {
              chunk.rejected?.sort((a, b) => a.offset - b.offset);
              return chunk;
            }
          }
          return null;
        },
        commit(cursor) {
          committed = cursor;
        },
        async close() {
          await file.close();
        },
      };
    },
  };
}

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;

/**
 * Whether the JSON text in `data[start, stop)` opens more than `maxDepth` arrays or objects at once
 * (brackets inside strings do not count). A native count of opening brackets first: most long
 * lines hold fewer than `maxDepth` of them and are never scanned byte by byte.
 */
function nestsDeeper(data: Buffer, start: number, stop: number, maxDepth: number): boolean {
  // Searching a view of the line keeps indexOf from running on past its end.
  const line = data.subarray(start, stop);
  let openings = 0;
  for (const bracket of [OPEN_ARRAY, OPEN_OBJECT]) {
    for (let i = line.indexOf(bracket); i !== -1 && openings <= maxDepth; i = line.indexOf(bracket, i + 1)) {
      openings++;
    }
  }
  if (openings <= maxDepth) return false;
  let depth = 0;
  let inString = false;
  for (let i = start; i < stop; i++) {
    const byte = data[i];
    if (inString) {
      // A backslash: skip the escaped byte.
      if (byte === 0x5c) i++;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) return true;
    } else if (byte === 0x5d || byte === 0x7d) depth--;
  }
  return false;
}
