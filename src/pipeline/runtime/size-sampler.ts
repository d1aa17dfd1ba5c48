import { estimateBytes } from '../../core/size.js';

/** One record in this many is sized for the running average. */
const SAMPLE_EVERY = 64;

/**
 * The average record size for the memory budget when records are not sized one by one: the plain
 * mean of the first samples (so the very first record already sets the scale, be it 50 bytes or
 * 50 KB), then a moving average that follows drift. The average is never below 1 byte.
 */
export class SizeSampler {
  /** The current estimate, in bytes. */
  average = 64;
  #countdown = 0;
  #samples = 0;

  /** No record was sampled yet. */
  get unset(): boolean {
    return this.#samples === 0;
  }

  /** Samples `values[from..to)`, one in every {@link SAMPLE_EVERY} across calls. */
  sample(values: unknown[], from: number, to: number): void {
    let i = from + this.#countdown;
    for (; i < to; i += SAMPLE_EVERY) {
      const size = estimateBytes(values[i], 1e7);
      const weight = this.#samples < 10 ? 1 / ++this.#samples : 0.1;
      this.average = Math.max(1, Math.round(this.average + (size - this.average) * weight));
    }
    this.#countdown = i - to;
  }
}
