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

/** Logs nothing. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/**
 * `JSON.stringify` drops an error's `message` (it is not enumerable): a line that says only
 * "pipeline failed" with `{"code":…}` would not say what failed. Errors keep name, message and code.
 */
function errorsWithMessages(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  return { ...value, name: value.name, message: value.message };
}

/** One line on stderr: `microbatch WARN <message> <context as JSON>`. */
const toStderr =
  (level: string): LogMethod =>
  (context, message) => {
    let text: string;
    try {
      text = JSON.stringify(context, errorsWithMessages);
    } catch {
      text = '{}';
    }
    process.stderr.write(`microbatch ${level} ${message} ${text}\n`);
  };

/**
 * The default logger of a pipeline: warnings and errors on stderr, one line each; debug and info
 * are dropped. A sink that keeps failing, a missing dead-letter sink, a torn spool record — what a
 * person must see — is seen without configuring anything. Pass `logger: silentLogger` to turn it
 * off, or a pino logger for structured output.
 */
export const stderrLogger: Logger = {
  debug: noop,
  info: noop,
  warn: toStderr('WARN'),
  error: toStderr('ERROR'),
};
