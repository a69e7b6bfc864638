/**
 * depth: metric depth + camera intrinsics per sampled frame of a clip, from MoGe-2 (point map,
 * mask, metric scale -> focal, shift, depth) or Depth Anything V2 metric (depth only; intrinsics
 * from the recipe or from a MoGe-2 model). Depth maps are stored in the `depth` table as 16-bit
 * PNG (millimetres by default), base64 text. See README.md for the contracts and conventions.
 */
import path from 'node:path';
import { DecodeError, decodeFrames, setToolPaths, type DecodeOptions, type DecodedFrame } from '../../src/ffmpeg.js';
import { focalFromHfov, median, scaleIntrinsics, type Intrinsics } from '../../src/geometry3d.js';
import { isAssetRef, resolveAssetRef } from '../../src/models.js';
import { frameStep } from '../hand_keypoints/index.js';
import { PermanentError, type OperatorSpec, type Row, type TableSpec, type TaskInput, type TaskOutput, type VideoInfo } from '../types.js';
import { IMAGENET_MEAN, IMAGENET_STD, depthAnythingSize, mogeSize, rgbToNchw } from './image.js';
import { encodeDepth } from './map.js';
import { DepthWeightsError, WEIGHTS_HELP, loadDepthModel, requireWeights, type DepthAnythingModel, type DepthBackend, type DepthModel, type MogeModel } from './model.js';
import { focalNormalised, focalPx, solveFocalShift, solveSamples, type FocalShift, type SolveSamples } from './moge.js';
import { PROVIDERS_PARAM } from '../../src/onnx/providers.js';

export interface DepthParams {
  model?: string;
  backend: DepthBackend;
  sample_fps: number;
  max_side: number;
  num_tokens: number;
  input_size: number;
  mask_threshold: number;
  fx?: number;
  fy?: number;
  cx?: number;
  cy?: number;
  hfov_deg?: number;
  intrinsics_model?: string;
  focal_mode: 'clip_median' | 'per_frame';
  intrinsics_frames: number;
  depth_unit_mm: number;
  providers: string[];
  threads: number;
}

export const DEFAULT_PARAMS: DepthParams = {
  backend: 'moge2',
  sample_fps: 2,
  max_side: 512,
  num_tokens: 1800,
  input_size: 518,
  mask_threshold: 0.5,
  focal_mode: 'clip_median',
  intrinsics_frames: 3,
  depth_unit_mm: 1,
  providers: ['auto'],
  threads: 0,
};

export const DEPTH_TABLE: TableSpec = {
  name: 'depth',
  description: 'Metric depth and pinhole intrinsics per sampled frame (MoGe-2 or Depth Anything V2 metric); the depth map is a 16-bit PNG, base64.',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    t_s: 'DOUBLE',
    model: 'VARCHAR',
    width: 'INTEGER',
    height: 'INTEGER',
    image_width: 'INTEGER',
    image_height: 'INTEGER',
    fx: 'DOUBLE',
    fy: 'DOUBLE',
    cx: 'DOUBLE',
    cy: 'DOUBLE',
    intrinsics_source: 'VARCHAR',
    scale_source: 'VARCHAR',
    depth_unit_m: 'DOUBLE',
    depth_min_m: 'FLOAT',
    depth_median_m: 'FLOAT',
    depth_max_m: 'FLOAT',
    valid_frac: 'FLOAT',
    depth_png: 'VARCHAR',
  },
  docs: {
    clip_id: 'clip of the frame',
    frame: '0-based frame number in the video (every round(fps / sample_fps)-th frame of the clip range)',
    t_s: 'frame / video fps',
    model: "'moge2' or 'depth_anything_v2'",
    width: 'depth map width (px); the network output size, not necessarily the video size',
    height: 'depth map height (px)',
    image_width: 'width of the image the intrinsics refer to (the decoded video frame)',
    image_height: 'height of the image the intrinsics refer to',
    fx: 'focal length x in pixels of the image_width x image_height frame (OpenCV: pixel centres at integer coordinates)',
    fy: 'focal length y (px)',
    cx: 'principal point x (px), OpenCV convention; (image_width - 1) / 2 when estimated',
    cy: 'principal point y (px)',
    intrinsics_source: "'recipe' (fx..cy params), 'recipe_hfov' (hfov_deg), 'moge2_frame' (this frame's point map) or 'moge2_clip_median' (median focal over the clip's sampled frames)",
    scale_source: "where the metric scale comes from: 'moge2_metric_scale' (MoGe-2 scale head) or 'depth_anything_v2_metric' (metric fine-tune output)",
    depth_unit_m: 'metres per PNG count (0.001 = millimetres); count 0 = no depth',
    depth_min_m: 'smallest valid depth (m)',
    depth_median_m: 'median valid depth (m, subsampled)',
    depth_max_m: 'largest valid depth (m)',
    valid_frac: 'fraction of depth pixels with depth (MoGe mask, positive, within the 16-bit range)',
    depth_png: "16-bit grayscale PNG (width x height), base64; depth_m = count * depth_unit_m. DuckDB: from_base64(depth_png) gives the PNG bytes; Python: cv2.imdecode(np.frombuffer(base64.b64decode(s), np.uint8), cv2.IMREAD_UNCHANGED)",
  },
};

