export * from './compact.js';
export { type LakePartitionFn, type ParquetLakeSinkOptions, parquetLakeSink } from './sink.js';
