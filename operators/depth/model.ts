/**
 * Loading and running depth ONNX models with onnxruntime-node: MoGe-2 (official ONNX export) and
 * Depth Anything V2 metric. Contracts in README.md; checked on load, every mismatch listed.
 */
import { requireModelFile } from '../../src/models.js';
import { existsSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { PermanentError } from '../types.js';
import { createOnnxSession, onnxSessionOptions } from '../../src/onnx/session.js';

export type DepthBackend = 'moge2' | 'depth_anything_v2';

export const MOGE_IO = {
  image: 'image',
  numTokens: 'num_tokens',
  points: 'points',
  mask: 'mask',
  metricScale: 'metric_scale',
  normal: 'normal',
} as const;

/** Output names accepted for Depth Anything V2 exports, in order of preference. */
export const DA_OUTPUT_NAMES = ['predicted_depth', 'depth', 'output'] as const;

export const WEIGHTS_HELP =
  'The depth op needs real weights: a MoGe-2 ONNX export (official: Hugging Face Ruicheng/moge-2-vits-normal-onnx, ' +
  '-vitb-normal-onnx or -vitl-normal-onnx, inputs image [B,3,H,W] in 0..1 + num_tokens int64; outputs points, mask, metric_scale) ' +
  'or a Depth Anything V2 *metric* checkpoint (Hypersim indoor / VKITTI outdoor, github.com/DepthAnything/Depth-Anything-V2/metric_depth) ' +
  'exported to ONNX with torch.onnx.export (one input [B,3,H,W], ImageNet-normalised; one output [B,H,W] depth in metres). ' +
  'Set `model: /path/to/model.onnx` in the recipe (see operators/depth/README.md). This op never produces output without real weights.';

export class DepthWeightsError extends PermanentError {
  override name = 'DepthWeightsError';
}

export class DepthContractError extends PermanentError {
  override name = 'DepthContractError';
}

/** Throws DepthWeightsError unless `model` names an existing, non-empty file. */
export function requireWeights(model: unknown, param = 'model'): string {
  return requireModelFile(model, `depth: model (param '${param}')`, WEIGHTS_HELP, DepthWeightsError);
}

export interface LoadOptions {
  providers?: readonly string[];
  threads?: number;
  /** 'auto' detects the backend from the output names */
  backend?: DepthBackend | 'auto';
}

export interface MogeOutput {
  /** H x W x 3 affine point map */
  points: Float32Array;
  /** H x W probabilities (sigmoid), or null if the export has no mask */
  mask: Float32Array | null;
  metricScale: number;
  width: number;
  height: number;
}

export interface DepthAnythingOutput {
  /** H x W metric depth (m) */
  depth: Float32Array;
  width: number;
  height: number;
}

interface BaseModel {
  path: string;
  session: ort.InferenceSession;
  /** fixed input height / width when the export is static, else null */
  staticHeight: number | null;
  staticWidth: number | null;
  release(): Promise<void>;
}

export interface MogeModel extends BaseModel {
  kind: 'moge2';
  hasNumTokens: boolean;
  /** image: NCHW 1 x 3 x h x w, RGB in 0..1 */
  infer(image: Float32Array, width: number, height: number, numTokens: number): Promise<MogeOutput>;
}

export interface DepthAnythingModel extends BaseModel {
  kind: 'depth_anything_v2';
  inputName: string;
  outputName: string;
  /** image: NCHW 1 x 3 x h x w, ImageNet-normalised RGB */
  infer(image: Float32Array, width: number, height: number): Promise<DepthAnythingOutput>;
}

export type DepthModel = MogeModel | DepthAnythingModel;

function describe(m: ort.InferenceSession.ValueMetadata | undefined): string {
  if (!m) return 'missing';
  if (!m.isTensor) return 'not a tensor';
  return `${m.type} [${m.shape.join(',')}]`;
}

function meta(list: readonly ort.InferenceSession.ValueMetadata[]): Map<string, ort.InferenceSession.ValueMetadata> {
  return new Map(list.map((m) => [m.name, m]));
}

function rankOk(m: ort.InferenceSession.ValueMetadata, ranks: number[]): boolean {
  return !m.isTensor || m.shape.length === 0 || ranks.includes(m.shape.length);
}

/** 'moge2' when the outputs look like MoGe's, else 'depth_anything_v2'. */
export function detectBackend(session: ort.InferenceSession): DepthBackend {
  const outs = new Set(session.outputNames);
  return outs.has(MOGE_IO.points) ? 'moge2' : 'depth_anything_v2';
}

/** Problems of a session against the MoGe-2 contract (empty = fine). */
export function checkMogeContract(session: ort.InferenceSession): string[] {
  const p: string[] = [];
  const ins = meta(session.inputMetadata);
  const outs = meta(session.outputMetadata);
  const img = ins.get(MOGE_IO.image);
  if (!img) p.push(`input '${MOGE_IO.image}' is missing (has: ${session.inputNames.join(', ') || 'none'})`);
  else if (!img.isTensor || img.type !== 'float32' || !rankOk(img, [4])) p.push(`input '${MOGE_IO.image}' must be float32 [B,3,H,W], is ${describe(img)}`);
  else if (img.shape.length === 4 && typeof img.shape[1] === 'number' && img.shape[1] !== 3) p.push(`input '${MOGE_IO.image}' must have 3 channels, is ${describe(img)}`);
  const nt = ins.get(MOGE_IO.numTokens);
  if (nt && (!nt.isTensor || nt.type !== 'int64')) p.push(`input '${MOGE_IO.numTokens}' must be int64, is ${describe(nt)}`);
  const extra = session.inputNames.filter((n) => n !== MOGE_IO.image && n !== MOGE_IO.numTokens);
  if (extra.length) p.push(`unexpected inputs: ${extra.join(', ')} (MoGe-2 exports take '${MOGE_IO.image}' and optionally '${MOGE_IO.numTokens}')`);
  const pts = outs.get(MOGE_IO.points);
  if (!pts) p.push(`output '${MOGE_IO.points}' is missing`);
  else if (!pts.isTensor || pts.type !== 'float32' || !rankOk(pts, [4])) p.push(`output '${MOGE_IO.points}' must be float32 [B,H,W,3], is ${describe(pts)}`);
  const mask = outs.get(MOGE_IO.mask);
  if (mask && (!mask.isTensor || mask.type !== 'float32' || !rankOk(mask, [3]))) p.push(`output '${MOGE_IO.mask}' must be float32 [B,H,W], is ${describe(mask)}`);
  const ms = outs.get(MOGE_IO.metricScale);
  if (!ms) {
    p.push(`output '${MOGE_IO.metricScale}' is missing: not a metric MoGe-2 export (MoGe-1 predicts scale-invariant geometry only)`);
  } else if (!ms.isTensor || ms.type !== 'float32' || !rankOk(ms, [0, 1, 2])) p.push(`output '${MOGE_IO.metricScale}' must be float32 [B], is ${describe(ms)}`);
  return p;
}

/** Problems of a session against the Depth Anything V2 metric contract, and the names to use. */
export function checkDepthAnythingContract(session: ort.InferenceSession): { problems: string[]; input: string; output: string } {
  const p: string[] = [];
  if (session.inputNames.length !== 1) p.push(`the model must have exactly one input (the image), has: ${session.inputNames.join(', ') || 'none'}`);
  const input = session.inputNames[0] ?? '';
  const im = session.inputMetadata[0];
  if (im && (!im.isTensor || im.type !== 'float32' || !rankOk(im, [4]))) p.push(`input '${input}' must be float32 [B,3,H,W], is ${describe(im)}`);
  else if (im && im.isTensor && im.shape.length === 4 && typeof im.shape[1] === 'number' && im.shape[1] !== 3) p.push(`input '${input}' must have 3 channels, is ${describe(im)}`);
  const named = DA_OUTPUT_NAMES.find((n) => session.outputNames.includes(n));
  const output = named ?? (session.outputNames.length === 1 ? session.outputNames[0] : '');
  if (!output) p.push(`cannot tell the depth output: name it one of ${DA_OUTPUT_NAMES.join(', ')} (has: ${session.outputNames.join(', ')})`);
  else {
    const om = meta(session.outputMetadata).get(output)!;
    if (!om.isTensor || om.type !== 'float32' || !rankOk(om, [3, 4])) p.push(`output '${output}' must be float32 [B,H,W] or [B,1,H,W], is ${describe(om)}`);
  }
  return { problems: p, input, output };
}

function staticHw(m: ort.InferenceSession.ValueMetadata | undefined): { h: number | null; w: number | null } {
  if (!m || !m.isTensor || m.shape.length !== 4) return { h: null, w: null };
  const h = m.shape[2];
  const w = m.shape[3];
  return { h: typeof h === 'number' && h > 0 ? h : null, w: typeof w === 'number' && w > 0 ? w : null };
}

export async function loadDepthModel(modelPath: unknown, opts: LoadOptions = {}, param = 'model'): Promise<DepthModel> {
  const file = requireWeights(modelPath, param);
  const session = await createOnnxSession(file, onnxSessionOptions(opts), (why) => new DepthContractError(`depth: onnxruntime cannot load ${file}: ${why}`));
  const backend = !opts.backend || opts.backend === 'auto' ? detectBackend(session) : opts.backend;
  const fail = async (problems: string[], what: string): Promise<never> => {
    await session.release().catch(() => undefined);
    throw new DepthContractError(`depth: ${file} does not follow the ${what} ONNX contract (operators/depth/README.md):\n  - ${problems.join('\n  - ')}`);
  };
  if (backend === 'moge2') {
    const problems = checkMogeContract(session);
    if (problems.length) return fail(problems, 'MoGe-2');
    const imgMeta = meta(session.inputMetadata).get(MOGE_IO.image);
    const { h, w } = staticHw(imgMeta);
    const hasNumTokens = session.inputNames.includes(MOGE_IO.numTokens);
    const hasMask = session.outputNames.includes(MOGE_IO.mask);
    const model: MogeModel = {
      kind: 'moge2',
      path: file,
      session,
      staticHeight: h,
      staticWidth: w,
      hasNumTokens,
      async infer(image, width, height, numTokens) {
        if (image.length !== 3 * width * height) throw new RangeError(`moge infer: image has ${image.length} floats, 3x${height}x${width} expected`);
        const feeds: Record<string, ort.Tensor> = { [MOGE_IO.image]: new ort.Tensor('float32', image, [1, 3, height, width]) };
        if (hasNumTokens) feeds[MOGE_IO.numTokens] = new ort.Tensor('int64', BigInt64Array.from([BigInt(Math.round(numTokens))]), []);
        // all outputs: with a fetch-name list onnxruntime-node 1.22 returned the first N outputs instead of the named ones
        const res = await session.run(feeds);
        const pts = res[MOGE_IO.points];
        const pd = pts.dims;
        if (pd.length !== 4 || pd[3] !== 3) throw new DepthContractError(`depth: output '${MOGE_IO.points}' must be [1,H,W,3], is [${pd.join(',')}]`);
        const oh = Number(pd[1]);
        const ow = Number(pd[2]);
        const ms = res[MOGE_IO.metricScale].data as Float32Array;
        if (ms.length < 1) throw new DepthContractError(`depth: output '${MOGE_IO.metricScale}' is empty`);
        let mask: Float32Array | null = null;
        if (hasMask) {
          mask = res[MOGE_IO.mask].data as Float32Array;
          if (mask.length !== oh * ow) throw new DepthContractError(`depth: output '${MOGE_IO.mask}' has ${mask.length} values, ${oh}x${ow} expected`);
        }
        return { points: pts.data as Float32Array, mask, metricScale: ms[0], width: ow, height: oh };
      },
      release: () => session.release(),
    };
    return model;
  }
  const { problems, input, output } = checkDepthAnythingContract(session);
  if (problems.length) return fail(problems, 'Depth Anything V2 metric');
  const { h, w } = staticHw(session.inputMetadata[0]);
  const model: DepthAnythingModel = {
    kind: 'depth_anything_v2',
    path: file,
    session,
    staticHeight: h,
    staticWidth: w,
    inputName: input,
    outputName: output,
    async infer(image, width, height) {
      if (image.length !== 3 * width * height) throw new RangeError(`depth_anything infer: image has ${image.length} floats, 3x${height}x${width} expected`);
      const res = await session.run({ [input]: new ort.Tensor('float32', image, [1, 3, height, width]) });
      const t = res[output];
      const d = t.dims.map(Number);
      const oh = d[d.length - 2];
      const ow = d[d.length - 1];
      if ((t.data as Float32Array).length !== oh * ow) throw new DepthContractError(`depth: output '${output}' must hold one H x W map, has dims [${d.join(',')}]`);
      return { depth: t.data as Float32Array, width: ow, height: oh };
    },
    release: () => session.release(),
  };
  return model;
}