export class DepthConfigError extends PermanentError {
  override name = 'DepthConfigError';
}

export function resolveParams(p: Partial<DepthParams> | undefined): DepthParams {
  const defined = Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined && v !== null));
  return { ...DEFAULT_PARAMS, ...defined } as DepthParams;
}

/** Intrinsics from the recipe (video pixels), or null when none are given. */
export function recipeIntrinsics(p: Pick<DepthParams, 'fx' | 'fy' | 'cx' | 'cy' | 'hfov_deg'>, width: number, height: number): { K: Intrinsics; source: 'recipe' | 'recipe_hfov' } | null {
  const cx = p.cx ?? (width - 1) / 2;
  const cy = p.cy ?? (height - 1) / 2;
  if (p.fx !== undefined && p.fx > 0) return { K: { fx: p.fx, fy: p.fy && p.fy > 0 ? p.fy : p.fx, cx, cy }, source: 'recipe' };
  if (p.hfov_deg !== undefined && p.hfov_deg > 0) {
    const f = focalFromHfov(p.hfov_deg, width);
    return { K: { fx: f, fy: f, cx, cy }, source: 'recipe_hfov' };
  }
  return null;
}

/** Frame size the op decodes at for this backend. */
export function processingSize(p: DepthParams, video: Pick<VideoInfo, 'width' | 'height'>): { width: number; height: number } {
  return p.backend === 'depth_anything_v2' ? depthAnythingSize(video.width, video.height, p.input_size) : mogeSize(video.width, video.height, p.max_side);
}

/** The frames a depth task reads (also the model worker's prefetch request). */
export function decodeOptions(task: Pick<TaskInput<Partial<DepthParams>>, 'video' | 'clip' | 'params'>): DecodeOptions {
  const p = resolveParams(task.params);
  const v = task.video;
  const { width, height } = processingSize(p, v);
  const downscale = width <= v.width && height <= v.height;
  return {
    path: v.path,
    width,
    height,
    startFrame: task.clip?.start_frame ?? 0,
    endFrame: task.clip?.end_frame ?? v.frame_count,
    step: frameStep(v.fps, p.sample_fps),
    fps: v.vfr ? undefined : v.fps,
    pixFmt: 'rgb24',
    // MoGe sees a downscaled frame: area averaging (anti-aliased); DA V2 resizes with cubic interpolation
    scaleFlags: p.backend === 'depth_anything_v2' ? 'bicubic' : downscale ? 'area' : 'bicubic',
  };
}

export interface FrameLike {
  index: number;
  width: number;
  height: number;
  data: Uint8Array;
}

export interface DepthModels {
  model: DepthModel;
  intrinsicsModel?: MogeModel;
}

export interface EstimateContext {
  clipId: string;
  video: Pick<VideoInfo, 'width' | 'height' | 'fps'>;
}

interface MogeFrame {
  index: number;
  width: number;
  height: number;
  z: Float32Array;
  valid: Uint8Array;
  metricScale: number;
  samples: SolveSamples;
  fs: FocalShift;
}

