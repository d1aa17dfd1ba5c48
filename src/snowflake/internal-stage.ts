import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invalidOptions, MicrobatchError } from '../core/errors.js';
import { show } from '../core/units.js';
import { checkKey, type PutIfAbsentResult } from '../lake/storage.js';
import { column } from './copy.js';
import { snowflakeError } from './errors.js';
import { parseStage, stageLocation } from './identifiers.js';
import { exclusive, execute, isConnection } from './session.js';
import type { StageStorage } from './sink.js';
import type { SnowflakeConnectionLike } from './types.js';

/** Options of {@link snowflakeInternalStage}. */
export interface SnowflakeInternalStageOptions {
  /** The connection the `PUT`s run on (the sink's connection is fine: statements queue per connection). */
  connection: SnowflakeConnectionLike;
  /** The internal stage: `'@DB.SCHEMA.STAGE'` (its root; the sink's `stage.name` may add a path). */
  stage: string;
  /** Where files are written before the driver uploads them. @default os.tmpdir() */
  tmpDir?: string;
}

const SAFE_PATH = /^[A-Za-z0-9._/-]+$/;

/**
 * Stage storage for an internal stage: each file is written to a temporary file and uploaded with
 * `PUT 'file://…' @stage/path AUTO_COMPRESS=FALSE OVERWRITE=FALSE` through the connection (the
 * driver's file transfer; `AUTO_COMPRESS=FALSE` keeps `.parquet` files as they are). `OVERWRITE=FALSE`
 * makes the key write-once: an existing file answers `SKIPPED`, which is `'exists'`; it counts as
 * identical unless `LIST` reports an MD5 other than the body's (the driver itself does not compare).
 * Only what the sink needs (`putIfAbsent`); compaction and listing are for external stages.
 */
export function snowflakeInternalStage(options: SnowflakeInternalStageOptions): StageStorage {
  const at = 'snowflakeInternalStage';
  if (typeof options !== 'object' || options === null || !isConnection(options.connection)) {
    throw invalidOptions(`${at}: options must be { connection, stage }; got ${show(options)}`);
  }
  const stage = parseStage(options.stage, `${at}: stage`);
  const connection = options.connection;
  const base = options.tmpDir ?? tmpdir();
  const url = (key: string) => `${stageLocation(stage)}/${key}`;
  return {
    kind: 'snowflake-stage',
    url,
    async putIfAbsent(key, body, callOptions = {}): Promise<PutIfAbsentResult> {
      checkKey(key, `${at}.putIfAbsent`);
      const slash = key.lastIndexOf('/');
      const dir = slash === -1 ? '' : key.slice(0, slash);
      const name = key.slice(slash + 1);
      const local = join(base, `microbatch-put-${randomUUID()}`);
      const file = join(local, name);
      const target = dir === '' ? stageLocation(stage) : `${stageLocation(stage)}/${dir}`;
      // The local path goes into the statement as text: only plain characters (no quote, no escape).
      if (!SAFE_PATH.test(file) || !SAFE_PATH.test(target.slice(1))) {
        throw invalidOptions(
          `${at}: cannot PUT ${show(file)} to ${show(target)}: use a plain tmpDir and key`,
        );
      }
      callOptions.signal?.throwIfAborted();
      await mkdir(local, { recursive: true });
      try {
        await writeFile(file, body);
        const sql = `PUT 'file://${file}' ${target} AUTO_COMPRESS=FALSE OVERWRITE=FALSE`;
        const rows = await exclusive(connection, () =>
          execute(connection, sql).catch((error: unknown) => {
            throw snowflakeError(error, `${at} ${url(key)}`, 'PUT', false);
          }),
        );
        const status = String(column(rows[0] ?? {}, 'status') ?? '');
        if (status === 'UPLOADED') return { outcome: 'created' };
        if (status !== 'SKIPPED') {
          throw new MicrobatchError(
            'MB_SINK_FAILED',
            `${at}: PUT of ${url(key)} answered ${status || '(no status)'}: ${String(column(rows[0] ?? {}, 'message') ?? '')}`,
            { retryable: status === 'ERROR' },
          );
        }
        const listed = await exclusive(connection, () => execute(connection, `LIST ${url(key)}`)).catch(
          () => [],
        );
        const entry = listed.find((r) => String(column(r, 'name') ?? '').endsWith(`/${name}`)) ?? listed[0];
        const md5 = createHash('md5').update(body).digest('hex');
        const size = Number(entry === undefined ? Number.NaN : column(entry, 'size'));
        // Only an MD5 that LIST shows and that differs proves other content. Without one (LIST
        // refused, or no md5 column) the file under the batch's write-once key counts as the batch's,
        // as OVERWRITE=FALSE wrote it: the sink would otherwise stage a second copy on every replay.
        const listedMd5 = entry === undefined ? '' : String(column(entry, 'md5') ?? '');
        return {
          outcome: 'exists',
          identical: listedMd5 === '' || listedMd5 === md5,
          existing: { key, size: Number.isFinite(size) ? size : -1, modified: 0 },
        };
      } finally {
        await rm(local, { recursive: true, force: true });
      }
    },
  };
}
