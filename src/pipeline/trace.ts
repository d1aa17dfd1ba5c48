import { type Clock, systemClock } from '../core/clock.js';
import { formatBytes, formatDuration } from '../core/units.js';
import type { WindowChange } from '../triggers/adaptive.js';
import type { Pipeline } from './types.js';

/** Options of {@link trace}. */
export interface TraceOptions {
  /** Where lines go. @default console.log */
  write?: (line: string) => void;
  /** Formats timestamps. @default UTC time of day (`14:03:07.412`) */
  time?: (ms: number) => string;
  /** The clock the pipeline runs on, for the time of events that carry none. @default the system clock */
  clock?: Clock;
}

const timeOfDay = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/**
 * Prints one line per step of every window, so a person can follow a batch from its first record
 * to its commit and see why it flushed:
 *
 * ```text
 * 14:03:07.412 prices window  0 [1200..6199] opened 14:03:06.397, closed after 1.0s: records (5000 records, 1.2MB)
 * 14:03:07.415 prices dlq     0 [1200..6199] 2 dead-lettered: malformed=2
 * 14:03:07.690 prices write   0 [1200..6199] 4998 written in 275ms (attempt 1)
 * 14:03:07.691 prices commit  0 → 6199
 * 14:03:07.691 prices adapt   window 30s → 15s: healthy (last write 275ms, rtt ~280ms, back-pressure 0.02, 4000 records/s)
 * ```
 * With `triggers.adaptive`, every window or concurrency change is an `adapt` line with its reason.
 * Returns a function that stops tracing.
 */
export function trace(pipeline: Pipeline<unknown>, options: TraceOptions = {}): () => void {
  const write = options.write ?? ((line: string) => console.log(line));
  const time = options.time ?? timeOfDay;
  const clock = options.clock ?? systemClock;
  const name = pipeline.name;
  const line = (at: number, kind: string, text: string) =>
    write(`${time(at)} ${name} ${kind.padEnd(7)} ${text}`);
  const range = (b: { partition: string; firstOffset: number; lastOffset: number }) =>
    `${b.partition} [${b.firstOffset}..${b.lastOffset}]`;
  const off: (() => void)[] = [];
  const on: Pipeline<unknown>['on'] = (event, listener) => {
    const stop = pipeline.on(event, listener);
    off.push(stop);
    return stop;
  };

  on('flush', ({ batch, rejected }) =>
    line(
      batch.closedAt,
      'window',
      `${range(batch)} opened ${time(batch.openedAt)}, closed after ${formatDuration(batch.closedAt - batch.openedAt)}: ${batch.reason} (${batch.records} records, ${formatBytes(batch.bytes)}${rejected > 0 ? `, ${rejected} rejected on arrival` : ''})`,
    ),
  );
  on('dead-letter', ({ batch, count, reasons }) =>
    line(
      clock.now(),
      'dlq',
      `${range(batch)} ${count} dead-lettered: ${Object.entries(reasons)
        .map(([reason, n]) => `${reason}=${n}`)
        .join(' ')}`,
    ),
  );
  on('retry', ({ batch, attempt, delayMs, error }) =>
    line(
      clock.now(),
      'retry',
      `${range(batch)} attempt ${attempt} failed (${error instanceof Error ? error.message : String(error)}); retrying in ${formatDuration(delayMs)}`,
    ),
  );
  on('write', ({ batch, written, attempts, durationMs }) =>
    line(
      clock.now(),
      'write',
      `${range(batch)} ${written} written in ${formatDuration(durationMs)} (attempt ${attempts})`,
    ),
  );
  on('commit', ({ partition, offset }) => line(clock.now(), 'commit', `${partition} → ${offset}`));
  on('pause', ({ heldBytes, budgetBytes, inFlight }) =>
    line(
      clock.now(),
      'pause',
      `memory ${formatBytes(heldBytes)} of ${formatBytes(budgetBytes)}, ${inFlight} writes in flight`,
    ),
  );
  on('resume', ({ pausedMs }) => line(clock.now(), 'resume', `after ${formatDuration(pausedMs)}`));
  on('window-change', (change) => line(clock.now(), 'adapt', describeChange(change)));
  on('status', ({ from, to }) => line(clock.now(), 'status', `${from} → ${to}`));
  on('error', ({ error }) => line(clock.now(), 'error', `${error.code}: ${error.message}`));
  return () => {
    for (const stop of off) stop();
  };
}

const ms = (value: number | undefined) => (value === undefined ? '?' : formatDuration(Math.round(value)));

/** `window 3s → 1.5s, concurrency 1 → 2: healthy (last write 3ms, rtt ~3ms, back-pressure 0.12, 4000 records/s)` */
function describeChange(change: WindowChange): string {
  const { from, to, concurrencyFrom, concurrencyTo, reason, signals } = change;
  const window = from === to ? undefined : `window ${ms(from)} → ${ms(to)}`;
  const concurrency =
    concurrencyFrom === concurrencyTo ? undefined : `concurrency ${concurrencyFrom} → ${concurrencyTo}`;
  const moved =
    window !== undefined && concurrency !== undefined
      ? `${window}, ${concurrency}`
      : window !== undefined
        ? window
        : `${concurrency} (window ${ms(to)})`;
  const why = [
    `last write ${ms(signals.lastRttMs)}`,
    `rtt ~${ms(signals.rttMs)}`,
    `back-pressure ${signals.backpressure.toFixed(2)}`,
    `${Math.round(signals.inputRate)} records/s`,
  ];
  return `${moved}: ${reason} (${why.join(', ')})`;
}