/** Run MoGe on a frame and collect what depth + focal need (the z channel and validity). */
async function runMoge(model: MogeModel, f: FrameLike, p: DepthParams, knownAtOutput: Intrinsics | null, stats: Record<string, number>): Promise<MogeFrame> {
  const target = mogeSize(f.width, f.height, p.max_side);
  const nw = model.staticWidth ?? target.width;
  const nh = model.staticHeight ?? target.height;
  const input = rgbToNchw(f.data, f.width, f.height, nw, nh);
  const t0 = performance.now();
  const out = await model.infer(input, nw, nh, p.num_tokens);
  stats.inference_ms += performance.now() - t0;
  const t1 = performance.now();
  const samples = solveSamples(out.points, out.mask, out.width, out.height, p.mask_threshold);
  let known: number | undefined;
  if (knownAtOutput) {
    // the recipe camera at the network output size: MoGe's model is isotropic, use the mean of fx, fy
    known = focalNormalised((knownAtOutput.fx + knownAtOutput.fy) / 2, out.width, out.height);
  }
  const fs = solveFocalShift(samples, known);
  const n = out.width * out.height;
  const z = new Float32Array(n);
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    z[i] = out.points[i * 3 + 2];
    valid[i] = !out.mask || out.mask[i] > p.mask_threshold ? 1 : 0;
  }
  stats.solve_ms += performance.now() - t1;
  if (fs.fallback) stats.focal_fallback_frames++;
  return { index: f.index, width: out.width, height: out.height, z, valid, metricScale: out.metricScale, samples, fs };
}

function mogeFrameDepth(m: MogeFrame, shift: number): Float32Array {
  const d = new Float32Array(m.z.length);
  for (let i = 0; i < d.length; i++) {
    const z = m.z[i] + shift;
    d[i] = m.valid[i] && z > 0 && Number.isFinite(z) ? z * m.metricScale : NaN;
  }
  return d;
}

/** Intrinsics in video pixels from MoGe's normalised focal (principal point at the centre). */
function mogeIntrinsics(focal: number, outW: number, outH: number, video: { width: number; height: number }): Intrinsics {
  const f = focalPx(focal, outW, outH);
  return scaleIntrinsics({ fx: f, fy: f, cx: outW / 2 - 0.5, cy: outH / 2 - 0.5 }, outW, outH, video.width, video.height);
}

interface PendingRow {
  frame: number;
  width: number;
  height: number;
  depth: Float32Array;
  K?: Intrinsics;
}

/**
 * Everything except decoding: depth + intrinsics for each frame of `frames`, rows for the `depth`
 * table. Throws DepthConfigError when Depth Anything has no source of intrinsics.
 */
