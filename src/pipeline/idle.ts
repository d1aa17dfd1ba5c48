import { MicrobatchError } from '../core/errors.js';
import type { Listener, PipelineEventName } from './events.js';
import type { PipelineStatus } from './report.js';

/**
 * What `flush()` and `onIdle()` need to see of the runtime: a read-only view plus the one action
 * (cut every lane). Kept out of the runtime so the runtime only reports where its read loop is.
 */
export interface IdleView {
  readonly name: string;
  status(): PipelineStatus;
  /** The fatal error, once the pipeline failed. */
  error(): MicrobatchError | undefined;
  /** Reading is paused by the memory budget: nothing more is read until writes free memory. */
  paused(): boolean;
  /** Records held in lanes, not yet cut. */
  buffered(): number;
  /** Batches cut and not yet committed (or given up). */
  uncommitted(): number;
  /** The committed offset of `partition`; `Infinity` once the partition was revoked. */
  committed(partition: string): number | undefined;
  /** Cuts every lane that holds records (`reason: 'flush'`); returns the last offset cut per partition. */
  cutAll(): Map<string, number>;
  on<E extends PipelineEventName>(event: E, listener: Listener<E>): () => void;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Where the read loop is. The runtime calls `reading(result)` with what each `read()` returned and
 * `settled()` when an awaited read came back. The source has nothing ready when the loop has been
 * waiting on the same read for a whole turn of the event loop: a push source answers a read at
 * once (a resolved promise) while it holds records, and only leaves it pending once it is empty.
 */
export class ReadLoopState {
  #waiting = false;
  #reads = 0;
  #sync = false;
  #wakers: (() => void)[] = [];

  reading(result: unknown): void {
    this.#reads++;
    this.#sync = result === null || typeof (result as Promise<unknown>).then !== 'function';
    this.#waiting = !this.#sync;
    if (this.#waiting) this.wake();
  }

  settled(): void {
    this.#waiting = false;
  }

  /** Wakes every {@link changed} waiter (a read started, a commit, a status change). */
  wake(): void {
    for (const wake of this.#wakers.splice(0)) wake();
  }

  changed(): Promise<void> {
    return new Promise((resolve) => this.#wakers.push(resolve));
  }

  /**
   * Resolves once the loop has read everything the source had ready: it waits on a read that stays
   * pending for a whole turn. A synchronous source is read in one go between turns, so what it
   * handed over so far is what there is.
   */
  async caughtUp(view: IdleView): Promise<void> {
    for (;;) {
      if (!active(view) || view.paused() || this.#sync) return;
      if (this.#waiting) {
        const reads = this.#reads;
        await nextTurn();
        if (this.#waiting && this.#reads === reads) return;
        continue;
      }
      await Promise.race([this.changed(), nextTurn()]);
    }
  }
}

const active = (view: IdleView) => view.status() === 'running' || view.status() === 'draining';

/** The outcome for a waiter once the pipeline has settled: its failure, or nothing left to wait for. */
function settledOutcome(view: IdleView, what: string): void {
  const error = view.error();
  if (error !== undefined) {
    throw new MicrobatchError(
      'MB_CLOSED',
      `pipeline '${view.name}': ${what}: the pipeline failed (${error.code})`,
      {
        cause: error,
      },
    );
  }
}

/** `pipeline.flush()`: cut every lane now and resolve once what was cut is committed. */
export async function flushNow(view: IdleView, loop: ReadLoopState): Promise<void> {
  if (view.status() === 'idle') {
    throw new MicrobatchError('MB_CLOSED', `pipeline '${view.name}': flush() before start()`);
  }
  await loop.caughtUp(view);
  if (!active(view)) return settledOutcome(view, 'flush()');
  const targets = view.cutAll();
  await until(view, loop, 'flush()', () =>
    [...targets].every(([partition, offset]) => (view.committed(partition) ?? -1) >= offset),
  );
}

/**
 * `pipeline.onIdle()`: resolves the next time the pipeline has nothing to do: the source has
 * nothing ready, no lane holds records, and every batch is committed. It does not cut lanes: with
 * a long time window it waits for the window.
 */
export async function whenIdle(view: IdleView, loop: ReadLoopState): Promise<void> {
  if (view.status() === 'idle') {
    throw new MicrobatchError('MB_CLOSED', `pipeline '${view.name}': onIdle() before start()`);
  }
  for (;;) {
    await loop.caughtUp(view);
    if (!active(view)) return settledOutcome(view, 'onIdle()');
    if (view.buffered() === 0 && view.uncommitted() === 0) {
      // Caught up and empty now; a record that arrived meanwhile would show as a new read.
      return;
    }
    await until(view, loop, 'onIdle()', () => view.buffered() === 0 && view.uncommitted() === 0);
  }
}

/** Waits until `done()` holds, re-checking on every commit, cut and status change. */
async function until(view: IdleView, loop: ReadLoopState, what: string, done: () => boolean): Promise<void> {
  const unsubscribe = [
    view.on('commit', () => loop.wake()),
    view.on('status', () => loop.wake()),
    view.on('flush', () => loop.wake()),
  ];
  try {
    while (!done()) {
      if (!active(view)) {
        settledOutcome(view, what);
        if (done()) return;
        throw new MicrobatchError(
          'MB_CLOSED',
          `pipeline '${view.name}': ${what}: the pipeline stopped before everything was committed`,
        );
      }
      await loop.changed();
    }
  } finally {
    for (const off of unsubscribe) off();
  }
}
