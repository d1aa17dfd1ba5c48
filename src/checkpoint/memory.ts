import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { checkPartitionCheckpoint } from './state.js';
import type { CheckpointContext, CheckpointStore, PartitionCheckpoint } from './types.js';

/** A checkpoint store in memory, with a read-only view of what it holds. */
export interface MemoryCheckpointStore extends CheckpointStore {
  readonly kind: 'memory';
  readonly durable: false;
  /**
   * A copy of every partition state saved for `pipeline`, by partition (empty when none was saved).
   * Changing it changes nothing in the store.
   */
  state(pipeline: string): Record<string, PartitionCheckpoint>;
  /** `save()` calls so far, all pipelines. */
  readonly saves: number;
  open(context: CheckpointContext): void;
  load(partition: string): PartitionCheckpoint | undefined;
  save(partition: string, state: PartitionCheckpoint): void;
  close(): void;
}

/**
 * Keeps checkpoints in memory: for tests, and for pipelines whose source keeps its own offsets
 * (the checkpoint then only lasts as long as the process, so delivery is at-least-once).
 *
 * States are kept per pipeline and partition, so the same store passed to a new pipeline of the
 * same name (a restart, in a test) sees what the earlier one saved. It serves one open pipeline at
 * a time. States are copied on `save()` and `load()`: a caller cannot change what is stored.
 */
export function memoryCheckpoint(): MemoryCheckpointStore {
  const pipelines = new Map<string, Map<string, PartitionCheckpoint>>();
  let current: Map<string, PartitionCheckpoint> | undefined;
  let currentName: string | undefined;
  let saves = 0;

  const opened = (method: string): Map<string, PartitionCheckpoint> => {
    if (current === undefined) {
      throw new MicrobatchError('MB_CLOSED', `memoryCheckpoint: ${method}() before open() or after close()`);
    }
    return current;
  };

  return {
    kind: 'memory',
    durable: false,
    get saves() {
      return saves;
    },
    state(pipeline) {
      const states = pipelines.get(pipeline);
      return Object.fromEntries(
        [...(states ?? [])].map(([partition, state]) => [partition, checkPartitionCheckpoint(state)]),
      );
    },
    open(context: CheckpointContext) {
      // Opening again under the same name is allowed: a test may abandon a pipeline (a simulated
      // crash) and start another one with the same store.
      if (currentName !== undefined && currentName !== context.pipeline) {
        throw invalidOptions(
          `memoryCheckpoint: already open for pipeline '${currentName}', cannot open it for '${context.pipeline}'; a store serves one pipeline at a time (create one per pipeline)`,
        );
      }
      currentName = context.pipeline;
      current = pipelines.get(currentName);
      if (current === undefined) pipelines.set(currentName, (current = new Map()));
    },
    load(partition) {
      const state = opened('load').get(partition);
      return state === undefined ? undefined : checkPartitionCheckpoint(state);
    },
    save(partition, state) {
      const states = opened('save');
      let copy: PartitionCheckpoint;
      try {
        copy = checkPartitionCheckpoint(state);
      } catch (error) {
        throw invalidOptions(`memoryCheckpoint: save('${partition}'): ${describeError(error)}`, {
          partition,
        });
      }
      states.set(String(partition), copy);
      saves++;
    },
    close() {
      current = undefined;
      currentName = undefined;
    },
  };
}
