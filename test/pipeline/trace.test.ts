import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromIterable, fromJsonLines, memorySink, pipeline, trace, triggers } from '../../src/index.js';
import { flakySink, scriptedSource, testClock } from '../../src/testing/index.js';

describe('trace()', () => {
  it('prints a line per window, retry, write and commit, on the pipeline clock', async () => {
    const clock = testClock(Date.UTC(2026, 10, 25, 14, 0, 0));
    const source = scriptedSource(clock, [
      { at: clock.now(), value: 1 },
      { at: clock.now() + 100, value: 2 },
      { at: clock.now() + 5_000, value: 3 },
    ]);
    const sink = flakySink<number>({ clock, schedule: [{ fail: 'retryable', retryAfter: 50 }] });
    const p = pipeline({ name: 'prices', clock, retry: { initialDelay: 10, maxDelay: 100 } })
      .source(source)
      .trigger(triggers.time('1s'))
      .sink(sink)
      .build();
    const lines: string[] = [];
    const stop = trace(p, { write: (l) => lines.push(l), clock });
    await clock.runUntil(p.run());
    stop();
    expect(lines[0]).toBe('14:00:00.000 prices status  idle → running');
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^14:00:01\.000 prices window {2}0 \[0\.\.1\] opened 14:00:00\.000, closed after 1s: time \(2 records, \d+B\)$/,
      ),
    );
    expect(
      lines.some((l) => /retry +0 \[0\.\.1\] attempt 1 failed \(flakySink: scripted retryable/.test(l)),
    ).toBe(true);
    expect(lines.some((l) => / write +0 \[0\.\.1\] 2 written in \d+ms \(attempt 2\)/.test(l))).toBe(true);
    expect(lines).toContain('14:00:01.050 prices commit  0 → 1');
    expect(lines.at(-1)).toBe('14:00:05.000 prices status  draining → completed');
    expect(lines.filter((l) => l.includes(' window '))).toHaveLength(2);
  });

  it('reports dead letters with their reasons', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mb-trace-'));
    const file = join(dir, 'in.jsonl');
    await writeFile(file, '{"a":1}\nnot json\n{"a":2}\n');
    const p = pipeline({ name: 't' })
      .source(fromJsonLines(file))
      .sink(memorySink())
      .deadLetter(memorySink())
      .build();
    const lines: string[] = [];
    trace(p, { write: (l) => lines.push(l), time: () => 'T' });
    await p.run();
    expect(lines).toContain(`T t dlq     ${file} [0..17] 1 dead-lettered: malformed=1`);
  });

  it('counts records the pipeline rejected on arrival (an invalid event time) without blaming the source', async () => {
    const clock = testClock(Date.UTC(2026, 10, 25, 14, 0, 0));
    const p = pipeline({ name: 'et', clock })
      .source(fromIterable([{ at: clock.now() }, { at: 'not a time' }, { at: clock.now() }]))
      .eventTime((r: { at: unknown }) => r.at as number)
      .sink(memorySink())
      .deadLetter(memorySink())
      .build();
    const lines: string[] = [];
    trace(p, { write: (l) => lines.push(l), time: () => 'T' });
    const report = await clock.runUntil(p.run());
    expect(report.rejected).toEqual({ invalid_event_time: 1 });
    const window = lines.find((l) => l.includes(' window '));
    expect(window).toMatch(/\(2 records, \d+B, 1 rejected on arrival\)$/);
    expect(lines.join('\n')).not.toContain('by the source');
  });
});
