/**
 * Runs one op on one task, in whatever process/thread hosts it: Piscina worker threads (CPU
 * ops, default export below), model-worker processes (src/model-worker.ts) or inline.
 * setup() runs once per thread/process per (op, params). Op failures come back as values
 * ({ok:false}) so their "permanent" flag survives the thread/process boundary; a thread or process
 * that dies (crash, heap limit, timeout kill) rejects the task instead.
 */
import { getOp } from '../operators/registry.js';
import { isPermanent, type OpContext, type TaskInput, type TaskOutput } from '../operators/types.js';
import type { DecodedFrame } from './ffmpeg.js';
import { decodeFrames } from './ffmpeg.js';
import { timed } from './frames.js';
import { useFramesCounter } from './live.js';
import { hashOf } from './recipe.js';

export type WorkerResult = (
  | { ok: true; out: TaskOutput; ms: number; waitMs?: number }
  | {
      ok: false;
      error: string;
      permanent: boolean;
      ms: number;
      /** the task was not at fault (its worker died because of another task): run it again, no attempt counted */
      requeue?: boolean;
    }
) & { /** which thread / process ran it */ worker?: string };

const states = new Map<string, Promise<unknown>>();

export interface RunOpOptions {
  signal?: AbortSignal;
  /** frames decoded ahead by a model worker, for ops that declare `frames` */
  frames?: AsyncIterable<DecodedFrame>;
  device?: OpContext['device'];
}

export async function runOp(task: TaskInput, opts: RunOpOptions | AbortSignal = {}): Promise<WorkerResult> {
  const o: RunOpOptions = opts instanceof AbortSignal ? { signal: opts } : opts;
  const t0 = performance.now();
  let frames: ReturnType<typeof timed> | undefined;
  try {
    const op = getOp(task.op);
    let st: unknown;
    if (op.setup) {
      const key = hashOf({ op: task.op, params: task.params });
      let p = states.get(key);
      if (!p) {
        p = Promise.resolve(op.setup(task.params));
        states.set(key, p);
        p.catch(() => states.delete(key));
      }
      st = await p;
    }
    const fo = op.frames?.(task);
    if (fo) frames = timed(o.frames ?? decodeFrames({ ...fo, signal: o.signal }));
    const out = await op.run(task, {
      state: st,
      signal: o.signal,
      frames,
      device: o.device ?? { kind: 'cpu', index: null },
      decodeWaitMs: frames ? () => frames!.waitMs() : undefined,
    });
    return { ok: true, out, ms: performance.now() - t0, waitMs: frames?.waitMs() };
  } catch (e) {
    const err = e as Error;
    return { ok: false, error: err?.message ?? String(e), permanent: isPermanent(e), ms: performance.now() - t0 };
  }
}

export default async function (msg: { task: TaskInput; frames?: SharedArrayBuffer }): Promise<WorkerResult> {
  const { threadId } = await import('node:worker_threads');
  if (msg.frames) useFramesCounter(msg.frames);
  return { ...(await runOp(msg.task)), worker: `thread:${threadId}` };
}
