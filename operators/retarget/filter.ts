/**
 * First-order low-pass filter, as dex-retargeting's LPFilter:
 *   y_0 = x_0,   y_t = y_{t-1} + alpha * (x_t - y_{t-1})
 * alpha = 1 passes the input through; alpha -> 0 freezes the output. dex-retargeting only builds a
 * filter for 0 <= alpha <= 1; `LowPassFilter.create` returns null otherwise.
 */
export class LowPassFilter {
  private y: Float64Array | null = null;

  constructor(readonly alpha: number) {
    if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`low-pass alpha must be in [0, 1], got ${alpha}`);
  }

  /** A filter for alpha in [0, 1], null (no filtering) otherwise, as dex-retargeting decides. */
  static create(alpha: number): LowPassFilter | null {
    return alpha >= 0 && alpha <= 1 ? new LowPassFilter(alpha) : null;
  }

  get initialized(): boolean {
    return this.y !== null;
  }

  /** Filter one sample; returns a new array (the caller may keep it). */
  next(x: ArrayLike<number>): Float64Array {
    if (this.y === null || this.y.length !== x.length) {
      this.y = Float64Array.from(x);
      return Float64Array.from(this.y);
    }
    const y = this.y;
    const a = this.alpha;
    for (let i = 0; i < y.length; i++) y[i] += a * (x[i] - y[i]);
    return Float64Array.from(y);
  }

  reset(): void {
    this.y = null;
  }
}
