/**
 * `@aws-sdk/client-s3` is an optional peer: importing `microbatch` or `microbatch/s3` must not load
 * it, and a pipeline writing to s3Storage without it fails with MB_MISSING_PEER when it starts,
 * before its source yields a record. A fresh Node process refuses the package (a resolve hook).
 */
import { describe, expect, it } from 'vitest';
import { runWithoutPeers } from '../support/without-peers.js';

const script = `
const mb = await import('./src/index.ts');
const s3 = await import('./src/s3/index.ts');
const out = { exports: typeof mb.parquetLakeSink + ' ' + typeof s3.s3Storage };
try { await import('@aws-sdk/client-s3'); out.direct = 'loaded'; } catch (error) { out.direct = String(error.message); }
let pulled = 0;
function* records() { for (let i = 0; i < 5; i++) { pulled++; yield { id: i }; } }
const storage = s3.s3Storage({ client: { send: async () => ({}) }, bucket: 'some-bucket' });
try {
  await mb.pipeline({ name: 'peerless' })
    .source(mb.fromIterable(records()))
    .sink(mb.parquetLakeSink({ storage, table: 't', schema: [{ name: 'id', type: 'int32' }] }))
    .build()
    .run();
  out.run = 'completed';
} catch (error) {
  out.run = error.code;
  out.message = error.message;
}
out.pulled = pulled;
console.log(JSON.stringify(out));
`;

describe('@aws-sdk/client-s3 as an optional peer', () => {
  it('is loaded by the pipeline start, not by imports; missing, it is MB_MISSING_PEER before any record is read', async () => {
    const result = await runWithoutPeers(['@aws-sdk/client-s3'], script);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(out.exports).toBe('function function');
    expect(out.direct).toContain('blocked peer @aws-sdk/client-s3');
    expect(out.run).toBe('MB_MISSING_PEER');
    expect(out.message).toContain('npm install @aws-sdk/client-s3');
    expect(out.pulled).toBe(0);
  });
});