export async function estimateDepth(frames: AsyncIterable<FrameLike> | Iterable<FrameLike>, models: DepthModels, params: Partial<DepthParams>, ctx: EstimateContext): Promise<{ rows: Row[]; stats: Record<string, number> }> {
  const p = resolveParams(params);
  const stats: Record<string, number> = { frames: 0, inference_ms: 0, solve_ms: 0, encode_ms: 0, focal_fallback_frames: 0, intrinsics_frames: 0 };
  const video = ctx.video;
  const recipe = recipeIntrinsics(p, video.width, video.height);
  const model = models.model;
  const pending: PendingRow[] = [];
  let intrinsicsSource: string;
  const scaleSource = model.kind === 'moge2' ? 'moge2_metric_scale' : 'depth_anything_v2_metric';

  if (model.kind === 'moge2') {
    const mframes: MogeFrame[] = [];
    for await (const f of frames) {
      stats.frames++;
      const knownAtOut = recipe ? recipe.K : null;
      // the known focal must be expressed at the network output size: scale the video intrinsics there
      const target = mogeSize(f.width, f.height, p.max_side);
      const ow = model.staticWidth ?? target.width;
      const oh = model.staticHeight ?? target.height;
      const Kout = knownAtOut ? scaleIntrinsics(knownAtOut, video.width, video.height, ow, oh) : null;
      const m = await runMoge(model, f, p, Kout, stats);
      if (p.focal_mode === 'per_frame' || recipe) {
        pending.push({ frame: m.index, width: m.width, height: m.height, depth: mogeFrameDepth(m, m.fs.shift), K: recipe ? recipe.K : mogeIntrinsics(m.fs.focal, m.width, m.height, video) });
      } else mframes.push(m);
    }
    if (recipe) intrinsicsSource = recipe.source;
    else if (p.focal_mode === 'per_frame') intrinsicsSource = 'moge2_frame';
    else {
      intrinsicsSource = 'moge2_clip_median';
      const good = mframes.filter((m) => !m.fs.fallback && Number.isFinite(m.fs.focal) && m.fs.focal > 0);
      const fmed = good.length ? median(good.map((m) => m.fs.focal)) : NaN;
      const t1 = performance.now();
      for (const m of mframes) {
        // the clip's focal is fixed: re-solve this frame's shift with it
        const fs = Number.isFinite(fmed) ? solveFocalShift(m.samples, fmed) : m.fs;
        pending.push({ frame: m.index, width: m.width, height: m.height, depth: mogeFrameDepth(m, fs.shift), K: mogeIntrinsics(fs.focal, m.width, m.height, video) });
      }
      stats.solve_ms += performance.now() - t1;
      if (Number.isFinite(fmed)) stats.focal_px = focalPx(fmed, mframes[0].width, mframes[0].height) * (video.width / mframes[0].width);
    }
  } else {
    const da = model as DepthAnythingModel;
    const im = models.intrinsicsModel;
    if (!recipe && !im) {
      throw new DepthConfigError(
        'depth: Depth Anything V2 predicts depth only; give the camera intrinsics in the recipe (fx [, fy, cx, cy] in video pixels, or hfov_deg) or an intrinsics_model (a MoGe-2 ONNX export)',
      );
    }
    const focals: Array<{ focal: number; w: number; h: number }> = [];
    for await (const f of frames) {
      stats.frames++;
      const nw = da.staticWidth ?? f.width;
      const nh = da.staticHeight ?? f.height;
      const input = rgbToNchw(f.data, f.width, f.height, nw, nh, { mean: IMAGENET_MEAN, std: IMAGENET_STD });
      const t0 = performance.now();
      const out = await da.infer(input, nw, nh);
      stats.inference_ms += performance.now() - t0;
      const depth = new Float32Array(out.width * out.height);
      for (let i = 0; i < depth.length; i++) depth[i] = out.depth[i] > 0 ? out.depth[i] : NaN;
      const row: PendingRow = { frame: f.index, width: out.width, height: out.height, depth };
      if (recipe) row.K = recipe.K;
      else if (im && (p.focal_mode === 'per_frame' || focals.length < p.intrinsics_frames)) {
        const m = await runMoge(im, f, p, null, stats);
        stats.intrinsics_frames++;
        if (!m.fs.fallback) focals.push({ focal: m.fs.focal, w: m.width, h: m.height });
        if (p.focal_mode === 'per_frame') row.K = mogeIntrinsics(m.fs.focal, m.width, m.height, video);
      }
      pending.push(row);
    }
    if (recipe) intrinsicsSource = recipe.source;
    else if (p.focal_mode === 'per_frame') intrinsicsSource = 'moge2_frame';
    else {
      intrinsicsSource = 'moge2_clip_median';
      if (focals.length) {
        // normalised focal is size independent: take the median, express it at the first size
        const fmed = median(focals.map((x) => x.focal));
        const K = mogeIntrinsics(fmed, focals[0].w, focals[0].h, video);
        for (const r of pending) r.K = K;
        stats.focal_px = K.fx;
      }
    }
  }

  const unit = p.depth_unit_mm / 1000;
  const rows: Row[] = [];
  let invalidPx = 0;
  let totalPx = 0;
  for (const r of pending) {
    if (!r.K || ![r.K.fx, r.K.fy].every((v) => Number.isFinite(v) && v > 0)) {
      stats.frames_without_intrinsics = (stats.frames_without_intrinsics ?? 0) + 1;
      continue;
    }
    const t0 = performance.now();
    const enc = encodeDepth(r.depth, r.width, r.height, unit);
    stats.encode_ms += performance.now() - t0;
    invalidPx += enc.invalid;
    totalPx += r.width * r.height;
    if (enc.overRange) stats.over_range_px = (stats.over_range_px ?? 0) + enc.overRange;
    rows.push({
      clip_id: ctx.clipId,
      frame: r.frame,
      t_s: video.fps > 0 ? r.frame / video.fps : null,
      model: model.kind,
      width: r.width,
      height: r.height,
      image_width: video.width,
      image_height: video.height,
      fx: r.K.fx,
      fy: r.K.fy,
      cx: r.K.cx,
      cy: r.K.cy,
      intrinsics_source: intrinsicsSource,
      scale_source: scaleSource,
      depth_unit_m: unit,
      depth_min_m: enc.min,
      depth_median_m: enc.median,
      depth_max_m: enc.max,
      valid_frac: 1 - enc.invalid / (r.width * r.height),
      depth_png: enc.png.toString('base64'),
    });
  }
  stats.rows = rows.length;
  stats.invalid_frac = totalPx ? invalidPx / totalPx : 0;
  return { rows, stats };
}

