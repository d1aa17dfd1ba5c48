/**
 * The storage seam of the lake: the few operations the lake sink and compaction need from a place
 * that holds objects under string keys (a local directory, an S3 bucket). Written once, never
 * overwritten in place: data keys are derived from batch ids and created with `putIfAbsent`, so a
 * replayed batch finds its own earlier object instead of replacing it (a multipart ETag depends on
 * the part layout, and a warehouse that loaded the first copy would load a replacement again).
 *
 * Implementations: `fileStorage(dir)` (src/lake/file-storage.ts) and `s3Storage(…)` in
 * `microbatch/s3`. Writing your own is described in docs/storage.md.
 */
import { invalidOptions, isRetryable, MicrobatchError } from '../core/errors.js';
import { show } from '../core/units.js';

/** An object as a listing or a `head` reports it. */
export interface StoredObject {
  /** The key, relative to the storage's root (`sales/dt=2026-11-25/part-….parquet`). */
  readonly key: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * Last modification, in ms since the epoch. Resolution depends on the store: a file system gives
   * sub-millisecond times, S3 whole seconds.
   */
  readonly modified: number;
  /** The store's version tag (an S3 ETag, quotes included), when it has one. */
  readonly etag?: string;
}

/** What {@link ObjectStorage.putIfAbsent} did. */
export type PutIfAbsentResult =
  /** The object did not exist; it now holds the body. */
  | { readonly outcome: 'created' }
  /**
   * An object already existed under the key and was left as it was. `identical` says whether its
   * content is the body's (same size and SHA-256, by the rule of the implementation; see
   * docs/storage.md).
   */
  | { readonly outcome: 'exists'; readonly identical: boolean; readonly existing: StoredObject };

/** Options every operation accepts. */
export interface StorageCallOptions {
  /** Stops the operation; an aborted write leaves no object and no incomplete upload behind. */
  readonly signal?: AbortSignal;
}

/** A byte range of {@link ObjectStorage.get}: `length` bytes from `offset`. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** One page of {@link ObjectStorage.list}. */
export interface ListPage {
  /** Objects in ascending key order (UTF-8 byte order, as S3 lists). */
  readonly objects: readonly StoredObject[];
  /** Pass as `after` to get the next page; absent on the last page. */
  readonly next?: string;
}

/** An upload (or temporary file) that started and never completed. */
export interface IncompleteWrite {
  /** The key it would have created (for a temporary file, the key without its extension may be all that is known). */
  readonly key: string;
  /** When it started, in ms since the epoch (the store's clock). */
  readonly started: number;
}

/**
 * Where a lake (or a warehouse stage) keeps its objects. Keys are `/`-separated paths relative to
 * the storage's root: no leading `/`, no empty, `.` or `..` segment, no `\` or control character,
 * at most 1,024 bytes of UTF-8 (see {@link checkKey}). Every method may throw a `MicrobatchError`
 * (`MB_SINK_FAILED`) whose `retryable` says whether trying again can help (throttling, a reset
 * connection) or not (access denied, a missing bucket).
 */
