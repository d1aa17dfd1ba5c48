/**
 * A test-only fault hook for the compaction protocol. Not exported from the package (src/lake/index.ts
 * does not re-export it): the crash tests import this file directly to stop a run at a chosen step,
 * leaving the directory exactly as a crash at that point would (a thrown hook skips the clean-up).
 */

/** The moments of the protocol at which a crash can be injected. */
export type CompactionStep =
  | 'before-intent'
  | 'intent-written'
  | 'output-written'
  | 'input-deleted'
  | 'inputs-deleted'
  | 'intent-deleted';

/** Every {@link CompactionStep}, in protocol order. */
export const COMPACTION_STEPS: readonly CompactionStep[] = [
  'before-intent',
  'intent-written',
  'output-written',
  'input-deleted',
  'inputs-deleted',
  'intent-deleted',
];

/** The error a fault hook throws to simulate a crash; compaction lets it through untouched. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

/** `url`: the storage URL of the object the step is about (`file:///…`, `s3://…`). */
type Hook = (step: CompactionStep, url: string) => void;

let hook: Hook | undefined;

/** Installs (or removes, with `undefined`) the hook called at each step. */
export function setCompactionFaultHook(next: Hook | undefined): void {
  hook = next;
}

/** Called by compaction at each step. */
export function reachedStep(step: CompactionStep, url: string): void {
  hook?.(step, url);
}
