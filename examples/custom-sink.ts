/**
 * A custom sink for a (simulated) warehouse. It shows the three rules of the Sink contract:
 * 1. one effect per `batch.id`: the rows and the batch id are stored in one transaction, and a
 *    batch id already in the ledger is skipped, so a retried write never loads twice;
 * 2. errors are classified: transient ones are retryable, everything else is fatal;
 * 3. the write honours `signal`, and `close()` releases the connection.
 */
import { fromIterable, MicrobatchError, pipeline, type Sink, triggers } from 'microbatch';

interface Order {
  id: number;
  amount: number;
}

/** An error as a database driver would throw it. */
class DriverError extends Error {
  constructor(
    readonly sqlState: string,
    message: string,
  ) {
    super(message);
  }
}

/** A toy warehouse: a table, a ledger of loaded batch ids, and a failure plan. */
class Warehouse {
  readonly rows: Order[] = [];
  /** Batch ids whose rows are in `rows`: the ledger table. */
  readonly ledger = new Set<string>();
  connected = false;
  calls = 0;

  async connect(): Promise<void> {
    this.connected = true;
  }

  async disconnect(): Promise<void> {
    this.connected = false;
  }

  /** Inserts the rows and records the batch id atomically, like `BEGIN; INSERT…; INSERT INTO ledger…; COMMIT`. */
  async loadBatch(batchId: string, rows: Order[], signal: AbortSignal): Promise<void> {
    const call = ++this.calls;
    await new Promise((resolve) => setTimeout(resolve, 2));
    signal.throwIfAborted();
    if (rows.some((r) => r.amount < 0)) throw new DriverError('23514', 'check constraint "amount_positive"');
    this.rows.push(...rows);
    this.ledger.add(batchId);
    // The second call commits, then loses its connection before answering: the classic case where
    // the client cannot know whether the load happened, and must retry safely.
    if (call === 2) throw new DriverError('08006', 'connection lost after commit');
  }
}

// SQLSTATE classes that mean "try again": connection exceptions, lock timeouts, deadlocks, overload.
const RETRYABLE_SQLSTATE = /^(08|40001|40P01|55P03|53)/;

/** Turns a driver error into one the pipeline can classify. */
function classify(error: unknown): MicrobatchError {
  const state = error instanceof DriverError ? error.sqlState : undefined;
  const retryable = state !== undefined && RETRYABLE_SQLSTATE.test(state);
  const message = error instanceof Error ? error.message : String(error);
  return new MicrobatchError('MB_SINK_FAILED', `warehouse: ${message} (SQLSTATE ${state ?? 'unknown'})`, {
    cause: error,
    retryable,
    // Ask for a short pause before the retry (a floor under the pipeline's own back-off).
    retryAfter: retryable ? 20 : undefined,
    details: { sqlState: state },
  });
}

function warehouseSink(db: Warehouse): Sink<Order> {
  return {
    kind: 'warehouse',
    async open() {
      await db.connect();
    },
    async write(batch, { signal, attempt }) {
      // Rule 1: same id, same effect. A real sink would query its ledger table here.
      if (db.ledger.has(batch.id)) {
        console.log(`  ${batch.id} attempt ${attempt}: already loaded, skipped`);
        return;
      }
      try {
        await db.loadBatch(batch.id, batch.records, signal);
        console.log(`  ${batch.id} attempt ${attempt}: loaded ${batch.records.length} rows`);
      } catch (error) {
        if (signal.aborted) throw error; // the pipeline gave up on this write; let it see why
        throw classify(error);
      }
    },
    async close() {
      await db.disconnect();
    },
  };
}

const orders = Array.from({ length: 1_000 }, (_, i) => ({ id: i, amount: 10 + (i % 17) }));

console.log('run 1: a lost connection is retried, and the retry does not load twice');
const db = new Warehouse();
const loader = pipeline({ name: 'orders', retry: { initialDelay: '10ms', maxDelay: '200ms' } })
  .source(fromIterable(orders))
  .trigger(triggers.volume({ records: 250 }))
  .sink(warehouseSink(db))
  .build();
loader.on('retry', ({ batch, attempt, delayMs }) => {
  console.log(`  ${batch.id} attempt ${attempt} failed (retryable); retrying in ${delayMs} ms`);
});
const report = await loader.run();
console.log(
  `status=${report.status} rows=${db.rows.length} distinct=${new Set(db.rows.map((r) => r.id)).size}`,
);
console.log(`retries=${loader.metrics().counts.retries} committed=${JSON.stringify(report.committed)}`);
console.log(`connected after the run: ${db.connected}`);

console.log('run 2: a constraint violation is fatal');
const broken = [...orders.slice(0, 300), { id: 300, amount: -1 }];
const db2 = new Warehouse();
try {
  // One write at a time, so the first batch is loaded and committed before the bad one fails.
  await pipeline({ name: 'orders', concurrency: 1 })
    .source(fromIterable(broken))
    .trigger(triggers.volume({ records: 250 }))
    .sink(warehouseSink(db2))
    .build()
    .run();
} catch (error) {
  if (!MicrobatchError.is(error, 'MB_SINK_FAILED')) throw error;
  console.log(`run() rejected: ${error.code}: ${error.message}`);
  const failed = error.details.report as { undelivered: unknown[]; committed: unknown };
  console.log('committed:', failed.committed, 'undelivered:', failed.undelivered);
}
