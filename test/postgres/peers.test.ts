/**
 * pg and pg-copy-streams are optional peers: with both unresolvable, importing microbatch and
 * microbatch/postgres still works (a static import of either would fail the import itself), and
 * open() names every missing one.
 */
import { describe, expect, it } from 'vitest';
import { runWithoutPeers } from '../support/without-peers.js';

const body = `
const { postgresSink, postgresTableDDL } = await import('./src/postgres/index.ts');
await import('./src/index.ts');
const ddl = postgresTableDDL([{ name: 'a', type: 'text' }], 't');
let connects = 0;
const pool = { connect: async () => { connects++; throw new Error('must not connect'); } };
const sink = postgresSink({ pool, table: 't', columns: [{ name: 'a', type: 'text' }] });
try {
  await sink.open({ pipeline: 'p', clock: { now: Date.now, setTimeout, clearTimeout }, logger: console });
  console.log(JSON.stringify({ opened: true }));
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message, peers: error.details.peers, connects, ddl: ddl.length > 0 }));
}`;

describe('microbatch/postgres without its peers', () => {
  it('imports, builds DDL, and fails at open() with MB_MISSING_PEER naming both packages, before connecting', async () => {
    const run = await runWithoutPeers(['pg', 'pg-copy-streams'], body);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(out).toEqual({
      code: 'MB_MISSING_PEER',
      message: expect.stringContaining('npm install pg pg-copy-streams'),
      peers: ['pg', 'pg-copy-streams'],
      connects: 0,
      ddl: true,
    });
  });

  it('names only the missing one', async () => {
    const run = await runWithoutPeers(['pg-copy-streams'], body);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(out.peers).toEqual(['pg-copy-streams']);
    expect(out.message).toContain('npm install pg-copy-streams');
    expect(out.message).not.toContain('install pg ');
  });
});
