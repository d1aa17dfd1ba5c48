/** What a CLI command writes to and listens to; the process streams in main.ts, buffers in tests. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Aborted on SIGINT/SIGTERM: a running compaction stops between bins. */
  signal?: AbortSignal;
}

/** A mistake in the command line: printed with the usage hint, exit code 2, no stack trace. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
