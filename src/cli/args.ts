import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './io.js';

/**
 * `parseArgs` in strict mode, with its errors turned into short usage errors: Node's own text for
 * an unknown option ("… place it at the end of the command after '--', as in '-- \"--x\"") is
 * long and quotes unevenly.
 */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: O }>> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    const option = /'(-[^']*)'/.exec(message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) {
      throw new UsageError(`unknown option ${option}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option !== undefined) {
      const name = option.split(/[ ,]/)[0]!;
      const wantsValue =
        (options[name.replace(/^--?/, '')] as { type?: string } | undefined)?.type === 'string';
      throw new UsageError(wantsValue ? `option ${name} needs a value` : `option ${name} takes no value`);
    }
    throw new UsageError(message);
  }
}

/** `1 file`, `2 files`. */
export const plural = (count: number, noun: string, nouns = `${noun}s`): string =>
  `${count} ${count === 1 ? noun : nouns}`;
