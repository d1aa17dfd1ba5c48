/**
 * Record-weighted latency quantiles over the most recent batches. Each committed batch adds one
 * sample — the wait of its oldest record — weighted by its record count, so the quantiles answer
 * "how long did records wait" (an upper bound per batch) without a timestamp per record.
 */
export class LatencyWindow {
  readonly #values: Float64Array;
  readonly #weights: Float64Array;
  #next = 0;
  #size = 0;

  constructor(capacity = 1024) {
    this.#values = new Float64Array(capacity);
    this.#weights = new Float64Array(capacity);
  }

  add(latencyMs: number, weight: number): void {
    if (weight <= 0) return;
    this.#values[this.#next] = latencyMs;
    this.#weights[this.#next] = weight;
    this.#next = (this.#next + 1) % this.#values.length;
    this.#size = Math.min(this.#size + 1, this.#values.length);
  }

  /** p50, p90, p99 and max in ms over the window; zeros before the first sample. */
  snapshot(): { p50: number; p90: number; p99: number; max: number; samples: number } {
    if (this.#size === 0) return { p50: 0, p90: 0, p99: 0, max: 0, samples: 0 };
    const order = Array.from({ length: this.#size }, (_, i) => i).sort(
      (a, b) => this.#values[a]! - this.#values[b]!,
    );
    let total = 0;
    for (const i of order) total += this.#weights[i]!;
    const quantile = (q: number) => {
      let seen = 0;
      for (const i of order) {
        seen += this.#weights[i]!;
        if (seen >= q * total) return this.#values[i]!;
      }
      return this.#values[order[order.length - 1]!]!;
    };
    return {
      p50: quantile(0.5),
      p90: quantile(0.9),
      p99: quantile(0.99),
      max: this.#values[order[order.length - 1]!]!,
      samples: this.#size,
    };
  }
}
