import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { open, realpath } from 'node:fs/promises';
import type { Cursor } from '../core/batch.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { parseCount, parseSize, type Size, show } from '../core/units.js';
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
  /**
   * Partition name of the file's lane. Keep it stable across runs: the checkpoint is kept per
   * partition. @default the file's real path (`fs.realpath`): the same file under any spelling
   * (`./raw/a.jsonl`, `raw/a.jsonl`, an absolute path, a symlink) is one partition
   */
  partition?: string;
  /**
   * The file is complete: a last line without a newline is a whole record. By default a last line
   * without a newline is taken for one its writer has not finished: it is neither read nor
   * committed, but counted in `pendingBytes` and logged, and the next run reads it once it ends.
   * @default false
   */
  complete?: boolean;
  /**
   * What to do when the file no longer holds what an earlier run committed from it (its head
   * differs from the fingerprint in the checkpoint, or it is shorter: replaced, truncated or
   * rotated). `'fail'`: `open()` fails with `MB_LEDGER_AHEAD`. `'start-over'`: read the new file
   * from its first byte, under offsets past everything committed before (so batch ids never repeat).
   * @default 'fail'
   */
  replaced?: 'fail' | 'start-over';
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
  /**
   * Bytes of a last line without a newline, left unread when the reader reached the end of the
   * file (0 when the file ends with a newline, or with `complete: true`).
   */
  readonly pendingBytes: number;
}

const NEWLINE = 0x0a;
/** Bytes of the file's head that the checkpoint's fingerprint covers. */
const HEAD_BYTES = 4096;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The fingerprint of a file's head: a short hash, enough to tell two files apart. */
const fingerprint = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex').slice(0, 32);

