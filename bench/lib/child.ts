import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: workers run from it so that `--import tsx` resolves. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Workers print their result as one line starting with this marker. */
export const RESULT_MARKER = '@@bench-result ';

/** Prints a worker's result for the orchestrator. */
export function emitResult(result: unknown): void {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

/**
 * Runs a bench script in a fresh Node process (fresh heap, its own peak RSS) through tsx, and
 * returns the result it printed. Throws with the child's stderr when it fails or prints none.
 */
export function runWorker<T>(
  script: string,
  args: string[],
  timeoutMs = 300_000,
  nodeFlags: readonly string[] = [],
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', script, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
      if (code !== 0 || line === undefined) {
        const why = signal ? `killed by ${signal}` : `exit code ${code}`;
        reject(new Error(`${script} ${args.join(' ')}: ${why}\n${stderr.trim() || stdout.trim()}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_MARKER.length)) as T);
    });
  });
}
