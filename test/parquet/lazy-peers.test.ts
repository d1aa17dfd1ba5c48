/**
 * Importing microbatch must not load apache-arrow or parquet-wasm (a wasm instance and ~1 MB of
 * JavaScript): they are optional peers loaded by the first encode. A fresh Node process registers a
 * resolve hook that refuses both packages, then imports src/index.ts: a static import anywhere in
 * the library fails the import. The same process then shows that the hook works (a direct import
 * of each peer is refused) and that the first encode asks for the peers, reporting them missing as
 * `MB_MISSING_PEER`.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

// Runs in the module-customization hooks thread: resolving a peer fails as if it were not installed.
const hook = `
export async function resolve(specifier, context, next) {
  if (/^(apache-arrow|parquet-wasm)(\\/|$)/.test(specifier)) {
    throw Object.assign(new Error('blocked peer ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;

const script = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
const mb = await import('./src/index.ts');
const out = { exports: typeof mb.encodeParquet + ' ' + typeof mb.parquetLakeSink + ' ' + typeof mb.parquetSchema };
for (const peer of ['apache-arrow', 'parquet-wasm']) {
  try { await import(peer); out[peer] = 'loaded'; } catch (error) { out[peer] = String(error.message); }
}
try { await mb.encodeParquet([{ a: 'x' }], [{ name: 'a', type: 'string' }]); out.encode = 'ok'; }
catch (error) { out.encode = error.code; }
console.log(JSON.stringify(out));
`;

function run(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, timeout: 60_000 },
      (error, stdout, stderr) => done({ code: error === null ? 0 : 1, stdout, stderr }),
    );
  });
}

describe('optional peers', () => {
  it('importing microbatch loads neither apache-arrow nor parquet-wasm', async () => {
    const result = await run();
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