export interface ObjectStorage {
  /** A short name for logs and metrics: `'file'`, `'s3'`. */
  readonly kind: string;
  /** Where `key` lives, for messages: `file:///lake/sales/…`, `s3://bucket/prefix/sales/…`. Never holds credentials. */
  url(key: string): string;
  /**
   * Prepares the storage before the first record is read (loads optional peers, checks the
   * bucket); called by the lake sink's `open()`. Optional; must be safe to call more than once.
   */
  open?(options?: StorageCallOptions): Promise<void>;
  /**
   * Creates `key` with `body` only if no object exists under it. The object appears whole or not
   * at all. When one exists, it is left untouched and compared with `body`.
   */
  putIfAbsent(key: string, body: Uint8Array, options?: StorageCallOptions): Promise<PutIfAbsentResult>;
  /**
   * {@link putIfAbsent} from the pieces `body()` yields, without holding them all at once (compaction's
   * outputs): the object appears whole or not at all, with the bytes of every piece in order. `body`
   * may be called again to start over (an S3 409 restart). When the iteration throws, the write is
   * abandoned (no object, no incomplete upload left) and that error is thrown as it is. A piece may be
   * a view of a buffer its producer drops once the next piece is asked for: keep a copy of what must
   * outlive that. `size`, when known, is the total of the pieces (a hint for choosing how to upload).
   * When an object exists, `identical` compares it with all of the pieces (the body is read to the end
   * for that). Optional: without it, compaction collects the pieces into one buffer for
   * {@link putIfAbsent}.
   */
  putIfAbsentStream?(
    key: string,
    body: () => AsyncIterable<Uint8Array>,
    options?: StorageCallOptions & { readonly size?: number },
  ): Promise<PutIfAbsentResult>;
  /**
   * Writes `key`, replacing any object there. For small control objects only (the `_SUCCESS`
   * marker); data objects are created with {@link putIfAbsent}.
   */
  put(key: string, body: Uint8Array, options?: StorageCallOptions): Promise<void>;
  /** The object's bytes, or only `range` of them (clipped to its end); `undefined` when it does not exist. */
  get(
    key: string,
    options?: StorageCallOptions & { readonly range?: ByteRange },
  ): Promise<Uint8Array | undefined>;
  /** The object's size and time, or `undefined` when it does not exist. */
  head(key: string, options?: StorageCallOptions): Promise<StoredObject | undefined>;
  /**
   * The objects whose key starts with `prefix` (a plain string prefix, as in S3; use a trailing
   * `/` for "inside this folder"), at any depth, in ascending key order, a page at a time: at most
   * `limit` (default 1,000) objects after the key `after`. Incomplete writes are never listed.
   */
  list(
    prefix: string,
    options?: StorageCallOptions & { readonly after?: string; readonly limit?: number },
  ): Promise<ListPage>;
  /**
   * Deletes the objects; keys that do not exist are fine. The deletions are durable when it
   * resolves. `onDeleted`, when given, is called after each key is gone (before the deletions are
   * made durable, in any order); an implementation may call it late but must call it once per key.
   */
  delete(
    keys: readonly string[],
    options?: StorageCallOptions & { readonly onDeleted?: (key: string) => void },
  ): Promise<void>;
  /**
   * Cancels writes under `prefix` that started and never completed (S3 multipart uploads, a
   * crashed process's temporary files), for which `filter` (default: all) returns true. Returns how
   * many it cancelled. Callers choose `filter` so that writes still in progress elsewhere are
   * spared (by age, or by a key only they write).
   */
  abortIncomplete(
    prefix: string,
    options?: StorageCallOptions & { readonly filter?: (write: IncompleteWrite) => boolean },
  ): Promise<number>;
}

/**
 * Creates `key` from streamed pieces: with the storage's {@link ObjectStorage.putIfAbsentStream}
 * when it has one, else by collecting the pieces into one buffer for `putIfAbsent` (a storage
 * written before the streamed write existed; memory is then the whole object).
 */
