/**
 * A PostgreSQL database of its own for each test file, on the local server: created with a unique
 * name (other test files and other checkouts use the same server at the same time), dropped after.
 * The server is the one `PGHOST`/`PGPORT` name, else the default Unix socket, else 127.0.0.1:5432,
 * as user `PGUSER` (default `postgres`, trust authentication). A server that cannot be reached is an
 * error that says how to start it: these tests never skip.
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import pg from 'pg';

const SOCKET_DIR = '/var/run/postgresql';

/** Connection settings for the local server (no database). */
export function serverSettings(): { host: string; port: number; user: string } {
  const host = process.env.PGHOST ?? (existsSync(SOCKET_DIR) ? SOCKET_DIR : '127.0.0.1');
  return { host, port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres' };
}

/** A database of the test file, with pools on it. */
export interface TestDatabase {
  readonly name: string;
  /** Connection settings of the database. */
  readonly settings: { host: string; port: number; user: string; database: string };
  /** A pool on the database, ended by {@link TestDatabase.drop}. */
  pool(options?: pg.PoolConfig): pg.Pool;
  /** A query on a pool of its own. */
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  /** Ends every pool and drops the database. */
  drop(): Promise<void>;
}

async function admin(): Promise<pg.Client> {
  const settings = serverSettings();
  const client = new pg.Client({ ...settings, database: 'postgres', connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${settings.host}:${settings.port} as '${settings.user}' (${(error as Error).message}). ` +
        'Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` ' +
        '(install it with `apt-get install postgresql` if it is missing; .ci/run does both checks), or point PGHOST/PGPORT/PGUSER at a server with trust authentication.',
      { cause: error },
    );
  }
  return client;
}

/** Creates `mb_<label>_<random>`; call `drop()` in `afterAll`. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `mb_${label
    .replace(/[^a-z0-9_]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const client = await admin();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const settings = { ...serverSettings(), database: name };
  const pools: pg.Pool[] = [];
  const shared = new pg.Pool({ ...settings, max: 4 });
  pools.push(shared);
  shared.on('error', () => {});
  return {
    name,
    settings,
    pool(options = {}) {
      const pool = new pg.Pool({ ...settings, ...options });
      // An idle connection terminated by a fault test must not crash the process.
      pool.on('error', () => {});
      pools.push(pool);
      return pool;
    },
    query: (text, values) => shared.query(text, values),
    async drop() {
      // A failed test may still hold a connection, on which end() would wait forever; the drop
      // below (WITH FORCE) closes whatever is left.
      await Promise.race([
        Promise.allSettled(pools.map((p) => p.end())),
        new Promise((resolve) => setTimeout(resolve, 5_000)),
      ]);
      const c = await admin();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
