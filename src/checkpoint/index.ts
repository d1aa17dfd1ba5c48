export { type FileCheckpointOptions, type FileCheckpointStore, fileCheckpoint } from './file.js';
export { type MemoryCheckpointStore, memoryCheckpoint } from './memory.js';
export type {
  CheckpointContext,
  CheckpointStore,
  PartitionCheckpoint,
  PlannedBatch,
} from './types.js';
