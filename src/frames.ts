/**
 * Frame streams for ops: a timing wrapper (decode wait) and a bounded prefetcher that decodes a
 * queued task's frames while the current task runs, never more than `maxBytes` ahead.
 */
import { decodeFrames, outputSize, type DecodedFrame, type DecodeOptions } from './ffmpeg.js';

export interface TimedFrames extends AsyncIterable<DecodedFrame> {
  /** ms the consumer spent waiting for the next frame */
  waitMs(): number;
}

/** Wrap a frame source so the consumer's waiting time is measured. */
export function timed(source: AsyncIterable<DecodedFrame>): TimedFrames {
  let wait = 0;
  return {
    waitMs: () => wait,
    async *[Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      try {
        for (;;) {
          const t0 = performance.now();
          const r = await it.next();
          wait += performance.now() - t0;
          if (r.done) return;
          yield r.value;
        }
      } finally {
        await it.return?.();
      }
    },
  };
}

/**
 * Start decoding now and keep up to `maxBytes` of frames (at least 2) ready. Iterate it once.
 * Errors are delivered to the consumer in order, after the frames decoded before them.
 */
export function prefetch(opts: DecodeOptions, maxBytes = 256 * 2 ** 20): AsyncIterable<DecodedFrame> & { cancel(): void } {
  const { width, height } = outputSize(opts);
  const frameBytes = width * height * (opts.pixFmt === 'gray' ? 1 : 3);
  const maxFrames = Math.max(2, Math.floor(maxBytes / Math.max(1, frameBytes)));
  const ctl = new AbortController();
  const src = decodeFrames({ ...opts, reuseBuffers: false, signal: ctl.signal });
  const queue: Array<{ frame?: DecodedFrame; error?: unknown; done?: boolean }> = [];
  let wakeConsumer: (() => void) | null = null;
  let wakeProducer: (() => void) | null = null;
  const notify = () => {
    const w = wakeConsumer;
    wakeConsumer = null;
    w?.();
  };
  (async () => {
    try {
      for await (const f of src) {
        queue.push({ frame: f });
        notify();
        while (queue.length >= maxFrames && !ctl.signal.aborted) await new Promise<void>((r) => (wakeProducer = r));
        if (ctl.signal.aborted) break;
      }
      queue.push({ done: true });
    } catch (e) {
      queue.push({ error: e });
    }
    notify();
  })();
  return {
    cancel: () => {
      ctl.abort();
      wakeProducer?.();
    },
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          while (!queue.length) await new Promise<void>((r) => (wakeConsumer = r));
          const item = queue.shift()!;
          const w = wakeProducer;
          wakeProducer = null;
          w?.();
          if (item.error) throw item.error;
          if (item.done) return;
          yield item.frame!;
        }
      } finally {
        ctl.abort();
        wakeProducer?.();
      }
    },
  };
}
