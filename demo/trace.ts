/**
 * The demo's trace: one line per step of every window, built on the pipeline's public face only —
 * `trace()` for flushes, dead letters, retries, writes, commits and the adaptive controller's
 * changes, plus events and `metrics()` for the rest (a window opening with its source position, the
 * buffer filling, what the transforms did, end-to-end latency, complete partitions, and a periodic
 * metrics line).
 *
 * ```text
 * 14:03:06.401 prices open    scraper-2 at offset 1200 (window 1s, B 420 records)
 * 14:03:06.902 prices buffer  scraper-1 412 · scraper-2 200 · scraper-5 3
 * 14:03:07.412 prices window  scraper-2 [1200..1611] opened 14:03:06.397, closed after 1.0s: adaptive (412 records, 98.3KB)
 * 14:03:07.415 prices dlq     scraper-2 [1200..1611] 2 dead-lettered: missing_field=1 too_late=1
 * 14:03:07.415 prices xform   scraper-2 [1200..1611] v3 300 · v4 105 kept; 2 dead-lettered (missing_field 1, too_late 1), 5 duplicates
 * 14:03:07.690 prices write   scraper-2 [1200..1611] 405 written in 275ms (attempt 1)
 * 14:03:07.691 prices commit  scraper-2 → 1611
 * 14:03:07.691 prices latency scraper-2 → 1611: waited 1.3s from arrival; event time → commit p50 1.6s, p99 52m
 * ```
 */
import type { Clock, Pipeline, Transform } from '../src/index.js';
import { trace } from '../src/index.js';
import type { LakeRow } from './records.js';

/** Options of {@link traceDemo}. */
export interface DemoTraceOptions {
  /** Where lines go. */
  print: (line: string) => void;
  /** The pipeline's clock. */
  clock: Clock;
  /** What the tally transform saw per batch. */
  tally: Tally;
  /** How often the buffer is looked at, ms of clock time. @default 500 */
  pollEvery?: number;
  /** How often a metrics line is printed, ms of clock time. @default 2000 */
  metricsEvery?: number;
}

/** A pass-through transform that counts the schema versions of the rows each batch keeps. */
export interface Tally {
  readonly transform: Transform<LakeRow, LakeRow>;
  /** The counts for `batchId`, forgotten once taken. */
  take(batchId: string): Record<string, number> | undefined;
  /** Rows kept per schema version over the whole run. */
  readonly total: Record<string, number>;
}

/** Counts schema versions per batch, as the last transform, so the trace can show them. */
export function tally(): Tally {
  const byBatch = new Map<string, Record<string, number>>();
  const total: Record<string, number> = {};
  return {
    transform: {
      name: 'tally',
      apply(input) {
        const counts: Record<string, number> = {};
        for (const row of input.records) {
          counts[row.schemaVersion] = (counts[row.schemaVersion] ?? 0) + 1;
          total[row.schemaVersion] = (total[row.schemaVersion] ?? 0) + 1;
        }
        byBatch.set(input.batchId, counts);
        return { records: [...input.records] };
      },
    },
    take(batchId) {
      const counts = byBatch.get(batchId);
      byBatch.delete(batchId);
      return counts;
    },
    total,
  };
}

/** `850ms`, `1.3s`, `4m12s`, `2h05m`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  if (ms < 3_600_000)
    return `${Math.floor(ms / 60_000)}m${String(Math.floor((ms % 60_000) / 1_000)).padStart(2, '0')}s`;
  return `${Math.floor(ms / 3_600_000)}h${String(Math.floor((ms % 3_600_000) / 60_000)).padStart(2, '0')}m`;
}

/** `512B`, `98.3KB`, `2.1MB`. */
export function bytes(n: number): string {
  if (n < 1e3) return `${n}B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)}KB`;
  return `${(n / 1e6).toFixed(1)}MB`;
}

