// A Prometheus histogram with fixed buckets that costs nothing to observe: no allocation, no
// label hashing — a short scan over the bounds and three additions. prom-client's observe()
// builds a label object and a hash string per call (~160 ns against ~17 ns here, measured on
// this machine); the router and the audit pipeline observe several times per message.

export class Histogram {
  /** Upper bounds, ascending; the implicit last bucket is +Inf. */
  readonly bounds: Float64Array;
  /** Observations per bucket (not cumulative: bucket i counts bounds[i-1] < v <= bounds[i]). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`histogram bounds must ascend: ${bounds.join(', ')}`);
    }
    if (bounds.some((b) => !Number.isFinite(b))) throw new Error('histogram bounds must be finite (+Inf is implicit)');
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    // Prometheus buckets are "less than or equal" (le); NaN lands in +Inf.
    while (i < bounds.length && !(value <= bounds[i]!)) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  /** Cumulative counts per bound, then +Inf (what the exposition format calls `_bucket{le=…}`). */
  cumulative(): number[] {
    const out = new Array<number>(this.counts.length);
    let running = 0;
    for (let i = 0; i < this.counts.length; i++) out[i] = running += this.counts[i]!;
    return out;
  }
}

/** `count` bounds from `start`, each `factor` times the previous (prom-client's exponentialBuckets). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0, b = start; i < count; i++, b *= factor) out.push(Number(b.toPrecision(12)));
  return out;
}
