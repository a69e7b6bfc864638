/**
 * Loading and running a hand_pose_3d ONNX model (the contract in README.md), with onnxruntime-node.
 */
import { requireModelFile } from '../../src/models.js';
import { existsSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { PermanentError } from '../types.js';
import { CROP_SIZE, NUM_JOINTS, rotmatToAxisAngle, type HandNetOutput } from './geometry.js';
import { createOnnxSession, onnxSessionOptions } from '../../src/onnx/session.js';

/** Names of the ONNX contract. */
export const IO = {
  input: 'img',
  keypoints3d: 'pred_keypoints_3d',
  cam: 'pred_cam',
  globalOrient: 'global_orient',
  handPose: 'hand_pose',
  betas: 'betas',
  vertices: 'pred_vertices',
} as const;

export const WEIGHTS_HELP =
  'hand_pose_3d needs the weights of a HaMeR or WiLoR hand-mesh regressor exported to ONNX with the egopipe contract ' +
  `(input '${IO.input}' float32 [batch,3,256,256]; outputs '${IO.keypoints3d}' [batch,21,3] and '${IO.cam}' [batch,3], ` +
  `optionally '${IO.globalOrient}', '${IO.handPose}', '${IO.betas}', '${IO.vertices}'). No ready-made ONNX file of the full model is published: ` +
  'export it yourself from the HaMeR checkpoint (github.com/geopavlakos/hamer, `_DATA/hamer_ckpts/checkpoints/hamer.ckpt`) or the WiLoR checkpoint ' +
  '(github.com/rolpotamias/WiLoR, `pretrained_models/wilor_final.ckpt`) with torch.onnx.export, as described in operators/hand_pose_3d/README.md ' +
  '(note the MANO model licence and the non-commercial licences of both checkpoints). Then set `model: /path/to/hand_pose_3d.onnx` in the recipe. ' +
  'This operator never produces output without real weights.';

/** Missing weights: permanent (a retry cannot help), the task is dead-lettered at once. */
export class HandPose3dWeightsError extends PermanentError {
  override name = 'HandPose3dWeightsError';
}

/** The ONNX file does not follow the contract (names, dtypes, ranks): permanent as well. */
export class HandPose3dContractError extends PermanentError {
  override name = 'HandPose3dContractError';
}

/** Throws HandPose3dWeightsError unless `model` names an existing, non-empty file. */
export function requireWeights(model: unknown): string {
  return requireModelFile(model, "hand_pose_3d: model (param 'model')", WEIGHTS_HELP, HandPose3dWeightsError);
}

export interface LoadOptions {
  /** onnxruntime execution providers, default ['cpu'] */
  providers?: readonly string[];
  /** intra-op threads (0 = onnxruntime default) */
  threads?: number;
}

export interface HandPose3dModel {
  path: string;
  session: ort.InferenceSession;
  /** optional outputs the model provides */
  outputs: { globalOrient: boolean; handPose: boolean; betas: boolean; vertices: boolean };
  /** Run the network on `count` crops laid out NCHW in `batch` (count x 3 x 256 x 256). */
  infer(batch: Float32Array, count: number): Promise<HandNetOutput[]>;
  release(): Promise<void>;
}

function describeShape(m: ort.InferenceSession.ValueMetadata | undefined): string {
  if (!m) return 'missing';
  if (!m.isTensor) return 'not a tensor';
  return `${m.type} [${m.shape.join(',')}]`;
}

/** Check names, dtypes and ranks against the contract; returns human-readable problems. */
export function checkContract(session: ort.InferenceSession): string[] {
  const problems: string[] = [];
  const inputs = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const outputs = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const expect = (
    where: Map<string, ort.InferenceSession.ValueMetadata>,
    kind: string,
    name: string,
    ranks: number[],
    fixed: Record<number, number> = {},
    required = true,
  ) => {
    const m = where.get(name);
    if (!m) {
      if (required) problems.push(`${kind} '${name}' is missing (has: ${[...where.keys()].join(', ') || 'none'})`);
      return;
    }
    if (!m.isTensor || m.type !== 'float32') {
      problems.push(`${kind} '${name}' must be float32, is ${describeShape(m)}`);
      return;
    }
    // an empty shape means onnxruntime does not know it: accept, checked at run time
    if (m.shape.length === 0) return;
    if (!ranks.includes(m.shape.length)) {
      problems.push(`${kind} '${name}' must have rank ${ranks.join(' or ')}, is ${describeShape(m)}`);
      return;
    }
    for (const [axis, size] of Object.entries(fixed)) {
      const d = m.shape[Number(axis)];
      if (typeof d === 'number' && d !== size) problems.push(`${kind} '${name}' dim ${axis} must be ${size}, is ${describeShape(m)}`);
    }
  };
  expect(inputs, 'input', IO.input, [4], { 1: 3, 2: CROP_SIZE, 3: CROP_SIZE });
  if (session.inputNames.length !== 1) problems.push(`the model must have exactly one input ('${IO.input}'), has: ${session.inputNames.join(', ')}`);
  expect(outputs, 'output', IO.keypoints3d, [3], { 1: NUM_JOINTS, 2: 3 });
  expect(outputs, 'output', IO.cam, [2], { 1: 3 });
  expect(outputs, 'output', IO.globalOrient, [2, 3, 4], {}, false);
  expect(outputs, 'output', IO.handPose, [2, 3, 4], {}, false);
  expect(outputs, 'output', IO.betas, [2], {}, false);
  expect(outputs, 'output', IO.vertices, [3], { 2: 3 }, false);
  return problems;
}

/**
 * Rotations per item -> axis-angle. Accepts rotation matrices ([B,n,3,3]) or axis-angle
 * ([B,n,3] or [B,3n]).
 */
function rotationsAsAxisAngle(t: ort.Tensor, item: number, count: number, name: string): Float32Array {
  const data = t.data as Float32Array;
  const per = data.length / count;
  const base = item * per;
  const dims = t.dims;
  // [B,n,3,3] or [B,3,3]: rotation matrices (HaMeR/WiLoR); [B,n,3] / [B,3n]: axis-angle (WiLoR-mini)
  const isRotmat = dims.length >= 3 && dims[dims.length - 1] === 3 && dims[dims.length - 2] === 3 && per % 9 === 0;
  if (isRotmat) {
    const n = per / 9;
    const out = new Float32Array(n * 3);
    for (let j = 0; j < n; j++) out.set(rotmatToAxisAngle(data, base + j * 9), j * 3);
    return out;
  }
  if (per % 3 !== 0) throw new HandPose3dContractError(`output '${name}' has ${per} values per hand: neither rotation matrices nor axis-angle`);
  return data.slice(base, base + per);
}

export async function loadHandPose3dModel(modelPath: unknown, opts: LoadOptions = {}): Promise<HandPose3dModel> {
  const path = requireWeights(modelPath);
  const session = await createOnnxSession(path, onnxSessionOptions(opts), (why) => new HandPose3dContractError(`hand_pose_3d: onnxruntime cannot load ${path}: ${why}`));
  const problems = checkContract(session);
  if (problems.length) {
    await session.release().catch(() => undefined);
    throw new HandPose3dContractError(
      `hand_pose_3d: ${path} does not follow the hand_pose_3d ONNX contract (operators/hand_pose_3d/README.md):\n  - ${problems.join('\n  - ')}`,
    );
  }
  const names = new Set(session.outputNames);
  const outputs = {
    globalOrient: names.has(IO.globalOrient),
    handPose: names.has(IO.handPose),
    betas: names.has(IO.betas),
    vertices: names.has(IO.vertices),
  };
  const fetches = session.outputNames.filter((n) => (Object.values(IO) as string[]).includes(n));
  const plane = 3 * CROP_SIZE * CROP_SIZE;

  async function infer(batch: Float32Array, count: number): Promise<HandNetOutput[]> {
    if (count === 0) return [];
    if (batch.length < count * plane) throw new RangeError(`infer: batch holds ${batch.length} floats, ${count} crops need ${count * plane}`);
    const input = new ort.Tensor('float32', batch.subarray(0, count * plane), [count, 3, CROP_SIZE, CROP_SIZE]);
    const res = await session.run({ [IO.input]: input }, fetches);
    const kp = res[IO.keypoints3d];
    const cam = res[IO.cam];
    if (!kp || (kp.data as Float32Array).length !== count * NUM_JOINTS * 3) {
      throw new HandPose3dContractError(`output '${IO.keypoints3d}' must hold ${count}x${NUM_JOINTS}x3 values, has dims [${kp?.dims.join(',')}]`);
    }
    if (!cam || (cam.data as Float32Array).length !== count * 3) {
      throw new HandPose3dContractError(`output '${IO.cam}' must hold ${count}x3 values, has dims [${cam?.dims.join(',')}]`);
    }
    const kpd = kp.data as Float32Array;
    const camd = cam.data as Float32Array;
    const out: HandNetOutput[] = [];
    for (let i = 0; i < count; i++) {
      const o: HandNetOutput = {
        keypoints3d: kpd.slice(i * NUM_JOINTS * 3, (i + 1) * NUM_JOINTS * 3),
        cam: [camd[i * 3], camd[i * 3 + 1], camd[i * 3 + 2]],
      };
      if (res[IO.globalOrient]) o.globalOrient = rotationsAsAxisAngle(res[IO.globalOrient], i, count, IO.globalOrient);
      if (res[IO.handPose]) o.handPose = rotationsAsAxisAngle(res[IO.handPose], i, count, IO.handPose);
      if (res[IO.betas]) {
        const b = res[IO.betas].data as Float32Array;
        const per = b.length / count;
        o.betas = b.slice(i * per, (i + 1) * per);
      }
      if (res[IO.vertices]) {
        const v = res[IO.vertices].data as Float32Array;
        const per = v.length / count;
        o.vertices = v.slice(i * per, (i + 1) * per);
      }
      out.push(o);
    }
    return out;
  }

  return {
    path,
    session,
    outputs,
    infer,
    release: () => session.release(),
  };
}
