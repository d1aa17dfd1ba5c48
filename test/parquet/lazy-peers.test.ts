/**
 * Importing microbatch must not load apache-arrow or parquet-wasm (a wasm instance and ~1 MB of
 * JavaScript): they are optional peers loaded by the first encode. A fresh Node process registers a
 * resolve hook that refuses both packages, then imports src/index.ts: a static import anywhere in
 * the library fails the import. The same process then shows that the hook works (a direct import
 * of each peer is refused) and that the first encode asks for the peers, reporting them missing as
 * `MB_MISSING_PEER`.
 */
import { describe, expect, it } from 'vitest';
import { runWithoutParquetPeers } from '../support/without-peers.js';

const script = `
const mb = await import('./src/index.ts');
const out = { exports: typeof mb.encodeParquet + ' ' + typeof mb.parquetLakeSink + ' ' + typeof mb.parquetSchema };
for (const peer of ['apache-arrow', 'parquet-wasm']) {
  try { await import(peer); out[peer] = 'loaded'; } catch (error) { out[peer] = String(error.message); }
}
try { await mb.encodeParquet([{ a: 'x' }], [{ name: 'a', type: 'string' }]); out.encode = 'ok'; }
catch (error) { out.encode = error.code; }
console.log(JSON.stringify(out));
`;

describe('optional peers', () => {
  it('importing microbatch loads neither apache-arrow nor parquet-wasm', async () => {
    const result = await runWithoutParquetPeers(script);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(out.exports).toBe('function function function');
    // The hook is active: importing a peer directly is refused ...
    expect(out['apache-arrow']).toContain('blocked peer apache-arrow');
    expect(out['parquet-wasm']).toContain('blocked peer parquet-wasm');
    // ... and the first encode is where the library asks for them.
    expect(out.encode).toBe('MB_MISSING_PEER');
  });
});
