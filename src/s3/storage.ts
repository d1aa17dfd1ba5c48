import { createHash } from 'node:crypto';
import { invalidOptions, MicrobatchError } from '../core/errors.js';
import { loadPeer } from '../core/peers.js';
import { parseCount, parseSize, type Size, show } from '../core/units.js';
import {
  type ByteRange,
  checkKey,
  checkPrefix,
  type IncompleteWrite,
  type ObjectStorage,
  type PutIfAbsentResult,
  type StorageCallOptions,
  type StoredObject,
} from '../lake/storage.js';
import { isConditionalConflict, isNotFound, isPreconditionFailed, s3Error, statusOf } from './errors.js';

type S3Module = typeof import('@aws-sdk/client-s3');

/**
 * The part of an `S3Client` (`@aws-sdk/client-s3` v3) that `s3Storage` calls: `send(command)`.
 * Declared here so that microbatch's types never import the SDK's; pass your `S3Client`.
 */
export interface S3ClientLike {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/** Options of {@link s3Storage}. */
export interface S3StorageOptions {
  /**
   * An `S3Client` of `@aws-sdk/client-s3` (an optional peer of microbatch, 3.635.0 or later for
   * `If-None-Match`). For S3-compatible servers (MinIO, Ceph, S3Proxy…) create it with
   * `forcePathStyle: true`, and with `requestChecksumCalculation: 'WHEN_REQUIRED'` and
   * `responseChecksumValidation: 'WHEN_REQUIRED'` if the server rejects the SDK's default CRC32
   * checksums (docs/s3.md).
   */
  client: S3ClientLike;
  /** The bucket. It must exist; `open()` checks it. */
  bucket: string;
  /**
   * Where under the bucket the storage's keys live: `lake/` puts the table `sales` at
   * `s3://bucket/lake/sales/`. A `/` is added when missing.
   * @default '' (the bucket's root)
   */
  prefix?: string;
  /**
   * Objects larger than this go up as multipart uploads, in parts of `partSize`.
   * @default '64MiB'
   */
  multipartThreshold?: Size;
  /** The size of a multipart upload's parts: 5MiB (S3's minimum) to 5GiB. @default '8MiB' */
  partSize?: Size;
  /** Parts of one object uploaded at once. Memory: the object (already encoded) plus nothing per part. @default 4 */
  partConcurrency?: number;
  /** Deletions (compaction's inputs) sent at once. @default 8 */
  deleteConcurrency?: number;
}

// The SHA-256 of an object's content, stored as user metadata (`x-amz-meta-microbatch-sha256`) so
// that a replay can tell "the same bytes" from "another object under my key" with one HEAD.
const SHA_META = 'microbatch-sha256';
const MIN_PART = 5 * 1024 * 1024;
const MAX_PART = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;
// A 409 ConditionalRequestConflict means another write on the key raced ours: start again, a few times.
const CONFLICT_RESTARTS = 3;
// Above this an existing object without our checksum metadata is not downloaded to compare.
const COMPARE_BYTES_LIMIT = 64 * 1024 * 1024;

/**
 * An {@link ObjectStorage} on Amazon S3 or an S3-compatible server, for `parquetLakeSink`,
 * `compactLake` and the warehouse stages built on it.
 *
 * - `putIfAbsent` sends `If-None-Match: *` (PutObject, or CompleteMultipartUpload above
 *   `multipartThreshold`); a 412 means the key exists: the existing object is identical when its
 *   `microbatch-sha256` metadata (or, without it, its bytes) match. A failed or aborted multipart
 *   upload is aborted; a 409 ConditionalRequestConflict starts it again.
 * - Throttling (`SlowDown`, 503, `RequestTimeout`), 5xx and connection failures are `retryable`
 *   `MB_SINK_FAILED` errors, which the pipeline retries with back-off and reads as back-pressure;
 *   access denied and a missing bucket are fatal, with a message saying what to check.
 * - `@aws-sdk/client-s3` is loaded by `open()` (the lake sink calls it before the pipeline reads a
 *   record): missing, it is `MB_MISSING_PEER`.
 *
 * See docs/s3.md for the IAM policy, the key layout and the guarantees.
 */
export function s3Storage(options: S3StorageOptions): ObjectStorage {
  const what = 's3Storage';
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`${what}(options): expected { client, bucket, prefix? }; got ${show(options)}`);
  }
  const { client, bucket } = options;
  if (typeof client !== 'object' || client === null || typeof (client as S3ClientLike).send !== 'function') {
    throw invalidOptions(
      `${what}: client must be an S3Client of @aws-sdk/client-s3 (anything with send(command)); got ${show(client)}`,
      {
        option: 'client',
      },
    );
  }
  // Bucket names: 3–63 of lowercase letters, digits, '.', '-' (S3's rules, loosely; the server has the last word).
  if (typeof bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw invalidOptions(
      `${what}: bucket must be an S3 bucket name (3 to 63 of a-z 0-9 . -); got ${show(bucket)}`,
      {
        option: 'bucket',
      },
    );
  }
  let prefix = options.prefix ?? '';
  if (prefix !== '') {
    if (!prefix.endsWith('/')) prefix += '/';
    checkPrefix(prefix, `${what}: prefix`);
  }
  const threshold = parseSize(options.multipartThreshold ?? '64MiB', `${what}: multipartThreshold`);
  const partSize = parseSize(options.partSize ?? '8MiB', `${what}: partSize`);
  if (partSize < MIN_PART || partSize > MAX_PART) {
    throw invalidOptions(
      `${what}: partSize must be between 5MiB and 5GiB (S3's limits); got ${show(options.partSize)}`,
      {
        option: 'partSize',
      },
    );
  }
  const partConcurrency = parseCount(options.partConcurrency ?? 4, `${what}: partConcurrency`);
  const deleteConcurrency = parseCount(options.deleteConcurrency ?? 8, `${what}: deleteConcurrency`);

  let sdk: S3Module | undefined;
  const load = async (): Promise<S3Module> => {
    sdk ??= await loadPeer<S3Module>('@aws-sdk/client-s3', what, () => import('@aws-sdk/client-s3'));
    return sdk;
  };
  const full = (key: string) => `${prefix}${key}`;
  const url = (key: string) => `s3://${bucket}/${full(key)}`;
  /** Sends one command built from the SDK module; failures become classified MicrobatchErrors. */
  async function send<T>(
    operation: string,
    key: string,
    build: (s3: S3Module) => unknown,
    signal?: AbortSignal,
  ): Promise<T> {
    const s3 = await load();
    if (signal?.aborted) throw signal.reason;
    try {
      return (await client.send(build(s3), signal === undefined ? undefined : { abortSignal: signal })) as T;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw Object.assign(s3Error(operation, url(key), bucket, error), { [RAW]: error });
    }
  }

  async function headRaw(
    key: string,
    signal?: AbortSignal,
  ): Promise<(StoredObject & { sha?: string }) | undefined> {
    try {
      const out = await send<{
        ContentLength?: number;
        LastModified?: Date;
        ETag?: string;
        Metadata?: Record<string, string>;
      }>('head', key, (s3) => new s3.HeadObjectCommand({ Bucket: bucket, Key: full(key) }), signal);
      return {
        key,
        size: out.ContentLength ?? 0,
        modified: out.LastModified?.getTime() ?? 0,
        ...(out.ETag === undefined ? {} : { etag: out.ETag }),
        ...(out.Metadata?.[SHA_META] === undefined ? {} : { sha: out.Metadata[SHA_META] }),
      };
    } catch (error) {
      if (isNotFound(rawOf(error))) return undefined;
      throw error;
    }
  }

  async function get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (range !== undefined && range.length === 0)
      return (await headRaw(key, signal)) === undefined ? undefined : new Uint8Array(0);
    try {
      const out = await send<{
        Body?: { transformToByteArray(): Promise<Uint8Array> };
        ContentLength?: number;
      }>(
        'read',
        key,
        (s3) =>
          new s3.GetObjectCommand({
            Bucket: bucket,
            Key: full(key),
            ...(range === undefined
              ? {}
              : { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` }),
          }),
        signal,
      );
      return out.Body === undefined ? new Uint8Array(0) : await bodyBytes(out.Body, out.ContentLength);
    } catch (error) {
      const raw = rawOf(error);
      if (isNotFound(raw)) return undefined;
      // A range starting at or after the end: nothing of it exists (the file storage returns empty too).
      if (statusOf(raw) === 416)
        return (await headRaw(key, signal)) === undefined ? undefined : new Uint8Array(0);
      throw error;
    }
  }

  /**
   * What a 412 found: the existing object, compared with ours (`body`, or for a streamed write only
   * its size and SHA-256).
   */
  async function existing(
    key: string,
    body: Uint8Array | { length: number },
    sha: string,
    signal?: AbortSignal,
  ): Promise<PutIfAbsentResult> {
    const found = await headRaw(key, signal);
    if (found === undefined) {
      // Deleted between the 412 and the HEAD: retryable, the next attempt creates it.
      throw new MicrobatchError(
        'MB_SINK_FAILED',
        `s3Storage: ${url(key)} existed and then did not; retrying`,
        {
          retryable: true,
          details: { url: url(key) },
        },
      );
    }
    const { sha: theirs, ...object } = found;
    let identical = false;
    if (object.size === body.length) {
      if (theirs !== undefined) identical = theirs === sha;
      else if (!(body instanceof Uint8Array))
        identical = (await hashObject(key, object.size, signal)) === sha;
      else if (body.length <= COMPARE_BYTES_LIMIT) {
        const bytes = await get(key, undefined, signal);
        identical = bytes !== undefined && Buffer.from(bytes).equals(body);
      }
    }
    return { outcome: 'exists', identical, existing: object };
  }

  /** The SHA-256 of an object (without our metadata), read a part's worth at a time. */
  async function hashObject(key: string, size: number, signal?: AbortSignal): Promise<string> {
    const hash = createHash('sha256');
    for (let offset = 0; offset < size; offset += partSize) {
      const bytes = await get(key, { offset, length: Math.min(partSize, size - offset) }, signal);
      if (bytes === undefined) break;
      hash.update(bytes);
    }
    return hash.digest('hex');
  }

  /**
   * A streamed create: pieces are copied into part buffers; a body of at most one part goes up with
   * one conditional PutObject (with the SHA-256 metadata), a longer one as a multipart upload started
   * when the first part fills, up to `partConcurrency` parts in flight, completed with
   * `If-None-Match: *` (its SHA-256 is known only at the end, so it carries no metadata). Any failure,
   * the body's included, settles the parts in flight and aborts the upload.
   */
  async function putStream(
    key: string,
    body: AsyncIterable<Uint8Array>,
    size: number | undefined,
    state: { sha: string; size: number },
    signal?: AbortSignal,
  ): Promise<void> {
    const each = Math.max(partSize, Math.ceil((size ?? 0) / MAX_PARTS));
    const hash = createHash('sha256');
    let uploadId: string | undefined;
    const etags: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    const sendPart = async (part: Uint8Array) => {
      uploadId ??= await startUpload(key, undefined, signal);
      while (inFlight.size >= partConcurrency) await Promise.race(inFlight);
      if (failure !== undefined) throw failure.error;
      const n = etags.length;
      if (n >= MAX_PARTS) throw new RangeError(`s3Storage: ${url(key)} needs more than ${MAX_PARTS} parts`);
      etags.push('');
      const id = uploadId;
      const sent = uploadPart(key, id, n + 1, part, signal).then(
        (etag) => {
          etags[n] = etag;
        },
        (error: unknown) => {
          failure ??= { error };
        },
      );
      const tracked = sent.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };
    try {
      let part = Buffer.allocUnsafe(each);
      let filled = 0;
      state.size = 0;
      for await (const piece of body) {
        hash.update(piece);
        state.size += piece.length;
        for (let at = 0; at < piece.length; ) {
          const n = Math.min(piece.length - at, each - filled);
          part.set(piece.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === each) {
            await sendPart(part);
            part = Buffer.allocUnsafe(each);
            filled = 0;
          }
        }
      }
      state.sha = hash.digest('hex');
      if (uploadId === undefined) {
        await putSingle(key, part.subarray(0, filled), state.sha, true, signal);
        return;
      }
      if (filled > 0) await sendPart(part.subarray(0, filled));
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure.error;
      await completeUpload(key, uploadId, etags, signal);
    } catch (error) {
      await Promise.allSettled(inFlight);
      if (uploadId !== undefined) await abortUpload(key, uploadId);
      throw error;
    }
  }

  async function startUpload(key: string, sha: string | undefined, signal?: AbortSignal): Promise<string> {
    const created = await send<{ UploadId?: string }>(
      'start the upload of',
      key,
      (s3) =>
        new s3.CreateMultipartUploadCommand({
          Bucket: bucket,
          Key: full(key),
          ...(sha === undefined ? {} : { Metadata: { [SHA_META]: sha } }),
        }),
      signal,
    );
    if (created.UploadId === undefined)
      throw new MicrobatchError('MB_SINK_FAILED', `s3Storage: no UploadId for ${url(key)}`, {
        retryable: true,
      });
    return created.UploadId;
  }

  async function uploadPart(
    key: string,
    uploadId: string,
    number: number,
    part: Uint8Array,
    signal?: AbortSignal,
  ): Promise<string> {
    const out = await send<{ ETag?: string }>(
      'upload a part of',
      key,
      (s3) =>
        new s3.UploadPartCommand({
          Bucket: bucket,
          Key: full(key),
          UploadId: uploadId,
          PartNumber: number,
          Body: part,
          ContentLength: part.length,
        }),
      signal,
    );
    return out.ETag ?? '';
  }

  async function completeUpload(
    key: string,
    uploadId: string,
    etags: readonly string[],
    signal?: AbortSignal,
  ) {
    await send(
      'complete the upload of',
      key,
      (s3) =>
        new s3.CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: full(key),
          UploadId: uploadId,
          IfNoneMatch: '*',
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      signal,
    );
  }

  /**
   * No orphaned upload after a failed or aborted write: its parts are billed until aborted. Not under
   * the write's signal (it may be the reason we are here); a failure here leaves the upload for
   * compaction's clean-up (abortIncomplete) and the bucket's lifecycle rule.
   */
  async function abortUpload(key: string, uploadId: string): Promise<void> {
    await send(
      'abort the upload of',
      key,
      (s3) => new s3.AbortMultipartUploadCommand({ Bucket: bucket, Key: full(key), UploadId: uploadId }),
    ).catch(() => {});
  }

  async function putSingle(
    key: string,
    body: Uint8Array,
    sha: string,
    ifAbsent: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    await send(
      ifAbsent ? 'create' : 'write',
      key,
      (s3) =>
        new s3.PutObjectCommand({
          Bucket: bucket,
          Key: full(key),
          Body: body,
          ContentLength: body.length,
          Metadata: { [SHA_META]: sha },
          ...(ifAbsent ? { IfNoneMatch: '*' } : {}),
        }),
      signal,
    );
  }

  /** One multipart upload with `If-None-Match: *` on Complete; aborted on any failure. */
  async function putMultipart(
    key: string,
    body: Uint8Array,
    sha: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const size = Math.max(partSize, Math.ceil(body.length / MAX_PARTS));
    const uploadId = await startUpload(key, sha, signal);
    try {
      const count = Math.ceil(body.length / size);
      const etags: string[] = new Array(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const n = next++;
          const part = body.subarray(n * size, Math.min(body.length, (n + 1) * size));
          etags[n] = await uploadPart(key, uploadId, n + 1, part, signal);
        }
      };
      await Promise.all(Array.from({ length: Math.min(partConcurrency, count) }, worker));
      await completeUpload(key, uploadId, etags, signal);
    } catch (error) {
      await abortUpload(key, uploadId);
      throw error;
    }
  }

  return {
    kind: 's3',
    // For messages: any key or prefix.
    url,
    async open(call = {}) {
      const s3 = await load();
      // Fail before the first record with a clear message: a missing bucket or no permission.
      try {
        await client.send(
          new s3.HeadBucketCommand({ Bucket: bucket }),
          call.signal === undefined ? undefined : { abortSignal: call.signal },
        );
      } catch (error) {
        const status = statusOf(error);
        // HeadBucket has no body: its 404 and 403 come back without an S3 code.
        const named =
          status === 404
            ? Object.assign(error as object, { Code: 'NoSuchBucket' })
            : status === 403
              ? Object.assign(error as object, { Code: 'AccessDenied' })
              : error;
        throw s3Error('open the bucket of', `s3://${bucket}/${prefix}`, bucket, named);
      }
    },
    async putIfAbsent(key, body, call: StorageCallOptions = {}) {
      checkKey(key, what);
      const sha = createHash('sha256').update(body).digest('hex');
      for (let attempt = 0; ; attempt++) {
        try {
          if (body.length > threshold) await putMultipart(key, body, sha, call.signal);
          else await putSingle(key, body, sha, true, call.signal);
          return { outcome: 'created' };
        } catch (error) {
          const raw = rawOf(error);
          if (raw !== undefined && isPreconditionFailed(raw)) return existing(key, body, sha, call.signal);
          if (raw !== undefined && isConditionalConflict(raw) && attempt < CONFLICT_RESTARTS) continue;
          throw error;
        }
      }
    },
    async putIfAbsentStream(key, body, call = {}) {
      checkKey(key, what);
      const state = { sha: '', size: 0 };
      for (let attempt = 0; ; attempt++) {
        try {
          await putStream(key, body(), call.size, state, call.signal);
          return { outcome: 'created' };
        } catch (error) {
          const raw = rawOf(error);
          if (raw !== undefined && isPreconditionFailed(raw))
            return existing(key, { length: state.size }, state.sha, call.signal);
          if (raw !== undefined && isConditionalConflict(raw) && attempt < CONFLICT_RESTARTS) continue;
          throw error;
        }
      }
    },
    async put(key, body, call = {}) {
      checkKey(key, what);
      const sha = createHash('sha256').update(body).digest('hex');
      if (body.length > threshold) {
        throw invalidOptions(
          `${what}: put() is for small control objects; ${url(key)} has ${body.length} bytes`,
        );
      }
      await putSingle(key, body, sha, false, call.signal);
    },
    get: (key, call = {}) => get(checkKey(key, what), call.range, call.signal),
    async head(key, call = {}) {
      const found = await headRaw(checkKey(key, what), call.signal);
      if (found === undefined) return undefined;
      const { sha: _sha, ...object } = found;
      return object;
    },
    async list(listPrefix, call = {}) {
      checkPrefix(listPrefix, what);
      const limit = Math.min(call.limit ?? 1000, 1000);
      const out = await send<{
        Contents?: { Key?: string; Size?: number; LastModified?: Date; ETag?: string }[];
        IsTruncated?: boolean;
      }>(
        'list',
        listPrefix,
        (s3) =>
          new s3.ListObjectsV2Command({
            Bucket: bucket,
            Prefix: full(listPrefix),
            MaxKeys: limit,
            ...(call.after === undefined ? {} : { StartAfter: full(call.after) }),
          }),
        call.signal,
      );
      const objects: StoredObject[] = (out.Contents ?? [])
        .filter((o) => typeof o.Key === 'string' && o.Key.startsWith(prefix))
        .map((o) => ({
          key: o.Key!.slice(prefix.length),
          size: o.Size ?? 0,
          modified: o.LastModified?.getTime() ?? 0,
          ...(o.ETag === undefined ? {} : { etag: o.ETag }),
        }));
      const last = objects[objects.length - 1];
      return out.IsTruncated === true && last !== undefined ? { objects, next: last.key } : { objects };
    },
    async delete(keys, call = {}) {
      // One DeleteObject per key rather than DeleteObjects: the batch call needs Content-MD5 on
      // several S3-compatible servers, which SDK versions since 3.729 no longer send (SNOWFLAKE-S3.md §8.3).
      // The first failure (of a DeleteObject or of `onDeleted`) stops the other workers from taking
      // more keys, and `delete` rejects only once every request in flight has settled: when it
      // returns or throws, nothing of it still touches the bucket (compaction relies on that).
      let next = 0;
      let failure: { error: unknown } | undefined;
      const worker = async () => {
        while (failure === undefined && next < keys.length) {
          try {
            const key = checkKey(keys[next++], what);
            try {
              await send(
                'delete',
                key,
                (s3) => new s3.DeleteObjectCommand({ Bucket: bucket, Key: full(key) }),
                call.signal,
              );
            } catch (error) {
              if (!isNotFound(rawOf(error))) throw error;
            }
            call.onDeleted?.(key);
          } catch (error) {
            failure ??= { error };
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(deleteConcurrency, keys.length) }, worker));
      if (failure !== undefined) throw failure.error;
    },
    async abortIncomplete(listPrefix, call = {}) {
      checkPrefix(listPrefix, what);
      let aborted = 0;
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      for (;;) {
        const out = await send<{
          Uploads?: { Key?: string; UploadId?: string; Initiated?: Date }[];
          IsTruncated?: boolean;
          NextKeyMarker?: string;
          NextUploadIdMarker?: string;
        }>(
          'list the uploads under',
          listPrefix,
          (s3) =>
            new s3.ListMultipartUploadsCommand({
              Bucket: bucket,
              Prefix: full(listPrefix),
              ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
              ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker }),
            }),
          call.signal,
        );
        for (const upload of out.Uploads ?? []) {
          if (upload.Key === undefined || upload.UploadId === undefined || !upload.Key.startsWith(prefix))
            continue;
          const write: IncompleteWrite = {
            key: upload.Key.slice(prefix.length),
            started: upload.Initiated?.getTime() ?? 0,
          };
          if (call.filter !== undefined && !call.filter(write)) continue;
          try {
            await send(
              'abort the upload of',
              write.key,
              (s3) =>
                new s3.AbortMultipartUploadCommand({
                  Bucket: bucket,
                  Key: upload.Key,
                  UploadId: upload.UploadId,
                }),
              call.signal,
            );
            aborted++;
          } catch (error) {
            // Completed or aborted meanwhile.
            if (!isNotFound(rawOf(error)) && (rawOf(error) as { name?: unknown })?.name !== 'NoSuchUpload')
              throw error;
          }
        }
        if (
          out.IsTruncated !== true ||
          (out.NextKeyMarker === undefined && out.NextUploadIdMarker === undefined)
        )
          return aborted;
        keyMarker = out.NextKeyMarker;
        uploadIdMarker = out.NextUploadIdMarker;
      }
    },
  };
}

/**
 * A response body's bytes. On Node the body is a stream of chunks: they are copied into one buffer of
 * the announced length as they arrive, instead of being gathered and then joined (what
 * `transformToByteArray` does), which would hold every ranged read of compaction twice for a moment.
 */
async function bodyBytes(
  body: { transformToByteArray(): Promise<Uint8Array> },
  length: number | undefined,
): Promise<Uint8Array> {
  const chunks = body as unknown as Partial<AsyncIterable<Uint8Array>>;
  if (length === undefined || typeof chunks[Symbol.asyncIterator] !== 'function')
    return body.transformToByteArray();
  const bytes = Buffer.allocUnsafe(length);
  let filled = 0;
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    if (filled + chunk.length > length) {
      throw new MicrobatchError(
        'MB_SINK_FAILED',
        `s3Storage: a response body is longer than its Content-Length`,
        {
          retryable: true,
        },
      );
    }
    bytes.set(chunk, filled);
    filled += chunk.length;
  }
  return filled === length ? bytes : bytes.subarray(0, filled);
}

// The SDK error behind a classified MicrobatchError, for the decisions that need its status.
const RAW = Symbol('s3 error');
function rawOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { [RAW]?: unknown })[RAW] : undefined;
}
