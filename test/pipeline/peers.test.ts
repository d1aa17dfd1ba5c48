/**
 * Optional peers are checked when the pipeline starts, before anything is opened or read: every
 * part's `prepare()` runs first, and missing peers of every part make one top-level MB_MISSING_PEER
 * naming them all. The Parquet lake sink is checked in a process where its peers cannot be loaded.
 */
import { describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { missingPeersError, requirePeers } from '../../src/core/peers.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import type { Sink } from '../../src/sinks/types.js';
import { fromIterable } from '../../src/sources/iterable.js';
import type { Source } from '../../src/sources/types.js';
import { runWithoutParquetPeers } from '../support/without-peers.js';
import { expectCode, rejection } from '../support.js';

const missing = (...peers: string[]) => ({
  name: peers[0]!,
  load: () => Promise.reject(notFound(peers[0]!)),
});
const notFound = (name: string) =>
  Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_MODULE_NOT_FOUND' });

describe('requirePeers', () => {
  it('names every missing peer at once, with one install command', async () => {
    const error = expectCode(
      await rejection(
        requirePeers('thing', [
          missing('zz-peer-b'),
          { name: 'zz-there', load: async () => ({}) },
          missing('zz-peer-a'),
        ]),
      ),
      'MB_MISSING_PEER',
    );
    expect(error.message).toBe(
      'thing needs zz-peer-a and zz-peer-b, optional peer dependencies of microbatch: npm install zz-peer-a zz-peer-b',
    );
    expect(error.details).toMatchObject({ peers: ['zz-peer-a', 'zz-peer-b'] });
  });

  it('rethrows a broken install as it is', async () => {
    const broken = new SyntaxError('Unexpected token in zz-broken');
    const error = await rejection(
      requirePeers('thing', [{ name: 'zz-broken', load: () => Promise.reject(broken) }]),
    );
    expect(error).toBe(broken);
  });
});

describe('pipeline start with parts that prepare', () => {
  function parts(options: { sinkPeers?: string[]; sourcePeers?: string[]; sinkError?: Error }) {
    const calls: string[] = [];
    const sink: Sink<number> = {
      kind: 'needy-sink',
      prepare: async () => {
        calls.push('sink.prepare');
        if (options.sinkError) throw options.sinkError;
        if (options.sinkPeers) throw missingPeersError('needy sink', options.sinkPeers);
      },
      open: () => void calls.push('sink.open'),
      write: () => void calls.push('sink.write'),
    };
    const inner = fromIterable([1, 2, 3]);
    const source: Source<number> = {
      kind: 'needy-source',
      replayable: false,
      prepare: async () => {
        calls.push('source.prepare');
        if (options.sourcePeers) throw missingPeersError('needy source', options.sourcePeers);
      },
      open: (context) => {
        calls.push('source.open');
        return inner.open(context) as never;
      },
    };
    return { calls, sink, source };
  }

  it('fails start() with one MB_MISSING_PEER naming every missing package, before opening or reading anything', async () => {
    const { calls, sink, source } = parts({
      sinkPeers: ['zz-peer-a', 'zz-peer-b'],
      sourcePeers: ['zz-peer-c'],
    });
    const p = pipeline({ name: 'needy' }).source(source).sink(sink).build();
    const error = expectCode(await rejection(p.run()), 'MB_MISSING_PEER');
    expect(MicrobatchError.is(error, 'MB_MISSING_PEER')).toBe(true);
    expect(error.message).toBe(
      "pipeline 'needy': the sink (needy-sink) and the source (needy-source) needs zz-peer-a, zz-peer-b and zz-peer-c, optional peer dependencies of microbatch: npm install zz-peer-a zz-peer-b zz-peer-c",
    );
    expect(error.details).toMatchObject({ peers: ['zz-peer-a', 'zz-peer-b', 'zz-peer-c'] });
    expect(calls.sort()).toEqual(['sink.prepare', 'source.prepare']);
    expect(p.status).toBe('failed');
  });

  it('reports another prepare() failure as the part failing to open', async () => {
    const { calls, sink, source } = parts({ sinkError: new Error('no licence') });
    const p = pipeline({ name: 'needy' }).source(source).sink(sink).build();
    const error = expectCode(await rejection(p.start()), 'MB_SINK_FAILED');
    expect(error.message).toBe("pipeline 'needy': the sink could not be prepared: no licence");
    expect(calls).not.toContain('source.open');
  });

  it('opens and runs as before when every part is prepared', async () => {
    const { calls, sink, source } = parts({});
    const report = await pipeline({ name: 'needy' }).source(source).sink(sink).build().run();
    expect(report.records.written).toBe(3);
    expect(calls.slice(0, 4).sort()).toEqual(['sink.open', 'sink.prepare', 'source.open', 'source.prepare']);
  });

  it('a parquetLakeSink without apache-arrow and parquet-wasm fails run() at the start, naming both', async () => {
    const script = `
const { fromIterable, memorySink, MicrobatchError, parquetLakeSink, pipeline } = await import('./src/index.ts');
const { z } = await import('zod');
const { mkdtemp } = await import('node:fs/promises');
const dir = await mkdtemp((await import('node:os')).tmpdir() + '/mb-peers-');
let read = 0;
const records = (function* () { for (let i = 0; i < 10; i++) { read++; yield { id: i }; } })();
const p = pipeline({ name: 'lake' })
  .source(fromIterable(records))
  .sink(parquetLakeSink({ dir, table: 't', schema: z.object({ id: z.number() }) }))
  .build();
try { await p.run(); console.log(JSON.stringify({ ok: true })); }
catch (error) {
  console.log(JSON.stringify({ code: error.code, is: MicrobatchError.is(error, 'MB_MISSING_PEER'), message: error.message, read, status: p.status }));
}
`;
    const result = await runWithoutParquetPeers(script);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(out).toEqual({
      code: 'MB_MISSING_PEER',
      is: true,
      message:
        "pipeline 'lake': the sink (parquet-lake) needs apache-arrow and parquet-wasm, optional peer dependencies of microbatch: npm install apache-arrow parquet-wasm",
      read: 0,
      status: 'failed',
    });
  }, 60_000);
});

describe('memorySink and fromIterable', () => {
  it('have no prepare(): they need no peer', () => {
    expect(memorySink().prepare).toBeUndefined();
    expect(fromIterable([]).prepare).toBeUndefined();
  });
});
