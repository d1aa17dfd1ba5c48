/**
 * compactLake loads apache-arrow and parquet-wasm only when it has files to read, and reports them
 * missing as MB_MISSING_PEER (not as corrupt files). A fresh Node process refuses both packages
 * through a resolve hook, imports microbatch (which must work), then compacts a lake of two files.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const hook = `
export async function resolve(specifier, context, next) {
  if (/^(apache-arrow|parquet-wasm)(\\/|$)/.test(specifier)) {
    throw Object.assign(new Error('blocked peer ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;

const script = (dir: string) => `
import { register } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
const { compactLake } = await import('./src/index.ts');
const partition = ${JSON.stringify(join(dir, 't', 'dt=2026-11-25'))};
await mkdir(partition, { recursive: true });
await writeFile(partition + '/part-a.parquet', 'PAR1');
await writeFile(partition + '/part-b.parquet', 'PAR1');
await writeFile(partition + '/_SUCCESS', '{}');
try { await compactLake({ dir: ${JSON.stringify(dir)}, table: 't' }); console.log('no error'); }
catch (error) { console.log(error.code + ' ' + error.message); }
`;

describe('compactLake without its peers', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('imports fine and fails with MB_MISSING_PEER on first use', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mb-compact-peers-'));
    dirs.push(dir);
    const result = await new Promise<{ stdout: string; stderr: string }>((done) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script(dir)],
        { cwd: root, timeout: 60_000 },
        (_error, stdout, stderr) => done({ stdout, stderr }),
      );
    });
    expect(result.stdout.trim(), result.stderr).toMatch(
      /^MB_MISSING_PEER compactLake needs (parquet-wasm|apache-arrow)/,
    );
  }, 60_000);
});
