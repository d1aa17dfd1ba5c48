import { MicrobatchError } from './errors.js';

/**
 * Loads an optional peer dependency on first use, so that importing microbatch never loads it.
 * A peer that is not installed is `MB_MISSING_PEER`, naming what needs it and how to install it;
 * any other failure (a broken install) is rethrown as it is. Each peer is loaded once per process.
 */
export function loadPeer<T>(name: string, neededBy: string, load: () => Promise<unknown>): Promise<T> {
  let pending = loaded.get(name) as Promise<T> | undefined;
  if (pending === undefined) {
    pending = load().then(
      (module) => module as T,
      (error: unknown) => {
        loaded.delete(name);
        const code = (error as { code?: unknown } | undefined)?.code;
        if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
        throw new MicrobatchError(
          'MB_MISSING_PEER',
          `${neededBy} needs ${name}, an optional peer dependency of microbatch: npm install ${name}`,
          { cause: error, details: { peer: name } },
        );
      },
    );
    loaded.set(name, pending);
  }
  return pending;
}

const loaded = new Map<string, Promise<unknown>>();

/** An optional peer dependency and how to load it. */
export interface Peer {
  name: string;
  load: () => Promise<unknown>;
}

/**
 * Loads every peer in `peers` for `neededBy`, all at once. Missing ones are one `MB_MISSING_PEER`
 * that names each of them and the single install command (`details.peers`); a broken install is
 * rethrown as it is.
 */
export async function requirePeers(neededBy: string, peers: readonly Peer[]): Promise<void> {
  const results = await Promise.allSettled(peers.map((p) => loadPeer(p.name, neededBy, p.load)));
  const missing: string[] = [];
  for (const result of results) {
    if (result.status === 'fulfilled') continue;
    if (!MicrobatchError.is(result.reason, 'MB_MISSING_PEER')) throw result.reason;
    missing.push(...missingPeers(result.reason));
  }
  if (missing.length > 0) throw missingPeersError(neededBy, missing);
}

/** The packages a `MB_MISSING_PEER` error names (`details.peers`, or the single `details.peer`). */
export function missingPeers(error: MicrobatchError): string[] {
  const details = error.details as { peer?: unknown; peers?: unknown };
  if (Array.isArray(details.peers)) return details.peers.filter((p): p is string => typeof p === 'string');
  return typeof details.peer === 'string' ? [details.peer] : [];
}

/** One `MB_MISSING_PEER` for several packages: `<what> needs a and b, optional peer dependencies of microbatch: npm install a b`. */
export function missingPeersError(what: string, peers: readonly string[], cause?: unknown): MicrobatchError {
  const names = [...new Set(peers)].sort();
  const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  return new MicrobatchError(
    'MB_MISSING_PEER',
    `${what} needs ${list}, optional peer ${names.length === 1 ? 'dependency' : 'dependencies'} of microbatch: npm install ${names.join(' ')}`,
    { details: { peer: names[0], peers: names }, ...(cause === undefined ? {} : { cause }) },
  );
}
