/**
 * The packed package, seen from outside: `npm pack` the repository, install the tarball into a
 * throwaway project under the OS temp folder, then import every public subpath by package name
 * from ESM and CJS and type-check a consumer with `moduleResolution: node16`.
 * The subpaths come from package.json's `exports`, so a new adapter is covered once it is exported.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, unknown>;
};

// Every importable subpath, by package name: `microbatch`, `microbatch/testing`, …
// Blocked entries (`"./internal/*": null`), patterns and package.json are not code to import.
const subpaths = Object.entries(pkg.exports)
  .filter(([key, target]) => target !== null && !key.includes('*') && key !== './package.json')
  .map(([key]) => (key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`));

// Specifiers a consumer must not be able to reach.
const blocked = [`${pkg.name}/internal/x`, `${pkg.name}/dist/index.js`];

// Files the exports map points at (every condition), as paths inside the tarball.
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [`package/${value.replace(/^\.\//, '')}`];
  if (typeof value !== 'object' || value === null) return [];
  return Object.values(value).flatMap(exportTargets);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// Resolves even when the command fails, so assertions can show its output.
function run(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((done) => {
    execFile(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      done({ code, stdout, stderr });
    });
  });
}

function expectSuccess(result: Run): void {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
}

// What each runtime consumer prints, as one JSON line.
interface ConsumerReport {
  records: number[];
  batchSizes: number[];
  status: string;
  written: number;
  error: { is: boolean; isWithCode: boolean; instanceOf: boolean; isFromOtherBuild: boolean; code: string };
  adaptiveFromOtherBuild: { mode: string; window: number | undefined; concurrency: number; written: number };
  exportsBySubpath: Record<string, string[]>;
  kafka: {
    peerInstalled: boolean;
    sent: { topic: string; key: string; reason: string }[];
    missingConsumer: string;
  };
  blocked: Record<string, string>;
}

// The body shared by both consumers; `load(name)` imports (ESM) or requires (CJS) a module and
// `loadOther(name)` loads it from the other build, to check the error brand across builds.
const consumerBody = `
  const { fromIterable, memorySink, MicrobatchError, pipeline, triggers } = await load(${JSON.stringify(pkg.name)});
  const { scriptedSource, testClock } = await load(${JSON.stringify(`${pkg.name}/testing`)});
  const out = {};

  const sink = memorySink();
  const report = await pipeline({ name: 'packed' })
    .source(fromIterable([1, 2, 3, 4, 5]))
    .trigger(triggers.volume({ records: 2 }))
    .sink(sink)
    .build()
    .run();
  out.records = sink.records;
  out.batchSizes = sink.batches.map((batch) => batch.records.length);
  out.status = report.status;
  out.written = report.records.written;

  // Thrown by the testing subpath, checked with the root export's class.
  try {
    scriptedSource(testClock(), [{ at: Number.NaN, value: 1 }]);
    out.error = 'nothing thrown';
  } catch (error) {
    const other = await loadOther(${JSON.stringify(pkg.name)});
    out.error = {
      is: MicrobatchError.is(error),
      isWithCode: MicrobatchError.is(error, 'MB_INVALID_OPTIONS'),
      instanceOf: error instanceof MicrobatchError,
      isFromOtherBuild: other.MicrobatchError.is(error),
      code: error.code,
    };
  }

  // An adaptive trigger built by the other build is fed by this build's pipeline (recognised by its
  // Symbol.for brand, not instanceof): its window shows in metrics() only when it is.
  {
    const other = await loadOther(${JSON.stringify(pkg.name)});
    const p = pipeline({ name: 'cross' })
      .source(fromIterable([1, 2, 3, 4, 5]))
      .trigger(other.triggers.adaptive({ minWindow: 10, maxWindow: 100, maxRecords: 2 }))
      .sink(memorySink())
      .build();
    const crossReport = await p.run();
    const t = p.metrics().trigger;
    out.adaptiveFromOtherBuild = { mode: t.mode, window: t.window, concurrency: t.concurrency, written: crossReport.records.written };
  }

  // microbatch/kafka works without kafkajs installed: the user passes their own client objects.
  {
    let peerInstalled = true;
    try {
      await load('kafkajs');
    } catch {
      peerInstalled = false;
    }
    const { kafkaDeadLetter, kafkaSource } = await load(${JSON.stringify(`${pkg.name}/kafka`)});
    const sent = [];
    const producer = { send: async (record) => { for (const m of record.messages) sent.push({ topic: record.topic, key: m.key, reason: m.headers['mb-reason'] }); } };
    const letter = { reason: 'malformed', details: {}, value: 'x', cursor: { partition: 'raw-0', offset: 3 }, pipeline: 'packed', batchId: 'b', at: 0 };
    await kafkaDeadLetter({ producer, topic: 'dlq' }).write(
      { id: 'b.dead', partition: 'raw-0', firstOffset: 3, lastOffset: 3, records: [letter], bytes: 0, reason: 'time', openedAt: 0, closedAt: 0 },
      { signal: new AbortController().signal, attempt: 1 },
    );
    let missingConsumer = 'nothing thrown';
    try {
      kafkaSource({ consumer: {}, topics: ['raw'] });
    } catch (error) {
      missingConsumer = error.code;
    }
    out.kafka = { peerInstalled, sent, missingConsumer };
  }

  out.exportsBySubpath = {};
  for (const name of ${JSON.stringify(subpaths)}) {
    out.exportsBySubpath[name] = Object.keys(await load(name)).filter((key) => key !== 'default').sort();
  }
  out.blocked = {};
  for (const name of ${JSON.stringify(blocked)}) {
    try {
      await load(name);
      out.blocked[name] = 'loaded';
    } catch (error) {
      out.blocked[name] = error.code;
    }
  }
  console.log(JSON.stringify(out));
`;

const esmConsumer = `import { createRequire } from 'node:module';
const load = (name) => import(name);
const loadOther = async (name) => createRequire(import.meta.url)(name);
${consumerBody}`;

const cjsConsumer = `'use strict';
const load = async (name) => require(name);
const loadOther = (name) => import(name);
(async () => {
${consumerBody}
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;

// Type-level consumers: every subpath imported, plus typed use of the root and testing entries.
// The @ts-expect-error lines fail the check if the types silently degrade to `any` or an
// internal path becomes resolvable.
const ids = subpaths.map((_, i) => `subpath${i}`);
const esmTypes = `${subpaths.map((name, i) => `import * as ${ids[i]} from '${name}';`).join('\n')}
import { type DeliveryReport, fromIterable, MicrobatchError, memorySink, type Pipeline, pipeline } from '${pkg.name}';
import { type TestClock, testClock } from '${pkg.name}/testing';
// @ts-expect-error internal modules are not exported
import type * as internal from '${pkg.name}/internal/x';

const built: Pipeline<number> = pipeline({ name: 'types' }).source(fromIterable([1, 2])).sink(memorySink<number>()).build();
export const report: Promise<DeliveryReport> = built.run();
export const clock: TestClock = testClock();
export const code = (error: unknown): string | undefined => (MicrobatchError.is(error) ? error.code : undefined);
// @ts-expect-error the sink's record type must match the source's
pipeline({ name: 'types' }).source(fromIterable(['a'])).sink(memorySink<number>());
export const namespaces = [${ids.join(', ')}];
export type Internal = typeof internal;
`;

const cjsTypes = `${subpaths.map((name, i) => `import ${ids[i]} = require('${name}');`).join('\n')}
import mb = require('${pkg.name}');
import testing = require('${pkg.name}/testing');
// @ts-expect-error internal modules are not exported
import internal = require('${pkg.name}/internal/x');

const built: mb.Pipeline<number> = mb.pipeline({ name: 'types' }).source(mb.fromIterable([1, 2])).sink(mb.memorySink<number>()).build();
export const report: Promise<mb.DeliveryReport> = built.run();
export const clock: testing.TestClock = testing.testClock();
export const code = (error: unknown): string | undefined => (mb.MicrobatchError.is(error) ? error.code : undefined);
// @ts-expect-error the sink's record type must match the source's
mb.pipeline({ name: 'types' }).source(mb.fromIterable(['a'])).sink(mb.memorySink<number>());
export const namespaces = [${ids.join(', ')}];
export const internalModule = internal;
`;

describe('the packed tarball', () => {
  let work: string;
  let consumer: string;
  let tarball: string;
  const reports = new Map<'ESM' | 'CJS', Promise<ConsumerReport>>();

  // Runs a consumer once and shares its report between the tests that read it.
  function runConsumer(kind: 'ESM' | 'CJS'): Promise<ConsumerReport> {
    let report = reports.get(kind);
    if (report === undefined) {
      report = run(process.execPath, [kind === 'ESM' ? 'esm.mjs' : 'cjs.cjs'], consumer).then((result) => {
        expectSuccess(result);
        return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ConsumerReport;
      });
      reports.set(kind, report);
    }
    return report;
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'microbatch-pack-'));
    const packed = join(work, 'packed');
    consumer = join(work, 'consumer');
    await mkdir(packed);
    await mkdir(consumer);

    // `prepack` builds, so the tarball always holds a fresh dist/.
    expectSuccess(await run('npm', ['pack', '--pack-destination', packed], root));
    const tarballs = (await readdir(packed)).filter((file) => file.endsWith('.tgz'));
    expect(tarballs).toHaveLength(1);
    tarball = join(packed, tarballs[0]!);

    await writeFile(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'microbatch-pack-consumer', version: '0.0.0', private: true }, null, 2),
    );
    expectSuccess(
      await run(
        'npm',
        ['install', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', consumer, tarball],
        consumer,
      ),
    );
    await writeFile(join(consumer, 'esm.mjs'), esmConsumer);
    await writeFile(join(consumer, 'cjs.cjs'), cjsConsumer);
    await writeFile(join(consumer, 'esm.mts'), esmTypes);
    await writeFile(join(consumer, 'cjs.cts'), cjsTypes);
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            module: 'node16',
            moduleResolution: 'node16',
            target: 'ES2022',
            strict: true,
            noEmit: true,
            // Check the shipped .d.ts files too, as a strict consumer would.
            skipLibCheck: false,
            types: ['node'],
            typeRoots: [join(root, 'node_modules/@types')],
          },
          files: ['esm.mts', 'cjs.cts'],
        },
        null,
        2,
      ),
    );
  }, 180_000);

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('holds the built files and nothing from the source tree', async () => {
    const listing = await run('tar', ['-tzf', tarball], root);
    expectSuccess(listing);
    const files = listing.stdout.split('\n').filter(Boolean);
    for (const target of exportTargets(pkg.exports)) expect(files).toContain(target);
    // The docs and the examples ship so that the README's links resolve for npm users
    // (test/pack/links.test.ts), and so does the runtime's map (src/pipeline/README.md, linked from
    // the README's How it works); the TypeScript sources and the tests do not.
    const allowed =
      /^package\/(dist\/|docs\/|examples\/[^/]+\.ts$|bench\/RESULTS\.md$|src\/pipeline\/README\.md$|package\.json$|README\.md$|CHANGELOG\.md$|LICENSE(\.md)?$)/;
    expect(files.filter((file) => !allowed.test(file))).toEqual([]);
  });

  it('ships source maps without the sources embedded in them', async () => {
    const dist = join(consumer, 'node_modules', pkg.name, 'dist');
    const maps = (await readdir(dist)).filter((file) => file.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) {
      const parsed = JSON.parse(await readFile(join(dist, map), 'utf8')) as { sourcesContent?: unknown };
      expect(parsed.sourcesContent, map).toBeUndefined();
    }
  });

  it('declares microbatch/snowflake without the driver: nothing imports snowflake-sdk', async () => {
    const dist = join(consumer, 'node_modules', pkg.name, 'dist', 'snowflake');
    const files = (await readdir(dist)).filter((file) => /\.(d\.c?ts|c?js)$/.test(file));
    expect(files).toContain('index.d.ts');
    // Comments name the driver; imports and requires must not.
    const load = /(from|import\(|require\()\s*['"]snowflake-sdk['"]/;
    for (const file of files) expect(await readFile(join(dist, file), 'utf8'), file).not.toMatch(load);
  });

  // Both consumers must behave the same; only how they load modules differs.
  for (const kind of ['ESM', 'CJS'] as const) {
    describe(`a ${kind} consumer`, () => {
      let report: ConsumerReport;

      beforeAll(async () => {
        report = await runConsumer(kind);
      }, 60_000);

      it('runs a pipeline from fromIterable to memorySink', () => {
        expect(report.status).toBe('completed');
        expect(report.records).toEqual([1, 2, 3, 4, 5]);
        expect(report.written).toBe(5);
        for (const size of report.batchSizes) expect(size).toBeLessThanOrEqual(2);
      });

      it('recognises an error from the testing subpath with the root export', () => {
        expect(report.error).toEqual({
          is: true,
          isWithCode: true,
          // splitting: true in tsup.config.ts keeps one class per build, so this holds too.
          instanceOf: true,
          // The other build has its own class object; the Symbol.for brand still matches.
          isFromOtherBuild: true,
          code: 'MB_INVALID_OPTIONS',
        });
      });

      it('feeds an adaptive trigger from the other build (brand, not instanceof)', () => {
        // `window` shows in metrics() only when the pipeline recognised the trigger as adaptive.
        expect(report.adaptiveFromOtherBuild).toMatchObject({ mode: 'adaptive', window: 10, written: 5 });
        expect(report.adaptiveFromOtherBuild.concurrency).toBeGreaterThanOrEqual(1);
      });

      it('uses microbatch/kafka without kafkajs installed', () => {
        expect(report.kafka).toEqual({
          peerInstalled: false,
          sent: [{ topic: 'dlq', key: 'packed.raw-0.3', reason: 'malformed' }],
          missingConsumer: 'MB_INVALID_OPTIONS',
        });
      });

      it('loads every exported subpath by package name', () => {
        expect(Object.keys(report.exportsBySubpath)).toEqual(subpaths);
        for (const name of subpaths) expect(report.exportsBySubpath[name], name).not.toEqual([]);
      });

      it('cannot reach internal modules or files outside the exports map', () => {
        expect(report.blocked).toEqual(
          Object.fromEntries(blocked.map((name) => [name, 'ERR_PACKAGE_PATH_NOT_EXPORTED'])),
        );
      });
    });
  }

  it('exports the same names from the ESM and the CJS build', async () => {
    const [esm, cjs] = await Promise.all([runConsumer('ESM'), runConsumer('CJS')]);
    expect(cjs.exportsBySubpath).toEqual(esm.exportsBySubpath);
  });

  it('type-checks ESM and CJS consumers with moduleResolution node16', async () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    expectSuccess(await run(process.execPath, [tsc, '-p', join(consumer, 'tsconfig.json')], consumer));
  });
});
