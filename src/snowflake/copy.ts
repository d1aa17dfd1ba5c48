import { MicrobatchError } from '../core/errors.js';
import { fileLiteral, type StageRef, stageLocation } from './identifiers.js';

/**
 * The staged file of a batch: `part-<batch id>.parquet`, write-once. Batch ids are made of
 * `[A-Za-z0-9_.~-]`; `~` (their escape character) becomes `=`, which they never hold, so names stay
 * distinct and fit the strict file-name pattern.
 */
export function stagedFileName(batchId: string): string {
  return `part-${batchId.replace(/~/g, '=')}.parquet`;
}

/**
 * The name a batch is staged under when another run left other content under its plain name:
 * `part-<batch id>.<digest>.parquet` (`digest` in hex). A batch id ends in its offset range
 * (`…-<digits>`), never in `.<hex>`, so the name cannot be another batch's.
 */
export function stagedFileNameWithDigest(batchId: string, digest: string): string {
  return `part-${batchId.replace(/~/g, '=')}.${digest}.parquet`;
}

/** The storage key of a staged file: the stage path, then the file name. */
export function stagedKey(stage: StageRef, file: string): string {
  return stage.path === '' ? file : `${stage.path}/${file}`;
}

/** The COPY statement of a batch's files (at most 1,000; the sink stages one per batch). */
export function copyStatement(table: string, stage: StageRef, files: readonly string[]): string {
  return `COPY INTO ${table} FROM ${stageLocation(stage)} FILES = (${files.map(fileLiteral).join(', ')}) FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT`;
}

/** What a COPY did with a batch's files. */
export interface CopyOutcome {
  /** Files loaded now. */
  readonly loaded: number;
  /** Files skipped because they were loaded before (`LOAD_SKIPPED`, or the "0 files processed" result). */
  readonly skipped: number;
  /** Rows loaded now. */
  readonly rows: number;
  /** The result's shape: one row per file, or the single "0 files processed" status row. */
  readonly shape: 'files' | 'none';
}

/** A row's value by column name, case-insensitively (Snowflake answers `status`; a driver may upper-case it). */
export function column(row: Record<string, unknown>, name: string): unknown {
  if (name in row) return row[name];
  const upper = name.toUpperCase();
  if (upper in row) return row[upper];
  for (const key of Object.keys(row)) if (key.toLowerCase() === name) return row[key];
  return undefined;
}

const NOTHING = /^Copy executed with 0 files processed\.?$/i;

/**
 * Reads a COPY result (../shared/SNOWFLAKE-S3.md §2.5): shape A (one row per file: `LOADED`),
 * shape B (one `status` row: "Copy executed with 0 files processed.") and shape C (`LOAD_SKIPPED`,
 * "File was loaded before."). B and C mean the files were loaded before: written, no new rows.
 * `LOAD_FAILED` and `PARTIALLY_LOADED` (which ABORT_STATEMENT should never give) and unknown statuses
 * are `MB_SINK_FAILED`, fatal, with the file's first error; so is an answer without rows.
 */
export function readCopyResult(rows: readonly Record<string, unknown>[], what: string): CopyOutcome {
  if (rows.length === 0) {
    // Not one of COPY's shapes: taken as "loaded before", it would record a batch nobody loaded.
    throw new MicrobatchError(
      'MB_SINK_FAILED',
      `${what}: COPY answered no rows (not a COPY result: one row per file, or the "0 files processed" row); nothing counted as written`,
      { details: { class: 'fatal' } },
    );
  }
  if (rows.length === 1 && NOTHING.test(String(column(rows[0]!, 'status') ?? ''))) {
    return { loaded: 0, skipped: 0, rows: 0, shape: 'none' };
  }
  let loaded = 0;
  let skipped = 0;
  let count = 0;
  for (const row of rows) {
    const status = String(column(row, 'status') ?? '');
    if (status === 'LOADED') {
      loaded++;
      const n = Number(column(row, 'rows_loaded') ?? 0);
      count += Number.isFinite(n) ? n : 0;
    } else if (status === 'LOAD_SKIPPED') {
      skipped++;
    } else {
      const file = String(column(row, 'file') ?? '?');
      const error = column(row, 'first_error');
      const line = column(row, 'first_error_line');
      const name = column(row, 'first_error_column_name');
      throw new MicrobatchError(
        'MB_SINK_FAILED',
        `${what}: COPY answered ${status || '(no status)'} for ${file}${error == null ? '' : `: ${String(error)}`}${line == null ? '' : ` (line ${String(line)}`}${name == null ? (line == null ? '' : ')') : `${line == null ? ' (' : ', '}column ${String(name)})`}`,
        { details: { file, status, class: 'data' } },
      );
    }
  }
  return { loaded, skipped, rows: count, shape: 'files' };
}
