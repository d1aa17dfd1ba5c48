import { bufferTime, Observable } from 'rxjs';
import { BATCH_RECORDS, BATCH_WINDOW_MS, Counter, drive, type Mode, type Rec } from '../lib/workload.js';

/**
 * RxJS 7: an Observable that emits each record (giving the loop back as microbatch does), then
 * `bufferTime(1000, null, 5000)`. `bufferTime` batches per element, so in `arrays` mode the
 * Observable flattens each array with a loop calling `next` per record: on this machine that was
 * faster than `mergeMap(array => array)` or `concatMap(array => from(array))` (≈10 vs ≈7.5 M rec/s),
 * so the bar is RxJS at its best.
 */
export function run(mode: Mode, count: number): Promise<Counter> {
  const counter = new Counter();
  const flat = new Observable<Rec>((subscriber) => {
    drive(
      mode,
      (record) => subscriber.next(record),
      (array) => {
        for (const record of array) subscriber.next(record);
      },
      count,
    ).then(
      () => subscriber.complete(),
      (error: unknown) => subscriber.error(error),
    );
  });
  return new Promise((resolve, reject) => {
    flat.pipe(bufferTime(BATCH_WINDOW_MS, null, BATCH_RECORDS)).subscribe({
      next: (batch) => counter.add(batch.length),
      error: reject,
      complete: () => resolve(counter),
    });
  });
}
