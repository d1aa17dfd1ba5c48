import { fromIterable, pipeline, triggers } from '../../dist/index.js';
import {
  BATCH_RECORDS,
  BATCH_WINDOW_MS,
  Counter,
  type Mode,
  type Rec,
  recordArrays,
  records,
} from '../lib/workload.js';

export interface MicrobatchOptions {
  /** `true` sets `maxRecordBytes: '1MiB'` explicitly, which sizes every in-memory record. */
  sizeEach: boolean;
}

/** microbatch: `fromIterable` → `any(time, volume)` → a counting sink. */
export async function run(mode: Mode, count: number, options: MicrobatchOptions): Promise<Counter> {
  const counter = new Counter();
  const source =
    mode === 'single'
      ? fromIterable<Rec>(records(count))
      : fromIterable<Rec>(recordArrays(count), { arrays: true });
  const built = pipeline({
    name: 'bench',
    ...(options.sizeEach ? { maxRecordBytes: '1MiB' as const } : {}),
  })
    .source(source)
    .trigger(triggers.any(triggers.time(BATCH_WINDOW_MS), triggers.volume({ records: BATCH_RECORDS })))
    .sink({
      kind: 'counter',
      write(batch) {
        counter.add(batch.records.length);
      },
    })
    .build();
  const report = await built.run();
  if (report.records.written !== count || report.records.undelivered !== 0) {
    throw new Error(
      `microbatch report: written ${report.records.written}, undelivered ${report.records.undelivered}, expected ${count}`,
    );
  }
  return counter;
}
