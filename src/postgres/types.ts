/**
 * The structural subset of `pg` and `pg-copy-streams` that microbatch/postgres calls. Declared here
 * so that the published `.d.ts` never imports a peer's types: any `pg` 8.x `Pool` fits.
 */

/** What a query resolves with (`pg`'s `QueryResult`, the part we read). */
export interface PgQueryResultLike {
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/** A connection checked out of the pool (`pg`'s `PoolClient`). */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<PgQueryResultLike>;
  /** Submits a `pg-copy-streams` stream; returns it. */
  query<S>(submittable: S): S;
  /** Back to the pool; with an error (or `true`) the connection is closed instead of reused. */
  release(error?: Error | boolean): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/** A `pg` `Pool` (or anything with `connect()` handing out {@link PgClientLike} connections). */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
}
