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
