import type { Mode } from './workload.js';

/** Throughput variants; each runs in its own process. */
export const VARIANTS = ['microbatch', 'microbatch-sized', 'rxjs', 'effect', 'hand'] as const;
export type Variant = (typeof VARIANTS)[number];

/** What one throughput run reports. */
export interface ThroughputResult {
  variant: Variant;
  mode: Mode;
  records: number;
  batches: number;
  largestBatch: number;
  elapsedMs: number;
  recordsPerSecond: number;
  /** RSS just before the workload started (runtime, tsx and the library under test loaded). */
  baselineRss: number;
  /** Peak RSS of the process over its life (`process.resourceUsage().maxRSS`). */
  peakRss: number;
}

/** Lateness implementations; each runs in its own process. */
export const LATENESS_IMPLS = ['microbatch', 'rxjs', 'effect', 'hand'] as const;
export type LatenessImpl = (typeof LATENESS_IMPLS)[number];

export interface Figures {
  median: number;
  p99: number;
  min: number;
  max: number;
}

/** What one lateness run reports (ms). */
export interface LatenessResult {
  impl: LatenessImpl;
  seconds: number;
  records: number;
  windows: number;
  /** emission − (arrival of the batch's first record + window). */
  lateness: Figures;
  /**
   * Lateness against the implementation's own timer. For RxJS and Effect (a free timer restarted
   * at each emission): emission − (previous emission + window). For microbatch and the hand loop,
   * whose timer starts at the first record, it is `lateness` itself.
   */
  ownTimer: Figures;
  meanBatchSize: number;
}

/** The runs of one throughput variant in one arrival mode, with their medians. */
export interface ThroughputSummary {
  variant: Variant;
  label: string;
  mode: Mode;
  runs: ThroughputResult[];
  recordsPerSecond: number;
  peakRss: number;
  baselineRss: number;
}

/** One goal of the issue, judged. */
export interface GoalRow {
  goal: string;
  measured: string;
  pass: boolean;
}

/** validate + dedupe + redact against plain zod `safeParse`, measured in one process (records/s). */
export interface TransformsResult {
  records: number;
  runs: number;
  /** Records per batch handed to the transforms. */
  batch: number;
  zod: { runs: number[]; median: number; kept: number };
  microbatch: { runs: number[]; median: number; kept: number };
  /** microbatch median / zod median. */
  ratio: number;
}