/** UTC time of day with ms, as `trace()` prints it. */
export const timeOfDay = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** Starts tracing `p`; returns the function that stops it (timers and listeners). */
export function traceDemo(p: Pipeline<unknown>, options: DemoTraceOptions): () => void {
  const { print, clock, tally } = options;
  const pollEvery = options.pollEvery ?? 500;
  const metricsEvery = options.metricsEvery ?? 2_000;
  const line = (kind: string, text: string) =>
    print(`${timeOfDay(clock.now())} ${p.name} ${kind.padEnd(7)} ${text}`);
  const range = (b: { partition: string; firstOffset: number; lastOffset: number }) =>
    `${b.partition} [${b.firstOffset}..${b.lastOffset}]`;

  /** Per lane: the next offset to arrive and whether its window is known to be open. */
  const lanes = new Map<string, { next: number; open: boolean }>();
  const lane = (partition: string) => {
    let state = lanes.get(partition);
    if (state === undefined) lanes.set(partition, (state = { next: 0, open: false }));
    return state;
  };
  /** Batches cut and not yet committed, per partition: for latency at commit. */
  const waiting = new Map<string, { lastOffset: number; openedAt: number; records: number }[]>();
  /** Dead letters per batch, by reason: to tell duplicates from rejects at write time. */
  const rejectedBy = new Map<string, { count: number; reasons: Partial<Record<string, number>> }>();

  const off: (() => void)[] = [];
  // Registered before trace(): the transform line comes before its write line.
  off.push(
    p.on('flush', ({ batch, rejected }) => {
      const state = lane(batch.partition);
      state.next = batch.lastOffset + 1;
      state.open = false;
      let list = waiting.get(batch.partition);
      if (list === undefined) waiting.set(batch.partition, (list = []));
      list.push({
        lastOffset: batch.lastOffset,
        openedAt: batch.openedAt,
        records: batch.records + rejected,
      });
    }),
    p.on('dead-letter', ({ batch, count, reasons }) => {
      rejectedBy.set(batch.id, { count, reasons });
    }),
    p.on('write', ({ batch, written }) => {
      const versions = tally.take(batch.id) ?? {};
      const dead = rejectedBy.get(batch.id);
      const rejected = dead?.count ?? 0;
      rejectedBy.delete(batch.id);
      const why =
        dead === undefined
          ? ''
          : ` (${Object.entries(dead.reasons)
              .map(([reason, n]) => `${reason} ${n}`)
              .join(', ')})`;
      const arrived = (waiting.get(batch.partition) ?? []).find(
        (b) => b.lastOffset === batch.lastOffset,
      )?.records;
      const duplicates = arrived === undefined ? 0 : arrived - written - rejected;
      const kept = Object.entries(versions)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([version, n]) => `${version} ${n}`)
        .join(' · ');
      line(
        'xform',
        `${range(batch)} ${kept.length > 0 ? `${kept} kept` : 'nothing kept'}; ${rejected} dead-lettered${why}, ${duplicates} duplicates`,
      );
    }),
  );
  off.push(trace(p, { write: print, clock }));
  off.push(
    p.on('commit', ({ partition, offset }) => {
      const list = waiting.get(partition) ?? [];
      let oldest: number | undefined;
      while (list.length > 0 && list[0]!.lastOffset <= offset) {
        const b = list.shift()!;
        oldest = Math.min(oldest ?? b.openedAt, b.openedAt);
      }
      if (oldest === undefined) return;
      const latency = p.metrics().eventTime?.latency;
      const eventTime =
        latency === undefined || latency.samples === 0
          ? ''
          : `; event time → commit p50 ${duration(latency.p50)}, p99 ${duration(latency.p99)}`;
      line(
        'latency',
        `${partition} → ${offset}: waited ${duration(clock.now() - oldest)} from arrival${eventTime}`,
      );
    }),
    p.on('partition-complete', ({ bucket, records, reopened, watermark }) => {
      line(
        'done',
        `${bucket.path} complete${reopened ? ' again' : ''}: ${records} records, watermark ${Number.isFinite(watermark) ? timeOfDay(watermark) : 'end of input'}`,
      );
    }),
  );

  let lastBuffer = '';
  let lastMetrics = '';
  let stopped = false;
  const poll = () => {
    if (stopped) return;
    const m = p.metrics();
    for (const { partition, ageMs } of m.lanes) {
      const state = lane(partition);
      if (state.open) continue;
      state.open = true;
      line(
        'open',
        `${partition} at offset ${state.next}, ${duration(ageMs)} ago (window ${duration(m.trigger.window ?? 0)}, B ${m.trigger.volumeThreshold ?? m.trigger.maxRecords} records)`,
      );
    }
    const buffer = m.lanes
      .slice()
      .sort((a, b) => a.partition.localeCompare(b.partition))
      .map((l) => `${l.partition} ${l.records}`)
      .join(' · ');
    if (buffer.length > 0 && buffer !== lastBuffer) line('buffer', buffer);
    lastBuffer = buffer;
    pollTimer = clock.setTimeout(poll, pollEvery);
  };
  const report = () => {
    if (stopped) return;
    const text = metricsLine(p);
    // Unchanged state is not printed again: a quiet pipeline stays quiet.
    if (text !== lastMetrics) line('metrics', text);
    lastMetrics = text;
    metricsTimer = clock.setTimeout(report, metricsEvery);
  };
  let pollTimer = clock.setTimeout(poll, pollEvery);
  let metricsTimer = clock.setTimeout(report, metricsEvery);
  return () => {
    stopped = true;
    clock.clearTimeout(pollTimer);
    clock.clearTimeout(metricsTimer);
    for (const stop of off) stop();
  };
}

/** One line of `metrics()`: status, trigger, thresholds, last flush, back-pressure, counts. */
export function metricsLine(p: Pipeline<unknown>): string {
  const m = p.metrics();
  const t = m.trigger;
  const last =
    m.lastFlush === undefined
      ? 'none'
      : `${m.lastFlush.reason} ${m.lastFlush.records} records ${bytes(m.lastFlush.bytes)}`;
  const c = m.counts;
  const watermark = m.eventTime?.watermark;
  return [
    m.status + (m.paused ? ' (paused: memory)' : ''),
    `${t.mode} window ${duration(t.window ?? 0)} B ${t.volumeThreshold ?? t.maxRecords}`,
    `last flush ${last}`,
    `back-pressure ${(t.backpressure ?? 0).toFixed(2)}${t.rttMs === undefined ? '' : ` rtt ${duration(t.rttMs)}`}`,
    `in flight ${m.inFlight.batches}/${m.inFlight.concurrency}`,
    `buffer ${m.buffer.records} ${bytes(m.buffer.heldBytes)}`,
    `in ${c.in} written ${c.written} dlq ${c.deadLettered} dup ${c.duplicates}`,
    `watermark ${watermark === undefined ? '-' : timeOfDay(watermark)}`,
  ].join(' · ');
}
