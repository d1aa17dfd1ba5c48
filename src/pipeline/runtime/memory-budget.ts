/**
 * The memory budget (`maxBufferBytes`): bytes held by lanes and by batches until they are written.
 * Invariants: held bytes never go below 0 (float drift is snapped to 0); with nothing held, any
 * size fits, so an estimate can never wedge the pipeline; every release wakes everyone waiting.
 */
export class MemoryBudget {
  /** The budget in bytes. */
  readonly limit: number;
  #held = 0;
  #waiters: (() => void)[] = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /** Whether `size` more bytes fit; with nothing held, anything fits. */
  fits(size: number): boolean {
    return this.#held + size <= this.limit || this.#held <= 0;
  }

  /** Takes `bytes` of the budget (the caller checked {@link MemoryBudget.fits} or must go over). */
  reserve(bytes: number): void {
    this.#held += bytes;
  }

  /** Gives `bytes` back and wakes every waiter. */
  release(bytes: number): void {
    this.#held -= bytes;
    if (this.#held < 1e-6) this.#held = 0;
    this.wakeAll();
  }

  /** Resolves at the next release (or {@link MemoryBudget.wakeAll}); the caller checks again. */
  waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Wakes every waiter (a release, or a halt that must not leave anyone waiting). */
  wakeAll(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
