/** A log method in pino's shape: a context object first, then the message. */
export type LogMethod = (context: Record<string, unknown>, message: string) => void;

/**
 * The logger a pipeline writes to. A pino logger fits as is (`pipeline({ name, logger: pino() })`);
 * so does anything with these four methods. Credentials never reach it.
 */
export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

const noop: LogMethod = () => {};

/** The default: logs nothing. Pass a logger to see traces. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
