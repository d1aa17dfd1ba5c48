/**
 * The shared workload: the same records, in the same order, for every implementation under test.
 * Generating them is part of every measurement (each variant pays for it equally).
 */

/** One small record, as a scraper or an order feed would produce it. */
export interface Rec {
  id: number;
  sku: string;
  price: number;
  ts: number;
}

/** Records per throughput run. */
export const RECORDS = 2_000_000;
/** Flush a batch at this many records… */
export const BATCH_RECORDS = 5_000;
/** …or after this long. */
export const BATCH_WINDOW_MS = 1_000;
/** Records per array in the `arrays` arrival mode (as a Kafka fetch would hand them over). */
export const ARRAY_SIZE = 500;
/**
 * Producers driven by the harness (RxJS, the hand loop) give the event loop back after this many
 * records, so that the 1 s timers of every implementation can run. microbatch's runtime does the
 * same with a synchronous source (every 32,768 records read), and also after each batch it cuts.
 */
export const YIELD_EVERY = 8 * 4_096;

const SKUS = Array.from({ length: 1_000 }, (_, i) => `SKU-${String(i).padStart(5, '0')}`);
const T0 = Date.UTC(2025, 0, 1);

export function makeRecord(i: number): Rec {
  return { id: i, sku: SKUS[i % SKUS.length]!, price: (i % 10_000) / 100, ts: T0 + i };
}

/** The records one at a time. */
export function* records(count = RECORDS): Generator<Rec> {
  for (let i = 0; i < count; i++) yield makeRecord(i);
}

/** The same records in arrays of {@link ARRAY_SIZE}. */
export function* recordArrays(count = RECORDS, size = ARRAY_SIZE): Generator<Rec[]> {
  for (let start = 0; start < count; start += size) {
    const end = Math.min(count, start + size);
    const array = new Array<Rec>(end - start);
    for (let i = start; i < end; i++) array[i - start] = makeRecord(i);
    yield array;
  }
}

export type Mode = 'single' | 'arrays';

/** What a sink saw: it counts and never keeps a batch, so memory measures the batcher alone. */
export class Counter {
  records = 0;
  batches = 0;
  largest = 0;
  smallest = Number.POSITIVE_INFINITY;

  add(size: number): void {
    if (size === 0) return; // RxJS emits [] for empty windows; an empty batch is not a batch
    this.records += size;
    this.batches++;
    if (size > this.largest) this.largest = size;
    if (size < this.smallest) this.smallest = size;
  }
}

export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Drives a push-style consumer from the shared generators: `onRecord` per record, giving the event
 * loop back every {@link YIELD_EVERY} records. In `arrays` mode `onArray` gets each array.
 */
export async function drive(
  mode: Mode,
  onRecord: (record: Rec) => void,
  onArray: (array: Rec[]) => void,
  count = RECORDS,
): Promise<void> {
  let sinceYield = 0;
  if (mode === 'single') {
    for (const record of records(count)) {
      onRecord(record);
      if (++sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await yieldToLoop();
      }
    }
  } else {
    for (const array of recordArrays(count)) {
      onArray(array);
      sinceYield += array.length;
      if (sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await yieldToLoop();
      }
    }
  }
}

/** Flush lateness: the time window (time trigger only)… */
export const LATENESS_WINDOW_MS = 200;
/** …and one record every this many ms (50 records/s). */
export const LATENESS_INTERVAL_MS = 20;
/** Windows at the start left out of the lateness figures (module loading and JIT warm-up). */
export const LATENESS_WARMUP_WINDOWS = 2;
/**
 * How long the trickle runs per implementation by default (≈ 145 windows, so that the p99 is not
 * simply the maximum, as it would be with fewer than 100 windows).
 */
export const LATENESS_SECONDS = 30;
