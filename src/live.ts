/**
 * A process-wide count of decoded frames, for live progress (frames/s while long tasks run, not
 * only when they finish). Worker threads share the main thread's counter through a
 * SharedArrayBuffer sent with each task; model-worker processes report their counts over IPC.
 */
let counter = new BigInt64Array(new SharedArrayBuffer(8));

/** The buffer to hand to worker threads. */
export function framesCounterBuffer(): SharedArrayBuffer {
  return counter.buffer as SharedArrayBuffer;
}

/** In a worker thread: count into the main thread's buffer. */
export function useFramesCounter(buf: SharedArrayBuffer): void {
  counter = new BigInt64Array(buf);
}

export function countFrames(n = 1): void {
  Atomics.add(counter, 0, BigInt(n));
}

export function framesDecoded(): number {
  return Number(Atomics.load(counter, 0));
}

/** frames/s over a sliding window of samples (the progress line's rate). */
export class RateWindow {
  private samples: Array<[number, number]> = [];
  constructor(private readonly windowMs = 10_000) {}

  add(count: number, now = Date.now()): number {
    this.samples.push([now, count]);
    while (this.samples.length > 2 && now - this.samples[1][0] >= this.windowMs) this.samples.shift();
    const [t0, c0] = this.samples[0];
    return now > t0 ? ((count - c0) * 1000) / (now - t0) : 0;
  }
}

/**
 * Task completions per op in one-second buckets over the last `windowS` seconds: the recent rate
 * of each op, for an ETA that works inside a single long video (where the fraction of videos
 * done says nothing until the end).
 */
export class OpRates {
  private readonly ops = new Map<string, { buckets: number[]; last: number; first: number }>();
  constructor(private readonly windowS = 60) {}

  done(op: string, nowMs = Date.now()): void {
    const sec = Math.floor(nowMs / 1000);
    let o = this.ops.get(op);
    if (!o) this.ops.set(op, (o = { buckets: new Array<number>(this.windowS).fill(0), last: sec, first: nowMs }));
    this.advance(o, sec);
    o.buckets[sec % this.windowS]++;
  }

  /** tasks/s over the window (or since the op's first completion when that is more recent) */
  rate(op: string, nowMs = Date.now()): number | null {
    const o = this.ops.get(op);
    if (!o) return null;
    this.advance(o, Math.floor(nowMs / 1000));
    const n = o.buckets.reduce((a, b) => a + b, 0);
    const span = Math.min(this.windowS, Math.max(1, (nowMs - o.first) / 1000));
    return n / span;
  }

  /**
   * Seconds until every op's remaining tasks are done at its recent rate (the slowest op
   * decides); null while an op with work left has no rate yet.
   */
  eta(remaining: Map<string, number>, nowMs = Date.now()): number | null {
    let eta = 0;
    for (const [op, left] of remaining) {
      if (left <= 0) continue;
      const r = this.rate(op, nowMs);
      if (!r) return null;
      eta = Math.max(eta, left / r);
    }
    return eta;
  }

  private advance(o: { buckets: number[]; last: number }, sec: number): void {
    if (sec <= o.last) return;
    for (let s = o.last + 1; s <= Math.min(sec, o.last + this.windowS); s++) o.buckets[s % this.windowS] = 0;
    o.last = sec;
  }
}
