/**
 * The public shapes of {@link compactLake}: its options, progress events and report (the types
 * only; compact.ts holds the protocol).
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Duration, Size } from '../core/units.js';
import type { CompactionCompression } from './compact-parquet.js';
import type { ObjectStorage } from './storage.js';

/** Options of `compactLake`. */
export interface CompactLakeOptions {
  /** Where the lake lives, as given to the sink: `fileStorage(dir)`, `s3Storage(…)`, your own. Give this or `dir`. */
  storage?: ObjectStorage;
  /** Shorthand for `storage: fileStorage(dir)`: the lake's root directory (the sink's `dir`). Must exist. */
  dir?: string;
  /**
   * The table: the objects under `<table>/`. A safe name (see the lake layout); with `dir`, the
   * directory `<dir>/<table>/` must exist.
   */
  table: string;
  /**
   * The size an output file aims at, in bytes or as a string (`'64MB'`, `'1GiB'`). Only data files
   * smaller than this are compacted, and they are packed so that each bin's inputs add up to at
   * most this many bytes (the output is usually a little smaller: one footer, better compression).
   * @default '128MB' (128,000,000 bytes)
   */
  targetFileBytes?: Size;
  /** A bin with fewer input files than this is left alone (rewriting it would gain little). @default 2 */
  minInputFiles?: number;
  /**
   * Which partitions to compact: partition paths below the table (`'dt=2026-11-25/hr=14'`; a path
   * also selects the partitions below it, so `'dt=2026-11-25'` selects its hours), or a predicate on
   * the path. Intents left by a crash are recovered in every partition regardless.
   * @default every partition
   */
  partitions?: readonly string[] | ((path: string) => boolean);
  /**
   * How a bin becomes one file. `false` (the default): its row groups are copied byte for byte
   * behind one new footer, without decoding a value; the output has as many row groups as its
   * inputs together, each with its own codec, and files are only merged when their Parquet schemas
   * are identical. `true`: every row is decoded and encoded again with `compression` into large row
   * groups (about 5–10× slower; use it to change the codec or to merge many tiny row groups).
   * See docs/compaction.md.
   * @default false
   */
  rewrite?: boolean;
  /** The codec of the output files when `rewrite` is true (copied row groups keep theirs). @default 'zstd' */
  compression?: CompactionCompression;
  /**
   * Stops the run between bins (or during an output write, which is then rolled back); rejects with
   * `MB_ABORTED`. A bin whose output is already in place is finished first.
   */
  signal?: AbortSignal;
  /** Called as the run progresses: once per partition, per recovered intent, per skipped bin. */
  onProgress?: (event: CompactionProgress) => void;
  /** Time source for `createdAt` in intents and for `durationMs`. @default the system clock */
  clock?: Pick<Clock, 'now'>;
  /** Where to log recoveries, outputs and skipped bins. @default silent */
  logger?: Logger;
  /**
   * Incomplete writes under the table (S3 multipart uploads, temporary files of a crashed process)
   * older than this are cancelled at the start of the run, whoever started them; those of
   * compaction's own outputs and intents are cancelled whatever their age (only one compaction may
   * run on a table at a time). A duration (`'1d'`, `'6h'`) or ms, compared with the store's
   * timestamps; pick it well above the longest write of your sinks. `Infinity` keeps them all.
   * @default '1d'
   */
  abortIncompleteAfter?: Duration;
}

/** One progress event of {@link compactLake}. */
export interface CompactionProgress {
  table: string;
  /** The partition path below the table: `dt=2026-11-25/hr=14`. */
  partition: string;
  /**
   * `compacted`: the partition was processed (possibly with nothing to do, then filesIn = filesOut);
   * `skipped-open`: no `_SUCCESS`, untouched; `recovered`: an intent left by an interrupted run was
   * finished or rolled back; `bin-skipped`: a bin was left alone, see `reason`.
   */
  action: 'compacted' | 'skipped-open' | 'recovered' | 'bin-skipped';
  /** Data files of the partition before → after (for `compacted`), or of the bin / intent. */
  filesIn: number;
  filesOut: number;
  /** Bytes of those files before → after. */
  bytesIn: number;
  bytesOut: number;
  /** Rows rewritten. */
  rows: number;
  /** Why a bin was skipped, naming the file. */
  reason?: string;
}

/** A bin left alone because of a problem (nothing of it was deleted). */
export interface SkippedBin {
  partition: string;
  /** The input files of the bin. */
  files: string[];
  /** The file at fault. */
  file: string;
  /** `corrupt`: a file could not be read as Parquet; `output-exists`: the output name is taken. */
  reason: 'corrupt' | 'output-exists';
  message: string;
}

/** What {@link compactLake} did. Files and bytes count the data files of the closed partitions it scanned. */
export interface CompactionReport {
  table: string;
  /**
   * How bins were merged: `copy` (row groups copied without decoding, the default) or `rewrite`
   * (decoded and encoded again; `rewrite: true`).
   */
  mode: 'copy' | 'rewrite';
  /** Closed partitions (with `_SUCCESS`) selected and examined. */
  partitionsScanned: number;
  /** Partitions in which at least one bin was rewritten. */
  partitionsCompacted: number;
  /** Selected partitions without `_SUCCESS`, left untouched. */
  partitionsSkippedOpen: number;
  /** Data files in the scanned partitions before and after (after recovering intents). */
  filesBefore: number;
  filesAfter: number;
  /** Bytes of those data files before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Rows of the inputs that went into outputs (copied or re-encoded, see `mode`). */
  rowsRewritten: number;
  /** Output files written. */
  outputs: number;
  /** Intents left by an interrupted run and completed or rolled back at the start of this one. */
  recoveredIntents: number;
  /** Bins left alone because of a corrupt input or a taken output name. */
  skippedBins: SkippedBin[];
  /** Incomplete writes (multipart uploads, temporary files) cancelled at the start of the run (see `abortIncompleteAfter`). */
  abortedWrites: number;
  /** Wall time of the run, in ms (from `clock`). */
  durationMs: number;
}
