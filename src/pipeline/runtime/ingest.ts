import { MicrobatchError } from '../../core/errors.js';
import { estimateBytes } from '../../core/size.js';
import type { SourceChunk, SourceRejection } from '../../sources/types.js';
import { appendAligned, offsetOrderError, rangeFrom } from './chunks.js';
import type { Lane } from './lane.js';
import type { Parts } from './parts.js';
import { SizeSampler } from './size-sampler.js';

const NO_REJECTS: SourceRejection[] = [];

/**
 * How a chunk is appended: `bulk` (no sizes known: runs at the sampled average), `known` (sizes
 * known, nothing else to judge per record: runs), `each` (record by record).
 */
type Path = 'bulk' | 'known' | 'each';

/** Where appending a chunk stopped, and how many bytes it waits for. */
interface Position {
  value: number;
  reject: number;
  need: number;
}

/**
 * Appends chunks to lanes. Invariants: offsets strictly increase per lane (a source that breaks
 * this fails the pipeline); each record read is counted once, as taken, handed over or abandoned;
 * a record is taken only when it fits the memory budget (or nothing is held); a record too large
 * for any batch becomes a reject in its place.
 */
export class Ingest {
  readonly #parts: Parts;
  readonly #sizes = new SizeSampler();
  readonly #capRecords: number;
  readonly #capBytes: number;
  #paused = false;
  #pausedAt = 0;

  constructor(parts: Parts) {
    this.#parts = parts;
    this.#capRecords = parts.settings.trigger.caps.records;
    this.#capBytes = parts.settings.trigger.caps.bytes;
  }

  /** Reading is paused by the memory budget. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Appends a chunk. Returns `undefined` when all of it was taken at once (the common case, with no
   * promise to allocate), or a promise that takes the rest as the memory budget frees up.
   */
  ingest(chunk: SourceChunk<unknown>): Promise<void> | undefined {
    const { settings, lanes, eventTime, commits, recovery } = this.#parts;
    const { values, offsets } = chunk;
    if (
      !Array.isArray(values) ||
      (offsets === undefined ? !Number.isSafeInteger(chunk.firstOffset) : offsets.length !== values.length)
    ) {
      throw new MicrobatchError(
        'MB_SOURCE_FAILED',
        `pipeline '${settings.name}': source '${settings.source.kind}' returned a chunk without values and matching offsets (or a firstOffset)`,
      );
    }
    const lane = lanes.of(String(chunk.partition));
    // Time moved since the last chunk: lanes may have gone idle.
    eventTime?.recompute(settings.clock.now());
    const partition = commits.of(lane.partition);
    if (partition.guarded) {
      const rest = recovery.guard(lane, partition, chunk);
      return rest === undefined ? undefined : this.#append(lane, rest);
    }
    return this.#append(lane, chunk);
  }

