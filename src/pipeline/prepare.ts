import { describeError, type ErrorCode, MicrobatchError } from '../core/errors.js';
import { missingPeers, missingPeersError } from '../core/peers.js';

/** A configured part that may need loading before the pipeline opens anything. */
export interface PreparedPart {
  /** How a failure names the part: `the sink`, `the dead-letter sink`, `the source`. */
  what: string;
  /** The code of a failure that is not a missing peer. */
  code: ErrorCode;
  part: { readonly kind?: string; prepare?(): void | Promise<void> } | undefined;
}

/**
 * Calls every part's `prepare()` together, when the pipeline starts and before any part is opened
 * or any record is read, so a missing optional peer is found at once rather than at the first
 * write. Every missing peer of every part is gathered into one `MB_MISSING_PEER` naming them all
 * and the one install command; another failure is its part's own (`MB_SINK_FAILED`, …).
 */
export async function prepareParts(pipeline: string, parts: readonly PreparedPart[]): Promise<void> {
  const withHook = parts.filter((p) => typeof p.part?.prepare === 'function');
  if (withHook.length === 0) return;
  const results = await Promise.allSettled(withHook.map(async (p) => p.part!.prepare!()));
  const missing: string[] = [];
  const needers: string[] = [];
  let first: unknown;
  for (const [i, result] of results.entries()) {
    if (result.status === 'fulfilled') continue;
    const { what, code, part } = withHook[i]!;
    if (MicrobatchError.is(result.reason, 'MB_MISSING_PEER')) {
      missing.push(...missingPeers(result.reason));
      needers.push(`${what}${part?.kind === undefined ? '' : ` (${part.kind})`}`);
      continue;
    }
    first ??= MicrobatchError.is(result.reason)
      ? result.reason
      : new MicrobatchError(
          code,
          `pipeline '${pipeline}': ${what} could not be prepared: ${describeError(result.reason)}`,
          {
            cause: result.reason,
          },
        );
  }
  if (missing.length > 0) {
    throw missingPeersError(`pipeline '${pipeline}': ${[...new Set(needers)].join(' and ')}`, missing, first);
  }
  if (first !== undefined) throw first;
}
