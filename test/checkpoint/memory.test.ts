import { describe, expect, it } from 'vitest';
import { memoryCheckpoint } from '../../src/checkpoint/memory.js';
import type { CheckpointContext } from '../../src/checkpoint/types.js';
import { silentLogger } from '../../src/core/logger.js';
import { testClock } from '../../src/testing/clock.js';
import { expectCode, expectInvalid, thrown } from '../support.js';

const context = (pipeline: string): CheckpointContext => ({
  pipeline,
  clock: testClock(),
  logger: silentLogger,
});

describe('memoryCheckpoint', () => {
  it('is a non-durable store named memory', () => {
    const store = memoryCheckpoint();
    expect(store.kind).toBe('memory');
    expect(store.durable).toBe(false);
  });

  it('loads what was saved, and undefined for a partition never saved', () => {
    const store = memoryCheckpoint();
    store.open(context('p'));
    expect(store.load('0')).toBeUndefined();
    store.save('0', { plans: [{ firstOffset: 0, lastOffset: 9 }] });
    store.save('0', { committed: 9, plans: [{ firstOffset: 10, lastOffset: 12 }] });
    store.save('1', { committed: 3, plans: [] });
    expect(store.load('0')).toEqual({ committed: 9, plans: [{ firstOffset: 10, lastOffset: 12 }] });
    expect(store.load('1')).toEqual({ committed: 3, plans: [] });
    expect(store.saves).toBe(3);
  });

  it('copies states on save and load, so callers cannot change what is stored', () => {
    const store = memoryCheckpoint();
    store.open(context('p'));
    const saved = { committed: 1, plans: [{ firstOffset: 2, lastOffset: 3 }] };
    store.save('0', saved);
    saved.plans[0]!.lastOffset = 99;
    saved.plans.push({ firstOffset: 100, lastOffset: 101 });
    const loaded = store.load('0')! as {
      committed: number;
      plans: { firstOffset: number; lastOffset: number }[];
    };
    loaded.plans.length = 0;
    loaded.committed = 50;
    const view = store.state('p') as Record<string, { plans: unknown[] }>;
    view['0']!.plans.length = 0;
    expect(store.load('0')).toEqual({ committed: 1, plans: [{ firstOffset: 2, lastOffset: 3 }] });
  });

  it('a new pipeline of the same name, given the same store, sees the earlier state (a restart)', () => {
    const store = memoryCheckpoint();
    store.open(context('orders'));
    store.save('0', { committed: 41, plans: [{ firstOffset: 42, lastOffset: 50 }] });
    store.close();
    store.open(context('orders'));
    expect(store.load('0')).toEqual({ committed: 41, plans: [{ firstOffset: 42, lastOffset: 50 }] });
    // Reopening under the same name without close() (a pipeline abandoned in a test) is allowed.
    store.open(context('orders'));
    expect(store.load('0')?.committed).toBe(41);
  });

  it('keeps pipelines apart and shows each one through state()', () => {
    const store = memoryCheckpoint();
    store.open(context('a'));
    store.save('0', { committed: 1, plans: [] });
    store.close();
    store.open(context('b'));
    expect(store.load('0')).toBeUndefined();
    store.save('0', { committed: 7, plans: [] });
    store.close();
    expect(store.state('a')).toEqual({ '0': { committed: 1, plans: [] } });
    expect(store.state('b')).toEqual({ '0': { committed: 7, plans: [] } });
    expect(store.state('c')).toEqual({});
  });

  it('serves one open pipeline at a time', () => {
    const store = memoryCheckpoint();
    store.open(context('a'));
    expectInvalid(() => store.open(context('b')), "already open for pipeline 'a'", 'one pipeline at a time');
  });

  it('refuses load and save before open and after close', () => {
    const store = memoryCheckpoint();
    expectCode(
      thrown(() => store.load('0')),
      'MB_CLOSED',
    );
    store.open(context('a'));
    store.close();
    expectCode(
      thrown(() => store.save('0', { plans: [] })),
      'MB_CLOSED',
    );
  });

  it.each([
    [{ committed: 1.5, plans: [] }, 'committed must be a non-negative safe integer'],
    [{ committed: 1 }, 'plans must be an array'],
    [{ plans: [{ firstOffset: 5, lastOffset: 4 }] }, 'firstOffset ≤ lastOffset'],
    [{ plans: [{ firstOffset: 0, lastOffset: 2 ** 53 }] }, 'safe integers'],
    [{ committed: 5, plans: [{ firstOffset: 5, lastOffset: 6 }] }, 'must start after committed (5)'],
    [
      {
        plans: [
          { firstOffset: 0, lastOffset: 4 },
          { firstOffset: 4, lastOffset: 6 },
        ],
      },
      'must start after plans[0] (4)',
    ],
    [null, 'expected { committed?, plans }'],
  ])('rejects an invalid state %j', (state, fragment) => {
    const store = memoryCheckpoint();
    store.open(context('a'));
    expectInvalid(() => store.save('0', state as never), "memoryCheckpoint: save('0')", fragment);
    expect(store.load('0')).toBeUndefined();
  });
});
