/**
 * microbatch/snowflake: a Snowflake sink that stages each batch as a Parquet file and loads it with
 * `COPY INTO` in one transaction with its ledger row, so a pipeline with a replayable source is
 * exactly-once without a checkpoint store. Bring your own `snowflake-sdk` connection (typed
 * structurally: the driver is not a dependency) and a stage storage (`s3Storage` from
 * `microbatch/s3` for an external stage, {@link snowflakeInternalStage} for an internal one).
 * @packageDocumentation
 */
export { type CopyOutcome, readCopyResult, stagedFileName } from './copy.js';
export {
  DEFAULT_LEDGER_TABLE,
  type SnowflakeColumn,
  type SnowflakeTableDDLOptions,
  type SnowflakeTimestamps,
  type SnowflakeType,
  snowflakeColumns,
  snowflakeTableDDL,
} from './ddl.js';
export { classifyCode, type SnowflakeErrorClass } from './errors.js';
export type { SnowflakeTableName } from './identifiers.js';
export { type SnowflakeInternalStageOptions, snowflakeInternalStage } from './internal-stage.js';
export {
  type SnowflakeLoad,
  type SnowflakeSink,
  type SnowflakeSinkOptions,
  type StageStorage,
  snowflakeSink,
} from './sink.js';
export type {
  SnowflakeBind,
  SnowflakeConnectionLike,
  SnowflakeErrorLike,
  SnowflakeExecuteOptions,
  SnowflakeStatementLike,
} from './types.js';
