/**
 * Loading and running FoundationPose's refiner and scorer ONNX models (the Isaac ROS export, see
 * README.md) with onnxruntime-node, with contract checks and a clear refusal without weights.
 */
import { requireModelFile } from '../../src/models.js';
import { existsSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { PermanentError } from '../types.js';
import { CHANNELS, CROP_SIZE } from './crop.js';
import { createOnnxSession, onnxSessionOptions } from '../../src/onnx/session.js';

/** Names of the ONNX contract (Isaac ROS FoundationPose bindings). */
export const IO = {
  rendered: 'input1',
  observed: 'input2',
  trans: 'output1',
  rot: 'output2',
  score: 'output1',
} as const;

export const WEIGHTS_HELP =
  'object_pose needs the FoundationPose refiner and scorer networks as ONNX: `refine_model.onnx` and `score_model.onnx` of the NVIDIA Isaac ROS ' +
  'FoundationPose release (NGC model nvidia/isaac/foundationpose, version 1.0.0_onnx: ' +
  'https://api.ngc.nvidia.com/v2/models/nvidia/isaac/foundationpose/versions/1.0.0_onnx/files/refine_model.onnx and .../score_model.onnx; ' +
  'NVIDIA licence, see operators/object_pose/README.md). Contract: inputs ' +
  `'${IO.rendered}' (rendered) and '${IO.observed}' (observed) float32 [batch,${CROP_SIZE},${CROP_SIZE},${CHANNELS}] (RGB 0..1 + normalised XYZ, NHWC); ` +
  `refiner outputs '${IO.trans}' [batch,3] (translation) and '${IO.rot}' [batch,3] (rotation); scorer output '${IO.score}' [batch,1]. ` +
  'Set `refiner_model: /path/to/refine_model.onnx` and `scorer_model: /path/to/score_model.onnx` in the recipe. ' +
  'This operator never produces poses without real weights.';

export class FoundationPoseWeightsError extends PermanentError {
  override name = 'FoundationPoseWeightsError';
}

export class FoundationPoseContractError extends PermanentError {
  override name = 'FoundationPoseContractError';
}

/** Throws FoundationPoseWeightsError unless `file` names an existing, non-empty file. */
export function requireWeights(file: unknown, what: 'refiner_model' | 'scorer_model'): string {
  return requireModelFile(file, `object_pose: ${what}`, WEIGHTS_HELP, FoundationPoseWeightsError);
}

export interface LoadOptions {
  providers?: readonly string[];
  threads?: number;
}

function describe(m: ort.InferenceSession.ValueMetadata | undefined): string {
  if (!m) return 'missing';
  if (!m.isTensor) return 'not a tensor';
  return `${m.type} [${m.shape.join(',')}]`;
}

/** Names, dtypes, ranks and fixed sizes of one network against the contract. */
export function checkContract(session: ort.InferenceSession, kind: 'refiner' | 'scorer'): string[] {
  const problems: string[] = [];
  const inputs = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const outputs = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const expect = (where: Map<string, ort.InferenceSession.ValueMetadata>, io: string, name: string, ranks: number[], fixed: Record<number, number>) => {
    const m = where.get(name);
    if (!m) {
      problems.push(`${io} '${name}' is missing (has: ${[...where.keys()].join(', ') || 'none'})`);
      return;
    }
    if (!m.isTensor || m.type !== 'float32') {
      problems.push(`${io} '${name}' must be float32, is ${describe(m)}`);
      return;
    }
    if (m.shape.length === 0) return; // unknown shape: checked at run time
    if (!ranks.includes(m.shape.length)) {
      problems.push(`${io} '${name}' must have rank ${ranks.join(' or ')}, is ${describe(m)}`);
      return;
    }
    for (const [axis, size] of Object.entries(fixed)) {
      const d = m.shape[Number(axis)];
      if (typeof d === 'number' && d > 0 && d !== size) problems.push(`${io} '${name}' dim ${axis} must be ${size}, is ${describe(m)}`);
    }
  };
  const nhwc = { 1: CROP_SIZE, 2: CROP_SIZE, 3: CHANNELS };
  expect(inputs, 'input', IO.rendered, [4], nhwc);
  expect(inputs, 'input', IO.observed, [4], nhwc);
  if (session.inputNames.length !== 2) problems.push(`the ${kind} must have exactly two inputs ('${IO.rendered}', '${IO.observed}'), has: ${session.inputNames.join(', ')}`);
  if (kind === 'refiner') {
    expect(outputs, 'output', IO.trans, [2], { 1: 3 });
    expect(outputs, 'output', IO.rot, [2], { 1: 3 });
  } else {
    expect(outputs, 'output', IO.score, [1, 2], { 1: 1 });
  }
  return problems;
}

async function createSession(file: string, kind: 'refiner' | 'scorer', opts: LoadOptions): Promise<ort.InferenceSession> {
  const session = await createOnnxSession(file, onnxSessionOptions(opts), (why) => new FoundationPoseContractError(`object_pose: onnxruntime cannot load the ${kind} ${file}: ${why}`));
  const problems = checkContract(session, kind);
  if (problems.length) {
    await session.release().catch(() => undefined);
    throw new FoundationPoseContractError(
      `object_pose: ${file} does not follow the FoundationPose ${kind} contract (operators/object_pose/README.md):\n  - ${problems.join('\n  - ')}`,
    );
  }
  return session;
}

export interface FoundationPoseModels {
  refiner: ort.InferenceSession;
  scorer: ort.InferenceSession;
  /** translation / rotation deltas for `count` pairs laid out NHWC in the two buffers */
  refine(rendered: Float32Array, observed: Float32Array, count: number): Promise<{ trans: Float32Array; rot: Float32Array }>;
  /** one score per pair; the scorer compares the pairs of one call with each other: pass all hypotheses of an object at once */
  score(rendered: Float32Array, observed: Float32Array, count: number): Promise<Float32Array>;
  release(): Promise<void>;
}

const PER = CROP_SIZE * CROP_SIZE * CHANNELS;

function inputs(rendered: Float32Array, observed: Float32Array, count: number): Record<string, ort.Tensor> {
  if (rendered.length < count * PER || observed.length < count * PER) throw new RangeError(`inputs hold ${rendered.length / PER} / ${observed.length / PER} crops, ${count} needed`);
  const dims = [count, CROP_SIZE, CROP_SIZE, CHANNELS];
  return {
    [IO.rendered]: new ort.Tensor('float32', rendered.subarray(0, count * PER), dims),
    [IO.observed]: new ort.Tensor('float32', observed.subarray(0, count * PER), dims),
  };
}

export async function loadFoundationPose(refinerPath: string, scorerPath: string, opts: LoadOptions = {}): Promise<FoundationPoseModels> {
  requireWeights(refinerPath, 'refiner_model');
  requireWeights(scorerPath, 'scorer_model');
  const refiner = await createSession(refinerPath, 'refiner', opts);
  let scorer: ort.InferenceSession;
  try {
    scorer = await createSession(scorerPath, 'scorer', opts);
  } catch (e) {
    await refiner.release().catch(() => undefined);
    throw e;
  }
  return {
    refiner,
    scorer,
    async refine(rendered, observed, count) {
      if (count === 0) return { trans: new Float32Array(0), rot: new Float32Array(0) };
      const res = await refiner.run(inputs(rendered, observed, count), [IO.trans, IO.rot]);
      const trans = res[IO.trans]?.data as Float32Array | undefined;
      const rot = res[IO.rot]?.data as Float32Array | undefined;
      if (!trans || trans.length !== count * 3) throw new FoundationPoseContractError(`refiner output '${IO.trans}' must hold ${count}x3 values, has dims [${res[IO.trans]?.dims.join(',')}]`);
      if (!rot || rot.length !== count * 3) throw new FoundationPoseContractError(`refiner output '${IO.rot}' must hold ${count}x3 values, has dims [${res[IO.rot]?.dims.join(',')}]`);
      return { trans, rot };
    },
    async score(rendered, observed, count) {
      if (count === 0) return new Float32Array(0);
      const res = await scorer.run(inputs(rendered, observed, count), [IO.score]);
      const s = res[IO.score]?.data as Float32Array | undefined;
      if (!s || s.length !== count) throw new FoundationPoseContractError(`scorer output '${IO.score}' must hold ${count} values, has dims [${res[IO.score]?.dims.join(',')}]`);
      return s;
    },
    async release() {
      await Promise.all([refiner.release(), scorer.release()]);
    },
  };
}
