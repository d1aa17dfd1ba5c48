/**
 * Runs an ES module snippet in a fresh Node process (under tsx, from the repository root) in which
 * apache-arrow and parquet-wasm cannot be resolved, as if these optional peers were not installed.
 * A module-customization hook refuses them before `body` runs, so the snippet sees exactly what a
 * user without the peers would see.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

// Runs in the hooks thread: resolving a peer fails with the code a missing package has.
const hook = `
export async function resolve(specifier, context, next) {
  if (/^(apache-arrow|parquet-wasm)(\\/|$)/.test(specifier)) {
    throw Object.assign(new Error('blocked peer ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;

/** What the process printed, and whether it exited with 0. */
export interface PeerlessRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `body` (ES module code; `./src/index.ts` imports the library) without the Parquet peers. */
export function runWithoutParquetPeers(body: string): Promise<PeerlessRun> {
  return runWithoutPeers(['apache-arrow', 'parquet-wasm'], body);
}

/** Runs `body` in a process where none of `peers` (package names) can be resolved. */
export function runWithoutPeers(peers: readonly string[], body: string): Promise<PeerlessRun> {
  // Inside the hook's regular expression literal: escape what is special there, `/` included.
  const pattern = peers.map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|');
  const blockHook = hook.replace('(apache-arrow|parquet-wasm)', `(${pattern})`);
  const script = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(blockHook)}));
${body}`;
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, timeout: 60_000 },
      (error, stdout, stderr) => done({ code: error === null ? 0 : 1, stdout, stderr }),
    );
  });
}
