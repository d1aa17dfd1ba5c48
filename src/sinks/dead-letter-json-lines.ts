import type { Batch, DeadLetter } from '../core/batch.js';
import { invalidOptions } from '../core/errors.js';
import { show } from '../core/units.js';
import { atomicFiles } from './atomic-file.js';
import { encodeDeadLetter, joinPieces } from './dead-letter-encoding.js';
import type { Sink } from './types.js';

/** Options of {@link jsonLinesDeadLetter}. */
export interface JsonLinesDeadLetterOptions {
  /** Directory for the files; created if missing. */
  dir: string;
  /**
   * Longest JSON kept for one envelope field (`value`, `details`), in characters. A longer field
   * is written as its first `maxFieldChars` characters, as a string, and `fallbacks` says so.
   * @default 16_000_000 (the default `maxLineBytes` of `fromJsonLines`)
   */
  maxFieldChars?: number;
}

/**
 * Writes each dead-letter batch to `<dir>/<batch.id>.jsonl` (the batch id ends in `.dead`), one
 * envelope per line: `{ reason, details, value, cursor, pipeline, batchId, at }`, `at` in ms since
 * epoch, plus `fallbacks` when a field could not be written exactly as JSON (a bigint, a cycle,
 * bytes, a field longer than `maxFieldChars`). Serialisation never throws, so a bad record can
 * never stop the pipeline through its dead letter.
 *
 * The file name comes from the batch id only, never from a record. The file appears atomically
 * (temporary file, fsync, rename), and writing the same batch again replaces it: one effect per id.
 * `replayDeadLetters(dir)` reads the files back.
 */
export function jsonLinesDeadLetter(options: JsonLinesDeadLetterOptions): Sink<DeadLetter> {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) {
    throw invalidOptions(
      `jsonLinesDeadLetter({ dir }): dir must be a non-empty path; got ${show(options?.dir)}`,
    );
  }
  const maxFieldChars = options.maxFieldChars ?? 16e6;
  if (!(typeof maxFieldChars === 'number' && maxFieldChars >= 16 && !Number.isNaN(maxFieldChars))) {
    throw invalidOptions(
      `jsonLinesDeadLetter({ maxFieldChars }) must be a number ≥ 16 (or Infinity); got ${show(maxFieldChars)}`,
    );
  }
  const files = atomicFiles(options.dir);
  return {
    kind: 'json-lines-dead-letter',
    async write(batch: Batch<DeadLetter>, { signal }) {
      const lines = batch.records.map((letter) => encodeDeadLetter(letter, { maxFieldChars }));
      await files.write(batch.id, '.jsonl', joinPieces(lines), signal);
    },
  };
}
