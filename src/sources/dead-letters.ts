import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { batchIdPrefix, type RejectReason } from '../core/batch.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { parseSize, type Size, show } from '../core/units.js';
import type { StoredDeadLetter } from '../sinks/dead-letter-encoding.js';
import { fromJsonLines } from './json-lines.js';
import type { Source, SourceChunk, SourceContext, SourceReader, SourceRejection } from './types.js';

/** Options of {@link replayDeadLetters}. */
export interface ReplayDeadLettersOptions {
  /** Replay only letters with this reason, or one of these. @default every reason */
  reasons?: RejectReason | readonly RejectReason[];
  /** Replay only letters of this pipeline (the envelope's `pipeline`), or of one of these. @default every pipeline */
  pipelines?: string | readonly string[];
  /**
   * Yield each whole envelope (`{ reason, details, value, cursor, pipeline, batchId, at }`) instead
   * of its `value`. @default false
   */
  envelopes?: boolean;
  /**
   * Resume after committed cursors: partition → offset of the last record committed, as an earlier
   * run's `report.committed` or this source's `committed` gives it. The pipeline's checkpoint store,
   * when it has a cursor for a partition, wins.
   */
  after?: Readonly<Record<string, number>>;
  /** Bytes read from a file at a time. @default '256KB' */
  readBytes?: Size;
  /** Lines longer than this are rejected as `too_large`. @default '64MB' */
  maxLineBytes?: Size;
}

/** A replay source; `committed` maps each partition to the offset of the last record committed. */
export interface DeadLetterReplaySource<T> extends Source<T> {
  /** A copy of the cursors committed so far, partition → offset; pass it as `{ after }` to resume. */
  readonly committed: Readonly<Record<string, number>>;
}

/**
 * Reads the files of a `jsonLinesDeadLetter` directory back into a pipeline, to load the records
 * that were rejected once the cause is fixed: `pipeline(…).source(replayDeadLetters(dir))`.
 *
 * - Each letter's `value` is yielded (its whole envelope with `{ envelopes: true }`), files in
 *   sorted name order (`*.jsonl`; temporary files are ignored).
 * - **Partition and offset are the letter's own origin**: the partition is the original pipeline
 *   and partition, escaped as in batch ids (`<pipeline>.<partition>`, e.g. `ingest.events`), and
 *   the offset is the letter's original `cursor.offset`. Within a partition the records therefore
 *   come in the order the original source had them, and a cursor means the same letter forever:
 *   files added later (a later run, another pipeline) hold later offsets or other partitions, and
 *   never shift what was committed. A letter at or below an offset already read for its partition
 *   (the same range dead-lettered twice, by a rerun without checkpoint) is skipped as a repeat.
 * - A file is read whole before its letters are handed over (they are sorted by offset: a batch's
 *   source rejects come before its transform rejects). A file holds one batch's letters.
 * - A line that is not a dead-letter envelope (not JSON, invalid UTF-8, too deep, not
 *   `{ reason, cursor, pipeline, … }`) has no origin: it is rejected as `malformed` in the partition
 *   named after its file, at its byte offset, and so dead-lettered again by the replaying pipeline.
 * - Letters filtered out by `reasons` or `pipelines` are skipped without a trace.
 *
 * A missing directory reads as empty: `jsonLinesDeadLetter` creates it only on its first write.
 * The file list is taken when the source is opened.
 */
