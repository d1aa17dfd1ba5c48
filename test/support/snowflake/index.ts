/**
 * The Snowflake contract double (test infrastructure): see double.ts for the in-process double and
 * remote.ts for using it from a child process. Its own tests are test/snowflake/double*.test.ts.
 */
export type { LoadRecord } from './copy.js';
export { LOAD_HISTORY_MS, LOADED_BEFORE, ZERO_FILES } from './copy.js';
export {
  type Bind,
  type ExecuteOptions,
  exec,
  type Fault,
  type FaultSpec,
  type QueryStatus,
  type SnowflakeConnectionLike,
  SnowflakeDouble,
  type SnowflakeDoubleOptions,
  type StatementHandle,
  type StatementKind,
  type StatementRecord,
} from './double.js';
export { DriverError, networkError, OperationFailedError, SERVER_ERRORS, serverError } from './errors.js';
export { remoteSnowflakeConnection, type SnowflakeDoubleServer, serveSnowflakeDouble } from './remote.js';
