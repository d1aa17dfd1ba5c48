import {
  closeSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { syncDirectory } from '../core/durable-fs.js';
import { MicrobatchError } from '../core/errors.js';

/**
 * The spool's segment log: records appended to numbered segment files, each record framed as
 * `[u32 length][u32 crc32 of the payload][payload]` (little-endian). A segment is named after the
 * offset of its first record (`00000000000000001234.seg`), so offsets are dense from 0 across
 * restarts: the newest segment is never deleted, even when everything in it was committed.
 *
 * After a crash only the newest segment can end in a torn frame (a segment is complete before the
 * next one is created); `open` truncates it at the last whole frame and counts the bytes cut.
 * Every frame is checked against its checksum when read, so a damaged byte is an error, never data.
 *
 * I/O is synchronous except the fsync of `durability: 'machine'`: appends are small writes to the
 * page cache (one system call per `append`), and a synchronous write is acknowledged the moment it
 * returns, which is what makes `durability: 'process'` cheap.
 */

/** How far an acknowledged append survives. */
export type Durability = 'process' | 'machine';

const HEADER = 8;
const SUFFIX = '.seg';
const NAME = /^(\d{20})\.seg$/;
const READ_BYTES = 1 << 20;

/** A segment file: its first offset, its size, and (for the newest) how many records it holds. */
interface Segment {
  first: number;
  path: string;
  bytes: number;
}

/** What the log found when it opened. */
export interface RecoveryReport {
  /** Bytes of a torn last frame cut from the newest segment (0 after a clean stop). */
  tornBytes: number;
  /** Segments found. */
  segments: number;
}

const segmentName = (first: number) => `${String(first).padStart(20, '0')}${SUFFIX}`;

const corrupt = (path: string, at: number, why: string) =>
  new MicrobatchError(
    'MB_SOURCE_FAILED',
    `spoolSource: ${path}: the frame at byte ${at} is damaged (${why}); the spool's files were changed by something else or the disk lost data`,
    { retryable: false, details: { file: path, byte: at } },
  );

/** Frames `payload` (length, checksum, bytes) into `out` at `at`; returns the end. */
export function frame(payload: Buffer, out: Buffer, at: number): number {
  out.writeUInt32LE(payload.length, at);
  out.writeUInt32LE(crc32(payload), at + 4);
  payload.copy(out, at + HEADER);
  return at + HEADER + payload.length;
}

/**
 * Reads whole, valid frames from `data` from `at`: returns their payloads and where the valid
 * part ends. Stops at the first incomplete or invalid frame (`bad` says which).
 */
export function parseFrames(
  data: Buffer,
  at: number,
  limit = Number.POSITIVE_INFINITY,
): { payloads: Buffer[]; end: number; bad?: string } {
  const payloads: Buffer[] = [];
  let pos = at;
  while (payloads.length < limit) {
    if (data.length - pos < HEADER)
      return { payloads, end: pos, ...(pos < data.length && { bad: 'torn header' }) };
    const length = data.readUInt32LE(pos);
    if (length === 0) return { payloads, end: pos, bad: 'zero length' };
    if (data.length - pos - HEADER < length) return { payloads, end: pos, bad: 'torn payload' };
    const payload = data.subarray(pos + HEADER, pos + HEADER + length);
    if (crc32(payload) !== data.readUInt32LE(pos + 4))
      return { payloads, end: pos, bad: 'checksum mismatch' };
    payloads.push(payload);
    pos += HEADER + length;
  }
  return { payloads, end: pos };
}

/** The segment log of one spool directory. One process opens it at a time (the spool locks). */
export class SegmentLog {
  readonly #dir: string;
  readonly #durability: Durability;
  readonly #segmentBytes: number;
  /** Oldest first; the last one is the active (appended) segment. */
  #segments: Segment[] = [];
  #fd: number | undefined;
  /** Offset the next append gets. */
  #next = 0;
  /** Records below this offset are acknowledged (written; fsynced for 'machine'). */
  #acked = 0;
  #bytes = 0;
  #syncing = false;
  #syncWaiters: { until: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #closed = false;
  /** Called after every acknowledgement and deletion. */
  onChange: () => void = () => {};

  private constructor(dir: string, durability: Durability, segmentBytes: number) {
    this.#dir = dir;
    this.#durability = durability;
    this.#segmentBytes = segmentBytes;
  }

  /** Opens (and recovers) the log in `dir`, which must exist. */
  static async open(
    dir: string,
    durability: Durability,
    segmentBytes: number,
  ): Promise<{ log: SegmentLog; recovery: RecoveryReport }> {
    const log = new SegmentLog(dir, durability, segmentBytes);
    const recovery = await log.#recover();
    return { log, recovery };
  }

  /** Offset of the oldest record still on disk. */
  get first(): number {
    return this.#segments[0]!.first;
  }

  /** Offset the next appended record gets (= records ever appended, across restarts). */
  get next(): number {
    return this.#next;
  }

  /** Records below this offset are acknowledged and may be read. */
  get acked(): number {
    return this.#acked;
  }

  /** Bytes of all segments on disk. */
  get bytes(): number {
    return this.#bytes;
  }

  get segments(): number {
    return this.#segments.length;
  }

  async #recover(): Promise<RecoveryReport> {
    const names = readdirSync(this.#dir)
      .map((name) => NAME.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    let tornBytes = 0;
    for (const first of names) {
      const path = join(this.#dir, segmentName(first));
      const fd = openSync(path, 'r+');
      try {
        this.#segments.push({ first, path, bytes: fstatSync(fd).size });
      } finally {
        closeSync(fd);
      }
    }
    if (this.#segments.length === 0) {
      this.#create(0);
      if (this.#durability === 'machine') await syncDirectory(this.#dir);
    } else {
      // Count the newest segment's records and cut a torn tail; older ones are complete.
      const last = this.#segments.at(-1)!;
      const fd = openSync(last.path, 'r+');
      let count = 0;
      let valid = 0; // file position where the valid frames end
      const buffer = Buffer.allocUnsafe(READ_BYTES);
      let carry = Buffer.alloc(0);
      let position = 0;
      for (;;) {
        const n = readSync(fd, buffer, 0, READ_BYTES, position);
        if (n === 0) break;
        position += n;
        const data =
          carry.length === 0 ? buffer.subarray(0, n) : Buffer.concat([carry, buffer.subarray(0, n)]);
        const parsed = parseFrames(data, 0);
        count += parsed.payloads.length;
        valid += parsed.end;
        // A damaged frame (not merely cut by this read) ends the valid part.
        if (parsed.bad === 'checksum mismatch' || parsed.bad === 'zero length') break;
        carry = Buffer.from(data.subarray(parsed.end));
      }
      tornBytes = last.bytes - valid;
      if (tornBytes > 0) {
        ftruncateSync(fd, valid);
        fsyncSync(fd);
        last.bytes = valid;
      }
      closeSync(fd);
      for (const segment of this.#segments) this.#bytes += segment.bytes;
      this.#next = last.first + count;
      this.#fd = openSync(last.path, 'a');
    }
    this.#acked = this.#next;
    return { tornBytes, segments: this.#segments.length };
  }

  #create(first: number): void {
    const path = join(this.#dir, segmentName(first));
    this.#fd = openSync(path, 'a');
    this.#segments.push({ first, path, bytes: 0 });
  }

  /**
   * Appends the payloads as frames, in one write. Resolves once they are acknowledged: at once for
   * 'process', after an fsync that covers them for 'machine' (one fsync serves every append made
   * while the previous one ran: group commit).
   */
  append(payloads: readonly Buffer[]): Promise<void> | undefined {
    if (this.#closed) throw new MicrobatchError('MB_CLOSED', 'spoolSource: the spool is closed');
    let size = 0;
    for (const p of payloads) size += HEADER + p.length;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (const p of payloads) at = frame(p, out, at);
    const active = this.#segments.at(-1)!;
    let written = 0;
    while (written < size) written += writeSync(this.#fd!, out, written, size - written);
    active.bytes += size;
    this.#bytes += size;
    this.#next += payloads.length;
    const until = this.#next;
    if (active.bytes >= this.#segmentBytes) this.#roll();
    if (this.#durability === 'process') {
      this.#acked = this.#next;
      this.onChange();
      return undefined;
    }
    if (this.#acked >= until) return undefined; // a roll synced it
    return new Promise<void>((resolve, reject) => {
      this.#syncWaiters.push({ until, resolve, reject });
      if (!this.#syncing) this.#sync();
    });
  }

  /** Starts a new segment; the old one is complete (and, for 'machine', fsynced with its entry). */
  #roll(): void {
    const old = this.#fd!;
    if (this.#durability === 'machine') fsyncSync(old);
    closeSync(old);
    this.#create(this.#next);
    if (this.#durability === 'machine') {
      // The new file's directory entry must be durable before records in it are acknowledged.
      const dirFd = openSync(this.#dir, 'r');
      try {
        fsyncSync(dirFd);
      } catch {
        // Some file systems cannot fsync a directory; the entry is then as durable as they allow.
      } finally {
        closeSync(dirFd);
      }
      this.#acked = this.#next;
      this.#resolveSynced();
      this.onChange();
    }
  }

  /** One fdatasync of the active segment; re-armed while appends wait for one. */
  #sync(): void {
    this.#syncing = true;
    const target = this.#next;
    const fd = this.#fd!;
    fdatasync(fd, (error) => {
      this.#syncing = false;
      if (error) {
        for (const waiter of this.#syncWaiters.splice(0)) waiter.reject(error);
        return;
      }
      if (target > this.#acked) this.#acked = target;
      this.#resolveSynced();
      this.onChange();
      if (this.#syncWaiters.length > 0 && !this.#closed) this.#sync();
    });
  }

  #resolveSynced(): void {
    while (this.#syncWaiters.length > 0 && this.#syncWaiters[0]!.until <= this.#acked) {
      this.#syncWaiters.shift()!.resolve();
    }
  }

  /**
   * Deletes the segments whose every record is at or below `offset`, never the active one.
   * Returns the bytes freed.
   */
  deleteThrough(offset: number): number {
    let freed = 0;
    while (this.#segments.length > 1 && this.#segments[1]!.first - 1 <= offset) {
      const segment = this.#segments.shift()!;
      rmSync(segment.path, { force: true });
      freed += segment.bytes;
      this.#bytes -= segment.bytes;
    }
    if (freed > 0) this.onChange();
    return freed;
  }

  /** A reader of acknowledged records from `offset` on. */
  reader(offset: number): LogReader {
    return new LogReader(this, offset);
  }

  /** The segment holding `offset`, or undefined when it was deleted or is not written yet. */
  segmentOf(offset: number): Segment | undefined {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      if (this.#segments[i]!.first <= offset) return this.#segments[i];
    }
    return undefined;
  }

  /** The segment after `segment`, if any. */
  after(segment: Segment): Segment | undefined {
    const i = this.#segments.indexOf(segment);
    return i === -1 ? undefined : this.#segments[i + 1];
  }

  /** Waits for pending fsyncs, then closes the active segment. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#syncWaiters.length > 0 || this.#syncing) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.#closed = true;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Reads acknowledged frames in offset order, segment by segment. */
export class LogReader {
  readonly #log: SegmentLog;
  #segment: Segment | undefined;
  #fd: number | undefined;
  /** File position of the next frame in the current segment. */
  #position = 0;
  /** Offset of the next record to return. */
  #offset: number;
  #skip: number;
  readonly #buffer = Buffer.allocUnsafe(READ_BYTES);

  constructor(log: SegmentLog, offset: number) {
    this.#log = log;
    this.#offset = offset;
    this.#skip = 0;
    this.#segment = log.segmentOf(offset);
    if (this.#segment === undefined) {
      throw new MicrobatchError(
        'MB_LEDGER_AHEAD',
        `spoolSource: record ${offset} is no longer in the spool (its oldest record is ${log.first}); the spool directory was cleaned or replaced`,
        { details: { offset, first: log.first } },
      );
    }
    this.#skip = offset - this.#segment.first;
  }

  /** Offset of the next record `read` returns. */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Up to `max` acknowledged records from the current offset (fewer at a segment's end), or an
   * empty list when the reader has caught up. The payloads are views of a buffer the next `read`
   * reuses: decode them first.
   */
  read(max: number): Buffer[] {
    for (;;) {
      if (this.#offset >= this.#log.acked) return [];
      const segment = this.#segment!;
      this.#fd ??= openSync(segment.path, 'r');
      const next = this.#log.after(segment);
      const end = next === undefined ? this.#log.acked : next.first;
      if (this.#offset >= end) {
        // This segment is done: on to the next one.
        closeSync(this.#fd);
        this.#fd = undefined;
        this.#segment = next;
        this.#position = 0;
        continue;
      }
      const n = readSync(this.#fd, this.#buffer, 0, READ_BYTES, this.#position);
      let data = this.#buffer.subarray(0, n);
      let parsed = parseFrames(data, 0, this.#skip + Math.min(max, end - this.#offset));
      if (parsed.payloads.length === 0) {
        // A frame larger than the buffer: read it whole.
        if (data.length < HEADER) throw corrupt(segment.path, this.#position, 'torn header');
        const length = data.readUInt32LE(0);
        if (length === 0 || length > segment.bytes) throw corrupt(segment.path, this.#position, 'bad length');
        data = Buffer.allocUnsafe(HEADER + length);
        const got = readSync(this.#fd, data, 0, data.length, this.#position);
        parsed = parseFrames(data.subarray(0, got), 0, 1);
        if (parsed.payloads.length === 0) throw corrupt(segment.path, this.#position, parsed.bad ?? 'torn');
      }
      this.#position += parsed.end;
      let payloads = parsed.payloads;
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, payloads.length);
        this.#skip -= skipped;
        payloads = payloads.slice(skipped);
        if (payloads.length === 0) continue;
      }
      this.#offset += payloads.length;
      return payloads;
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
