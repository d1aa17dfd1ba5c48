/**
 * Bookkeeping that makes the test servers (the Kafka broker, S3Proxy) die with the process that
 * started them, shared by `kafka/broker.ts` and `s3proxy/server.ts`.
 *
 * Every server process is recorded in memory (killed on exit and on SIGINT/SIGTERM/SIGHUP) and in
 * a pid file `<pidsDir>/<pid>.json` naming its owner. A SIGKILLed owner cannot clean up, so the
 * next run calls {@link ServerProcesses.killStale}, which kills servers whose owner is gone.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How one kind of server is recorded and recognised; see {@link serverProcesses}. */
export interface ServerProcessesOptions {
  /** Directory of the pid files, e.g. `<repo>/.cache/kafka/pids`. */
  pidsDir: string;
  /**
   * Name of the pid-file field holding the server's properties file (`propertiesFile` for Kafka,
   * `properties` for S3Proxy). It is kept per server so that pid files written by older runs are
   * still read.
   */
  propertiesKey: string;
  /**
   * A string the server's command line contains (`kafka.Kafka`, `s3proxy`); with the properties
   * file it tells a leftover server from an unrelated process that reused its pid.
   */
  commandMarker: string;
  /**
   * Prefix (under the OS temp directory) of the temporary directories this helper may remove for
   * a dead owner, e.g. `mb-kafka-`; a directory outside it is never removed on a pid file's word.
   */
  tempDirPrefix: string;
}

/** The tracker returned by {@link serverProcesses}. */
export interface ServerProcesses {
  /**
   * Records a started server: killed (and `removeDir` removed) when this process exits or gets
   * SIGINT/SIGTERM/SIGHUP, and by a later run's {@link killStale} if this process is SIGKILLed.
   */
  track(pid: number, properties: string, removeDir: string | undefined): void;
  /** Forgets a server that was stopped normally (its pid file goes too). */
  untrack(pid: number): void;
  /** Kills servers recorded by processes that no longer exist (a SIGKILLed test run). */
  killStale(): void;
}

/**
 * Creates the tracker of one kind of server. Each tracker installs its own exit and signal
 * handlers on its first {@link ServerProcesses.track}, once.
 */
export function serverProcesses(options: ServerProcessesOptions): ServerProcesses {
  const { pidsDir, propertiesKey, commandMarker, tempDirPrefix } = options;
  /** Running server pids → the temporary directory to remove with them, if any. */
  const running = new Map<number, string | undefined>();
  let handlersInstalled = false;
  const pidFile = (pid: number) => join(pidsDir, `${pid}.json`);

  function killAllSync(): void {
    for (const [pid, removeDir] of running) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      rmSyncQuiet(pidFile(pid));
      if (removeDir !== undefined) rmSync(removeDir, { recursive: true, force: true });
    }
    running.clear();
  }

  function track(pid: number, properties: string, removeDir: string | undefined): void {
    running.set(pid, removeDir);
    rmSyncQuiet(pidFile(pid));
    try {
      mkdirSync(pidsDir, { recursive: true });
      // Field order and names as the helpers always wrote them: older pid files stay readable.
      writeFileSync(
        pidFile(pid),
        JSON.stringify({ pid, owner: process.pid, [propertiesKey]: properties, removeDir }),
      );
    } catch {
      // Bookkeeping only: without the file a leaked server just is not cleaned up by a later run.
    }
    if (handlersInstalled) return;
    handlersInstalled = true;
    process.once('exit', killAllSync);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        killAllSync();
        // Our listener replaced the default action (exit); restore it when nobody else handles it.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    }
  }

  function untrack(pid: number): void {
    running.delete(pid);
    rmSyncQuiet(pidFile(pid));
  }

  function killStale(): void {
    let files: string[];
    try {
      files = readdirSync(pidsDir);
    } catch {
      return;
    }
    for (const file of files) {
      const path = join(pidsDir, file);
      let entry: { pid: number; owner: number; removeDir?: string } & Record<string, unknown>;
      try {
        entry = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        rmSyncQuiet(path);
        continue;
      }
      if (alive(entry.owner)) continue;
      // The pid may have been reused since: kill it only when it still runs this server's properties.
      const cmdline = readFileQuiet(`/proc/${entry.pid}/cmdline`);
      const properties = entry[propertiesKey];
      if (cmdline.includes(commandMarker) && typeof properties === 'string' && cmdline.includes(properties)) {
        try {
          process.kill(entry.pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      if (entry.removeDir?.startsWith(join(tmpdir(), tempDirPrefix))) {
        rmSync(entry.removeDir, { recursive: true, force: true });
      }
      rmSyncQuiet(path);
    }
  }

  return { track, untrack, killStale };
}

/** Whether a process exists (EPERM: it does, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readFileQuiet(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function rmSyncQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Not there.
  }
}
