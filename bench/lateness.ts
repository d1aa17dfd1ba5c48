/**
 * Flush lateness under a trickle, in its own process:
 * `tsx bench/lateness.ts <microbatch|rxjs|effect|hand> [seconds]`.
 *
 * A producer hands over one record every 20 ms (50 records/s) for `seconds`; each implementation
 * batches on a 200 ms window (time only). For every batch:
 *   lateness = emission time − (arrival of the batch's first record + 200 ms)
 * where arrival is stamped (`performance.now()`) just before the record is handed to the batcher and
 * emission when the batch reaches the sink / subscriber. A batcher whose timer starts at the first
 * record (microbatch, the hand loop) aims at lateness 0. RxJS and Effect run free timers that
 * restart at each emission, so the first record of a window usually arrives after the window
 * opened and their lateness by this definition is negative (the batch left early); for them
 * `ownTimer` also reports emission − (previous emission + 200 ms), the lateness against their own timer.
 */
import { emitResult } from './lib/child.js';
import { median, percentile } from './lib/stats.js';
import { type Figures, LATENESS_IMPLS, type LatenessImpl, type LatenessResult } from './lib/types.js';
import {
  LATENESS_INTERVAL_MS,
  LATENESS_SECONDS,
  LATENESS_WARMUP_WINDOWS,
  LATENESS_WINDOW_MS,
} from './lib/workload.js';

const WINDOW_MS = LATENESS_WINDOW_MS;
/** Implementations whose window timer runs free of the records (restarted at each emission). */
const FREE_RUNNING: ReadonlySet<LatenessImpl> = new Set(['rxjs', 'effect']);

interface Stamp {
  seq: number;
  /** `performance.now()` when the producer handed the record over. */
  at: number;
}

type OnBatch = (batch: readonly Stamp[], reason?: string) => void;

interface Batcher {
  push(record: Stamp): void;
  /** No more records: resolves once the batcher has emitted everything. */
  end(): Promise<void>;
}

const starters: Record<LatenessImpl, (onBatch: OnBatch) => Promise<Batcher>> = {
  async microbatch(onBatch) {
    const { pipeline, pushSource, triggers } = await import('../src/index.js');
    const source = pushSource<Stamp>();
    const built = pipeline({ name: 'lateness' })
      .source(source)
      .trigger(triggers.time(WINDOW_MS))
      .sink({
        write(batch) {
          onBatch(batch.records, batch.reason);
        },
      })
      .build();
    const done = built.run();
    return {
      push: (record) => void source.push(record),
      end: async () => {
        source.end();
        await done;
      },
    };
  },

  async rxjs(onBatch) {
    const { Subject, bufferTime } = await import('rxjs');
    const subject = new Subject<Stamp>();
    const done = new Promise<void>((resolve, reject) => {
      subject.pipe(bufferTime(WINDOW_MS)).subscribe({
        next: (batch) => {
          if (batch.length > 0) onBatch(batch);
        },
        error: reject,
        complete: resolve,
      });
    });
    return {
      push: (record) => subject.next(record),
      end: () => {
        subject.complete();
        return done;
      },
    };
  },

  async effect(onBatch) {
    const { Chunk, Effect, Stream } = await import('effect');
    let emit: { single(value: Stamp): boolean; end(): void } | undefined;
    let registered!: () => void;
    const ready = new Promise<void>((resolve) => (registered = resolve));
    const stream = Stream.asyncPush<Stamp>(
      (e) =>
        Effect.sync(() => {
          emit = e;
          registered();
        }),
      { bufferSize: 'unbounded' },
    );
    const done = Effect.runPromise(
      stream.pipe(
        // "Infinity-ish": the count never binds at 50 records/s.
        Stream.groupedWithin(1_000_000, `${WINDOW_MS} millis`),
        Stream.runForEach((batch) =>
          Effect.sync(() => {
            if (Chunk.size(batch) > 0) onBatch(Chunk.toReadonlyArray(batch));
          }),
        ),
      ),
    );
    await ready;
    return {
      push: (record) => void emit!.single(record),
      end: () => {
        emit!.end();
        return done;
      },
    };
  },

  async hand(onBatch) {
    let buffer: Stamp[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      if (buffer.length === 0) return;
      const batch = buffer;
      buffer = [];
      onBatch(batch);
    };
    return {
      push(record) {
        if (buffer.length === 0) timer = setTimeout(flush, WINDOW_MS);
        buffer.push(record);
      },
      end: async () => flush(),
    };
  },
};

function figures(values: number[]): Figures {
  return {
    median: median(values),
    p99: percentile(values, 0.99),
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

async function measure(impl: LatenessImpl, seconds: number): Promise<LatenessResult> {
  interface Emission {
    at: number;
    first: number;
    size: number;
    reason: string | undefined;
  }
  const emissions: Emission[] = [];
  const batcher = await starters[impl]((batch, reason) => {
    const at = performance.now();
    emissions.push({ at, first: batch[0]!.at, size: batch.length, reason });
  });

  let seq = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const producer = setInterval(() => {
      batcher.push({ seq: seq++, at: performance.now() });
      if (performance.now() - started >= seconds * 1000) {
        clearInterval(producer);
        resolve();
      }
    }, LATENESS_INTERVAL_MS);
  });
  const producedUntil = performance.now();
  await batcher.end();

  const delivered = emissions.reduce((n, e) => n + e.size, 0);
  if (delivered !== seq) throw new Error(`${impl}: ${delivered} records emitted, ${seq} produced`);

  const lateness: number[] = [];
  const ownTimer: number[] = [];
  let sizes = 0;
  emissions.forEach((e, i) => {
    // Left out: warm-up windows, and the final drain after the producer stopped (not a timer flush).
    if (i < LATENESS_WARMUP_WINDOWS || e.at > producedUntil) return;
    if (e.reason !== undefined && e.reason !== 'time') {
      throw new Error(`${impl}: a batch flushed for '${e.reason}' during the trickle`);
    }
    const late = e.at - (e.first + WINDOW_MS);
    lateness.push(late);
    ownTimer.push(FREE_RUNNING.has(impl) ? e.at - (emissions[i - 1]!.at + WINDOW_MS) : late);
    sizes += e.size;
  });
  if (lateness.length === 0) throw new Error(`${impl}: no timed windows measured`);
  return {
    impl,
    seconds,
    records: seq,
    windows: lateness.length,
    lateness: figures(lateness),
    ownTimer: figures(ownTimer),
    meanBatchSize: sizes / lateness.length,
  };
}

async function main(): Promise<void> {
  const [impl, secondsArg] = process.argv.slice(2);
  if (!LATENESS_IMPLS.includes(impl as LatenessImpl)) {
    throw new Error(`usage: lateness.ts <${LATENESS_IMPLS.join('|')}> [seconds]`);
  }
  const seconds = secondsArg === undefined ? LATENESS_SECONDS : Number(secondsArg);
  emitResult(await measure(impl as LatenessImpl, seconds));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
