export {
  type CompactionCompression,
  type CompactionProgress,
  type CompactionReport,
  type CompactLakeOptions,
  compactLake,
  type SkippedBin,
} from './compact.js';
export { fileStorage } from './file-storage.js';
export { type LakePartitionFn, type ParquetLakeSinkOptions, parquetLakeSink } from './sink.js';
export {
  type ByteRange,
  type IncompleteWrite,
  type ListPage,
  listAll,
  type ObjectStorage,
  type PutIfAbsentResult,
  type StorageCallOptions,
  type StoredObject,
} from './storage.js';
