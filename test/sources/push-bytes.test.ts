/**
 * Regression of issue 13 finding 6: `pushSource` counted records, not bytes, so with a 4 MB budget,
 * a hanging sink and 100 KB records it held about 100 MB. Now the bytes it holds count too: a
 * quarter of the pipeline's budget, or `highWaterMarkBytes`.
 */
import { describe, expect, it } from 'vitest';
import { pipeline } from '../../src/pipeline/builder.js';
import type { Sink } from '../../src/sinks/types.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';
import { expectInvalid, settle } from '../support.js';

const hanging: Sink<unknown> = { write: () => new Promise<void>(() => {}) };

async function accepted(recordBytes: number, options: Parameters<typeof pushSource>[0] = {}) {
  const clock = testClock();
  const source = pushSource<{ blob: string }>(options);
  const p = pipeline({ name: 'bounded', clock, maxBufferBytes: '4MB', concurrency: 1 })
    .source(source)
    .sink(hanging)
    .build();
  await p.start();
  // A scraper awaiting each push: how many records does the pipeline accept while its sink hangs?
  let resolved = 0;
  void (async () => {
    for (let i = 0; i < 2_000; i++) {
      await source.push({ blob: 'x'.repeat(recordBytes) });
      resolved++;
    }
  })().catch(() => {});
  for (let i = 0; i < 20; i++) {
    await clock.advance(1_000);
    await settle();
  }
  const held = p.metrics();
  void p.stop({ drain: false, deadline: 0 }).catch(() => {});
  return { resolved, pending: source.pending, held };
}

describe('pushSource bounded by bytes', () => {
  it.each([100_000, 500_000])(
    'with a 4 MB budget and %i-byte records, accepts about the budget, not 1,000 records',
    async (bytes) => {
      const { resolved, pending } = await accepted(bytes);
      // Budget (4 MB) + a quarter of it in the source + one record of slack each.
      const bound = Math.ceil((4e6 + 1e6) / bytes) + 2;
      expect(resolved).toBeLessThanOrEqual(bound);
      expect(resolved).toBeGreaterThan(0);
      // What the source holds: the last push (waiting) and at most a quarter of the budget.
      expect((pending - 1) * bytes).toBeLessThanOrEqual(1e6 + bytes);
    },
  );

  it('highWaterMarkBytes sets the bound itself', async () => {
    const { resolved, pending } = await accepted(100_000, { highWaterMarkBytes: '300KB' });
    expect(pending).toBeLessThanOrEqual(5);
    expect(resolved).toBeLessThanOrEqual(Math.ceil(4.3e6 / 100_000) + 2);
  });

  it('a single record larger than the mark is still accepted (it never waits forever)', async () => {
    const source = pushSource<string>({ highWaterMarkBytes: 10 });
    await source.push('x'.repeat(1_000));
    expect(source.pending).toBe(1);
  });

  it('refuses a bad highWaterMarkBytes', () => {
    expectInvalid(() => pushSource({ highWaterMarkBytes: -1 }), 'highWaterMarkBytes');
  });
});
