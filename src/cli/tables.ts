import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { findPartitions } from '../lake/compact-layout.js';
import { fileStorage } from '../lake/file-storage.js';
import { tableRoot } from '../lake/paths.js';
import { plural } from './args.js';
import { UsageError } from './io.js';

// A hive partition directory: `key=value` (the layout in docs/parquet-lake.md, "Layout"; the same
// test as compaction's own partition walk in src/lake/compact-layout.ts).
const PARTITION_DIR = /^[A-Za-z_][A-Za-z0-9_]*=[^/\\]*$/;

async function entries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

const isTableName = (name: string): boolean => {
  try {
    tableRoot('.', name, 'compact');
    return true;
  } catch {
    return false;
  }
};

/** A table directory holds partition directories (`dt=…`); anything else under a lake is not one. */
async function isTable(dir: string): Promise<boolean> {
  return (await entries(dir)).some((entry) => entry.isDirectory() && PARTITION_DIR.test(entry.name));
}

/** The lake directory must exist and be a directory; anything else is a mistake in the command line. */
export async function checkLakeDir(dir: string): Promise<void> {
  let isDirectory = false;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
    throw new UsageError(`no such directory: ${dir}`);
  }
  if (!isDirectory) throw new UsageError(`not a directory: ${dir}`);
}

/**
 * The table directories directly under `dir`, sorted. None is a usage error with a hint: the
 * tables found nearby (below `dir`, or `dir` itself when it is a table or a partition of one).
 */
export async function findTables(dir: string): Promise<string[]> {
  const tables: string[] = [];
  for (const entry of await entries(dir)) {
    if (!entry.isDirectory() || !isTableName(entry.name)) continue;
    if (await isTable(join(dir, entry.name))) tables.push(entry.name);
  }
  if (tables.length > 0) return tables.sort();
  throw new UsageError(`no lake tables under ${dir}${await nearestTables(dir)}`);
}

/** A table named with `--table` must exist under `dir`. */
export async function checkTable(dir: string, table: string): Promise<void> {
  if (await isTable(join(dir, table))) return;
  const tables = await findTables(dir).catch(() => []);
  throw new UsageError(
    `no table '${table}' under ${dir}` +
      (tables.length > 0 ? ` (tables there: ${tables.join(', ')})` : await nearestTables(dir)),
  );
}

/** The hint of {@link findTables}: where the tables are, as a command to run. */
async function nearestTables(dir: string): Promise<string> {
  const what = ' (a table is a directory of partition directories such as dt=2026-11-25)';
  // `dir` is a partition (`…/prices/dt=2026-11-25`) or a table (`…/prices`): point at its lake.
  let table = dir;
  while (PARTITION_DIR.test(basename(table)) && dirname(table) !== table) table = dirname(table);
  if (table !== dir || (await isTable(dir))) {
    return `; ${dir} is ${table === dir ? 'a table' : `inside the table ${table}`}: run microbatch compact ${dirname(table)} --table ${basename(table)}`;
  }
  // Below `dir`, breadth first, a few levels down: `out/` → `out/lake`.
  let level = [dir];
  for (let depth = 0; depth < 3 && level.length > 0; depth++) {
    const next: string[] = [];
    const lakes = new Map<string, string[]>();
    for (const parent of level) {
      for (const entry of await entries(parent)) {
        if (!entry.isDirectory() || entry.name.startsWith('.') || entry.name.startsWith('_')) continue;
        const child = join(parent, entry.name);
        if (depth > 0 && isTableName(entry.name) && (await isTable(child))) {
          lakes.set(parent, [...(lakes.get(parent) ?? []), entry.name]);
        } else next.push(child);
      }
    }
    if (lakes.size > 0) {
      const found = [...lakes].map(
        ([lake, names]) => `${plural(names.length, 'table')} in ${lake} (${names.sort().join(', ')})`,
      );
      const [first] = [...lakes.keys()];
      return `; found ${found.join('; ')}: run microbatch compact ${first}${lakes.size > 1 ? ' (for each)' : ''}`;
    }
    level = next.slice(0, 200);
  }
  return `${what}; pass the directory that holds the tables, or --table <name>`;
}

/**
 * Each `--partition` must name at least one partition of the tables (a partition path, or a
 * prefix of one at a `/`): one that matches nothing is a typo, not "nothing to do".
 */
export async function checkPartitions(dir: string, tables: string[], partitions: string[]): Promise<void> {
  const paths: string[] = [];
  for (const table of tables) {
    for (const found of await findPartitions(fileStorage(dir), table)) paths.push(found.path);
  }
  for (const wanted of partitions) {
    const prefix = wanted.replace(/^\/+|\/+$/g, '');
    if (paths.some((path) => path === prefix || path.startsWith(`${prefix}/`))) continue;
    const example = paths.length === 0 ? '' : ` (partitions look like ${paths[0]})`;
    throw new UsageError(`--partition ${wanted} matches no partition of ${tables.join(', ')}${example}`);
  }
}
