/**
 * debug_model: a model-worker ('gpu' pool) op for testing and benchmarking the model workers.
 * It decodes its clip's frames through ctx.frames (so the worker prefetches them), runs a tiny
 * ONNX model (a 64x64 MatMul built in setup) repeatedly for a fixed time per frame (a stand-in for
 * inference of known cost), and can inject faults: throw, kill its worker process, hang, or run
 * out of memory. One row per clip in table `debug_model` with what it saw.
 */
import * as ort from 'onnxruntime-node';
import { OnnxGraph } from '../../src/onnx/writer.js';
import type { OperatorSpec, TableSpec } from '../types.js';

export interface DebugModelParams {
  ms_per_frame: number;
  width: number;
  height: number;
  step: number;
  fault: 'none' | 'throw' | 'crash' | 'hang' | 'oom';
  match: string;
  fail_attempts: number;
}

export const debugModelTable: TableSpec = {
  name: 'debug_model',
  description: 'One row per clip processed by the debug_model op (testing only).',
  columns: { clip_id: 'VARCHAR', frames: 'INTEGER', mean_luma: 'DOUBLE', attempt: 'INTEGER', pid: 'INTEGER', device: 'VARCHAR', infer_runs: 'INTEGER', decode_wait_ms: 'DOUBLE' },
};

function tinyModel(): Uint8Array {
  const g = new OnnxGraph('debug_matmul');
  g.input('x', 'float32', [1, 64]);
  const w = new Float32Array(64 * 64).map((_, i) => ((i * 7919) % 13) / 13 - 0.5);
  g.initializer('w', w, [64, 64]);
  g.node('MatMul', ['x', 'w'], ['y']);
  g.output('y', 'float32', [1, 64]);
  return g.toBytes();
}

export const op: OperatorSpec<DebugModelParams, { session: ort.InferenceSession }> = {
  name: 'debug_model',
  description: 'Testing op for the model workers: decodes the clip, runs a tiny ONNX model for ms_per_frame per frame, injects faults on chosen clips.',
  level: 'clip',
  needs: ['clips'],
  params: {
    ms_per_frame: { type: 'number', default: 2, min: 0, description: 'model time per frame (the tiny model runs repeatedly for this long)' },
    width: { type: 'integer', default: 64, min: 2, description: 'decode width' },
    height: { type: 'integer', default: 48, min: 2, description: 'decode height' },
    step: { type: 'integer', default: 1, min: 1, description: 'every step-th frame' },
    fault: { type: 'enum', values: ['none', 'throw', 'crash', 'hang', 'oom'], default: 'none', description: 'fault to inject' },
    match: { type: 'string', default: '', description: 'inject only into clips of videos whose path contains this' },
    fail_attempts: { type: 'integer', default: 0, min: 0, description: 'inject on the first N attempts only (0 = always)' },
  },
  outputs: [debugModelTable],
  resources: { pool: 'gpu' },
  frames: (task) => ({
    path: task.video.path,
    width: task.params.width,
    height: task.params.height,
    startFrame: task.clip!.start_frame,
    endFrame: task.clip!.end_frame,
    step: task.params.step,
    fps: task.video.vfr ? undefined : task.video.fps,
    pixFmt: 'rgb24',
  }),
  async setup() {
    return { session: await ort.InferenceSession.create(tinyModel(), { intraOpNumThreads: 1 }) };
  },
  async run(task, ctx) {
    const p = task.params;
    const hit = p.fault !== 'none' && task.video.path.includes(p.match) && (p.fail_attempts === 0 || task.attempt <= p.fail_attempts);
    let frames = 0;
    let luma = 0;
    let runs = 0;
    const x = new ort.Tensor('float32', new Float32Array(64).fill(0.5), [1, 64]);
    for await (const f of ctx.frames!) {
      if (hit && frames === 2) {
        if (p.fault === 'throw') throw new Error(`debug_model: injected error on clip ${task.clip!.clip_id}`);
        if (p.fault === 'crash') process.exit(9); // the whole model-worker process dies
        if (p.fault === 'hang') await new Promise(() => undefined);
        if (p.fault === 'oom') {
          const hog: number[][] = [];
          for (;;) hog.push(new Array(1e6).fill(Math.random()));
        }
      }
      let sum = 0;
      for (let i = 0; i < f.data.length; i += 3) sum += f.data[i];
      luma += sum / (f.data.length / 3);
      frames++;
      const until = performance.now() + p.ms_per_frame;
      do {
        await ctx.state.session.run({ x });
        runs++;
      } while (performance.now() < until);
    }
    return {
      rows: {
        debug_model: [
          { clip_id: task.clip!.clip_id, frames, mean_luma: frames ? luma / frames : null, attempt: task.attempt, pid: process.pid, device: ctx.device?.kind ?? 'cpu', infer_runs: runs, decode_wait_ms: ctx.decodeWaitMs?.() ?? null },
        ],
      },
      stats: { frames },
    };
  },
};
