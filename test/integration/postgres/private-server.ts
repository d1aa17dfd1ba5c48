/**
 * A PostgreSQL server of the test's own, for faults that would disturb other users of the shared
 * server (a restart): `initdb` into a temporary directory, listening only on a Unix socket in that
 * directory (no TCP port to collide with), trust authentication. Uses the binaries of the installed
 * PostgreSQL (/usr/lib/postgresql/<version>/bin), as root through `runuser -u postgres` (initdb
 * refuses root). A fresh CI machine with the Debian package can do this too.
 */
import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PrivateServer {
  readonly host: string;
  readonly port: number;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function binDir(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0)
    throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql: apt-get install postgresql');
  return join('/usr/lib/postgresql', versions[0]!, 'bin');
}

export async function startPrivateServer(): Promise<PrivateServer> {
  const bin = await binDir();
  const dir = await mkdtemp(join(tmpdir(), 'mb-pg-private-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const as = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args);
  const port = 5432;
  await as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const options = `-c listen_addresses='' -k ${dir} -p ${port} -c fsync=off -c max_connections=30`;
  const ctl = (args: string[]) =>
    as('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '60', ...args]);
  await ctl(['start']);
  return {
    host: dir,
    port,
    restart: async () => {
      await ctl(['-m', 'fast', 'restart']);
    },
    stop: async () => {
      await ctl(['-m', 'immediate', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
