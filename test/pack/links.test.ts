/**
 * Someone who has only the npm tarball must be able to follow every link of the README and of the
 * shipped docs. The file list comes from `npm pack --dry-run` (what `files` in package.json
 * selects), and every relative link of every Markdown file in it must name a file in the same list
 * and, when it has an anchor, a heading of that file.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { githubSlug, markdownLinks } from './markdown.js';

const root = resolve(import.meta.dirname, '../..');

describe('links in the packed tarball', () => {
  let files: Set<string>;

  beforeAll(async () => {
    // --ignore-scripts: the listing needs no build; dist/ is checked by test/pack/pack.test.ts.
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [listing] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    files = new Set(listing.files.map((file) => file.path));
  }, 60_000);

  it('ships the README, the docs, the API reference and the examples', () => {
    for (const file of ['README.md', 'CHANGELOG.md', 'docs/getting-started.md', 'docs/api/README.md']) {
      expect(files, file).toContain(file);
    }
    expect([...files].filter((file) => file.startsWith('examples/')).length).toBeGreaterThan(5);
  });

  it('resolves every relative link of every shipped Markdown file inside the tarball', async () => {
    const broken: string[] = [];
    const headings = new Map<string, Set<string>>();
    const anchorsOf = async (file: string) => {
      let known = headings.get(file);
      if (known === undefined) {
        known = new Set(markdownLinks.headings(await readFile(join(root, file), 'utf8')).map(githubSlug));
        headings.set(file, known);
      }
      return known;
    };
    const markdown = [...files].filter((file) => file.endsWith('.md'));
    expect(markdown.length).toBeGreaterThan(10);
    for (const file of markdown) {
      const text = await readFile(join(root, file), 'utf8');
      for (const link of markdownLinks.targets(text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:: not a file of ours
        const [path = '', anchor] = link.split('#');
        const target = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
        if (!files.has(target)) {
          broken.push(`${file}: ${link} (no ${target} in the tarball)`);
          continue;
        }
        if (anchor !== undefined && anchor !== '' && target.endsWith('.md')) {
          if (!(await anchorsOf(target)).has(anchor)) broken.push(`${file}: ${link} (no heading #${anchor})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});
