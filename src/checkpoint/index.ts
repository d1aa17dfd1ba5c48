export type {
  CheckpointContext,
  CheckpointStore,
  PartitionCheckpoint,
  PlannedBatch,
} from './types.js';
