/**
 * Piscina worker-thread entry for CPU ops. Receives one task (op name, a path and a frame range,
 * params), runs the op and returns its rows. setup() runs once per thread per (op, params).
 * Op failures come back as values ({ok:false}) so their "permanent" flag survives the thread
 * boundary; a thread that dies (crash, heap limit, abort on timeout) rejects the task instead.
 */
import { getOp } from '../operators/registry.js';
import { isPermanent, type TaskInput, type TaskOutput } from '../operators/types.js';
import { hashOf } from './recipe.js';

export type WorkerResult =
  | { ok: true; out: TaskOutput; ms: number }
  | { ok: false; error: string; permanent: boolean; ms: number };

const states = new Map<string, Promise<unknown>>();

export async function runOp(task: TaskInput, signal?: AbortSignal): Promise<WorkerResult> {
  const t0 = performance.now();
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
    const out = await op.run(task, { state: st, signal });
    return { ok: true, out, ms: performance.now() - t0 };
  } catch (e) {
    const err = e as Error;
    return { ok: false, error: err?.message ?? String(e), permanent: isPermanent(e), ms: performance.now() - t0 };
  }
}

export default function (msg: { task: TaskInput }): Promise<WorkerResult> {
  return runOp(msg.task);
}
