import { describe, expect, it } from 'vitest';
import { LatencyWindow } from '../../src/pipeline/latency.js';

describe('LatencyWindow', () => {
  it('is all zeros before the first sample', () => {
    expect(new LatencyWindow().snapshot()).toEqual({ p50: 0, p90: 0, p99: 0, max: 0, samples: 0 });
  });

  it('weights samples by record count', () => {
    const window = new LatencyWindow();
    window.add(100, 90);
    window.add(1_000, 10);
    expect(window.snapshot()).toEqual({ p50: 100, p90: 100, p99: 1_000, max: 1_000, samples: 2 });
  });

  it('ignores samples with no records', () => {
    const window = new LatencyWindow();
    window.add(5_000, 0);
    window.add(10, 1);
    expect(window.snapshot()).toMatchObject({ max: 10, samples: 1 });
  });

  it('keeps only the most recent samples', () => {
    const window = new LatencyWindow(2);
    window.add(9_999, 1);
    window.add(1, 1);
    window.add(2, 1);
    expect(window.snapshot()).toEqual({ p50: 1, p90: 2, p99: 2, max: 2, samples: 2 });
  });
});
