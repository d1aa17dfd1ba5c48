import { Chunk, Effect, Stream } from 'effect';
import { BATCH_RECORDS, Counter, type Mode, type Rec, recordArrays, records } from '../lib/workload.js';

/**
 * Effect 3: `Stream.fromIterable` → `Stream.groupedWithin(5000, '1 second')` → `runForEach`. In
 * `arrays` mode the stream of arrays is flattened with `Stream.flattenIterables` first.
 */
export async function run(mode: Mode, count: number): Promise<Counter> {
  const counter = new Counter();
  const flat: Stream.Stream<Rec> =
    mode === 'single'
      ? Stream.fromIterable(records(count))
      : Stream.fromIterable(recordArrays(count)).pipe(Stream.flattenIterables);
  await Effect.runPromise(
    flat.pipe(
      Stream.groupedWithin(BATCH_RECORDS, '1 second'),
      Stream.runForEach((batch) => Effect.sync(() => counter.add(Chunk.size(batch)))),
    ),
  );
  return counter;
}
