import { describe, expect, it } from 'vitest';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { testClock } from '../../src/testing/clock.js';
import { scriptedSource } from '../../src/testing/scripted-source.js';
import { triggers } from '../../src/triggers/index.js';
import { expectInvalid, listed, settle, sourceContext } from '../support.js';

describe('scriptedSource', () => {
  it('delivers records at their scripted times, together when due together', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, [
      { at: 1_500, value: 'c' },
      { at: 0, value: 'a' },
      { at: 0, value: 'b' },
      { at: 1_500, value: 'd', partition: 'p1' },
    ]);
    expect(source.kind).toBe('scripted');
    expect(source.replayable).toBe(false);
    const reader = await source.open(sourceContext(clock));
    expect(listed(await reader.read())).toEqual({ partition: '0', values: ['a', 'b'], offsets: [0, 1] });
    expect(source.delivered).toBe(2);

    let next: unknown;
    const pending = Promise.resolve(reader.read()).then((chunk) => {
      next = listed(chunk);
    });
    await clock.advance(1_499);
    expect(next).toBeUndefined();
    await clock.advance(1);
    await pending;
    expect(next).toEqual({ partition: '0', values: ['c'], offsets: [2] });
    expect(listed(await reader.read())).toEqual({ partition: 'p1', values: ['d'], offsets: [0] });
    expect(source.delivered).toBe(4);
    expect(await reader.read()).toBeNull();
  });

  it('records commits and can claim to be replayable', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, [{ at: 0, value: 1 }], { replayable: true });
    expect(source.replayable).toBe(true);
    const reader = await source.open(sourceContext(clock));
    await reader.commit?.({ partition: '0', offset: 0 });
    expect(source.commits).toEqual([{ partition: '0', offset: 0 }]);
  });

  it('stays open after the last record when endless, until stopped', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, [{ at: 0, value: 1 }], { endless: true });
    const reader = await source.open(sourceContext(clock));
    await reader.read();
    let ended = false;
    const read = Promise.resolve(reader.read()).then((chunk) => {
      ended = chunk === null;
    });
    await clock.advance(1e9);
    expect(ended).toBe(false);
    reader.stop?.();
    await read;
    expect(ended).toBe(true);
  });

  it('stop() cancels its wait timer', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, [{ at: 10_000, value: 1 }]);
    const reader = await source.open(sourceContext(clock));
    const read = reader.read();
    await settle();
    expect(clock.pendingTimers).toBe(1);
    reader.stop?.();
    expect(await read).toBeNull();
    expect(clock.pendingTimers).toBe(0);
  });

  it('drives a time-triggered pipeline deterministically', async () => {
    const clock = testClock();
    const source = scriptedSource(clock, [
      { at: 0, value: 'a' },
      { at: 400, value: 'b' },
      { at: 999, value: 'c' },
      { at: 1_000, value: 'd' },
      { at: 5_000, value: 'e' },
    ]);
    const sink = memorySink<string>();
    const p = pipeline({ name: 'timed', clock })
      .source(source)
      .trigger(triggers.time('1s'))
      .sink(sink)
      .build();
    await clock.runUntil(p.run());
    expect(sink.batches.map((b) => [b.records, b.reason, b.openedAt, b.closedAt])).toEqual([
      [['a', 'b', 'c'], 'time', 0, 1_000],
      [['d'], 'time', 1_000, 2_000],
      [['e'], 'drain', 5_000, 5_000],
    ]);
    expect(source.commits).toEqual([
      { partition: '0', offset: 2 },
      { partition: '0', offset: 3 },
      { partition: '0', offset: 4 },
    ]);
  });

  it('rejects a record without a finite time', () => {
    expectInvalid(() => scriptedSource(testClock(), [{ at: Number.NaN, value: 1 }]), "no finite 'at'");
  });
});