/**
 * Reads a file of JSON values, one per line. A record's offset is the byte offset where its line
 * starts, so a run can resume after a committed cursor: the pipeline's checkpoint store's, else
 * `{ after }`. A line that does not parse, is not valid UTF-8 or nests deeper than `maxDepth` is
 * dead-lettered as `malformed` with the raw text and the reason in `details.error`, and reading
 * goes on. Blank lines and a UTF-8 byte-order mark are skipped.
 *
 * A last line without a newline is left for the next run unless `complete` is set (its writer may
 * be mid-line). With each commit the checkpoint keeps a fingerprint of the file's head and the
 * least size the file had; a run that finds another file there fails with `MB_LEDGER_AHEAD`
 * instead of skipping or re-reading records (see `replaced`).
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
  if (
    options.partition !== undefined &&
    (typeof options.partition !== 'string' || options.partition === '')
  ) {
    throw invalidOptions(
      `fromJsonLines({ partition }): must be a non-empty string; got ${show(options.partition)}`,
    );
  }
  if (options.complete !== undefined && typeof options.complete !== 'boolean') {
    throw invalidOptions(`fromJsonLines({ complete }): must be a boolean; got ${show(options.complete)}`);
  }
  const replaced = options.replaced ?? 'fail';
  if (replaced !== 'fail' && replaced !== 'start-over') {
    throw invalidOptions(
      `fromJsonLines({ replaced }): must be 'fail' or 'start-over'; got ${show(replaced)}`,
    );
  }
  const complete = options.complete ?? false;
  let committed: Cursor | undefined;
  let pendingBytes = 0;

  return {
    kind: 'json-lines',
    replayable: true,
    get committed() {
      return committed;
    },
    get pendingBytes() {
      return pendingBytes;
    },
    async open(context): Promise<SourceReader<T>> {
      let file: Awaited<ReturnType<typeof open>>;
      let partition: string;
      try {
        file = await open(path, 'r');
        // The file's identity, not the spelling of its path, names the lane (finding: one file
        // read three times under './raw/a', 'raw/a' and '/abs/raw/a').
        partition = options.partition ?? (await realpath(path));
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
      // A checkpoint's committed cursor wins over the start position in the options: it is the
      // pipeline's own record of what was delivered.
      let resume: number | undefined;
      let base = 0; // record offset = base + byte position (base > 0 after a 'start-over')
      let head: Buffer;
      try {
        resume = await context?.resumeAfter?.(partition);
        const state = resume === undefined ? undefined : await context?.resumeState?.(partition);
        head = await readHead(file);
        if (resume !== undefined) {
          const marks = state?.source;
          base = typeof marks?.base === 'number' ? marks.base : 0;
          const problem = await changed(file, head, resume - base, marks);
          if (problem !== undefined) {
            if (replaced === 'fail' || (state?.plans.length ?? 0) > 0) {
              throw new MicrobatchError(
                'MB_LEDGER_AHEAD',
                `fromJsonLines: '${path}' is not the file an earlier run committed up to offset ${resume} of partition '${partition}' (${problem}): it was replaced, truncated or rotated. Nothing was read. To read the new file from its start, pass { replaced: 'start-over' }${(state?.plans.length ?? 0) > 0 ? ' (after a run of the old file has written the batches it planned)' : ''}; to read it as a new input, give it another partition.`,
                { details: { partition, committed: resume, problem }, retryable: false },
              );
            }
            context.logger.warn(
              { partition, path, committed: resume, problem },
              'fromJsonLines: the file was replaced; reading the new one from its start',
            );
            base = resume + 1;
            resume = undefined;
          }
        }
      } catch (error) {
        await file.close();
        throw error;
      }
      const start = resume === undefined ? (base > 0 ? 0 : from) : resume - base;
      let position = start; // file position of the next read
      let carry: Buffer = Buffer.alloc(0); // bytes of an unfinished line
      let carryStart = start; // file offset of carry[0]
      // Inside a line to discard (over-long, or the committed line we resume after) until its newline.
      let skipping = resume !== undefined || (options.after !== undefined && base === 0);
      let eof = false;
      let warned = false;
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

      const addLine = (data: Buffer, begin: number, end: number, position: number, chunk: SourceChunk<T>) => {
        const offset = base + position;
        // A byte-order mark opens the file's first line; it is not part of the JSON.
        const start = position === 0 && data.subarray(begin, begin + 3).equals(BOM) ? begin + 3 : begin;
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
            const headEnd = Math.min(HEAD_BYTES, readStart + bytesRead);
            if (head.length < headEnd && readStart <= head.length) {
              // The head grows with the file: a commit's fingerprint covers bytes that were read.
              head = Buffer.concat([head, buffer.subarray(head.length - readStart, headEnd - readStart)]);
            }
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
            const consumed = parseLines(data, dataStart, chunk, eof && complete);
            carry = Buffer.from(data.subarray(consumed));
            carryStart = dataStart + consumed;
            if (eof) {
              // An unterminated last line: its writer may be mid-line. It is left for a later run.
              pendingBytes = carry.length;
              if (pendingBytes > 0 && !warned) {
                warned = true;
                context.logger.warn(
                  { path, partition, offset: base + carryStart, bytes: pendingBytes },
                  'fromJsonLines: the last line has no newline yet; it is not read (pass { complete: true } if the file is complete)',
                );
              }
            }
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
        marks(cursor) {
          // The line at the committed offset was read, so the head holds its first byte.
          const bytes = Math.min(cursor.offset - base + 1, HEAD_BYTES, head.length);
          return {
            head: fingerprint(head.subarray(0, bytes)),
            headBytes: bytes,
            size: cursor.offset - base + 1,
            ...(base > 0 && { base }),
          };
        },
        async close() {
          await file.close();
        },
      };
    },
  };
}

/** The first bytes of the file, up to HEAD_BYTES. */
async function readHead(file: Awaited<ReturnType<typeof open>>): Promise<Buffer> {
  const head = Buffer.alloc(HEAD_BYTES);
  let length = 0;
  for (;;) {
    const { bytesRead } = await file.read(head, length, HEAD_BYTES - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
    if (length === HEAD_BYTES) break;
  }
  return head.subarray(0, length);
}

/**
 * Why the file no longer holds what was committed at byte `at` (the start of the last committed
 * line), or `undefined` when it still does: it is shorter than the checkpoint says it was, its head
 * has another fingerprint, or the committed offset is not a line start.
 */
async function changed(
  file: Awaited<ReturnType<typeof open>>,
  head: Buffer,
  at: number,
  marks: Readonly<Record<string, string | number>> | undefined,
): Promise<string | undefined> {
  const { size } = await file.stat();
  const least = typeof marks?.size === 'number' ? marks.size : at + 1;
  if (at < 0 || size < least) return `it holds ${size} bytes; the checkpoint saw at least ${least}`;
  if (typeof marks?.head === 'string' && typeof marks.headBytes === 'number') {
    if (head.length < marks.headBytes || fingerprint(head.subarray(0, marks.headBytes)) !== marks.head) {
      return `its first ${marks.headBytes} bytes differ from the ones committed`;
    }
  }
  if (at > 0) {
    const before = Buffer.alloc(1);
    await file.read(before, 0, 1, at - 1);
    if (before[0] !== NEWLINE) return `byte ${at} is not the start of a line`;
  }
  return undefined;
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