  /** Appends a chunk to its lane (see {@link Ingest.ingest}). */
  #append(lane: Lane<unknown>, chunk: SourceChunk<unknown>): Promise<void> | undefined {
    const { settings, eventTime } = this.#parts;
    settings.adaptive?.arrived(chunk.values.length + (chunk.rejected?.length ?? 0), settings.clock.now());
    const position: Position = { value: 0, reject: 0, need: 0 };
    const rejected = chunk.rejected ?? NO_REJECTS;
    const path: Path =
      settings.sizeEach || rejected.length > 0 || eventTime !== undefined
        ? 'each'
        : chunk.bytes === undefined
          ? 'bulk'
          : 'known';
    this.#appendBy(path, lane, chunk, rejected, position);
    if (position.value >= chunk.values.length && position.reject >= rejected.length) return undefined;
    return this.#appendRest(lane, chunk, rejected, path, position);
  }

  /** Appends what `path` can of a chunk from `position` on. */
  #appendBy(
    path: Path,
    lane: Lane<unknown>,
    chunk: SourceChunk<unknown>,
    rejected: SourceRejection[],
    position: Position,
  ): void {
    if (path === 'bulk') this.#appendBulk(lane, chunk, position);
    else if (path === 'known') this.#appendKnown(lane, chunk, position);
    else this.#appendEach(lane, chunk, rejected, position);
  }

  /** The rest of a chunk that did not fit the budget: wait for room, append, repeat. */
  async #appendRest(
    lane: Lane<unknown>,
    chunk: SourceChunk<unknown>,
    rejected: SourceRejection[],
    path: Path,
    position: Position,
  ): Promise<void> {
    const { accounting, lifecycle } = this.#parts;
    const { values } = chunk;
    for (;;) {
      await this.#makeRoom(position.need);
      if (lane.revoked) {
        // The partition was revoked while the rest waited for room: the next owner reads it again.
        accounting.handedOver(values.length - position.value + rejected.length - position.reject);
        return;
      }
      if (lifecycle.halted) {
        // Halted mid-chunk: the rest was read but is not taken; it stays uncommitted.
        const range = rangeFrom(chunk, position.value, position.reject)!;
        accounting.abandon({ partition: lane.partition, ...range, state: 'buffered' });
        return;
      }
      this.#appendBy(path, lane, chunk, rejected, position);
      if (position.value >= values.length && position.reject >= rejected.length) return;
    }
  }

  /** Waits until `need` more bytes fit the budget, flushing the largest lane first. */
  async #makeRoom(need: number): Promise<void> {
    const { settings, budget, lanes, commits, lifecycle, scheduler } = this.#parts;
    const limit = budget.limit;
    while (budget.held + need > limit && !lifecycle.halted) {
      const largest = lanes.largest();
      // Flush the largest lane when lanes hold at least half the memory, or when no write is in
      // flight (else nothing would ever free any). When writes hold most of it, flushing a small lane
      // would only make a small batch: waiting for those writes frees more.
      const laneBytes = budget.held - commits.inFlight.bytes;
      if (largest !== undefined && (commits.inFlight.batches === 0 || laneBytes * 2 >= budget.held)) {
        lanes.flush(largest, 'memory');
      }
      // Nothing held at all, or only replays with no write in flight: whatever is needed must be let
      // in, or nothing could ever wake us.
      if (budget.held + need <= limit || budget.held <= 0) break;
      if (largest === undefined && commits.inFlight.batches === 0) break;
      if (!this.#paused) {
        this.#paused = true;
        this.#pausedAt = settings.clock.now();
        settings.logger.debug(
          { pipeline: settings.name, heldBytes: budget.held, budget: limit },
          'paused: memory budget full',
        );
        scheduler.adapt(settings.adaptive?.congested('memory', settings.clock.now()));
        settings.events.emit('pause', {
          heldBytes: budget.held,
          budgetBytes: limit,
          inFlight: commits.inFlight.batches,
        });
      }
      await budget.waitForRoom();
    }
    if (this.#paused) {
      this.#paused = false;
      const pausedMs = settings.clock.now() - this.#pausedAt;
      settings.events.emit('resume', { heldBytes: budget.held, budgetBytes: limit, pausedMs });
    }
  }

  /**
   * The bulk path (no per-record sizes): records are appended in runs up to the next point where the
   * trigger, the record cap or the budget needs a look; consecutive offsets are not even stored.
   */
  #appendBulk(lane: Lane<unknown>, chunk: SourceChunk<unknown>, position: Position): void {
    const { budget, scheduler, accounting } = this.#parts;
    const sizes = this.#sizes;
    const { values, offsets } = chunk;
    const n = values.length;
    let i = position.value;
    while (i < n) {
      // The very first record sets the scale before any room is computed from the estimate.
      if (sizes.unset) sizes.sample(values, i, i + 1);
      // Sized at the average the room was computed with: sampling below may move it.
      const average = sizes.average;
      let room = Math.floor((budget.limit - budget.held) / average);
      // With nothing held, one record always fits: the estimate must never wedge the pipeline.
      if (room <= 0 && budget.held <= 0) room = 1;
      if (room <= 0) {
        position.value = i;
        position.need = average;
        return;
      }
      const first = offsets === undefined ? chunk.firstOffset! + i : offsets[i]!;
      if (!(first > lane.highestOffset))
        throw offsetOrderError(this.#parts.settings, lane, first, lane.highestOffset);
      if (lane.empty) scheduler.opened(lane, first);
      const take = Math.min(n - i, lane.untilCheck, this.#capRecords - lane.records, room);
      const end = i + take;
      lane.appendRun(values, i, end, chunk.owned === true);
      let last: number;
      if (offsets === undefined) {
        last = first + take - 1;
        if (lane.offsets !== undefined || (lane.records > 0 && first !== lane.highestOffset + 1)) {
          // Not consecutive with what the lane holds: list the offsets from here on.
          const laneOffsets = lane.listOffsets();
          for (let o = first; o <= last; o++) laneOffsets.push(o);
        }
      } else {
        const laneOffsets = lane.listOffsets();
        let previous = lane.highestOffset;
        for (let k = i; k < end; k++) {
          const offset = offsets[k]!;
          if (!(offset > previous)) throw offsetOrderError(this.#parts.settings, lane, offset, previous);
          laneOffsets.push(offset);
          previous = offset;
        }
        last = previous;
      }
      this.#copyMeta(lane, chunk, i, end);
      sizes.sample(values, i, end);
      const bytes = take * average;
      lane.bookedRun(take, bytes, last);
      lane.untilCheck -= take;
      budget.reserve(bytes);
      accounting.counts.in += take;
      i = end;
      scheduler.afterAppend(lane);
    }
    position.value = n;
  }

  /**
   * The known-sizes path (a source that sizes each record, as Kafka's does; no rejects in the chunk,
   * no `.eventTime()`, no per-record sizing asked for): records are taken in runs, up to the next
   * record the exact path would not simply take — too large, past the byte cap, without room in the
   * budget, or the first of an empty lane — or to where the record cap or the trigger needs a look.
   * That record goes through the exact path. The batches are the exact path's, record for record.
   */
  #appendKnown(lane: Lane<unknown>, chunk: SourceChunk<unknown>, position: Position): void {
    const { settings, budget, scheduler, accounting } = this.#parts;
    const { values, offsets } = chunk;
    const sizes = chunk.bytes!;
    const n = values.length;
    const limit = settings.recordLimit;
    const withMeta =
      chunk.eventTimes !== undefined || chunk.keys !== undefined || chunk.headers !== undefined;
    let i = position.value;
    while (i < n) {
      let take = 0;
      let bytes = 0;
      if (lane.records > 0) {
        const most = Math.min(n - i, Math.max(1, lane.untilCheck), this.#capRecords - lane.records);
        const room = Math.min(budget.limit - budget.held, this.#capBytes - lane.bytes);
        while (take < most) {
          const size = sizes[i + take]!;
          // Not a size (missing, NaN, negative) or too large: the exact path sizes or rejects it.
          if (!(size >= 0 && size <= limit) || bytes + size > room) break;
          // A run is consecutive: a listed offset after a gap starts the next one.
          if (offsets !== undefined && take > 0 && offsets[i + take] !== offsets[i + take - 1]! + 1) break;
          bytes += size;
          take++;
        }
      }
      if (take === 0) {
        // One record the exact way: it opens the lane, flushes it at the byte cap, is dead-lettered
        // as too large, or waits for room.
        position.value = i;
        this.#appendEach(lane, chunk, NO_REJECTS, position, i + 1);
        if (position.value <= i) return;
        i = position.value;
        continue;
      }
      const end = i + take;
      const first = offsets === undefined ? chunk.firstOffset! + i : offsets[i]!;
      if (!(first > lane.highestOffset)) throw offsetOrderError(settings, lane, first, lane.highestOffset);
      lane.appendRun(values, i, end, chunk.owned === true);
      const last = first + take - 1;
      if (lane.offsets !== undefined || first !== lane.highestOffset + 1) {
        // Not consecutive with what the lane holds (or listed already): list the offsets from here on.
        const laneOffsets = lane.listOffsets();
        for (let o = first; o <= last; o++) laneOffsets.push(o);
      }
      if (withMeta || hasMeta(lane)) this.#copyMeta(lane, chunk, i, end);
      lane.bookedRun(take, bytes, last);
      lane.untilCheck -= take;
      budget.reserve(bytes);
      accounting.counts.in += take;
      i = end;
      scheduler.afterAppend(lane);
    }
    stopAt(position, n, 0, 0);
  }

  /**
   * The exact path: each record is sized (known or estimated) and checked against the record limit,
   * the byte cap and the budget before it is taken; source rejects take their place in offset order.
   */
  #appendEach(
    lane: Lane<unknown>,
    chunk: SourceChunk<unknown>,
    rejected: SourceRejection[],
    position: Position,
    n = chunk.values.length,
  ): void {
    const { settings, budget, lanes, scheduler, eventTime } = this.#parts;
    const { values, bytes: sizes, offsets } = chunk;
    const base = chunk.firstOffset ?? 0;
    const limit = settings.recordLimit;
    const capBytes = this.#capBytes;
    const capRecords = this.#capRecords;
    const sizeEach = settings.sizeEach;
    const withMeta =
      (chunk.eventTimes !== undefined && eventTime === undefined) ||
      chunk.keys !== undefined ||
      chunk.headers !== undefined;
    let i = position.value;
    let r = position.reject;
    while (i < n || r < rejected.length) {
      const offset = i < n ? (offsets === undefined ? base + i : offsets[i]!) : Number.POSITIVE_INFINITY;
      const nextReject = rejected[r];
      if (nextReject !== undefined && nextReject.offset < offset) {
        const size = Math.min(nextReject.bytes ?? estimateBytes(nextReject.value, limit), limit);
        if (!budget.fits(size)) {
          stopAt(position, i, r, size);
          return;
        }
        if (!(nextReject.offset > lane.highestOffset)) {
          throw offsetOrderError(this.#parts.settings, lane, nextReject.offset, lane.highestOffset);
        }
        this.addReject(lane, nextReject, size);
        r++;
        continue;
      }
      const value = values[i];
      const known = knownSize(sizes, i);
      // Sized exactly when the source knows it or a byte limit asks for it; else the running estimate.
      const size = known ?? (sizeEach ? estimateBytes(value, limit) : this.#sizes.average);
      if (size > limit && (known !== undefined || sizeEach)) {
        // Too large for any batch: dead-letter it in place (it keeps its slot in the range).
        const held = Math.min(size, limit);
        if (!budget.fits(held)) {
          stopAt(position, i, r, held);
          return;
        }
        if (!(offset > lane.highestOffset))
          throw offsetOrderError(this.#parts.settings, lane, offset, lane.highestOffset);
        this.addReject(lane, { offset, reason: 'too_large', details: { bytes: size, limit }, value }, held);
        i++;
        continue;
      }
      if (lane.records > 0 && lane.bytes + size > capBytes) lanes.flush(lane, 'bytes');
      if (!budget.fits(size)) {
        stopAt(position, i, r, size);
        return;
      }
      if (!(offset > lane.highestOffset))
        throw offsetOrderError(this.#parts.settings, lane, offset, lane.highestOffset);
      if (eventTime !== undefined && !eventTime.judge(lane, chunk, i, offset, size)) {
        i++;
        continue;
      }
      if (lane.empty) scheduler.opened(lane, offset);
      lane.pushValue(value);
      if (lane.offsets !== undefined) lane.offsets.push(offset);
      else if (lane.records > 0 && offset !== lane.highestOffset + 1) lane.listOffsets().push(offset);
      // A lane holding metadata from an earlier chunk keeps it aligned even when this chunk has none.
      if (withMeta || hasMeta(lane, eventTime === undefined)) this.#copyMeta(lane, chunk, i, i + 1);
      eventTime?.pushAdmitted(lane);
      this.#booked(lane, offset, size);
      i++;
      if (lane.records >= capRecords) lanes.flush(lane, 'records');
      else if (--lane.untilCheck <= 0) scheduler.checkTrigger(lane);
    }
    stopAt(position, n, rejected.length, 0);
  }

  /** Appends one record to a lane being refilled: no trigger, no budget wait (the plan fitted before). */
  appendReplayed(lane: Lane<unknown>, chunk: SourceChunk<unknown>, i: number, offset: number): void {
    const { settings, scheduler, eventTime } = this.#parts;
    const value = chunk.values[i];
    const limit = settings.recordLimit;
    const known = knownSize(chunk.bytes, i);
    const size = known ?? (settings.sizeEach ? estimateBytes(value, limit) : this.#sizes.average);
    if (size > limit && (known !== undefined || settings.sizeEach)) {
      this.addReject(lane, { offset, reason: 'too_large', details: { bytes: size, limit }, value }, limit);
      return;
    }
    if (eventTime !== undefined && !eventTime.judge(lane, chunk, i, offset, size)) return;
    if (lane.empty) {
      scheduler.opened(lane, offset);
      lane.listOffsets();
    }
    lane.pushValue(value);
    lane.listOffsets().push(offset);
    this.#copyMeta(lane, chunk, i, i + 1);
    eventTime?.pushAdmitted(lane);
    this.#booked(lane, offset, size);
  }

  /** Takes a reject into the lane at its offset, holding `size` bytes of the budget. */
  addReject(lane: Lane<unknown>, rejection: SourceRejection, size: number): void {
    if (lane.empty) this.#parts.scheduler.opened(lane, rejection.offset);
    lane.addReject(rejection, size);
    this.#parts.budget.reserve(size);
    this.#parts.accounting.counts.in++;
  }

  /** Books the value just pushed onto a lane: the lane's counts, the budget, the record count. */
  #booked(lane: Lane<unknown>, offset: number, size: number): void {
    lane.booked(offset, size);
    this.#parts.budget.reserve(size);
    this.#parts.accounting.counts.in++;
  }

  /**
   * Keeps event times, keys and headers aligned with values once any record in the lane has one.
   * With `.eventTime()`, event times are the judged ones, pushed by the event-time tracker instead.
   */
  #copyMeta(lane: Lane<unknown>, chunk: SourceChunk<unknown>, from: number, to: number): void {
    const length = lane.records + to - from;
    if (
      this.#parts.eventTime === undefined &&
      (chunk.eventTimes !== undefined || lane.eventTimes !== undefined)
    ) {
      lane.eventTimes = appendAligned(lane.eventTimes, chunk.eventTimes, from, to, length);
    }
    if (chunk.keys !== undefined || lane.keys !== undefined) {
      lane.keys = appendAligned(lane.keys, chunk.keys, from, to, length);
    }
    if (chunk.headers !== undefined || lane.headers !== undefined) {
      lane.headers = appendAligned(lane.headers, chunk.headers, from, to, length);
    }
  }
}

/**
 * The size a source gave for record `i`, if it is one: a missing, NaN or negative entry counts as
 * unknown (the record is sized as if none were given), so a source's bad size can neither poison
 * the memory budget's sum nor stall the pipeline waiting for room that never comes.
 */
function knownSize(sizes: readonly number[] | undefined, i: number): number | undefined {
  const size = sizes?.[i];
  return size !== undefined && size >= 0 ? size : undefined;
}

/**
 * Whether a lane holds keys, headers or (unless `.eventTime()` keeps them) source event times that
 * must stay aligned with its values.
 */
function hasMeta(lane: Lane<unknown>, times = true): boolean {
  return lane.keys !== undefined || lane.headers !== undefined || (times && lane.eventTimes !== undefined);
}

/** Records where appending stopped (and how many bytes it waits for). */
function stopAt(position: Position, value: number, reject: number, need: number): void {
  position.value = value;
  position.reject = reject;
  position.need = need;
}
