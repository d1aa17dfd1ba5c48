/**
 * Laws of the spool's segment log: what was acknowledged is read back, in order, once — after
 * arbitrary appends across segment rolls, a reopen, and a torn tail cut at every byte of the last
 * frame.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, it } from '@fast-check/vitest';
import { afterAll, describe, expect } from 'vitest';
import { SegmentLog } from '../../src/sources/spool-log.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-spool-log-'));
  dirs.push(dir);
  return dir;
};

/** Every acknowledged record from `offset`, as strings. */
function readAll(log: SegmentLog, offset: number, max = 7): string[] {
  const reader = log.reader(offset);
  const out: string[] = [];
  for (let got = reader.read(max); got.length > 0; got = reader.read(max)) {
    out.push(...got.map((p) => p.toString('utf8')));
  }
  reader.close();
  return out;
}

const payload = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' });
const appends = fc.array(fc.array(payload, { minLength: 1, maxLength: 6 }), { maxLength: 25 });

describe('segment log laws', () => {
  it.prop([appends, fc.constantFrom(64, 200, 4096), fc.constantFrom('process', 'machine' as const)], {
    numRuns: 40,
  })(
    'appends across segment rolls are read back in order, once, before and after a reopen',
    async (groups, segmentBytes, durability) => {
      const dir = fresh();
      const { log } = await SegmentLog.open(dir, durability as 'process' | 'machine', segmentBytes);
      const expected: string[] = [];
      for (const group of groups) {
        await log.append(group.map((s) => Buffer.from(s)));
        expected.push(...group);
      }
      expect(log.next).toBe(expected.length);
      expect(readAll(log, 0)).toEqual(expected);
      await log.close();
      const reopened = await SegmentLog.open(dir, 'process', segmentBytes);
      expect(reopened.recovery.tornBytes).toBe(0);
      expect(reopened.log.next).toBe(expected.length);
      expect(readAll(reopened.log, 0)).toEqual(expected);
      // From any offset: the rest, in order.
      if (expected.length > 0) {
        const k = expected.length >> 1;
        expect(readAll(reopened.log, k, 3)).toEqual(expected.slice(k));
      }
      await reopened.log.close();
    },
  );

  it.prop([fc.array(payload, { minLength: 1, maxLength: 12 }), payload], { numRuns: 30 })(
    'a last frame cut at any byte is truncated on reopen, counted, and never read; appends go on after it',
    async (acked, torn) => {
      const dir = fresh();
      const { log } = await SegmentLog.open(dir, 'process', 1 << 20);
      log.append(acked.map((s) => Buffer.from(s)));
      const before = log.bytes;
      log.append([Buffer.from(torn)]);
      const full = log.bytes;
      await log.close();
      const [segment] = readdirSync(dir).filter((n) => n.endsWith('.seg'));
      const path = join(dir, segment!);
      for (let cut = before; cut < full; cut++) {
        truncateSync(path, cut);
        const { log: again, recovery } = await SegmentLog.open(dir, 'process', 1 << 20);
        expect(recovery.tornBytes).toBe(cut - before);
        expect(statSync(path).size).toBe(before);
        expect(again.next).toBe(acked.length);
        expect(readAll(again, 0)).toEqual(acked);
        await again.close();
      }
      const { log: last } = await SegmentLog.open(dir, 'process', 1 << 20);
      last.append([Buffer.from('after')]);
      expect(readAll(last, 0)).toEqual([...acked, 'after']);
      await last.close();
    },
  );

  it.prop([appends, fc.nat()], { numRuns: 30 })(
    'deleting committed segments keeps every record after the committed offset, and the offsets',
    async (groups, pick) => {
      const dir = fresh();
      const { log } = await SegmentLog.open(dir, 'process', 64);
      const expected: string[] = [];
      for (const group of groups) {
        log.append(group.map((s) => Buffer.from(s)));
        expected.push(...group);
      }
      const committed = expected.length === 0 ? -1 : pick % expected.length;
      log.deleteThrough(committed);
      expect(log.first).toBeLessThanOrEqual(committed + 1);
      expect(readAll(log, committed + 1)).toEqual(expected.slice(committed + 1));
      await log.close();
      const { log: again } = await SegmentLog.open(dir, 'process', 64);
      expect(again.next).toBe(expected.length);
      expect(readAll(again, committed + 1)).toEqual(expected.slice(committed + 1));
      await again.close();
    },
  );
});
