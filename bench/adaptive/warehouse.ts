/**
 * A simulated warehouse, on the pipeline's (test) clock: the sink every policy of the adaptive
 * simulation writes to. One model, the same parameters for every policy.
 *
 * - A transaction costs `C_conn + N × T_insert` (REFERENCE.md §8): a fixed connection + commit
 *   overhead, like a warehouse COPY/INSERT statement, plus a per-row cost.
 * - Concurrent transactions contend for locks and compute: a transaction that starts while `k`
 *   others run takes `(1 + contention · k)` times as long.
 * - Beyond `capacity` concurrent transactions, a new one is refused after a short round trip with
 *   a retryable error (a 503 / "too many concurrent statements" / lock-wait timeout).
 * - A scenario may add an outage (every write refused for a while) or replace the cost model by
 *   noisy round trips (see {@link Conditions}).
 */
import { type Batch, MicrobatchError, type Sink, type WriteOptions } from '../../src/index.js';
import type { TestClock } from '../../src/testing/index.js';

/** The warehouse's parameters (see `WAREHOUSE` for the values used and why). */
export interface WarehouseModel {
  /** Connection + statement + commit overhead per transaction, ms (`C_conn`). */
  connMs: number;
  /** Cost per row, ms (`T_insert`). */
  insertMs: number;
  /** Each other transaction running adds this fraction to a transaction's duration. */
  contention: number;
  /** Most transactions running at once; one more is refused (retryable). */
  capacity: number;
  /** How long the refusal takes to come back, ms. */
  rejectMs: number;
}

/**
 * The warehouse of the simulation. 2 s per transaction is what a Snowflake/BigQuery-style COPY or
 * a small INSERT … SELECT costs end to end (connection reuse, statement compile, commit, metadata);
 * 0.5 ms per row is ~2,000 rows/s per transaction for a ~200-byte row; 2 concurrent transactions
 * is a small warehouse (an X-Small Snowflake warehouse queues beyond a handful of statements; a
 * Postgres table with a unique index serialises writers on it); +50 % per concurrent transaction
 * is lock and I/O contention (two at once give 1.33× one's throughput). At 10,000-row batches it
 * absorbs about 1,900 rows/s: 9.5× the steady 200 records/s, so the 10× burst overloads it a little —
 * the point of the scenario is how each policy behaves against a warehouse past its capacity.
 */
export const WAREHOUSE: WarehouseModel = {
  connMs: 2_000,
  insertMs: 0.5,
  contention: 0.5,
  capacity: 2,
  rejectMs: 200,
};

/** What the warehouse saw. */
export interface WarehouseStats {
  /** Transactions committed. */
  transactions: number;
  /** Attempts refused (over capacity). */
  rejected: number;
  /** Attempts aborted by the pipeline (attempt timeout, stop). */
  aborted: number;
  /** Rows committed. */
  rows: number;
  /** Most transactions running at once. */
  peakConcurrent: number;
}

/** What a scenario changes in the warehouse (see `Scenario`). */
export interface Conditions {
  /** Every write that starts in [fromMs, toMs) is refused after `rejectMs` (retryable). */
  outage?: { fromMs: number; toMs: number };
  /** Round trips `medianMs · e^(sigma · Z)` instead of the cost model; nothing is refused. */
  noise?: { medianMs: number; sigma: number };
  /** The generator the noise draws from (seeded by the simulation). */
  random?: () => number;
}

/** A standard normal draw from two uniform ones (Box–Muller). */
export function normal(random: () => number): number {
  const u = 1 - random(); // (0, 1]: log(0) is not a number
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A warehouse sink, with what it saw; `onCommit(batch, at, durationMs)` runs when a transaction commits. */
export interface Warehouse<T> extends Sink<T> {
  readonly stats: WarehouseStats;
}

export function warehouse<T>(
  clock: TestClock,
  model: WarehouseModel = WAREHOUSE,
  onCommit?: (batch: Batch<T>, at: number, durationMs: number) => void,
  conditions: Conditions = {},
): Warehouse<T> {
  const { outage, noise } = conditions;
  const random = conditions.random ?? Math.random;
  const stats: WarehouseStats = { transactions: 0, rejected: 0, aborted: 0, rows: 0, peakConcurrent: 0 };
  let running = 0;
  const committed = new Set<string>(); // one effect per batch id, as the Sink contract asks

  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => {
        clock.clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });

  return {
    kind: 'simulated-warehouse',
    stats,
    async write(batch: Batch<T>, { signal }: WriteOptions) {
      const now = clock.now();
      if (outage !== undefined && now >= outage.fromMs && now < outage.toMs) {
        stats.rejected++;
        await sleep(model.rejectMs, signal);
        throw new MicrobatchError('MB_SINK_FAILED', 'warehouse: unavailable (scripted outage)', {
          retryable: true,
        });
      }
      if (noise === undefined && running >= model.capacity) {
        stats.rejected++;
        await sleep(model.rejectMs, signal);
        throw new MicrobatchError(
          'MB_SINK_FAILED',
          `warehouse: too many concurrent transactions (${running} running, capacity ${model.capacity})`,
          { retryable: true },
        );
      }
      const durationMs =
        noise !== undefined
          ? Math.round(noise.medianMs * Math.exp(noise.sigma * normal(random)))
          : (model.connMs + batch.records.length * model.insertMs) * (1 + model.contention * running);
      running++;
      stats.peakConcurrent = Math.max(stats.peakConcurrent, running);
      try {
        await sleep(durationMs, signal);
      } catch (error) {
        stats.aborted++;
        throw error;
      } finally {
        running--;
      }
      if (!committed.has(batch.id)) {
        committed.add(batch.id);
        stats.transactions++;
        stats.rows += batch.records.length;
        onCommit?.(batch, clock.now(), durationMs);
      }
    },
  };
}
