/**
 * Regression of issue 13 finding 9: a sink that always fails with a retryable error made `run()`
 * wait forever with no output at all. Now the default logger writes warnings to stderr (the first
 * retry of a batch, then at most every 30 s), and `metrics()` lists the retried batch.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MicrobatchError } from '../../src/core/errors.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { Sink } from '../../src/sinks/types.js';
import { pushSource } from '../../src/sources/push.js';
import { testClock } from '../../src/testing/clock.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const down: Sink<number> = {
  write() {
    throw new MicrobatchError('MB_SINK_FAILED', 'warehouse unavailable (503)', { retryable: true });
  },
};

describe('a sink that keeps failing', () => {
  it('is visible: stderr warnings (first retry, then every 30 s) and metrics; stop() still ends it', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    });
    const clock = testClock();
    const source = pushSource<number>();
    const p = pipeline({ name: 'stuck', clock, retry: { initialDelay: 100, maxDelay: '1s' } })
      .source(source)
      .sink(down)
      .build();
    let settled = false;
    const run = p.run().finally(() => {
      settled = true;
    });
    await source.pushMany([1, 2, 3]);
    source.end();
    await clock.advance(1_500); // a time trigger of 1 s cuts, the write fails and retries
    const retries = () => lines.filter((l) => l.includes('retrying'));
    expect(retries()).toHaveLength(1);
    expect(retries()[0]).toMatch(/^microbatch WARN sink write of batch stuck\.0\..*: retrying/);
    expect(retries()[0]).toContain('warehouse unavailable (503)');
    await clock.advance(20_000);
    expect(retries()).toHaveLength(1);
    await clock.advance(15_000);
    expect(retries()).toHaveLength(2);

    const [retrying] = p.metrics().sink.retryingBatches;
    expect(retrying).toMatchObject({
      batch: expect.stringMatching(/^stuck\.0\./),
      lastError: expect.stringContaining('503'),
    });
    expect(retrying!.attempts).toBeGreaterThan(10);
    expect(settled).toBe(false);
    // The no-dead-letter-sink warning is seen too.
    expect(lines.some((l) => l.includes('no dead-letter sink configured'))).toBe(true);

    const report = await clock.runUntil(p.stop({ deadline: '5s' }));
    expect(report.records.undelivered).toBe(3);
    await run.catch(() => {});
    expect(p.metrics().sink.retryingBatches).toEqual([]);
  });
});
