/**
 * Worker processes for the crash tests: a TypeScript worker started in a real Node process, its
 * output and `commit …` lines watched, and a SIGKILL that lands at a chosen moment of its stream.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';

// `--import tsx` in this very process: the tsx CLI would run the worker in a child process, which a
// SIGKILL of the CLI would leave running.
const tsx = createRequire(import.meta.url).resolve('tsx');

/** A worker started by {@link startWorker}. */
export interface WorkerRun {
  readonly child: ChildProcess;
  /** The `commit …` lines it printed so far. */
  commits(): number;
  /** Its exit code; null when a signal ended it. */
  readonly exited: Promise<number | null>;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
}

/** Workers started and not exited yet, for {@link killRunningWorkers}. */
const running = new Set<ChildProcess>();

/** Starts `worker` (a TypeScript file) with `args` in a new Node process, through tsx's loader. */
export function startWorker(worker: string, args: string[]): WorkerRun {
  const child = spawn(process.execPath, ['--import', tsx, worker, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  let commits = 0;
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
    for (const line of text.split('\n')) if (line.startsWith('commit ')) commits++;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return { child, commits: () => commits, exited, output: () => output };
}

/**
 * Kills `run` with SIGKILL once it printed `afterCommits` commit lines, `extraMs` milliseconds
 * later; resolves false when it exited first.
 */
export function killAfterCommits(run: WorkerRun, afterCommits: number, extraMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const poll = setInterval(() => {
      if (run.commits() >= afterCommits) {
        clearInterval(poll);
        setTimeout(() => resolve(run.child.kill('SIGKILL')), extraMs);
      }
    }, 1);
    void run.exited.then(() => {
      clearInterval(poll);
      resolve(false);
    });
  });
}

/** Kills every worker still running (for `afterAll`, after a test that failed or timed out). */
export function killRunningWorkers(): void {
  for (const child of running) child.kill('SIGKILL');
}
