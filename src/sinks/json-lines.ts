import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Batch } from '../core/batch.js';
import { invalidOptions } from '../core/errors.js';
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
 */
export function jsonLinesSink<T = unknown>(options: JsonLinesSinkOptions<T>): Sink<T> {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) {
    throw invalidOptions(`jsonLinesSink({ dir }): dir must be a non-empty path; got ${String(options?.dir)}`);
  }
  const { dir } = options;
  const serialize = options.serialize ?? ((record: T) => JSON.stringify(record));
  let ready: Promise<unknown> | undefined;
  let sequence = 0;
  return {
    kind: 'json-lines',
    async write(batch: Batch<T>, { signal }) {
      ready ??= mkdir(dir, { recursive: true });
      await ready;
      const final = join(dir, `${batch.id}.jsonl`);
      const temp = join(dir, `.${batch.id}.${process.pid}.${sequence++}.tmp`);
      let text = '';
      for (const record of batch.records) text += `${serialize(record)}\n`;
      const file = await open(temp, 'w');
      try {
        // An aborted attempt (timeout, stop deadline) stops writing; the rename never happens.
        await file.writeFile(text, { encoding: 'utf8', signal });
        await file.sync();
      } catch (error) {
        await file.close();
        await rm(temp, { force: true });
        throw error;
      }
      await file.close();
      await rename(temp, final);
    },
  };
}
