import { type Peer, requirePeers } from '../core/peers.js';

/** The optional peers Parquet encoding needs. */
export const PARQUET_PEERS: readonly Peer[] = [
  { name: 'apache-arrow', load: () => import('apache-arrow') },
  { name: 'parquet-wasm', load: () => import('parquet-wasm') },
];

/**
 * Loads apache-arrow and parquet-wasm for `what`; when either is missing, one `MB_MISSING_PEER`
 * names every missing one and the install command (`npm install apache-arrow parquet-wasm`).
 */
export function requireParquetPeers(what: string): Promise<void> {
  return requirePeers(what, PARQUET_PEERS);
}
