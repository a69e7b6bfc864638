/**
 * Tiny stand-ins for FoundationPose's refiner and scorer (tests only): the Isaac ROS contract's
 * names, dtypes and ranks (inputs 'input1' rendered / 'input2' observed float32
 * [batch,160,160,6]; refiner outputs 'output1' [batch,3] translation and 'output2' [batch,3]
 * rotation; scorer output 'output1' [batch,1]) with predictable outputs:
 *
 *   refiner: output1 = TRANS, output2 = ROT (constants, zero by default: poses stay put)
 *   scorer:  output1 = -mean(|input1 - input2|) over H, W, C (the best-matching crop pair scores highest)
 *
 * No learned weights; nothing they output means anything about real images.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OnnxGraph, f32, i64 } from '../../src/onnx/writer.js';
import { CHANNELS, CROP_SIZE } from './crop.js';
import { IO } from './model.js';

const META = { 'egopipe.tiny': 'true', 'egopipe.note': 'test stand-in without learned weights; outputs are meaningless' };

export interface TinyFoundationPoseOptions {
  /** constant raw translation output of the refiner (3), default 0 */
  trans?: readonly number[];
  /** constant raw rotation output of the refiner (3), default 0 */
  rot?: readonly number[];
}

const dims = ['batch', CROP_SIZE, CROP_SIZE, CHANNELS] as const;

export function buildTinyRefiner(opts: TinyFoundationPoseOptions = {}): Uint8Array {
  const g = new OnnxGraph('tiny_foundationpose_refiner', 'egopipe tiny stand-in for the FoundationPose refiner (Isaac ROS contract)');
  g.input(IO.rendered, 'float32', [...dims], 'rendered crops: RGB 0..1 + normalised XYZ, NHWC')
    .input(IO.observed, 'float32', [...dims], 'observed crops: RGB 0..1 + normalised XYZ, NHWC')
    .initializer('shape_b1', i64([-1, 1]), [2])
    .initializer('zero', f32([0]), [1])
    .initializer('TRANS', f32([...(opts.trans ?? [0, 0, 0])]), [1, 3])
    .initializer('ROT', f32([...(opts.rot ?? [0, 0, 0])]), [1, 3])
    .node('ReduceMean', [IO.rendered], ['mean_a'], { axes: [1, 2, 3], keepdims: 1 })
    .node('ReduceMean', [IO.observed], ['mean_b'], { axes: [1, 2, 3], keepdims: 1 })
    .node('Add', ['mean_a', 'mean_b'], ['mean_ab'])
    .node('Reshape', ['mean_ab', 'shape_b1'], ['mean_b1'])
    .node('Mul', ['mean_b1', 'zero'], ['zeros_b1']) // [B,1] zeros: broadcasts the constants to the batch
    .node('Add', ['zeros_b1', 'TRANS'], [IO.trans])
    .node('Add', ['zeros_b1', 'ROT'], [IO.rot])
    .output(IO.trans, 'float32', ['batch', 3])
    .output(IO.rot, 'float32', ['batch', 3]);
  return g.toBytes({ metadata: { ...META, 'egopipe.contract': 'foundationpose_refiner' } });
}

export function buildTinyScorer(): Uint8Array {
  const g = new OnnxGraph('tiny_foundationpose_scorer', 'egopipe tiny stand-in for the FoundationPose scorer (Isaac ROS contract)');
  g.input(IO.rendered, 'float32', [...dims], 'rendered crops')
    .input(IO.observed, 'float32', [...dims], 'observed crops')
    .initializer('shape_b1', i64([-1, 1]), [2])
    .node('Sub', [IO.rendered, IO.observed], ['diff'])
    .node('Abs', ['diff'], ['absdiff'])
    .node('ReduceMean', ['absdiff'], ['mad'], { axes: [1, 2, 3], keepdims: 1 })
    .node('Reshape', ['mad', 'shape_b1'], ['mad_b1'])
    .node('Neg', ['mad_b1'], [IO.score])
    .output(IO.score, 'float32', ['batch', 1]);
  return g.toBytes({ metadata: { ...META, 'egopipe.contract': 'foundationpose_scorer' } });
}

/** TypeScript reference of the tiny scorer for pair `i` of two NHWC buffers. */
export function tinyScoreReference(rendered: Float32Array, observed: Float32Array, i: number): number {
  const per = CROP_SIZE * CROP_SIZE * CHANNELS;
  let s = 0;
  for (let k = i * per; k < (i + 1) * per; k++) s += Math.abs(rendered[k] - observed[k]);
  return -s / per;
}

/** Writes foundationpose_refiner.tiny.onnx and foundationpose_scorer.tiny.onnx; returns [refiner, scorer]. */
export function writeTinyFoundationPose(dir: string, opts: TinyFoundationPoseOptions = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const refiner = path.join(dir, 'foundationpose_refiner.tiny.onnx');
  const scorer = path.join(dir, 'foundationpose_scorer.tiny.onnx');
  writeFileSync(refiner, buildTinyRefiner(opts));
  writeFileSync(scorer, buildTinyScorer());
  return [refiner, scorer];
}
