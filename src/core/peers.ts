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