export function replayDeadLetters<T = unknown>(
  dir: string,
  options: ReplayDeadLettersOptions & { envelopes: true },
): DeadLetterReplaySource<StoredDeadLetter<T>>;
export function replayDeadLetters<T = unknown>(
  dir: string,
  options?: ReplayDeadLettersOptions & { envelopes?: false },
): DeadLetterReplaySource<T>;
export function replayDeadLetters(
  dir: string,
  options: ReplayDeadLettersOptions = {},
): DeadLetterReplaySource<unknown> {
  const what = 'replayDeadLetters';
  if (typeof dir !== 'string' || dir.length === 0)
    throw invalidOptions(`${what}(dir): dir must be a non-empty path; got ${show(dir)}`);
  const reasons = stringSet(options.reasons, `${what}({ reasons })`);
  const pipelines = stringSet(options.pipelines, `${what}({ pipelines })`);
  const envelopes = options.envelopes ?? false;
  const after = checkAfter(options.after, `${what}({ after })`);
  const readBytes = parseSize(options.readBytes ?? 256 * 1024, `${what}({ readBytes })`);
  const maxLineBytes = parseSize(options.maxLineBytes ?? 64e6, `${what}({ maxLineBytes })`);
  const committed: Record<string, number> = {};

  return {
    kind: 'dead-letters',
    replayable: true,
    get committed() {
      return { ...committed };
    },
    async open(context: SourceContext): Promise<SourceReader<unknown>> {
      const files = await listFiles(dir);
      // Per partition: the offset at or below which everything is skipped (resumed or already read).
      const through = new Map<string, number | undefined>();
      const skipThrough = async (partition: string): Promise<number | undefined> => {
        if (!through.has(partition)) {
          const resumed = await context?.resumeAfter?.(partition);
          through.set(partition, resumed ?? after?.[partition]);
        }
        return through.get(partition);
      };
      // The inner reader must not resume by itself: its offsets (byte positions) are not ours.
      const { resumeAfter: _, resumeState: _state, ...inner } = context;
      const ready: SourceChunk<unknown>[] = [];
      let index = 0;
      let closed = false;

      /** Reads file `name` whole and queues its chunks: one per partition, offsets increasing. */
      const readFile = async (name: string) => {
        const reader = await fromJsonLines(join(dir, name), {
          partition: name,
          readBytes,
          maxLineBytes,
        }).open(inner);
        const lanes = new Map<string, { letter: StoredDeadLetter; bytes: number }[]>();
        const garbage: SourceRejection[] = [];
        try {
          for (let chunk = await reader.read(); chunk !== null && !closed; chunk = await reader.read()) {
            garbage.push(...(chunk.rejected ?? []));
            chunk.values.forEach((line, i) => {
              const offset = chunk.offsets![i]!;
              const bytes = chunk.bytes![i]!;
              if (!isEnvelope(line)) {
                garbage.push({
                  offset,
                  reason: 'malformed',
                  details: { error: NOT_ENVELOPE },
                  value: line,
                  bytes,
                });
                return;
              }
              if (reasons !== undefined && !reasons.has(line.reason)) return;
              if (pipelines !== undefined && !pipelines.has(line.pipeline)) return;
              const lane = batchIdPrefix(line.pipeline, line.cursor.partition).slice(0, -1);
              let letters = lanes.get(lane);
              if (letters === undefined) lanes.set(lane, (letters = []));
              letters.push({ letter: line, bytes });
            });
          }
        } finally {
          await reader.close();
        }
        for (const [partition, letters] of lanes) {
          letters.sort((a, b) => a.letter.cursor.offset - b.letter.cursor.offset);
          let last = await skipThrough(partition);
          const chunk: SourceChunk<unknown> = { partition, values: [], offsets: [], owned: true };
          if (envelopes) chunk.bytes = [];
          for (const { letter, bytes } of letters) {
            if (last !== undefined && letter.cursor.offset <= last) continue;
            last = letter.cursor.offset;
            chunk.values.push(envelopes ? letter : letter.value);
            chunk.offsets!.push(last);
            // A line's size is the envelope's: exact for envelopes, an upper bound for values.
            chunk.bytes?.push(bytes);
          }
          through.set(partition, last);
          if (chunk.values.length > 0) ready.push(chunk);
        }
        if (garbage.length > 0) {
          const skip = await skipThrough(name);
          const rejected = garbage
            .filter((r) => skip === undefined || r.offset > skip)
            .sort((a, b) => a.offset - b.offset);
          if (rejected.length > 0) ready.push({ partition: name, values: [], offsets: [], rejected });
        }
      };

      return {
        async read() {
          while (ready.length === 0) {
            const name = files[index++];
            if (name === undefined || closed) return null;
            await readFile(name);
          }
          return ready.shift()!;
        },
        commit(cursor) {
          committed[cursor.partition] = cursor.offset;
        },
        close() {
          closed = true;
          ready.length = 0;
        },
      };
    },
  };
}

const NOT_ENVELOPE =
  'not a dead-letter envelope: expected an object with reason, pipeline and cursor { partition, offset }';

/** The dead-letter files of `dir`, sorted; none when `dir` does not exist. */
async function listFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === 'ENOENT') return [];
    throw new MicrobatchError(
      'MB_SOURCE_FAILED',
      `replayDeadLetters: cannot list '${dir}': ${describeError(error)}`,
      { cause: error },
    );
  }
  // Temporary files of an atomic write start with a dot and end in .tmp.
  return names.filter((name) => name.endsWith('.jsonl') && !name.startsWith('.')).sort();
}

function isEnvelope(value: unknown): value is StoredDeadLetter {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const letter = value as Partial<StoredDeadLetter>;
  const cursor = letter.cursor as Partial<StoredDeadLetter['cursor']> | null | undefined;
  return (
    typeof letter.reason === 'string' &&
    typeof letter.pipeline === 'string' &&
    typeof cursor === 'object' &&
    cursor !== null &&
    typeof cursor.partition === 'string' &&
    Number.isSafeInteger(cursor.offset) &&
    cursor.offset! >= 0
  );
}

function stringSet(value: string | readonly string[] | undefined, what: string): Set<string> | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
    throw invalidOptions(`${what} must be a string or an array of strings; got ${show(value)}`);
  }
  return new Set(list);
}

function checkAfter(
  value: Readonly<Record<string, number>> | undefined,
  what: string,
): Readonly<Record<string, number>> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOptions(`${what} must map file names to offsets, like report.committed; got ${show(value)}`);
  }
  for (const [file, offset] of Object.entries(value)) {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw invalidOptions(`${what}: the offset of '${file}' must be an integer ≥ 0; got ${show(offset)}`);
    }
  }
  return value;
}
