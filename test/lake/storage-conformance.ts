/**
 * The ObjectStorage contract as a test suite, run against every implementation: fileStorage
 * (test/lake/file-storage.test.ts) and s3Storage on S3Proxy (test/integration/s3/storage.test.ts).
 * Each implementation's runner says how to leave an incomplete write behind (a crashed process's
 * temporary file, an S3 multipart upload never completed) and how to count them.
 */
import { randomBytes } from 'node:crypto';
import { fc, it as prop } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { listAll, type ObjectStorage } from '../../src/lake/index.js';

/** What a runner provides. */
export interface StorageUnderTest {
  storage: ObjectStorage;
  /** Leaves an incomplete write of `key` behind, as a crash would. */
  leaveIncomplete(key: string): Promise<void>;
  /** Incomplete writes currently under `prefix`. */
  countIncomplete(prefix: string): Promise<number>;
  cleanup(): Promise<void>;
}

const bytes = (text: string) => new Uint8Array(Buffer.from(text));
const text = (data: Uint8Array | undefined) =>
  data === undefined ? undefined : Buffer.from(data).toString();

async function keys(storage: ObjectStorage, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const object of listAll(storage, prefix)) out.push(object.key);
  return out;
}

/**
 * Registers the suite. `make()` returns a fresh, empty storage; `bigBytes` is a size that makes the
 * implementation take its large-object path (multipart on S3).
 */
