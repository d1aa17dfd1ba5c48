import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CREATED_BY, VERSION } from '../../src/core/version.js';

describe('VERSION', () => {
  it("is package.json's version", async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(VERSION).toBe(pkg.version);
  });

  it('created_by has the form parquet-java VersionParser reads: <app> version <semver> (build <id>)', () => {
    // parquet-java's VersionParser pattern (org.apache.parquet.VersionParser.FORMAT).
    const format = /^(.*?)\s+version\s*(?:([^(]*?)\s*(?:\(\s*build\s*([^)]*?)\s*\))?)?$/;
    const m = format.exec(CREATED_BY);
    expect(m?.[1]).toBe('microbatch');
    expect(m?.[2]).toBe(VERSION);
    expect(m?.[3]).toMatch(/\S/);
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/);
  });
});
