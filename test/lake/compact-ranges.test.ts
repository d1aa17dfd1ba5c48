/** Copy-mode compaction on fileStorage reads by byte range and writes a stream (test/lake/compact-ranges.ts). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileStorage } from '../../src/lake/index.js';
import { compactRangesSuite } from './compact-ranges.js';

compactRangesSuite('fileStorage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mb-compact-ranges-'));
  return { storage: fileStorage(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