export function storageConformance(
  name: string,
  make: () => Promise<StorageUnderTest>,
  { bigBytes = 12 * 1024 * 1024, propertyRuns = 30 } = {},
): void {
  describe(`ObjectStorage conformance: ${name}`, () => {
    const withStorage = (fn: (s: StorageUnderTest) => Promise<void>) => async () => {
      const s = await make();
      try {
        await s.storage.open?.();
        await fn(s);
      } finally {
        await s.cleanup();
      }
    };

    it(
      'putIfAbsent creates once; a second create finds the object, identical or not, and leaves it',
      withStorage(async ({ storage }) => {
        const key = 't/dt=2026-11-25/part-a.parquet';
        expect(await storage.putIfAbsent(key, bytes('first'))).toEqual({ outcome: 'created' });
        expect(text(await storage.get(key))).toBe('first');
        const again = await storage.putIfAbsent(key, bytes('first'));
        expect(again).toMatchObject({ outcome: 'exists', identical: true, existing: { key, size: 5 } });
        // Same size, other bytes: not identical, and the first object stays.
        const other = await storage.putIfAbsent(key, bytes('fir5t'));
        expect(other).toMatchObject({ outcome: 'exists', identical: false });
        const longer = await storage.putIfAbsent(key, bytes('first and more'));
        expect(longer).toMatchObject({ outcome: 'exists', identical: false });
        expect(text(await storage.get(key))).toBe('first');
        const info = await storage.head(key);
        expect(info).toMatchObject({ key, size: 5 });
        expect(info!.modified).toBeGreaterThan(Date.UTC(2020, 0, 1));
      }),
    );

    it(
      'put replaces; get and head of a missing key give undefined',
      withStorage(async ({ storage }) => {
        await storage.put('t/_SUCCESS', bytes('one'));
        await storage.put('t/_SUCCESS', bytes('two!'));
        expect(text(await storage.get('t/_SUCCESS'))).toBe('two!');
        expect(await storage.get('t/missing')).toBeUndefined();
        expect(await storage.get('t/missing', { range: { offset: 0, length: 4 } })).toBeUndefined();
        expect(await storage.head('t/missing')).toBeUndefined();
        expect(await storage.head('t')).toBeUndefined(); // a folder is not an object
      }),
    );

    it(
      'get reads byte ranges, clipped to the end',
      withStorage(async ({ storage }) => {
        await storage.putIfAbsent('r/x', bytes('0123456789'));
        expect(text(await storage.get('r/x', { range: { offset: 2, length: 3 } }))).toBe('234');
        expect(text(await storage.get('r/x', { range: { offset: 8, length: 10 } }))).toBe('89');
        expect(text(await storage.get('r/x', { range: { offset: 0, length: 10 } }))).toBe('0123456789');
        expect(text(await storage.get('r/x', { range: { offset: 10, length: 4 } }))).toBe('');
        expect(text(await storage.get('r/x', { range: { offset: 3, length: 0 } }))).toBe('');
      }),
    );

    it(
      'lists by string prefix, in key order, a page at a time',
      withStorage(async ({ storage }) => {
        const all = ['a/b/1', 'a/b/2', 'a/b/3', 'a/bc/1', 'a/c', 'ab/x', 'b/1'];
        for (const key of [...all].reverse()) await storage.putIfAbsent(key, bytes(key));
        expect(await keys(storage, '')).toEqual(all);
        expect(await keys(storage, 'a/')).toEqual(['a/b/1', 'a/b/2', 'a/b/3', 'a/bc/1', 'a/c']);
        expect(await keys(storage, 'a/b/')).toEqual(['a/b/1', 'a/b/2', 'a/b/3']);
        expect(await keys(storage, 'a/b')).toEqual(['a/b/1', 'a/b/2', 'a/b/3', 'a/bc/1']);
        expect(await keys(storage, 'nothing/')).toEqual([]);
        const first = await storage.list('a/', { limit: 2 });
        expect(first.objects.map((o) => o.key)).toEqual(['a/b/1', 'a/b/2']);
        expect(first.next).toBeDefined();
        const second = await storage.list('a/', { limit: 2, after: first.next! });
        expect(second.objects.map((o) => o.key)).toEqual(['a/b/3', 'a/bc/1']);
        const last = await storage.list('a/', { limit: 2, after: second.next! });
        expect(last.objects.map((o) => o.key)).toEqual(['a/c']);
        expect(last.next).toBeUndefined();
        expect(first.objects[0]).toMatchObject({ key: 'a/b/1', size: 5 });
      }),
    );

    it(
      'deletes keys, missing ones included, calling onDeleted once per key',
      withStorage(async ({ storage }) => {
        await storage.putIfAbsent('d/1', bytes('1'));
        await storage.putIfAbsent('d/2', bytes('2'));
        const seen: string[] = [];
        await storage.delete(['d/1', 'd/missing', 'd/2'], { onDeleted: (key) => seen.push(key) });
        expect(seen.sort()).toEqual(['d/1', 'd/2', 'd/missing']);
        expect(await keys(storage, 'd/')).toEqual([]);
        await storage.delete([]);
        // A deleted key can be created again.
        expect(await storage.putIfAbsent('d/1', bytes('new'))).toEqual({ outcome: 'created' });
      }),
    );

    it(
      'rejects unsafe keys with MB_INVALID_OPTIONS',
      withStorage(async ({ storage }) => {
        for (const key of [
          '',
          '/abs',
          'a//b',
          'a/../b',
          './a',
          'a/.',
          'a\\b',
          'a\u0000b',
          'x'.repeat(1025),
        ]) {
          const error = await storage.putIfAbsent(key, bytes('x')).catch((e: unknown) => e);
          expect(
            MicrobatchError.is(error, 'MB_INVALID_OPTIONS'),
            `key ${JSON.stringify(key.slice(0, 20))}`,
          ).toBe(true);
        }
      }),
    );

    it(
      'concurrent creates of one key with one body: one object, every caller sees it written',
      withStorage(async ({ storage }) => {
        const body = randomBytes(50_000);
        const results = await Promise.all(Array.from({ length: 4 }, () => storage.putIfAbsent('c/k', body)));
        for (const result of results) {
          if (result.outcome === 'exists') expect(result.identical).toBe(true);
        }
        expect(results.some((r) => r.outcome === 'created')).toBe(true);
        expect(Buffer.from((await storage.get('c/k'))!).equals(body)).toBe(true);
      }),
    );

    it(
      'a large object (the multipart path) is created once and read back by ranges',
      withStorage(async ({ storage, countIncomplete }) => {
        const body = randomBytes(bigBytes);
        expect(await storage.putIfAbsent('big/x.parquet', body)).toEqual({ outcome: 'created' });
        expect(await storage.putIfAbsent('big/x.parquet', body)).toMatchObject({
          outcome: 'exists',
          identical: true,
        });
        const other = Buffer.from(body);
        other.writeUInt8(other.readUInt8(other.length - 1) ^ 1, other.length - 1);
        expect(await storage.putIfAbsent('big/x.parquet', other)).toMatchObject({
          outcome: 'exists',
          identical: false,
        });
        const from = 5 * 1024 * 1024 - 100;
        const piece = await storage.get('big/x.parquet', { range: { offset: from, length: 300 } });
        expect(Buffer.from(piece!).equals(body.subarray(from, from + 300))).toBe(true);
        expect(Buffer.from((await storage.get('big/x.parquet'))!).equals(body)).toBe(true);
        // The losing uploads were aborted.
        expect(await countIncomplete('big/')).toBe(0);
      }),
    );

    /** `body` in pieces of `size` from one buffer that is overwritten once the next piece is asked for. */
    async function* reusedPieces(body: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
      const buffer = new Uint8Array(size);
      for (let at = 0; at < body.length; at += size) {
        const piece = body.subarray(at, Math.min(body.length, at + size));
        buffer.set(piece);
        yield buffer.subarray(0, piece.length);
        buffer.fill(0xee); // the storage must have written or copied the piece by now
      }
    }

    it(
      'putIfAbsentStream creates from pieces (small and multipart), once; a second create compares every piece',
      withStorage(async ({ storage, countIncomplete }) => {
        expect(storage.putIfAbsentStream).toBeTypeOf('function');
        const stream = storage.putIfAbsentStream!.bind(storage);
        const small = randomBytes(70_000);
        expect(await stream('st/small', () => reusedPieces(small, 4096))).toEqual({ outcome: 'created' });
        expect(Buffer.from((await storage.get('st/small'))!).equals(small)).toBe(true);
        const big = randomBytes(bigBytes + 12_345);
        expect(await stream('st/big', () => reusedPieces(big, 1_000_003), { size: big.length })).toEqual({
          outcome: 'created',
        });
        expect(Buffer.from((await storage.get('st/big'))!).equals(big)).toBe(true);
        for (const [key, body] of [
          ['st/small', small],
          ['st/big', big],
        ] as const) {
          expect(await stream(key, () => reusedPieces(body, 65_536))).toMatchObject({
            outcome: 'exists',
            identical: true,
            existing: { key, size: body.length },
          });
          const other = Buffer.from(body);
          other[other.length - 1]! ^= 1;
          expect(await stream(key, () => reusedPieces(other, 65_536))).toMatchObject({
            outcome: 'exists',
            identical: false,
          });
          expect(Buffer.from((await storage.get(key))!).equals(body)).toBe(true);
        }
        // putIfAbsent and putIfAbsentStream agree on what is identical.
        expect(await storage.putIfAbsent('st/big', big)).toMatchObject({
          outcome: 'exists',
          identical: true,
        });
        expect(await countIncomplete('st/')).toBe(0);
      }),
    );

    it(
      'putIfAbsentStream: a body that fails (before or after a part went up) leaves nothing and throws its error',
      withStorage(async ({ storage, countIncomplete }) => {
        const boom = new Error('the producer failed');
        for (const [key, before] of [
          ['sf/small', 10_000],
          ['sf/big', bigBytes + 1],
        ] as const) {
          const body = async function* () {
            yield* reusedPieces(randomBytes(before), 500_000);
            throw boom;
          };
          await expect(storage.putIfAbsentStream!(key, body)).rejects.toBe(boom);
          expect(await storage.head(key)).toBeUndefined();
        }
        expect(await keys(storage, 'sf/')).toEqual([]);
        expect(await countIncomplete('sf/')).toBe(0);
      }),
    );

    it(
      'an aborted write leaves no object and no incomplete write',
      withStorage(async ({ storage, countIncomplete }) => {
        const controller = new AbortController();
        controller.abort(new Error('stop'));
        await expect(
          storage.putIfAbsent('ab/x', randomBytes(1000), { signal: controller.signal }),
        ).rejects.toThrow();
        await expect(
          storage.putIfAbsent('ab/big', randomBytes(bigBytes), { signal: controller.signal }),
        ).rejects.toThrow();
        expect(await storage.head('ab/x')).toBeUndefined();
        expect(await storage.head('ab/big')).toBeUndefined();
        expect(await countIncomplete('ab/')).toBe(0);
      }),
    );

    it(
      'abortIncomplete cancels the incomplete writes its filter selects, under the prefix only',
      withStorage(async ({ storage, leaveIncomplete, countIncomplete }) => {
        await leaveIncomplete('i/p/compacted-0123456789abcdef.parquet');
        await leaveIncomplete('i/p/part-1.parquet');
        await leaveIncomplete('other/part-2.parquet');
        expect(await keys(storage, '')).toEqual([]); // never listed
        expect(await countIncomplete('i/')).toBe(2);
        const seen: string[] = [];
        expect(
          await storage.abortIncomplete('i/', {
            filter: (write) => {
              seen.push(write.key);
              expect(write.started).toBeGreaterThan(Date.UTC(2020, 0, 1));
              return write.key.includes('compacted-');
            },
          }),
        ).toBe(1);
        expect(seen.some((key) => key.startsWith('i/p/compacted-0123456789abcdef'))).toBe(true);
        expect(seen.every((key) => key.startsWith('i/'))).toBe(true);
        expect(await countIncomplete('i/')).toBe(1);
        expect(await storage.abortIncomplete('i/')).toBe(1);
        expect(await countIncomplete('i/')).toBe(0);
        expect(await countIncomplete('other/')).toBe(1);
      }),
    );

    // The model: a map from key to content. Any sequence of operations leaves the storage listing
    // and reading exactly what the model holds; putIfAbsent never changes an existing object.
    const key = fc.constantFrom('m/a', 'm/b', 'm/c/d', 'm/c/e', 'm/cc');
    const body = fc.constantFrom('x', 'y', 'xy', '');
    const op = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), key, body }),
      fc.record({ kind: fc.constant('put' as const), key, body }),
      fc.record({ kind: fc.constant('delete' as const), key }),
    );
    prop.prop([fc.array(op, { maxLength: 12 })], { numRuns: propertyRuns })(
      'behaves like a map under any sequence of creates, puts and deletes',
      async (ops) => {
        const s = await make();
        try {
          const model = new Map<string, string>();
          for (const o of ops) {
            if (o.kind === 'create') {
              const result = await s.storage.putIfAbsent(o.key, bytes(o.body));
              if (model.has(o.key)) {
                expect(result).toMatchObject({ outcome: 'exists', identical: model.get(o.key) === o.body });
              } else {
                expect(result).toEqual({ outcome: 'created' });
                model.set(o.key, o.body);
              }
            } else if (o.kind === 'put') {
              await s.storage.put(o.key, bytes(o.body));
              model.set(o.key, o.body);
            } else {
              await s.storage.delete([o.key]);
              model.delete(o.key);
            }
          }
          const expected = [...model.keys()].sort();
          expect(await keys(s.storage, 'm/')).toEqual(expected);
          for (const k of expected) expect(text(await s.storage.get(k))).toBe(model.get(k));
        } finally {
          await s.cleanup();
        }
      },
    );
  });
}
