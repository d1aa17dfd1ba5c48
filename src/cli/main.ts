#!/usr/bin/env node
/**
 * The `microbatch` command (package.json `bin`, built to dist/cli.js). Subcommands:
 *   microbatch compact <dir> [options]   (src/cli/compact.ts)
 * Exit codes: 0 done, 1 failed (the MB_* code and message on stderr), 2 usage error.
 */
import { describeError, MicrobatchError } from '../core/errors.js';
import { compactCommand, compactUsage } from './compact.js';
import { type CliIo, UsageError } from './io.js';
import { packageInfo } from './package-info.js';

const USAGE = `Usage: microbatch <command> [options]

Commands:
  compact <dir>   rewrite a Parquet lake's small files into bigger ones (microbatch compact --help)

Options:
  --version, -v   print the version of microbatch
  --help, -h      show this help

Exit codes: 0 done, 1 failed, 2 usage error.`;

/** Runs the command line `argv` (without `node` and the script); resolves with the exit code. */
async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      if (command !== undefined) {
        io.stdout(`${USAGE}\n`);
        return 0;
      }
      io.stderr(`${USAGE}\n`);
      return 2;
    }
    if (command === '--version' || command === '-v' || command === 'version') {
      io.stdout(`${packageInfo().version}\n`);
      return 0;
    }
    if (command === 'compact') return await compactCommand(rest, io);
    throw new UsageError(
      command.startsWith('-') ? `unknown option ${command}` : `unknown command '${command}'`,
    );
  } catch (error) {
    if (error instanceof UsageError) {
      const help = (command === 'compact' ? compactUsage() : USAGE).split('\n')[0];
      io.stderr(
        `microbatch: ${error.message}\n${help}\nRun 'microbatch ${command === 'compact' ? 'compact ' : ''}--help' for the options.\n`,
      );
      return 2;
    }
    // Failures are reported by code and message; a stack trace would only hide them.
    if (MicrobatchError.is(error)) io.stderr(`microbatch: ${error.code}: ${error.message}\n`);
    else io.stderr(`microbatch: ${describeError(error)}\n`);
    return 1;
  }
}

const controller = new AbortController();
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.once(name, () => controller.abort(new Error(`received ${name}`)));
}
main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  signal: controller.signal,
}).then((code) => {
  process.exitCode = code;
});
