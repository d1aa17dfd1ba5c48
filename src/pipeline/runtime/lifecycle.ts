import { type ErrorCode, MicrobatchError } from '../../core/errors.js';
import type { PipelineStatus } from '../report.js';
import type { Parts } from './parts.js';

/**
 * How a run ended, decided once from what happened during it:
 * - `completed`: the source ran out and everything read was delivered and committed;
 * - `stopped`: `stop()` ended it; `error` says its deadline passed before everything was delivered;
 * - `failed`: a fatal error (the first one), or the source failed after what it had read was drained.
 */
export type EndReason =
  | { readonly kind: 'completed' }
  | { readonly kind: 'stopped'; readonly error?: MicrobatchError }
  | { readonly kind: 'failed'; readonly error: MicrobatchError };

/** Statuses in the only order they may take. */
const ORDER: Record<PipelineStatus, number> = {
  idle: 0,
  running: 1,
  draining: 2,
  completed: 3,
  stopped: 3,
  failed: 3,
};

/**
 * The pipeline's status and what decides how it ends. Invariants: status only moves forward (and
 * never out of one of the three final ones); the first
 * fatal error wins; halting is idempotent and follows from a fatal error, a stop without drain or a
 * missed stop deadline, never from a separate flag.
 */
export class Lifecycle {
  readonly #parts: Parts;
  #status: PipelineStatus = 'idle';
  /** The first fatal error: reading stops, writes are aborted. */
  #fatal: MicrobatchError | undefined;
  /** The source failed: what it read is still drained, then the pipeline fails with this. */
  #sourceFailure: MicrobatchError | undefined;
  #stop: { readonly drain: boolean } | undefined;
  #deadlineMissed = false;
  #end: EndReason | undefined;
  /** Aborts every write, retry wait and checkpoint save: on a fatal error and at the stop deadline. */
  readonly writeAbort = new AbortController();
  /** Handed to the source: aborted when it is closed. */
  readonly sourceAbort = new AbortController();
  /** Resolves the read the pump is waiting on with "nothing", so a halt does not wait for the source. */
  interruptRead: (() => void) | undefined;

  constructor(parts: Parts) {
    this.#parts = parts;
  }

  get status(): PipelineStatus {
    return this.#status;
  }

  /** Reading must end now: a fatal error, a stop without drain, or a missed stop deadline. */
  get halted(): boolean {
    return this.#fatal !== undefined || this.#deadlineMissed || this.#stop?.drain === false;
  }

  /** The first fatal error, if any. */
  get fatal(): MicrobatchError | undefined {
    return this.#fatal;
  }

  get sourceFailed(): boolean {
    return this.#sourceFailure !== undefined;
  }

  get stopRequested(): boolean {
    return this.#stop !== undefined;
  }

  get deadlineMissed(): boolean {
    return this.#deadlineMissed;
  }

  get settled(): boolean {
    return ORDER[this.#status] === 3;
  }

  /** The error the report shows: the end's, or while running the fatal one. */
  get error(): MicrobatchError | undefined {
    return this.#end === undefined
      ? this.#fatal
      : this.#end.kind === 'completed'
        ? undefined
        : this.#end.error;
  }

  /** Moves the status forward and says so; a move backwards or sideways is ignored. */
  setStatus(to: PipelineStatus): void {
    const from = this.#status;
    if (from === to || ORDER[to] < ORDER[from] || ORDER[from] === 3) return;
    this.#status = to;
    this.#parts.settings.events.emit('status', { from, to });
  }

  /** Records a stop request; returns false when one was already made or the run is over. */
  requestStop(drain: boolean): boolean {
    if (this.#stop !== undefined || this.settled) return false;
    this.#stop = { drain };
    if (this.#status === 'running') this.setStatus('draining');
    if (!drain) this.#halted();
    return true;
  }

  /** The stop deadline passed: halt and abort the writes still running. */
  missDeadline(deadlineMs: number): void {
    const wasHalted = this.halted;
    this.#deadlineMissed = true;
    if (!wasHalted) this.#halted();
    this.#parts.commits.wakeIdle();
    this.writeAbort.abort(
      new MicrobatchError(
        'MB_CLOSED',
        `pipeline '${this.#parts.settings.name}': stop deadline (${deadlineMs}ms) passed; writes aborted`,
      ),
    );
  }

  /** The source failed: log, emit, and drain what was read before failing with it. */
  sourceFailure(failure: MicrobatchError): void {
    const { name, logger, events } = this.#parts.settings;
    this.#sourceFailure = failure;
    logger.error({ pipeline: name, err: failure }, 'source failed; draining what was read');
    events.emit('error', { error: failure });
  }

  /** A fatal error: stop reading, abort writes, settle with the error. The first one wins. */
  fail(error: unknown, code: ErrorCode, what: string): void {
    if (this.#fatal !== undefined) return;
    const { name, logger, events } = this.#parts.settings;
    const failure = MicrobatchError.wrap(error, code, `pipeline '${name}': ${what}`);
    const wasHalted = this.halted;
    this.#fatal = failure;
    logger.error({ pipeline: name, code: failure.code, err: failure }, 'pipeline failed');
    events.emit('error', { error: failure });
    this.setStatus('failed');
    if (!wasHalted) this.#halted();
    this.writeAbort.abort(failure);
    // The source's signal carries the failure: a push source tells its producers why it closed.
    this.sourceAbort.abort(failure);
    this.#parts.commits.wakeIdle();
  }

  /** A part could not be opened: the pipeline fails before it ran. */
  failOpen(error: unknown, code: ErrorCode, what: string): MicrobatchError {
    const failure = MicrobatchError.wrap(error, code, `pipeline '${this.#parts.settings.name}': ${what}`);
    this.#fatal = failure;
    this.setStatus('failed');
    return failure;
  }

  /** Decides how the run ended and moves to the final status. */
  end(): EndReason {
    const error = this.#fatal ?? this.#sourceFailure;
    if (error !== undefined) this.#end = { kind: 'failed', error };
    else if (this.#deadlineMissed) {
      this.#end = {
        kind: 'stopped',
        error: new MicrobatchError(
          'MB_CLOSED',
          `pipeline '${this.#parts.settings.name}': stop deadline passed before everything was delivered`,
        ),
      };
    } else this.#end = this.#stop !== undefined ? { kind: 'stopped' } : { kind: 'completed' };
    this.setStatus(this.#end.kind);
    return this.#end;
  }

  /** The moment reading must end: the pending read returns nothing, waits for memory return. */
  #halted(): void {
    this.interruptRead?.();
    this.#parts.budget.wakeAll();
  }
}
