import { describe, expect, it } from 'vitest';
import type { CheckpointStore } from '../../../src/checkpoint/types.js';
import type { DeadLetter } from '../../../src/core/batch.js';
import { MicrobatchError } from '../../../src/core/errors.js';
import { pipeline } from '../../../src/pipeline/builder.js';
import type { Sink } from '../../../src/sinks/types.js';
import type { Source } from '../../../src/sources/types.js';
import { testClock } from '../../../src/testing/clock.js';

/** Parts that log their open and close calls; `failOpen` names the one whose open throws. */
function parts(calls: string[], failOpen?: 'checkpoint' | 'sink' | 'dead' | 'source', failClose?: string) {
  const step = (name: string, what: 'open' | 'close') => async () => {
    await new Promise((resolve) => setImmediate(resolve)); // a close that takes a moment
    calls.push(`${name}.${what}`);
    if (what === 'open' && failOpen === name) throw new Error(`${name} will not open`);
    if (what === 'close' && failClose === name) throw new Error(`${name} will not close`);
  };
  const checkpoint: CheckpointStore = {
    kind: 'logged',
    durable: true,
    open: step('checkpoint', 'open'),
    close: step('checkpoint', 'close'),
    load: () => undefined,
    save: () => {},
  };
  const sink: Sink<number> = { write: () => {}, open: step('sink', 'open'), close: step('sink', 'close') };
  const dead: Sink<DeadLetter> = {
    write: () => {},
    open: step('dead', 'open'),
    close: step('dead', 'close'),
  };
  const source: Source<number> = {
    kind: 'logged',
    replayable: true,
    async open() {
      await step('source', 'open')();
      let done = false;
      return {
        read: () => {
          if (done) return null;
          done = true;
          return { partition: '0', values: [1], firstOffset: 0 };
        },
        close: step('source', 'close'),
      };
    },
  };
  return { checkpoint, sink, dead, source };
}

const build = (calls: string[], failOpen?: 'checkpoint' | 'sink' | 'dead' | 'source', failClose?: string) => {
  const clock = testClock();
  const { checkpoint, sink, dead, source } = parts(calls, failOpen, failClose);
  return {
    clock,
    p: pipeline({ name: 'closers', clock, checkpoint }).source(source).sink(sink).deadLetter(dead).build(),
  };
};

describe('the facade closes exactly what it opened, last opened first', () => {
  it('closes everything after a run: source, then the two sinks as a pair, then the checkpoint store', async () => {
    const calls: string[] = [];
    const { clock, p } = build(calls);
    await clock.runUntil(p.run());
    expect(calls).toEqual([
      'checkpoint.open',
      'sink.open',
      'dead.open',
      'source.open',
      'source.close',
      'sink.close',
      'dead.close',
      'checkpoint.close',
    ]);
  });

  it.each([
    ['checkpoint', ['checkpoint.open'], 'MB_CHECKPOINT_FAILED'],
    ['sink', ['checkpoint.open', 'sink.open', 'checkpoint.close'], 'MB_SINK_FAILED'],
    [
      'dead',
      ['checkpoint.open', 'sink.open', 'dead.open', 'sink.close', 'checkpoint.close'],
      'MB_SINK_FAILED',
    ],
    [
      'source',
      [
        'checkpoint.open',
        'sink.open',
        'dead.open',
        'source.open',
        'sink.close',
        'dead.close',
        'checkpoint.close',
      ],
      'MB_SOURCE_FAILED',
    ],
  ] as const)(
    'when %s fails to open: closes only what opened before it, before start() rejects',
    async (part, expected, code) => {
      const calls: string[] = [];
      const { clock, p } = build(calls, part);
      const error = await clock.runUntil(
        p.start().then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      expect(MicrobatchError.is(error, code)).toBe(true);
      // Every close already ran when start() rejected.
      expect(calls).toEqual(expected);
      expect(p.status).toBe('failed');
    },
  );

  it('a close that fails is logged and does not stop the others', async () => {
    const calls: string[] = [];
    const { clock, p } = build(calls, undefined, 'sink');
    const report = await clock.runUntil(p.run());
    expect(report.status).toBe('completed');
    expect(calls.slice(-4)).toEqual(['source.close', 'sink.close', 'dead.close', 'checkpoint.close']);
  });
});
