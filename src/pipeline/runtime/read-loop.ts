import { type ErrorCode, MicrobatchError } from '../../core/errors.js';
import type { SourceChunk, SourceReader } from '../../sources/types.js';
import type { ReadLoopState } from '../idle.js';
import { rangeFrom } from './chunks.js';
import type { Parts } from './parts.js';

/** Records read from a synchronous source between two turns of the event loop (timers, I/O). */
const SYNC_RECORDS_PER_TURN = 32_768;

/** Errors of the pipeline's own recovery, raised while reading: they fail it without a drain. */
const PIPELINE_FAULTS = new Set<ErrorCode>(['MB_LEDGER_AHEAD', 'MB_CHECKPOINT_FAILED', 'MB_SINK_FAILED']);

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The pump: reads chunks until the source ends or the pipeline halts, and hands them to the ingest.
 * Invariants: nothing is read after a halt (a pending read is interrupted); a chunk of a partition
 * revoked after it arrived is handed over, not delivered; a synchronous source gives the event loop
 * back regularly; a source failure is drained (what it read is delivered), a recovery fault is fatal.
 */
export async function readLoop(
  parts: Parts,
  reader: SourceReader<unknown>,
  state?: ReadLoopState,
): Promise<void> {
  const { settings, lifecycle, ownership, commits, lanes, recovery, ingest, accounting } = parts;
  const preparePartitions = settings.checkpoint !== undefined || settings.ledger;
  let syncRecords = 0;
  try {
    while (!lifecycle.halted) {
      // When the chunk arrived, in revocations: compared with its partition's last one below.
      let arrival = ownership.serial;
      let result = reader.read();
      state?.reading(result);
      if (result !== null && typeof (result as Promise<unknown>).then === 'function') {
        syncRecords = 0;
        // A source may wait a long time for its next record; a halt must not wait for it. (One
        // interrupt slot, overwritten per read: racing a shared promise would pile up reactions.)
        const pending = result as Promise<SourceChunk<unknown> | null>;
        result = await new Promise<SourceChunk<unknown> | null>((resolve, reject) => {
          lifecycle.interruptRead = () => resolve(null);
          pending.then((chunk) => {
            arrival = ownership.serial;
            resolve(chunk);
          }, reject);
        });
        lifecycle.interruptRead = undefined;
        state?.settled();
      } else if (syncRecords >= SYNC_RECORDS_PER_TURN) {
        // A synchronous source never gives the event loop back by itself: let timers and I/O run.
        syncRecords = 0;
        await yieldToLoop();
      } else if (commits.inFlight.batches > 0) {
        // Let flushed batches be written before reading more, so they do not pile up in memory.
        // (Measured: a full loop turn here beats microtask turns, which let a write advance only
        // one promise step per read and so keep batches alive longer.)
        await yieldToLoop();
      }
      if (result === null) return;
      const chunk = result as SourceChunk<unknown>;
      const partition = String(chunk.partition);
      if (preparePartitions && !commits.partitions.has(partition)) {
        await recovery.preparePartition(partition);
        if (lifecycle.halted) return;
      }
      if (ownership.revokedSince(partition, arrival)) {
        // Handed over before the source revoked its partition, taken after: the next owner reads
        // it again. (A commit order set up for it meanwhile came from the state of before the revocation.)
        if (lanes.get(partition) === undefined) {
          commits.partitions.delete(partition);
          recovery.forget(partition);
        }
        accounting.handedOver(chunk.values.length + (chunk.rejected?.length ?? 0));
        continue;
      }
      syncRecords += chunk.values.length;
      const waiting = ingest.ingest(chunk);
      if (waiting !== undefined) await waiting;
    }
  } catch (error) {
    if (MicrobatchError.is(error) && PIPELINE_FAULTS.has(error.code)) {
      // Not the source's fault: nothing read after this can be delivered safely.
      lifecycle.fail(error, error.code, 'recovery failed');
      return;
    }
    // What was read before the failure is still delivered (drained) before the pipeline fails.
    lifecycle.sourceFailure(
      MicrobatchError.wrap(error, 'MB_SOURCE_FAILED', `pipeline '${settings.name}': the source failed`),
    );
  }
}

/**
 * After a halt (stop without drain, a failure, a missed deadline): takes what the source had
 * already accepted — records a push source told its producer were taken — and reports it as
 * undelivered, so nothing disappears from the accounting.
 */
export async function collectLeftovers(parts: Parts, reader: SourceReader<unknown>): Promise<void> {
  if (reader.stop === undefined) return;
  reader.stop();
  try {
    for (let reads = 0; reads < 10_000; reads++) {
      let result = reader.read();
      if (result !== null && typeof (result as Promise<unknown>).then === 'function') {
        // Only what is already there: a source still waiting for input has nothing to hand over.
        result = await Promise.race([
          result as Promise<SourceChunk<unknown> | null>,
          new Promise<null>((resolve) => setImmediate(() => resolve(null))),
        ]);
      }
      const chunk = result as SourceChunk<unknown> | null;
      if (chunk === null) return;
      const range = rangeFrom(chunk, 0, 0);
      if (range === undefined) continue;
      parts.accounting.abandon({ partition: String(chunk.partition), ...range, state: 'buffered' });
    }
  } catch (error) {
    parts.settings.logger.warn(
      { pipeline: parts.settings.name, err: error },
      'source failed while handing over its leftovers',
    );
  }
}