function validateParams(params: Partial<DepthParams>): string[] {
  const p = resolveParams(params);
  const errors: string[] = [];
  const checkFile = (v: string | undefined, name: string, required: boolean) => {
    if (v === undefined || v === '') {
      if (required) errors.push(`${name}: missing. ${WEIGHTS_HELP}`);
      return;
    }
    if (isAssetRef(v)) return; // resolved (and checked) when the run starts
    try {
      requireWeights(v, name);
    } catch (e) {
      errors.push((e as Error).message);
    }
  };
  checkFile(p.model, 'model', true);
  checkFile(p.intrinsics_model, 'intrinsics_model', false);
  if ((p.fy !== undefined || p.cx !== undefined || p.cy !== undefined) && p.fx === undefined) errors.push('fy/cx/cy given without fx: give fx (and optionally fy, cx, cy) in video pixels, or hfov_deg');
  if (p.fx !== undefined && p.hfov_deg !== undefined) errors.push('give either fx (px) or hfov_deg, not both');
  if (p.backend === 'depth_anything_v2' && p.fx === undefined && p.hfov_deg === undefined && !p.intrinsics_model) {
    errors.push('backend depth_anything_v2 predicts depth only: set fx (px) or hfov_deg, or intrinsics_model (a MoGe-2 ONNX) to estimate them');
  }
  return errors;
}

export interface DepthState {
  models: DepthModels;
}

async function resolveModelPath(v: string | undefined, name: string): Promise<string | undefined> {
  if (v === undefined || v === '') return undefined;
  const file = isAssetRef(v) ? await resolveAssetRef(v) : path.resolve(v);
  return requireWeights(file, name);
}

