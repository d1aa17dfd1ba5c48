import type { Batch } from '../core/batch.js';
import { invalidOptions, MicrobatchError } from '../core/errors.js';
import { show } from '../core/units.js';
import { BUCKET_UNITS, type Bucket, type BucketUnit, bucketOf } from '../event-time/buckets.js';
import { screenRecords } from '../parquet/check.js';
import {
  type EncodeParquetOptions,
  encodeColumns,
  type ParquetSchemaInput,
  resolveEncodeOptions,
} from '../parquet/encode.js';
import { requireParquetPeers } from '../parquet/peers.js';
import { parquetSchema } from '../parquet/schema.js';
import type { Sink, SinkContext } from '../sinks/types.js';
import type { SchemaLike, SchemaOutput } from '../transforms/validate.js';
import { fileStorage } from './file-storage.js';
import { checkTable, dataFileName, objectKey, partitionPath, SUCCESS_MARKER } from './paths.js';
import { type ObjectStorage, storageOption } from './storage.js';

/**
 * A partition key function for {@link parquetLakeSink}: the Hive partition pairs of a record, in
 * order, e.g. `(r) => ({ country: r.country })` → `country=FR/`. Keys are identifiers; values are
 * strings or numbers and are percent-encoded into safe directory names.
 */
export type LakePartitionFn<T> = (record: T, eventTime: number) => Record<string, string | number>;

/** Options of {@link parquetLakeSink}. */
export interface ParquetLakeSinkOptions<T> extends EncodeParquetOptions {
  /**
   * Where the lake lives: `fileStorage(dir)`, `s3Storage({ client, bucket, prefix })` from
   * `microbatch/s3`, or your own {@link ObjectStorage}. Give this or `dir`.
   */
  storage?: ObjectStorage;
  /** Shorthand for `storage: fileStorage(dir)`: the lake's root directory, created if missing. */
  dir?: string;
  /** The table: objects go under `<table>/` in the storage. Letters, digits, `_`, `.`, `-`; at most 128 characters. */
  table: string;
  /** A zod object schema, explicit columns or a `parquetSchema(…)` result (see {@link parquetSchema}). */
  schema: ParquetSchemaInput;
  /**
   * How records are laid out: an event-time unit (`dt=2026-11-25/hr=14/` for `'hour'`) or a
   * function returning partition pairs. A unit must equal the pipeline's
   * `.eventTime(…, { partitionBy })`; only with a unit does the sink write `_SUCCESS` markers.
   * @default the pipeline's event-time unit, else 'hour'
   */
  partitionBy?: BucketUnit | LakePartitionFn<T>;
}

/**
 * Writes each batch as Parquet files in a Hive-partitioned table, on the local file system (`dir`,
 * or `storage: fileStorage(dir)`) or any {@link ObjectStorage} such as S3:
 * `<table>/<partition>/part-<batch.id>.parquet`, one object per partition the batch has records in.
 * A record's partition comes from its event time (`batch.eventTimes[i]`, with `.eventTime(…)` on the
 * pipeline; else the batch's `openedAt`, processing time), or from a `partitionBy` function. Objects
 * appear atomically and are named from the batch id, and each is created only if absent: writing a
 * batch again (a retry, a replay after a crash) finds the object of the first write and leaves it
 * (one effect per batch; an existing object whose content differs is kept too, with a warning, since
 * the batch id names the same records). Every file of a batch is encoded before the first one is
 * written, so a value that does not fit the schema (`MB_ENCODE_FAILED`) leaves nothing behind.
 *
 * When the pipeline's watermark closes an event-time partition, `partitionComplete` writes
 * `<partition>/_SUCCESS`; a late record written into a closed partition deletes the marker first, and
 * the pipeline marks the partition complete again later. The storage's `open()` (the S3 peer) runs
 * in the sink's `open()`, before the pipeline reads its first record.
 *
 * With a zod (or other Standard Schema) `schema`, the sink is a `Sink<z.output<typeof schema>>`: a
 * pipeline that validated records with another schema does not compile.
 *
 * There is no `committed()` ledger: compaction replaces part files, so a ledger read from file names
 * could go backwards. Exactly-once comes from the checkpoint and the idempotent file names.
 */