export async function putIfAbsentFrom(
  storage: ObjectStorage,
  key: string,
  body: () => AsyncIterable<Uint8Array>,
  options: StorageCallOptions & { readonly size?: number } = {},
): Promise<PutIfAbsentResult> {
  if (storage.putIfAbsentStream !== undefined) return storage.putIfAbsentStream(key, body, options);
  const pieces: Uint8Array[] = [];
  for await (const piece of body()) pieces.push(Uint8Array.from(piece));
  return storage.putIfAbsent(key, Buffer.concat(pieces), {
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** Every object under `prefix`, all pages. */
export async function* listAll(
  storage: ObjectStorage,
  prefix: string,
  options: StorageCallOptions = {},
): AsyncGenerator<StoredObject> {
  let after: string | undefined;
  for (;;) {
    const page = await storage.list(prefix, { ...options, ...(after === undefined ? {} : { after }) });
    yield* page.objects;
    if (page.next === undefined || page.objects.length === 0) return;
    after = page.next;
  }
}

const MAX_KEY_BYTES = 1024;
// Control characters (C0, DEL, C1) never belong in a key: they break listings, logs and file names.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Throws `MB_INVALID_OPTIONS` unless `key` is a valid storage key (see {@link ObjectStorage});
 * `what` names the caller. Returns the key.
 */
export function checkKey(key: unknown, what: string): string {
  const problem =
    typeof key !== 'string'
      ? 'must be a string'
      : key === ''
        ? 'must not be empty'
        : Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES
          ? `is longer than ${MAX_KEY_BYTES} bytes`
          : key.startsWith('/')
            ? "must not start with '/'"
            : CONTROL.test(key) || key.includes('\\')
              ? "must not hold control characters or '\\'"
              : key.split('/').some((s) => s === '' || s === '.' || s === '..')
                ? "must not have an empty, '.' or '..' segment"
                : undefined;
  if (problem !== undefined) {
    throw invalidOptions(`${what}: the key ${show(key)} ${problem}`, { key: String(key).slice(0, 200) });
  }
  return key as string;
}

/** Checks a listing prefix: empty, or a key prefix (it may end with `/`). */
export function checkPrefix(prefix: unknown, what: string): string {
  if (prefix === '') return '';
  if (typeof prefix !== 'string')
    throw invalidOptions(`${what}: the prefix must be a string; got ${show(prefix)}`);
  checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, what);
  return prefix;
}

/** True when `value` looks like an {@link ObjectStorage} (every method present). */
export function isObjectStorage(value: unknown): value is ObjectStorage {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return ['url', 'putIfAbsent', 'put', 'get', 'head', 'list', 'delete', 'abortIncomplete'].every(
    (name) => typeof s[name] === 'function',
  );
}

/**
 * The storage of a lake sink or a compaction: `storage`, or `fileStorage(dir)` for the `dir`
 * shorthand. Exactly one of them must be given.
 */
export function storageOption(
  options: { storage?: unknown; dir?: unknown },
  what: string,
  fileStorage: (dir: string) => ObjectStorage,
): ObjectStorage {
  const { storage, dir } = options;
  if (storage !== undefined && dir !== undefined) {
    throw invalidOptions(
      `${what}: give either storage or dir (the shorthand for storage: fileStorage(dir)), not both`,
      {
        option: 'storage',
      },
    );
  }
  if (storage !== undefined) {
    if (!isObjectStorage(storage)) {
      throw invalidOptions(
        `${what}: storage must be an ObjectStorage (fileStorage(dir), s3Storage({ … }) from 'microbatch/s3', or your own; see docs/storage.md); got ${show(storage)}`,
        { option: 'storage' },
      );
    }
    return storage;
  }
  if (dir === undefined) {
    throw invalidOptions(
      `${what}: storage (or dir, the shorthand for storage: fileStorage(dir)) is required`,
      {
        option: 'storage',
      },
    );
  }
  if (typeof dir !== 'string' || dir.length === 0) {
    throw invalidOptions(`${what}: dir must be a non-empty path; got ${show(dir)}`, { option: 'dir' });
  }
  return fileStorage(dir);
}

/** Wraps a failure of a storage operation: `MB_SINK_FAILED` naming the operation and the object. */
export function storageError(
  operation: string,
  where: string,
  cause: unknown,
  retryable?: boolean,
): MicrobatchError {
  if (MicrobatchError.is(cause)) return cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new MicrobatchError(
    'MB_SINK_FAILED',
    `cannot ${operation} ${where}: ${cause instanceof Error ? cause.message : String(cause)}`,
    {
      cause,
      retryable: retryable ?? isRetryable(cause),
      details: { url: where, operation, ...(typeof code === 'string' ? { errno: code } : {}) },
    },
  );
}
