// The properties `sinkConformance` checks, and the error that names the one a sink broke.

// Each failure names one of these: the command sequence shows which situation broke it.
export const PROPERTIES = {
  'exactly-once':
    'every acknowledged record is read back exactly once, whatever the rewrites of a batch id (a), crashes mid-write (b) and concurrent writes to several partitions (d)',
  ledger:
    'the ledger (committed) never goes backwards, is ≥ the lastOffset of every acknowledged write, and is not beyond anything written to the partition (c)',
  abort: 'an aborted write settles (resolves or rejects) soon after its AbortSignal is aborted',
  write: 'writes succeed; retryable errors are retried',
  read: 'read() and identify() return the positions of the records written',
} as const;

export type Property = keyof typeof PROPERTIES;

export interface Violation extends Error {
  property: Property;
}

export function violation(property: Property, message: string, cause?: unknown): Violation {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as Violation;
  error.property = property;
  return error;
}

export const isViolation = (error: unknown): error is Violation =>
  error instanceof Error && typeof (error as Partial<Violation>).property === 'string';
