/**
 * Compaction's reads: what grouping reads of each candidate (the end of the file, or the whole file
 * when it is small), the cache that keeps those bytes for the merge, and the readers a bin's merge
 * uses (footers and byte ranges for the row-group copy, whole files for the rewrite).
 */
import { MicrobatchError } from '../core/errors.js';
import { ioError, type LakeFile, type PartitionDir } from './compact-layout.js';
import { footerBytes, footerLength, type InputFooter } from './compact-rowgroups.js';
import type { ByteRange, ObjectStorage } from './storage.js';

/** How much of a file's end is read to find its footer: the whole file when it is this small. */
export const TAIL_BYTES = 64 * 1024;
/**
 * The most input bytes grouping keeps for the merge (whole small files and footers), whatever the
 * bin size: most candidates are small, and reading each once instead of twice is much of a run's
 * time over thousands of batch files.
 */
export const CACHE_BYTES = 32 * 1024 * 1024;

/** What grouping read of a file: the whole file (small files), or only its footer. */
export type Probe = { whole: Uint8Array } | { footer: InputFooter };

/** Input bytes read while grouping, kept for the merge while they add up to at most `budget`. */
export class InputCache {
  private readonly files = new Map<string, Probe>();
  private bytes = 0;
  constructor(private readonly budget: number) {}

  /** Keeps `probe` of `name` if it fits. */
  keep(name: string, probe: Probe): void {
    const size = weigh(probe);
    if (this.bytes + size > this.budget || this.files.has(name)) return;
    this.files.set(name, probe);
    this.bytes += size;
  }

  get(name: string): Probe | undefined {
    return this.files.get(name);
  }

  /** Forgets `name` (its bin is done). */
  drop(name: string): void {
    const probe = this.files.get(name);
    if (probe === undefined) return;
    this.files.delete(name);
    this.bytes -= weigh(probe);
  }
}

const weigh = (probe: Probe) => ('whole' in probe ? probe.whole.length : probe.footer.raw.length);

/** Where compaction reads from. */
export interface ReadContext {
  storage: ObjectStorage;
  signal: AbortSignal | undefined;
}

/** `range` (or all) of `key`; a missing object is {@link gone}, a failure names the object. */
async function getBytes(context: ReadContext, key: string, range?: ByteRange): Promise<Uint8Array> {
  const { storage, signal } = context;
  let bytes: Uint8Array | undefined;
  try {
    bytes = await storage.get(key, { signal, ...(range === undefined ? {} : { range }) });
  } catch (error) {
    throw ioError('read', storage.url(key), error);
  }
  if (bytes === undefined) throw gone(storage.url(key));
  return bytes;
}

/**
 * Reads what grouping needs of `file`: all of it with `whole` or when it is at most
 * {@link TAIL_BYTES}, else its footer, by byte range from the end (one read, two when the footer
 * is longer than the tail read). A file that is not Parquet throws a corrupt-file error.
 */
export async function probe(
  context: ReadContext,
  partition: PartitionDir,
  file: LakeFile,
  whole: boolean,
): Promise<Probe> {
  const key = `${partition.prefix}${file.name}`;
  if (whole || file.size <= TAIL_BYTES) return { whole: await getBytes(context, key) };
  return { footer: await readFooterOf(context, key, file.size) };
}

/** The footer of the object `key` of `size` bytes, read by range from its end. */
async function readFooterOf(context: ReadContext, key: string, size: number): Promise<InputFooter> {
  const from = Math.max(0, size - TAIL_BYTES);
  const tail = await getBytes(context, key, { offset: from, length: size - from });
  // The listed size is the object's: a file that changed since is caught when its bin is merged.
  const length = footerLength(tail, size);
  const start = size - 8 - length;
  if (length + 8 <= tail.length)
    return { raw: tail.subarray(tail.length - 8 - length, tail.length - 8), start };
  return { raw: await getBytes(context, key, { offset: start, length }), start };
}

/** What the merge of one bin reads its inputs with. */
export interface BinReader {
  /** Input `i`'s bytes, whole (the rewrite mode). */
  whole(index: number): Promise<Uint8Array>;
  /** Input `i`'s footer (the row-group copy). */
  footer(index: number): Promise<InputFooter>;
  /** `length` bytes of input `i` from `offset` (the row-group copy). */
  range(index: number, offset: number, length: number): Promise<Uint8Array>;
  /** Forgets the inputs' cached bytes (the bin is done). */
  done(): void;
}

/**
 * The reader of a bin's inputs: cached probes first (a whole small file serves its footer and its
 * ranges), the storage otherwise. A range read that comes back short is returned as it is (the copy
 * checks the length).
 */
export function binReader(
  context: ReadContext,
  partition: PartitionDir,
  bin: readonly LakeFile[],
  cache: InputCache,
): BinReader {
  const keyOf = (i: number) => `${partition.prefix}${bin[i]!.name}`;
  const cached = (i: number) => cache.get(bin[i]!.name);
  return {
    async whole(i) {
      const found = cached(i);
      if (found !== undefined && 'whole' in found) {
        cache.drop(bin[i]!.name);
        return found.whole;
      }
      return getBytes(context, keyOf(i));
    },
    async footer(i) {
      const found = cached(i);
      if (found !== undefined && 'footer' in found) return found.footer;
      if (found !== undefined) return footerBytes(found.whole);
      return readFooterOf(context, keyOf(i), bin[i]!.size);
    },
    async range(i, offset, length) {
      const found = cached(i);
      if (found !== undefined && 'whole' in found) return found.whole.subarray(offset, offset + length);
      return getBytes(context, keyOf(i), { offset, length });
    },
    done() {
      for (const file of bin) cache.drop(file.name);
    },
  };
}

/** An input listed a moment ago is gone: something else deletes files in the table. */
export function gone(url: string): MicrobatchError {
  return new MicrobatchError(
    'MB_SINK_FAILED',
    `compactLake: ${url} disappeared while compacting; is another compaction running on this table?`,
    { details: { url } },
  );
}
