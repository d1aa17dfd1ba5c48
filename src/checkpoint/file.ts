import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { safeName } from '../core/batch.js';
import { codeTable } from '../core/code-table.js';
import { replaceFile, syncDirectory } from '../core/durable-fs.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { acquireLock, describeHolder, releaseLock } from '../core/lock-file.js';
import type { Logger } from '../core/logger.js';
import { show } from '../core/units.js';
import { checkPartitionCheckpoint } from './state.js';
import type { CheckpointContext, CheckpointStore, PartitionCheckpoint } from './types.js';

/** Options of {@link fileCheckpoint}. */
export interface FileCheckpointOptions {
  /** Directory of the checkpoint files, one per pipeline; created if missing. */
  dir: string;
  /**
   * Take an exclusive lock file (`<file>.lock`, holding the pid) in `open()`, so that two processes
   * never write the same pipeline's checkpoint. A lock whose process is dead (same host) is taken
   * over. Turn it off only when something else guarantees a single writer.
   * @default true
   */
  lock?: boolean;
}

/** A checkpoint store backed by one JSON file per pipeline. */
export interface FileCheckpointStore extends CheckpointStore {
  readonly kind: 'file';
  readonly durable: true;
  /** The open pipeline's checkpoint file, or `undefined` when not open. */
  readonly file: string | undefined;
  /** `save()` calls so far (since the store was created). */
  readonly saves: number;
  /** Durable file writes so far: concurrent saves are coalesced, so usually far fewer than `saves`. */
  readonly writes: number;
  /** Creates the directory, takes the lock, reads and checks the file. */
  open(context: CheckpointContext): Promise<void>;
  load(partition: string): PartitionCheckpoint | undefined;
  /** Resolves once a file write that includes `state` is durable. */
  save(partition: string, state: PartitionCheckpoint): Promise<void>;
  /** Waits for pending saves, then removes the lock. */
  close(): Promise<void>;
}

/** The `format` field of a checkpoint file; `version` says how to read the rest. */
const FORMAT = 'microbatch-checkpoint';
const VERSION = 1;

/** What a checkpoint file holds (version 1). */
interface CheckpointFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  pipeline: string;
  partitions: Record<string, PartitionCheckpoint>;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The file name of a pipeline's checkpoint. Plain lower-case names are used as they are; any other
 * name gets a hash of the real name appended, so that names stay distinct where `safeName` had to
 * escape, where a long name is cut, and on case-insensitive file systems (`Prices` vs `prices`).
 */
export function checkpointFileName(pipeline: string): string {
  const safe = safeName(pipeline);
  if (safe === pipeline && !/[A-Z]/.test(pipeline) && safe.length <= 100) return `${safe}.checkpoint.json`;
  const hash = createHash('sha256').update(pipeline, 'utf8').digest('hex').slice(0, 12);
  return `${safe.slice(0, 100)}~${hash}.checkpoint.json`;
}

// I/O errors worth a sentence of their own; the rest show Node's message.
const IO_HINTS = codeTable({
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
});

/**
 * The error of every checkpoint failure: `MB_CHECKPOINT_FAILED`, with `details.reason` saying
 * which failure it is.
 */
function checkpointError(
  file: string,
  reason: 'corrupt' | 'version' | 'pipeline' | 'locked' | 'io',
  message: string,
  cause?: unknown,
): MicrobatchError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new MicrobatchError('MB_CHECKPOINT_FAILED', `fileCheckpoint: ${file}: ${message}`, {
    cause,
    // Full disks and quotas can clear up; permissions, corruption and locks need a person.
    retryable: reason === 'io' && (code === 'ENOSPC' || code === 'EDQUOT'),
    details: { checkpoint: 'file', file, reason, ...(typeof code === 'string' && { errno: code }) },
  });
}

function ioError(file: string, doing: string, cause: unknown): MicrobatchError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  const hint = typeof code === 'string' ? IO_HINTS[code] : undefined;
  return checkpointError(
    file,
    'io',
    hint === undefined
      ? `cannot ${doing}: ${describeError(cause)}`
      : `cannot ${doing}: ${hint} (${code as string})`,
    cause,
  );
}

const errno = (error: unknown): unknown => (error as { code?: unknown } | undefined)?.code;

/**
 * A durable checkpoint store: one JSON file per pipeline, `<dir>/<pipeline>.checkpoint.json`,
 * holding every partition's state, the pipeline's name and a format version (both checked on
 * load). Each write goes to a temporary file that is fsynced and renamed over the checkpoint,
 * then the directory is fsynced: a crash leaves the previous state or the new one, never a mix.
 *
 * At most one write is in flight; saves that arrive meanwhile are merged into the next write, and
 * each `save()` resolves once a write that includes it is durable. The pipeline saves twice per
 * batch, so this is what keeps a checkpoint from costing two fsyncs per batch.
 *
 * `open()` takes an exclusive lock file with the pid (see {@link FileCheckpointOptions.lock});
 * `close()` waits for pending saves and removes it. A file that does not parse, belongs to another
 * pipeline or has an unknown version fails `open()` with `MB_CHECKPOINT_FAILED`: starting from
 * scratch would write records again, or skip them.
 */
