import { readdir } from 'node:fs/promises';
import { type Batch, batchIdPrefix } from '../core/batch.js';
import { invalidOptions, MicrobatchError } from '../core/errors.js';
import { atomicFiles } from './atomic-file.js';
import type { Sink } from './types.js';

/** Options of {@link jsonLinesSink}. */
export interface JsonLinesSinkOptions<T> {
  /** Directory for the files; created if missing. */
  dir: string;
  /** Turns a record into one line of text. @default JSON.stringify */
  serialize?: (record: T) => string;
}

/**
 * Writes each batch to `<dir>/<batch.id>.jsonl`, one record per line. The file name comes from the
 * batch id (never from record values), and the file appears atomically: written to a temporary
 * name, flushed to disk, then renamed. Writing the same batch again replaces the file with the same
 * content, so a retried or replayed batch has one effect.
 *
 * The file names are its ledger: `committed(partition)` is the highest `lastOffset` among the
 * files of this pipeline and partition (temporary files, which start with `.`, do not count).
 */
export function jsonLinesSink<T = unknown>(options: JsonLinesSinkOptions<T>): Sink<T> {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) {
    throw invalidOptions(`jsonLinesSink({ dir }): dir must be a non-empty path; got ${String(options?.dir)}`);
  }
  const { dir } = options;
  const serialize = options.serialize ?? ((record: T) => JSON.stringify(record));
  const files = atomicFiles(dir);
  let pipeline: string | undefined;
  return {
    kind: 'json-lines',
    open(context) {
      pipeline = context.pipeline;
    },
    async committed(partition) {
      if (pipeline === undefined) {
        throw new MicrobatchError('MB_CLOSED', `jsonLinesSink: committed() before open(); dir ${dir}`);
      }
      return highestLastOffset(dir, batchIdPrefix(pipeline, partition));
    },
    async write(batch: Batch<T>, { signal }) {
      let text = '';
      for (const record of batch.records) text += `${serialize(record)}\n`;
      await files.write(batch.id, '.jsonl', text, signal);
    },
  };
}

// The range part of a batch id: two zero-padded offsets (see batchIdRange).
const RANGE = /^(\d{16})-(\d{16})$/;

/** The highest last offset among `<dir>/<prefix><range>.jsonl`, or `undefined` when there is none. */
async function highestLastOffset(dir: string, prefix: string): Promise<number | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined; // nothing written yet
    throw error;
  }
  let highest: number | undefined;
  for (const name of names) {
    // Names are `<pipeline>.<partition>.<range>.jsonl`; escaping keeps the prefix unambiguous, and
    // the strict range check leaves out other files (`<id>.dead.jsonl`, temporary files).
    if (!name.startsWith(prefix) || !name.endsWith('.jsonl')) continue;
    const range = RANGE.exec(name.slice(prefix.length, -'.jsonl'.length));
    if (range === null) continue;
    const last = Number(range[2]);
    if (highest === undefined || last > highest) highest = last;
  }
  return highest;
}
