/**
 * The structural subset of `snowflake-sdk` that microbatch/snowflake calls. Declared here so that the
 * published `.d.ts` never imports the driver's types: a `snowflake-sdk` 2.x or 3.x `Connection`, a
 * pool's connection or a test double fits.
 */

/** A bind value: values only, never identifiers. */
export type SnowflakeBind = string | number | boolean | null;

/** What the driver passes to `complete` on failure (`OperationFailedError` and the driver's own errors). */
export interface SnowflakeErrorLike {
  /** The server's code as a string (`'000610'`), or the driver's numeric code (`401001`). */
  code?: string | number;
  sqlState?: string;
  message?: string;
  data?: { queryId?: string; sqlState?: string; errorCode?: string } | null;
}

/** The statement object `execute()` returns and `complete` receives. */
export interface SnowflakeStatementLike {
  getQueryId?(): string | undefined;
  getSqlText?(): string;
}

/** The options of `execute()` the sink passes. */
export interface SnowflakeExecuteOptions {
  sqlText: string;
  binds?: SnowflakeBind[];
  complete: (
    err: SnowflakeErrorLike | undefined | null,
    stmt: SnowflakeStatementLike,
    rows: Record<string, unknown>[] | undefined,
  ) => void;
}

/** A `snowflake-sdk` `Connection`, connected (the sink never connects or destroys a connection you give it). */
export interface SnowflakeConnectionLike {
  execute(options: SnowflakeExecuteOptions): unknown;
}