export function fileCheckpoint(options: FileCheckpointOptions): FileCheckpointStore {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`fileCheckpoint(options): expected { dir }; got ${show(options)}`);
  }
  if (typeof options.dir !== 'string' || options.dir.length === 0) {
    throw invalidOptions(`fileCheckpoint({ dir }): dir must be a non-empty path; got ${show(options.dir)}`, {
      option: 'dir',
    });
  }
  if (options.lock !== undefined && typeof options.lock !== 'boolean') {
    throw invalidOptions(`fileCheckpoint({ lock }): lock must be a boolean; got ${show(options.lock)}`, {
      option: 'lock',
    });
  }
  for (const key of Object.keys(options)) {
    if (key !== 'dir' && key !== 'lock') {
      throw invalidOptions(`fileCheckpoint: unknown option '${key}' (known: dir, lock)`, { option: key });
    }
  }
  return new FileStore(options.dir, options.lock ?? true);
}

class FileStore implements FileCheckpointStore {
  readonly kind = 'file';
  readonly durable = true;
  readonly #dir: string;
  readonly #lock: boolean;
  #pipeline: string | undefined;
  #file: string | undefined;
  #logger: Logger | undefined;
  /** The lock file's content while this store holds it. */
  #lockText: string | undefined;
  /** The latest state of every partition: what the next write puts on disk. */
  #states = new Map<string, PartitionCheckpoint>();
  /** Saves not yet taken by a write. */
  #waiting: Waiter[] = [];
  /** The write loop, while it runs. */
  #flushing: Promise<void> | undefined;
  #sequence = 0;
  #saves = 0;
  #writes = 0;

  constructor(dir: string, lock: boolean) {
    this.#dir = dir;
    this.#lock = lock;
  }

  get file(): string | undefined {
    return this.#file;
  }

  get saves(): number {
    return this.#saves;
  }

  get writes(): number {
    return this.#writes;
  }

