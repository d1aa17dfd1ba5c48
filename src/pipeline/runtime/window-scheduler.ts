import type { TimerHandle } from '../../core/clock.js';
import type { WindowChange } from '../../triggers/adaptive.js';
import type { Lane } from './lane.js';
import type { Parts } from './parts.js';

/**
 * When lanes flush: asks the trigger once a lane's volume headroom runs out, flushes at the hard
 * caps, and keeps one timer at the earliest time deadline of all lanes; applies the adaptive
 * controller's decisions (write concurrency, a moved window). Invariants: at most one timer; it is
 * set for the earliest deadline of a lane that is open, not refilling a replay, and whose deadline
 * did not already pass with the trigger declining; nothing is armed once the pipeline settled.
 */
export class WindowScheduler {
  readonly #parts: Parts;
  readonly #capRecords: number;
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(parts: Parts) {
    this.#parts = parts;
    this.#capRecords = parts.settings.trigger.caps.records;
  }

  /** A timer is set. */
  get armed(): boolean {
    return this.#timerAt !== Number.POSITIVE_INFINITY;
  }

  /** A lane received its first record: its window starts now. */
  opened(lane: Lane<unknown>, offset: number): void {
    const { clock, trigger } = this.#parts.settings;
    lane.open(offset, clock.now());
    lane.untilCheck = trigger.headroom(lane);
    this.arm();
  }

  /** After records were appended: flush at the record cap, or when the trigger says so. */
  afterAppend(lane: Lane<unknown>): void {
    if (lane.records >= this.#capRecords) this.#parts.lanes.flush(lane, 'records');
    else if (lane.untilCheck <= 0) this.checkTrigger(lane);
  }

  /** Asks the trigger about a lane whose volume headroom ran out. */
  checkTrigger(lane: Lane<unknown>): void {
    const { trigger, clock } = this.#parts.settings;
    const reason = trigger.check(lane, clock.now());
    if (reason !== undefined) this.#parts.lanes.flush(lane, reason);
    else {
      lane.untilCheck = trigger.headroom(lane);
      // A trigger whose deadline depends on the lane (adaptive) may now want the timer earlier.
      if (trigger.deadline(lane) < this.#timerAt) this.arm();
    }
  }

  /**
   * Keeps the one timer at the earliest lane deadline still in the future. `moved`: deadlines may
   * have moved for every lane (the adaptive window changed), so re-arm even at the same instant.
   */
  arm(moved = false): void {
    const { lifecycle, lanes, settings } = this.#parts;
    if (lifecycle.settled) return;
    const now = settings.clock.now();
    let earliest = Number.POSITIVE_INFINITY;
    for (const lane of lanes.all()) {
      if (lane.openedAt === undefined || lane.timePassed || lane.replay !== undefined) continue;
      const at = settings.trigger.deadline(lane);
      if (at < earliest) earliest = at;
    }
    if (earliest === this.#timerAt && !moved) return;
    this.disarm();
    if (!Number.isFinite(earliest)) return;
    this.#timerAt = earliest;
    this.#timer = settings.clock.setTimeout(() => this.#onTimer(), Math.max(0, earliest - now));
  }

  disarm(): void {
    if (this.#timer !== undefined) this.#parts.settings.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #onTimer(): void {
    const { settings, lanes } = this.#parts;
    const trigger = settings.trigger;
    // The timer was set for `#timerAt`, so that moment has come, even if the clock reads a hair
    // earlier: Node fires timers on the event loop's own millisecond count, which can run ahead of
    // `Date.now()`'s. Trusting the clock alone would re-arm for 1 ms and flush late.
    const now = Math.max(settings.clock.now(), this.#timerAt);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    for (const lane of lanes.all()) {
      if (lane.empty || lane.timePassed || lane.replay !== undefined || trigger.deadline(lane) > now)
        continue;
      const reason = trigger.check(lane, now);
      if (reason !== undefined) lanes.flush(lane, reason);
      // Declined at its deadline: only volume can fire now — unless the deadline moved later (an
      // adaptive window that widened), which the next arm() picks up.
      else if (trigger.deadline(lane) <= now) lane.timePassed = true;
    }
    this.arm();
  }

  /** Applies a decision of the adaptive controller: concurrency, timers, and the event that explains it. */
  adapt(change: WindowChange | undefined): void {
    if (change === undefined) return;
    const { settings, writer } = this.#parts;
    writer.concurrency = change.concurrencyTo;
    if (change.from !== change.to) this.arm(true);
    settings.events.emit('window-change', change);
    settings.logger.debug(
      {
        pipeline: settings.name,
        window: change.to,
        previous: change.from,
        concurrency: change.concurrencyTo,
        reason: change.reason,
      },
      'adaptive window changed',
    );
  }
}
