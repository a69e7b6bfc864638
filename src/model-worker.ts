/**
 * A long-lived model-worker process: one per GPU (CUDA_VISIBLE_DEVICES pinned by the parent), or
 * one or more on the CPU provider when there is no GPU. It loads each op's models once (setup),
 * receives clip tasks over IPC (a path and a frame range, never frames), decodes its own frames —
 * the (at most two) queued tasks' frames are decoded ahead while the current task runs, within
 * a byte budget (EGOPIPE_PREFETCH_BYTES, default 256 MiB) — and sends back compact results
 * (boxes, RLE, scores). Tasks run one at a time.
 */
import { getOp } from '../operators/registry.js';
import type { TaskInput } from '../operators/types.js';
import { hwaccels, setToolPaths } from './ffmpeg.js';
import { prefetch } from './frames.js';
import { framesDecoded } from './live.js';
import { runOp, type WorkerResult } from './worker.js';

export type ToWorker =
  | { type: 'task'; id: number; task: TaskInput }
  | { type: 'exit' };

export type FromWorker =
  | { type: 'ready'; pid: number; device: string }
  | { type: 'started'; id: number }
  | { type: 'result'; id: number; res: WorkerResult; busyMs: number; waitMs: number }
  /** frames decoded since the last report (live progress) */
  | { type: 'frames'; n: number };

const device = {
  kind: (process.env.EGOPIPE_DEVICE === 'cuda' ? 'cuda' : 'cpu') as 'cuda' | 'cpu',
  index: process.env.EGOPIPE_DEVICE_INDEX ? Number(process.env.EGOPIPE_DEVICE_INDEX) : null,
};
const prefetchBytes = Number(process.env.EGOPIPE_PREFETCH_BYTES ?? 256 * 2 ** 20);
let cudaDecode: boolean | null = null;

interface Queued {
  id: number;
  task: TaskInput;
  frames?: ReturnType<typeof prefetch>;
}
const queue: Queued[] = [];
let running = false;

function send(m: FromWorker): void {
  process.send?.(m);
}

// live progress: decoded frames reported twice a second, and before each result
let reported = 0;
function reportFrames(): void {
  const n = framesDecoded();
  if (n > reported) {
    send({ type: 'frames', n: n - reported });
    reported = n;
  }
}
setInterval(reportFrames, 500).unref();

function startPrefetch(q: Queued): void {
  if (prefetchBytes <= 0) return; // read-ahead disabled: frames are decoded when the task runs
  try {
    const op = getOp(q.task.op);
    if (!op.frames) return;
    setToolPaths(q.task.tools);
    const opts = op.frames(q.task);
    if (!opts) return;
    if (device.kind === 'cuda' && !opts.hwaccel) {
      if (cudaDecode === null) cudaDecode = hwaccels().includes('cuda');
      if (cudaDecode) opts.hwaccel = 'cuda';
    }
    q.frames = prefetch(opts, prefetchBytes / 2); // at most two tasks wait: the budget is shared
  } catch {
    /* the op reports the problem when it runs */
  }
}

async function pump(): Promise<void> {
  if (running) return;
  running = true;
  try {
    while (queue.length) {
      const q = queue[0];
      // queued tasks decode ahead while this one runs
      for (const next of queue) if (!next.frames) startPrefetch(next);
      send({ type: 'started', id: q.id });
      const t0 = performance.now();
      const res = await runOp(q.task, { frames: q.frames, device });
      q.frames?.cancel();
      queue.shift();
      res.worker = `${device.kind}${device.index === null ? '' : ':' + device.index}/pid:${process.pid}`;
      reportFrames();
      send({ type: 'result', id: q.id, res, busyMs: performance.now() - t0, waitMs: res.ok ? (res.waitMs ?? 0) : 0 });
    }
  } finally {
    running = false;
  }
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'exit') {
    process.exit(0);
  }
  if (m.type === 'task') {
    const q: Queued = { id: m.id, task: m.task };
    queue.push(q);
    // a task queued behind a running one starts decoding now, while the model works
    if (running) startPrefetch(q);
    void pump();
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', pid: process.pid, device: `${device.kind}${device.index === null ? '' : ':' + device.index}` });