  async open(context: CheckpointContext): Promise<void> {
    if (this.#pipeline !== undefined) {
      throw invalidOptions(
        `fileCheckpoint: already open for pipeline '${this.#pipeline}'; a store serves one pipeline at a time (create one per pipeline)`,
      );
    }
    const file = join(this.#dir, checkpointFileName(context.pipeline));
    try {
      await mkdir(this.#dir, { recursive: true });
    } catch (error) {
      throw ioError(file, 'create the directory', error);
    }
    if (this.#lock) await this.#acquireLock(file, context);
    try {
      await this.#removeTemporaryFiles(file);
      this.#states = await this.#read(file, context.pipeline);
    } catch (error) {
      await this.#releaseLock(file);
      throw error;
    }
    this.#pipeline = context.pipeline;
    this.#file = file;
    this.#logger = context.logger;
  }

  load(partition: string): PartitionCheckpoint | undefined {
    this.#checkOpen('load');
    const state = this.#states.get(partition);
    return state === undefined ? undefined : checkPartitionCheckpoint(state);
  }

  save(partition: string, state: PartitionCheckpoint): Promise<void> {
    this.#checkOpen('save');
    let copy: PartitionCheckpoint;
    try {
      copy = checkPartitionCheckpoint(state);
    } catch (error) {
      throw invalidOptions(`fileCheckpoint: save('${partition}'): ${describeError(error)}`, { partition });
    }
    this.#states.set(String(partition), copy);
    this.#saves++;
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  async close(): Promise<void> {
    if (this.#file === undefined) return;
    const file = this.#file;
    // Pending saves are written first: a caller may still be awaiting them.
    while (this.#flushing !== undefined) await this.#flushing;
    this.#pipeline = undefined;
    this.#file = undefined;
    this.#states = new Map();
    await this.#releaseLock(file);
  }

  #checkOpen(method: string): void {
    if (this.#file === undefined) {
      throw new MicrobatchError('MB_CLOSED', `fileCheckpoint: ${method}() before open() or after close()`);
    }
  }

  /** Writes until no save is waiting; each write resolves the saves it includes. */
  async #flush(): Promise<void> {
    // Let the saves made in the same turn (one per lane after a round of commits) join this write.
    await Promise.resolve();
    try {
      while (this.#waiting.length > 0) {
        const included = this.#waiting;
        this.#waiting = [];
        try {
          await this.#write(this.#file!, this.#serialize());
          this.#writes++;
        } catch (error) {
          // The states stay in memory; the next save writes them again (to a new temporary file).
          for (const waiter of included) waiter.reject(error);
          continue;
        }
        for (const waiter of included) waiter.resolve();
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  #serialize(): string {
    const partitions = [...this.#states.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const content: CheckpointFile = {
      format: FORMAT,
      version: VERSION,
      pipeline: this.#pipeline!,
      // fromEntries defines own properties, so a partition named `__proto__` is stored like any other.
      partitions: Object.fromEntries(partitions),
    };
    return `${JSON.stringify(content, null, 2)}\n`;
  }

  /** Temp file, fsync, rename over the target, fsync the directory. */
  async #write(file: string, text: string): Promise<void> {
    const temp = join(
      this.#dir,
      `.${checkpointFileName(this.#pipeline!)}.${process.pid}.${this.#sequence++}.tmp`,
    );
    try {
      await replaceFile(temp, file, text);
    } catch (error) {
      throw ioError(file, 'write the checkpoint', error);
    }
    try {
      await syncDirectory(this.#dir);
    } catch (error) {
      throw ioError(file, 'fsync the directory', error);
    }
  }

  /** Reads and checks the checkpoint file; an empty map when there is none yet. */
  async #read(file: string, pipeline: string): Promise<Map<string, PartitionCheckpoint>> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (errno(error) === 'ENOENT') return new Map();
      throw ioError(file, 'read the checkpoint', error);
    }
    const corrupt = (why: string, cause?: unknown) =>
      checkpointError(
        file,
        'corrupt',
        `the checkpoint file is corrupt (${why}); refusing to start from scratch, which would write records again or skip them. Restore the file, or delete it to start over knowingly`,
        cause,
      );
    let content: Partial<CheckpointFile>;
    try {
      content = JSON.parse(text) as Partial<CheckpointFile>;
    } catch (error) {
      throw corrupt(`not JSON: ${describeError(error)}`, error);
    }
    if (typeof content !== 'object' || content === null || content.format !== FORMAT) {
      throw corrupt(`no "format": "${FORMAT}" field`);
    }
    if (content.version !== VERSION) {
      throw checkpointError(
        file,
        'version',
        `unknown checkpoint format version ${show(content.version)} (this microbatch reads version ${VERSION}); was it written by a newer microbatch?`,
      );
    }
    if (content.pipeline !== pipeline) {
      throw checkpointError(
        file,
        'pipeline',
        `the file belongs to pipeline ${show(content.pipeline)}, not '${pipeline}'; was it copied or renamed?`,
      );
    }
    const partitions = content.partitions;
    if (typeof partitions !== 'object' || partitions === null || Array.isArray(partitions)) {
      throw corrupt(`"partitions" is ${show(partitions)}, not an object`);
    }
    const states = new Map<string, PartitionCheckpoint>();
    for (const [partition, state] of Object.entries(partitions)) {
      try {
        states.set(partition, checkPartitionCheckpoint(state));
      } catch (error) {
        throw corrupt(`partition '${partition}': ${describeError(error)}`, error);
      }
    }
    return states;
  }

  /** Temporary files of this checkpoint left by a crashed writer (we hold the lock: none is live). */
  async #removeTemporaryFiles(file: string): Promise<void> {
    if (!this.#lock) return; // without the lock, another writer's temporary file may be live
    const base = file.slice(this.#dir.length + 1);
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (error) {
      throw ioError(file, 'list the directory', error);
    }
    for (const name of names) {
      // `.<base>.<pid>.<n>.tmp` (checkpoint writes), `<base>.lock.<pid>.<uuid>.tmp|.stale` (locking).
      const checkpointTemp = name.startsWith(`.${base}.`) && name.endsWith('.tmp');
      const lockTemp = name.startsWith(`${base}.lock.`) && (name.endsWith('.tmp') || name.endsWith('.stale'));
      if (checkpointTemp || lockTemp) await rm(join(this.#dir, name), { force: true });
    }
  }

  async #acquireLock(file: string, context: CheckpointContext): Promise<void> {
    const lockFile = `${file}.lock`;
    const outcome = await acquireLock(lockFile, {
      owner: { pipeline: context.pipeline },
      now: context.clock.now(),
      fail: (doing, error) => ioError(file, doing, error),
      onStale: (holder) =>
        context.logger.warn(
          { checkpoint: file, pid: holder.pid, since: holder.since },
          'taking over a stale checkpoint lock: its process is dead',
        ),
    });
    if ('held' in outcome) {
      const by =
        outcome.held !== undefined && outcome.held.pid === process.pid && outcome.held.hostname === hostname()
          ? `this process (another fileCheckpoint for the same pipeline is open, or one was not closed)`
          : describeHolder(outcome.held, outcome.text);
      throw checkpointError(
        file,
        'locked',
        `the checkpoint is locked by ${by}. Two writers would corrupt each other's offsets; if you are sure no other process runs this pipeline, delete ${lockFile}`,
      );
    }
    this.#lockText = outcome.text;
  }

  async #releaseLock(file: string): Promise<void> {
    if (this.#lockText === undefined) return;
    const lockFile = `${file}.lock`;
    const ours = this.#lockText;
    this.#lockText = undefined;
    try {
      await releaseLock(lockFile, ours);
    } catch (error) {
      this.#logger?.warn({ checkpoint: file, error: describeError(error) }, 'could not remove the lock file');
    }
  }
}
