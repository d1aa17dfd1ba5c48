/**
 * Runnable documentation: every script in examples/ must run to completion (exit code 0) under tsx,
 * the README's quick start must be examples/quick-start.ts verbatim, and every ```ts block in the
 * README and docs/ must type-check against the sources. New examples and snippets are picked up
 * without touching this file.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const tsxCli = require.resolve('tsx/cli');
const tscCli = require.resolve('typescript/bin/tsc');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a Node script; resolves even when it fails, so assertions can show its output. */
function node(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      args,
      { cwd: root, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        done({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr });
      },
    );
  });
}

const examples = (await readdir(join(root, 'examples'))).filter((f) => f.endsWith('.ts')).sort();

describe('examples', () => {
  it('are discovered', () => {
    expect(examples).toContain('quick-start.ts');
  });

  // `--tsconfig` makes tsx resolve `microbatch` and `microbatch/testing` to src/ through the paths
  // in examples/tsconfig.json; without it they would resolve to the (possibly stale) dist/.
  it.each(examples)('%s runs and exits with code 0', async (file) => {
    const result = await node([tsxCli, '--tsconfig', 'examples/tsconfig.json', `examples/${file}`], 50_000);
    expect(result.code, `examples/${file} failed:\n${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it("README's quick start is examples/quick-start.ts, verbatim", async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const quickStart = await readFile(join(root, 'examples/quick-start.ts'), 'utf8');
    expect(readme).toContain(`\`\`\`ts\n${quickStart}\`\`\``);
  });
});

/** Every ```ts block of a markdown file, with the line it starts on. */
function tsBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.startsWith('```')) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

describe('documentation snippets', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('every ```ts block in README.md and docs/ type-checks', async () => {
    const docs = [
      'README.md',
      ...(await readdir(join(root, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
    ];
    // Under the repository (git-ignored .tmp/) so that node_modules and @types resolve as for examples.
    await mkdir(join(root, '.tmp'), { recursive: true });
    dir = await mkdtemp(join(root, '.tmp', 'doc-snippets-'));
    let count = 0;
    for (const doc of docs) {
      for (const { line, code } of tsBlocks(await readFile(join(root, doc), 'utf8'))) {
        // One module per snippet (top-level await, no name clashes); the name points back at the doc.
        const name = `${doc.replace(/[/.]/g, '_')}_L${line}.ts`;
        await writeFile(join(dir, name), `${code}\nexport {};\n`);
        count++;
      }
    }
    expect(count).toBeGreaterThan(0);
    const examplesConfig = relative(dir, join(root, 'examples/tsconfig.json')).replaceAll('\\', '/');
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: examplesConfig,
        compilerOptions: { noUnusedLocals: false },
        include: ['./*.ts'],
      }),
    );
    const result = await node([tscCli, '-p', dir, '--noEmit'], 120_000);
    expect(
      result.code,
      `doc snippets (file names are <doc>_L<line>.ts):\n${result.stdout}\n${result.stderr}`,
    ).toBe(0);
  }, 150_000);
});
