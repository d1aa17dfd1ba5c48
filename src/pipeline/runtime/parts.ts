import type { CheckpointStore } from '../../checkpoint/types.js';
import type { DeadLetter } from '../../core/batch.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { ResolvedEventTime } from '../../event-time/options.js';
import type { Sink } from '../../sinks/types.js';
import type { Source } from '../../sources/types.js';
import type { Transform } from '../../transforms/types.js';
import type { AdaptiveController } from '../../triggers/adaptive.js';
import type { Trigger } from '../../triggers/types.js';
import type { EventHub } from '../events.js';
import type { ResolvedOptions } from '../options.js';
import type { Accounting } from './accounting.js';
import type { BatchWriter } from './batch-writer.js';
import type { CommitTracker } from './commit-tracker.js';
import type { EventTimeTracker } from './event-time-tracker.js';
import type { Ingest } from './ingest.js';
import type { Lanes } from './lanes.js';
import type { Lifecycle } from './lifecycle.js';
import type { MemoryBudget } from './memory-budget.js';
import type { Ownership } from './ownership.js';
import type { Recovery } from './recovery.js';
import type { WindowScheduler } from './window-scheduler.js';

/** Everything the builder hands the runtime. */
export interface RuntimeParts {
  options: ResolvedOptions;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal | undefined;
  source: Source<unknown>;
  trigger: Trigger;
  transforms: Transform<unknown, unknown>[];
  sink: Sink<unknown>;
  deadLetter: Sink<DeadLetter> | undefined;
  checkpoint?: CheckpointStore | undefined;
  eventTime?: ResolvedEventTime | undefined;
}

/** What every part of the runtime may use: the pipeline's settings and its collaborators. */
export interface Settings {
  readonly name: string;
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventHub;
  readonly source: Source<unknown>;
  readonly trigger: Trigger;
  readonly transforms: Transform<unknown, unknown>[];
  readonly sink: Sink<unknown>;
  readonly deadLetter: Sink<DeadLetter> | undefined;
  readonly checkpoint: CheckpointStore | undefined;
  /** The adaptive trigger's controller, fed by the runtime; `undefined` for other triggers. */
  readonly adaptive: AdaptiveController | undefined;
  /** Largest record accepted: the configured limit, tightened by the trigger's byte cap. */
  readonly recordLimit: number;
  /** Size every record (a byte limit needs it) or estimate from samples (only the budget does). */
  readonly sizeEach: boolean;
  /**
   * The sink keeps a ledger the runtime relies on (`committed()` with a replayable source): each
   * partition's first chunk waits for it.
   */
  readonly ledger: boolean;
}

/**
 * The parts of one running pipeline. The facade builds them in dependency order and each part keeps
 * this record, reading its siblings when it calls them (they call each other both ways: a flush
 * wakes the scheduler, the scheduler flushes).
 */
export interface Parts {
  readonly settings: Settings;
  readonly lifecycle: Lifecycle;
  readonly accounting: Accounting;
  readonly budget: MemoryBudget;
  readonly commits: CommitTracker;
  readonly writer: BatchWriter;
  readonly scheduler: WindowScheduler;
  readonly lanes: Lanes;
  /** Only built with `.eventTime()`. */
  readonly eventTime: EventTimeTracker | undefined;
  readonly recovery: Recovery;
  readonly ingest: Ingest;
  readonly ownership: Ownership;
}
