import type { SnowflakeBind, SnowflakeConnectionLike } from './types.js';

// One statement sequence at a time per connection object: a Snowflake transaction belongs to the
// session, so two batches interleaving BEGIN and COPY on one connection would share one transaction
// (and a PUT between them would run inside it). Kept per connection, not per sink, so that sink
// instances and an internal stage sharing a connection queue too.
const queues = new WeakMap<object, Promise<void>>();

/** Runs `work` when every earlier `exclusive` call on `connection` has settled. */
export async function exclusive<R>(connection: object, work: () => Promise<R>): Promise<R> {
  const previous = queues.get(connection) ?? Promise.resolve();
  let release!: () => void;
  const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
  queues.set(connection, mine);
  await previous;
  try {
    return await work();
  } finally {
    release();
    if (queues.get(connection) === mine) queues.delete(connection);
  }
}

/** True for anything with the driver's `execute()`. */
export function isConnection(value: unknown): value is SnowflakeConnectionLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SnowflakeConnectionLike).execute === 'function'
  );
}

/** One statement through the driver's callback API; rejects with the driver's error as it is. */
export function execute(
  connection: SnowflakeConnectionLike,
  sqlText: string,
  binds?: SnowflakeBind[],
): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const complete = (err: unknown, _stmt: unknown, rows: Record<string, unknown>[] | undefined) => {
      if (settled) return;
      settled = true;
      if (err === undefined || err === null) resolve(rows ?? []);
      else reject(err);
    };
    try {
      connection.execute({ sqlText, ...(binds === undefined ? {} : { binds }), complete });
    } catch (error) {
      complete(error ?? new Error('execute() threw'), undefined, undefined);
    }
  });
}