export const op: OperatorSpec<Partial<DepthParams>, DepthState> = {
  name: 'depth',
  description: 'Metric depth + camera intrinsics per sampled frame (MoGe-2, or Depth Anything V2 metric with recipe/MoGe intrinsics), 16-bit PNG depth maps; needs real weights.',
  level: 'clip',
  needs: [],
  params: {
    model: { type: 'string', description: 'Path to the depth ONNX model (MoGe-2 official export, or a Depth Anything V2 metric export; contracts in operators/depth/README.md). Required: the op refuses to run without it.' },
    backend: { type: 'enum', values: ['moge2', 'depth_anything_v2'], default: 'moge2', description: 'Model family of `model`.' },
    sample_fps: { type: 'number', default: 2, min: 0, description: 'Frames per second to process (every round(fps / sample_fps)-th frame of the clip); 0 = every frame.' },
    max_side: { type: 'integer', default: 512, min: 64, max: 4096, description: 'MoGe: frames are downscaled so the long side is at most this (the depth map size); focal recovery is size independent.' },
    num_tokens: { type: 'integer', default: 1800, min: 100, max: 10000, description: "MoGe: the 'num_tokens' input (ViT tokens; MoGe suggests 1200-2500; more = finer, slower). Ignored by static exports without that input." },
    input_size: { type: 'integer', default: 518, min: 14, max: 4096, description: 'Depth Anything V2: lower bound of the input sides (keep aspect, multiples of 14), as its infer_image.' },
    mask_threshold: { type: 'number', default: 0.5, min: 0, max: 1, description: 'MoGe: pixels with mask probability at or below this have no depth (MoGe: 0.5).' },
    fx: { type: 'number', min: 1, description: 'Known focal length x in video pixels (overrides the estimate). With fy, cx, cy optional (fy = fx, principal point at the centre).' },
    fy: { type: 'number', min: 1, description: 'Known focal length y in video pixels (default fx).' },
    cx: { type: 'number', description: 'Known principal point x in video pixels (default (width - 1) / 2).' },
    cy: { type: 'number', description: 'Known principal point y in video pixels (default (height - 1) / 2).' },
    hfov_deg: { type: 'number', min: 1, max: 179, description: 'Known horizontal field of view (degrees), instead of fx: fx = fy = width / 2 / tan(hfov / 2).' },
    intrinsics_model: { type: 'string', description: 'Depth Anything V2 without recipe intrinsics: a MoGe-2 ONNX export whose recovered focal is used.' },
    focal_mode: {
      type: 'enum',
      values: ['clip_median', 'per_frame'],
      default: 'clip_median',
      description: "Estimated focal: 'clip_median' = one focal per clip (median over the sampled frames; MoGe shifts re-solved with it), 'per_frame' = each frame's own.",
    },
    intrinsics_frames: { type: 'integer', default: 3, min: 1, max: 1000, description: 'Depth Anything V2 + intrinsics_model, clip_median: frames of the clip the MoGe focal is estimated on.' },
    depth_unit_mm: { type: 'number', default: 1, min: 0.01, max: 1000, description: 'PNG16 quantisation (mm per count): 1 = millimetres up to 65.535 m; deeper pixels are stored as no depth.' },
    providers: { ...PROVIDERS_PARAM, default: [...PROVIDERS_PARAM.default] },
    threads: { type: 'integer', default: 0, min: 0, max: 256, description: 'onnxruntime intra-op threads (0 = onnxruntime default).' },
  },
  outputs: [DEPTH_TABLE],
  resources: { pool: 'gpu', concurrency: 1 },
  models: ['depth'],
  validate: validateParams,
  async resolveModels(params) {
    const p = resolveParams(params);
    const model = await resolveModelPath(p.model, 'model');
    if (!model) throw new DepthWeightsError(`depth: no model configured (param 'model' is empty). ${WEIGHTS_HELP}`);
    const intr = await resolveModelPath(p.intrinsics_model, 'intrinsics_model');
    const files = [{ name: 'depth', path: model }];
    if (intr) files.push({ name: 'depth_intrinsics', path: intr });
    return { params: { ...params, model, ...(intr ? { intrinsics_model: intr } : {}) }, files };
  },
  frames: (task) => decodeOptions(task),
  async setup(params) {
    const p = resolveParams(params);
    const model = await loadDepthModel(p.model, { providers: p.providers, threads: p.threads, backend: p.backend });
    let intrinsicsModel: MogeModel | undefined;
    if (p.intrinsics_model && p.backend === 'depth_anything_v2') {
      const m = await loadDepthModel(p.intrinsics_model, { providers: p.providers, threads: p.threads, backend: 'moge2' }, 'intrinsics_model');
      intrinsicsModel = m as MogeModel;
    }
    return { models: { model, intrinsicsModel } };
  },
  cost(task) {
    const p = resolveParams(task.params);
    const start = task.clip?.start_frame ?? 0;
    const end = task.clip?.end_frame ?? task.video.frame_count;
    return Math.ceil(Math.max(0, end - start) / frameStep(task.video.fps, p.sample_fps));
  },
  async run(task: TaskInput<Partial<DepthParams>>, ctx): Promise<TaskOutput> {
    const p = resolveParams(task.params);
    // refuse before anything else: no weights, no output (also when setup was skipped)
    requireWeights(p.model);
    if (p.intrinsics_model) requireWeights(p.intrinsics_model, 'intrinsics_model');
    const models = ctx.state?.models;
    if (!models) throw new DepthWeightsError(`depth: the model was not loaded (setup did not run). ${WEIGHTS_HELP}`);
    const clip = task.clip;
    if (!clip) throw new Error('depth is a clip-level op and needs task.clip');
    if (task.tools) setToolPaths(task.tools);
    const frames: AsyncIterable<DecodedFrame> = ctx.frames ?? decodeFrames({ ...decodeOptions(task), signal: ctx.signal });
    try {
      const { rows, stats } = await estimateDepth(frames, models, p, { clipId: clip.clip_id, video: task.video });
      return { rows: { [DEPTH_TABLE.name]: rows }, stats };
    } catch (e) {
      if (e instanceof DecodeError && e.permanent) throw new PermanentError(e.message);
      throw e;
    }
  },
};

export default op;
