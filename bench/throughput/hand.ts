import { BATCH_RECORDS, BATCH_WINDOW_MS, Counter, drive, type Mode, type Rec } from '../lib/workload.js';

/**
 * What a user would write by hand: an array buffer, flushed at 5,000 records or 1 s after its first
 * record, whichever comes first. No offsets, no memory budget, no retries, no commits.
 */
class HandBatcher {
  #buffer: Rec[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #flushTo: (batch: Rec[]) => void;

  constructor(flushTo: (batch: Rec[]) => void) {
    this.#flushTo = flushTo;
  }

  push(record: Rec): void {
    if (this.#buffer.length === 0) this.#arm();
    this.#buffer.push(record);
    if (this.#buffer.length >= BATCH_RECORDS) this.flush();
  }

  pushArray(array: Rec[]): void {
    let i = 0;
    while (i < array.length) {
      if (this.#buffer.length === 0) this.#arm();
      const end = Math.min(array.length, i + BATCH_RECORDS - this.#buffer.length);
      for (; i < end; i++) this.#buffer.push(array[i]!);
      if (this.#buffer.length >= BATCH_RECORDS) this.flush();
    }
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length === 0) return;
    const batch = this.#buffer;
    this.#buffer = [];
    this.#flushTo(batch);
  }

  #arm(): void {
    this.#timer = setTimeout(() => this.flush(), BATCH_WINDOW_MS);
  }
}

export async function run(mode: Mode, count: number): Promise<Counter> {
  const counter = new Counter();
  const batcher = new HandBatcher((batch) => counter.add(batch.length));
  await drive(
    mode,
    (r) => batcher.push(r),
    (a) => batcher.pushArray(a),
    count,
  );
  batcher.flush();
  return counter;
}
