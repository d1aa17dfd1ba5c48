import { describe, expect, it } from 'vitest';
import type { Batch } from '../../src/core/batch.js';
import type { Logger } from '../../src/core/logger.js';
import type { Sink } from '../../src/sinks/types.js';
import { applyTransforms } from '../../src/transforms/apply.js';
import { redact } from '../../src/transforms/redact.js';
import { expectCode } from '../support.js';

const batch = (records: unknown[]): Batch<unknown> => ({
  id: 'b',
  partition: 'p',
  firstOffset: 10,
  lastOffset: 10 + records.length - 1,
  records,
  bytes: 0,
  reason: 'drain',
  openedAt: 0,
  closedAt: 0,
});

const sink = (screen: Sink['screen']): Sink => ({ kind: 'test', write() {}, screen });

describe('applyTransforms: the sink screen', () => {
  it('runs after the transforms, on what they kept; rejections become dead letters in offset terms', async () => {
    const seen: unknown[][] = [];
    const out = await applyTransforms(
      [redact({ email: 'drop' })],
      batch([{ n: 1, email: 'a@b.io' }, { n: -1 }, { n: 3 }]),
      [],
      {
        pipeline: 'x',
        at: 5,
        sink: sink((b) => {
          seen.push(b.records);
          return b.records.flatMap((r, index) =>
            (r as { n: number }).n < 0 ? [{ index, reason: 'unencodable', details: { column: 'n' } }] : [],
          );
        }),
      },
    );
    expect(seen).toEqual([[{ n: 1 }, { n: -1 }, { n: 3 }]]);
    expect(out.batch.records).toEqual([{ n: 1 }, { n: 3 }]);
    expect(out.batch.offsets).toEqual([10, 12]);
    expect(out.deadLetters).toEqual([
      {
        reason: 'unencodable',
        details: { column: 'n' },
        value: { n: -1 },
        cursor: { partition: 'p', offset: 11 },
        pipeline: 'x',
        batchId: 'b',
        at: 5,
      },
    ]);
  });

  it.each([
    ['an index out of range', [{ index: 3, reason: 'x' }]],
    ['a negative index', [{ index: -1, reason: 'x' }]],
    [
      'the same index twice',
      [
        { index: 0, reason: 'x' },
        { index: 0, reason: 'x' },
      ],
    ],
  ])('a screen returning %s fails with MB_TRANSFORM_FAILED, losing nothing silently', async (_, rejected) => {
    const error = await applyTransforms([], batch([1, 2, 3]), [], {
      pipeline: 'x',
      at: 0,
      sink: sink(() => rejected),
    }).catch((e: unknown) => e);
    expect(expectCode(error, 'MB_TRANSFORM_FAILED').message).toContain("sink 'test' screen");
  });

  it('logs each transform warning once', async () => {
    const logged: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      error() {},
      warn: (_: unknown, msg?: string) => logged.push(msg ?? ''),
    };
    const t = redact({ typo: 'drop' }, { warnUnmatchedAfter: 2 });
    for (let k = 0; k < 3; k++)
      await applyTransforms([t], batch([{ a: 1 }, { a: 2 }]), [], { pipeline: 'x', at: 0, logger });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("rule 'typo' matched none of the first 2 records");
  });
});

describe('applyTransforms: dead-letter scrubbing fails closed', () => {
  it('a value whose scrubbing throws (a hostile Proxy) is withheld, never kept raw', async () => {
    const hostile = new Proxy(
      { email: 'a@b.io' },
      {
        ownKeys() {
          throw new Error('no keys for you');
        },
      },
    );
    const reject: Parameters<typeof applyTransforms>[0][number] = {
      name: 'reject-all',
      apply: ({ records }) => ({
        records: [],
        from: [],
        rejected: records.map((_, index) => ({ index, reason: 'x' })),
      }),
    };
    const t = redact({ email: 'drop' });
    const out = await applyTransforms([reject, t], batch([hostile]), [], { pipeline: 'x', at: 0 });
    expect(out.deadLetters).toHaveLength(1);
    expect(out.deadLetters[0]!.value === hostile).toBe(false);
  });
});