export function parquetLakeSink<S extends SchemaLike>(
  options: ParquetLakeSinkOptions<SchemaOutput<S>> & { schema: S },
): Sink<SchemaOutput<S>>;
/** With explicit columns (or a `parquetSchema(…)` result): the record type is yours to give. */
export function parquetLakeSink<T = unknown>(options: ParquetLakeSinkOptions<T>): Sink<T>;
export function parquetLakeSink<T = unknown>(options: ParquetLakeSinkOptions<T>): Sink<T> {
  const what = 'parquetLakeSink';
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(
      `${what}(options): expected { storage or dir, table, schema }; got ${show(options)}`,
    );
  }
  const table = checkTable(options.table, what);
  const storage = storageOption(options, what, fileStorage);
  const where = `${what}(table '${table}')`;
  const columns = parquetSchema(options.schema).columns;
  const encoding = resolveEncodeOptions(options, where);
  const partitionBy = options.partitionBy;
  if (
    partitionBy !== undefined &&
    typeof partitionBy !== 'function' &&
    !BUCKET_UNITS.includes(partitionBy as BucketUnit)
  ) {
    throw invalidOptions(
      `${where}: partitionBy must be one of ${BUCKET_UNITS.join(', ')} or a function; got ${show(partitionBy)}`,
      { option: 'partitionBy' },
    );
  }
  let unit: BucketUnit | undefined = typeof partitionBy === 'string' ? partitionBy : undefined;
  let pipeline = '';
  let clock = { now: () => Date.now() };
  let logger: SinkContext['logger'] | undefined;
  // Partitions whose `_SUCCESS` this sink deleted (or is deleting) in this run: later writes there
  // skip the delete, one request per object on S3; concurrent writes share the one deletion.
  // partitionComplete takes a partition out again when it writes the marker.
  const unmarked = new Map<string, Promise<void>>();

  /**
   * The partition path of each record, grouped: path → indices into batch.records, or `undefined`
   * for "every record of the batch" (the usual case, found without a list of a million indices).
   */
  function group(batch: Batch<T>): Map<string, number[] | undefined> {
    const records = batch.records;
    const times = batch.eventTimes;
    if (typeof partitionBy !== 'function' && records.length > 0) {
      // Processing time, or event times that all fall in the first record's bucket: one partition.
      const first = bucketOf(times?.[0] ?? batch.openedAt, unit ?? 'hour');
      let i = 0;
      if (times !== undefined) {
        const { start, end } = first;
        const n = records.length;
        while (i < n) {
          const time = times[i] ?? batch.openedAt;
          if (time < start || time >= end) break;
          i++;
        }
      }
      if (times === undefined || i === records.length) return new Map([[first.path, undefined]]);
    }
    const groups = new Map<string, number[]>();
    const groupOf = (path: string) => {
      let list = groups.get(path);
      if (list === undefined) groups.set(path, (list = []));
      return list;
    };
    // Records of a batch mostly share a bucket: it is reused while the times fall inside it.
    let bucket: Bucket | undefined;
    let members: number[] = [];
    for (let i = 0; i < records.length; i++) {
      const time = times?.[i] ?? batch.openedAt;
      if (typeof partitionBy === 'function') {
        groupOf(partitionPath(partitionBy(records[i]!, time), where)).push(i);
        continue;
      }
      if (bucket === undefined || time < bucket.start || time >= bucket.end) {
        bucket = bucketOf(time, unit ?? 'hour');
        members = groupOf(bucket.path);
      }
      members.push(i);
    }
    return groups;
  }

  return {
    kind: 'parquet-lake',
    // apache-arrow and parquet-wasm, loaded when the pipeline starts, before any record is read.
    prepare: () => requireParquetPeers('parquetLakeSink'),
    open(context) {
      pipeline = context.pipeline;
      clock = context.clock;
      logger = context.logger;
      const pipelineUnit = context.eventTime?.partitionBy;
      // Checked before the storage opens, and thrown synchronously: a wrong option is not an I/O failure.
      if (typeof partitionBy === 'function') {
        // the function decides the layout; no markers
      } else if (partitionBy === undefined) unit = pipelineUnit ?? 'hour';
      else if (pipelineUnit !== undefined && pipelineUnit !== partitionBy) {
        throw invalidOptions(
          `${where}: partitionBy '${partitionBy}' differs from the pipeline's event-time partitionBy '${pipelineUnit}'; the _SUCCESS markers would not match the directories (omit the sink's partitionBy to follow the pipeline)`,
          { option: 'partitionBy' },
        );
      }
      return storage.open?.();
    },
    // A value the encoder cannot store (a timestamp out of range, a uint64 above int64, a misfit)
    // becomes a dead letter (`unencodable`, with the column) instead of failing the whole pipeline.
    screen: (batch) => screenRecords(batch.records, columns),
    async write(batch, { signal }) {
      const files: { path: string; bytes: Uint8Array }[] = [];
      for (const [path, indices] of group(batch)) {
        // The usual case, all records in one partition, encodes the batch's own array.
        const whole = indices === undefined || indices.length === batch.records.length;
        const records = whole ? batch.records : indices.map((i) => batch.records[i]);
        const rows = whole ? undefined : Int32Array.from(indices);
        try {
          files.push({ path, bytes: await encodeColumns(records, columns, encoding, rows) });
        } catch (error) {
          if (!MicrobatchError.is(error, 'MB_ENCODE_FAILED')) throw error;
          throw new MicrobatchError('MB_ENCODE_FAILED', `${where}: batch ${batch.id}: ${error.message}`, {
            cause: error,
            details: { ...error.details, batch: batch.id, partition: path },
          });
        }
      }
      // One file at a time: the files of a batch are usually one or two, and sequential writes keep
      // the order of the marker deletion and the write obvious.
      for (const { path, bytes } of files) {
        if (signal.aborted) throw signal.reason;
        // A late record reopens a completed partition: the marker goes before the data lands, so a
        // reader never sees `_SUCCESS` next to data it did not cover.
        let deleting = unmarked.get(path);
        if (deleting === undefined) {
          deleting = storage.delete([objectKey(table, path, SUCCESS_MARKER)], { signal });
          unmarked.set(path, deleting);
          // A failed deletion is tried again by the next write (this one fails with it).
          deleting.catch(() => unmarked.delete(path));
        }
        await deleting;
        const key = objectKey(table, path, dataFileName(batch.id));
        const result = await storage.putIfAbsent(key, bytes, { signal });
        if (result.outcome === 'exists' && !result.identical) {
          // The key names the batch's records (its id is the offset range), so the object already
          // there holds them: keep it (write-once) and say so; see docs/storage.md.
          logger?.warn(
            {
              url: storage.url(key),
              batch: batch.id,
              bytes: bytes.length,
              existingBytes: result.existing.size,
            },
            'parquetLakeSink: the object of this batch already exists with other content (an earlier write of the same records); kept as it is',
          );
        }
      }
    },
    async partitionComplete(event) {
      if (unit === undefined || typeof partitionBy === 'function') return;
      const path = event.bucket.path;
      // Nothing under the partition: no record of this run or an earlier one landed here; nothing to mark.
      const inside = await storage.list(`${table}/${path}/`, { limit: 1 });
      if (inside.objects.length === 0) return;
      const marker = {
        pipeline,
        // ms since the epoch; null when the end of a finite input closed the partition (Infinity).
        watermark: Number.isFinite(event.watermark) ? event.watermark : null,
        records: event.records,
        completedAt: new Date(clock.now()).toISOString(),
      };
      await storage.put(objectKey(table, path, SUCCESS_MARKER), Buffer.from(`${JSON.stringify(marker)}\n`));
      unmarked.delete(path);
    },
  };
}
