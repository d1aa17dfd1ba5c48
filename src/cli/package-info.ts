import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed package's root, version and shipped docs, found from this file's location. */
export interface PackageInfo {
  version: string;
  /** The absolute path of a shipped doc (`docs/compaction.md`), or the bare relative one if absent. */
  doc(path: string): string;
}

let cached: PackageInfo | undefined;

/**
 * Walks up from the running file (dist/cli.js once installed, src/cli/ in a clone) to the
 * package.json named `microbatch`. The docs ship in the package, so help texts can point at a
 * file that exists on the user's disk rather than at a path inside the repository.
 */
export function packageInfo(): PackageInfo {
  if (cached !== undefined) return cached;
  // The CJS build has no import.meta; the ESM build has no __filename.
  const here = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
  let dir = dirname(here);
  for (let up = 0; up < 4; up++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'microbatch' && typeof pkg.version === 'string') {
        const root = dir;
        cached = {
          version: pkg.version,
          doc: (path) => (existsSync(join(root, path)) ? join(root, path) : path),
        };
        return cached;
      }
    }
    dir = dirname(dir);
  }
  cached = { version: 'unknown', doc: (path) => path };
  return cached;
}
