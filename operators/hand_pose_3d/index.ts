/**
 * hand_pose_3d: 3D hand joints (and optionally MANO parameters) per detected hand, from a
 * HaMeR / WiLoR style ONNX regressor. Boxes and handedness come from the upstream
 * `hand_keypoints` rows; see README.md for the ONNX contract and the conventions.
 */
import path from 'node:path';
import { DecodeError, decodeFrames, setToolPaths } from '../../src/ffmpeg.js';
import { PermanentError, type OperatorSpec, type Row, type TableSpec, type TaskInput, type TaskOutput } from '../types.js';
import {
  CROP_SIZE,
  boxFromArray,
  boxFromKeypoints,
  cropSquare,
  cropTransform,
  fullImageFocal,
  meanPointError,
  postprocessHand,
  preprocessCrop,
  type CropMode,
  type CropTransform,
  type RgbImage,
} from './geometry.js';
import { HandPose3dWeightsError, WEIGHTS_HELP, loadHandPose3dModel, requireWeights, type HandPose3dModel } from './model.js';
import { PROVIDERS_PARAM } from '../../src/onnx/providers.js';

export interface HandPose3dParams {
  model?: string;
  rescale_factor: number;
  crop_mode: CropMode;
  box_source: 'kp2d' | 'bbox';
  min_keypoints: number;
  batch_size: number;
  focal_px: number | 'auto';
  save_vertices: boolean;
  providers: string[];
  threads: number;
}

export const DEFAULT_PARAMS: HandPose3dParams = {
  rescale_factor: 2.0,
  crop_mode: 'hamer',
  box_source: 'kp2d',
  min_keypoints: 4,
  batch_size: 8,
  focal_px: 'auto',
  save_vertices: false,
  providers: ['auto'],
  threads: 0,
};

export const TABLE: TableSpec = {
  name: 'hand_pose_3d',
  description: '3D hand joints per hand and frame (HaMeR/WiLoR-style regressor), camera frame in metres, with the full-image camera.',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    hand_index: 'INTEGER',
    handedness: 'VARCHAR',
    joints_cam: 'FLOAT[]',
    joints_2d: 'FLOAT[]',
    cam_t: 'FLOAT[]',
    focal: 'FLOAT',
    crop_box: 'FLOAT[]',
    kp2d_err_px: 'FLOAT',
    mano_global_orient: 'FLOAT[]',
    mano_hand_pose: 'FLOAT[]',
    mano_betas: 'FLOAT[]',
    vertices_cam: 'FLOAT[]',
  },
  docs: {
    clip_id: 'Clip the hand belongs to.',
    frame: 'Source frame number (0-based), as in hand_keypoints.',
    hand_index: 'Hand index within the frame, as in hand_keypoints.',
    handedness: "'left' or 'right' (from hand_keypoints; left hands are mirrored for the network and mirrored back).",
    joints_cam: '21x3 joints in OpenPose hand order, OpenCV camera frame (x right, y down, z forward), metres: network joints + cam_t.',
    joints_2d: '21x2 projection of joints_cam into the image (px), focal `focal`, principal point at the image centre.',
    cam_t: 'Translation (x, y, z) of the MANO root frame in the camera frame, metres (HaMeR cam_crop_to_full).',
    focal: 'Focal length (px) used for cam_t and joints_2d: 5000/256 * max(W, H) unless focal_px is set.',
    crop_box: 'Square image region fed to the network: centre x, centre y, side (px).',
    kp2d_err_px: 'Mean distance (px) between joints_2d and the upstream kp2d (a consistency check); null without valid kp2d.',
    mano_global_orient: 'MANO global orientation, axis-angle (3); for left hands it parameterises the MANO left hand. Null if the model has no such output.',
    mano_hand_pose: 'MANO hand pose, 15 axis-angle rotations (45). Null if the model has no such output.',
    mano_betas: 'MANO shape coefficients (10). Null if the model has no such output.',
    vertices_cam: '778x3 MANO vertices in the camera frame (metres); only with save_vertices and a model that outputs them, else null.',
  },
};

/** One upstream hand_keypoints row (the fields this op reads). */
export interface HandRow {
  clip_id: string;
  frame: number;
  hand_index: number;
  handedness: unknown;
  bbox?: ArrayLike<number> | null;
  kp2d?: ArrayLike<number> | null;
}

/** 'right' | 'left' from the usual spellings (right/left, r/l, 1/0 as HaMeR's `right` flag); null if unknown. */
export function parseHandedness(h: unknown): 'right' | 'left' | null {
  if (typeof h === 'boolean') return h ? 'right' : 'left';
  if (typeof h === 'number') return h === 1 ? 'right' : h === 0 ? 'left' : null;
  if (typeof h !== 'string') return null;
  const s = h.trim().toLowerCase();
  if (s === 'right' || s === 'r') return 'right';
  if (s === 'left' || s === 'l') return 'left';
  return null;
}

function toArray(v: unknown): ArrayLike<number> | null {
  if (v == null) return null;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return v as ArrayLike<number>;
  return null;
}

export interface PreparedHand {
  row: HandRow;
  handedness: 'right' | 'left';
  transform: CropTransform;
}

/** Box (from kp2d or bbox) -> crop transform; null when no usable box. */
export function prepareHand(row: HandRow, params: Pick<HandPose3dParams, 'rescale_factor' | 'crop_mode' | 'box_source' | 'min_keypoints'>): PreparedHand | { skip: 'handedness' | 'box' } {
  const handedness = parseHandedness(row.handedness);
  if (!handedness) return { skip: 'handedness' };
  const kpBox = boxFromKeypoints(toArray(row.kp2d) ?? [], params.min_keypoints);
  const bbox = boxFromArray(toArray(row.bbox));
  const box = params.box_source === 'kp2d' ? (kpBox ?? bbox) : (bbox ?? kpBox);
  if (!box) return { skip: 'box' };
  const sq = cropSquare(box, params.rescale_factor, params.crop_mode);
  return { row, handedness, transform: cropTransform(sq, handedness === 'left') };
}

export interface FrameLike extends RgbImage {
  index: number;
}

export interface EstimateResult {
  rows: Row[];
  stats: Record<string, number>;
}

const f = (a: ArrayLike<number>): number[] => Array.from(a, (v) => Math.fround(v));

/**
 * Everything except decoding: for each frame that has hands, crop + normalise (mirroring left
 * hands), run the network in batches, un-flip, place in the full-image camera and project.
 */
export async function estimateHandPoses(frames: AsyncIterable<FrameLike> | Iterable<FrameLike>, hands: readonly HandRow[], model: HandPose3dModel, params: HandPose3dParams): Promise<EstimateResult> {
  const stats: Record<string, number> = {
    hands_in: hands.length,
    hands_out: 0,
    hands_skipped_box: 0,
    hands_skipped_handedness: 0,
    hands_missing_frame: 0,
    frames_used: 0,
    inference_ms: 0,
    batches: 0,
  };
  const byFrame = new Map<number, PreparedHand[]>();
  for (const row of hands) {
    const p = prepareHand(row, params);
    if ('skip' in p) {
      stats[p.skip === 'box' ? 'hands_skipped_box' : 'hands_skipped_handedness']++;
      continue;
    }
    const list = byFrame.get(row.frame) ?? [];
    list.push(p);
    byFrame.set(row.frame, list);
  }
  const batchSize = Math.max(1, Math.floor(params.batch_size));
  const plane = 3 * CROP_SIZE * CROP_SIZE;
  const batch = new Float32Array(batchSize * plane);
  let pending: Array<PreparedHand & { width: number; height: number }> = [];
  const rows: Row[] = [];

  const flush = async () => {
    if (!pending.length) return;
    const t0 = performance.now();
    const outs = await model.infer(batch, pending.length);
    stats.inference_ms += performance.now() - t0;
    stats.batches++;
    for (let i = 0; i < pending.length; i++) {
      const h = pending[i];
      const focal = params.focal_px === 'auto' ? fullImageFocal(h.width, h.height) : params.focal_px;
      const r = postprocessHand(outs[i], h.transform, h.handedness === 'right', h.width, h.height, focal);
      const kp = toArray(h.row.kp2d);
      const err = kp ? meanPointError(r.joints2d, kp) : null;
      rows.push({
        clip_id: h.row.clip_id,
        frame: h.row.frame,
        hand_index: h.row.hand_index,
        handedness: h.handedness,
        joints_cam: f(r.jointsCam),
        joints_2d: f(r.joints2d),
        cam_t: f(r.camT),
        focal: r.focal,
        crop_box: f([h.transform.cx, h.transform.cy, h.transform.size]),
        kp2d_err_px: err,
        mano_global_orient: r.globalOrient ? f(r.globalOrient) : null,
        mano_hand_pose: r.handPose ? f(r.handPose) : null,
        mano_betas: r.betas ? f(r.betas) : null,
        vertices_cam: params.save_vertices && r.verticesCam ? f(r.verticesCam) : null,
      });
      stats.hands_out++;
    }
    pending = [];
  };

  if (byFrame.size) {
    for await (const frame of frames) {
      const list = byFrame.get(frame.index);
      if (!list) continue;
      byFrame.delete(frame.index);
      stats.frames_used++;
      for (const h of list) {
        preprocessCrop(frame, h.transform, batch, pending.length * plane);
        pending.push({ ...h, width: frame.width, height: frame.height });
        if (pending.length === batchSize) await flush();
      }
      if (byFrame.size === 0) break;
    }
    await flush();
  }
  for (const list of byFrame.values()) stats.hands_missing_frame += list.length;
  rows.sort((a, b) => (a.frame as number) - (b.frame as number) || (a.hand_index as number) - (b.hand_index as number));
  return { rows, stats };
}

function resolveParams(p: Partial<HandPose3dParams>): HandPose3dParams {
  return { ...DEFAULT_PARAMS, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) } as HandPose3dParams;
}

export interface HandPose3dState {
  model: HandPose3dModel;
}

export const op: OperatorSpec<Partial<HandPose3dParams>, HandPose3dState> = {
  name: 'hand_pose_3d',
  description:
    '3D hand pose per hand (21 joints in the camera frame, full-image camera, optional MANO parameters) from a HaMeR/WiLoR-style ONNX model; needs real weights.',
  level: 'clip',
  needs: ['hand_keypoints'],
  params: {
    model: {
      type: 'string',
      description: 'Path to the hand_pose_3d ONNX model (HaMeR or WiLoR exported with the contract in operators/hand_pose_3d/README.md). Required: the op refuses to run without it.',
    },
    rescale_factor: { type: 'number', description: 'Box padding factor before cropping (HaMeR/WiLoR demos: 2.0; ViTDetDataset default and WiLoR-mini: 2.5).', default: 2.0, min: 1, max: 5 },
    crop_mode: {
      type: 'enum',
      values: ['hamer', 'square'],
      description: "'hamer': expand the padded box to 192:256 (w:h) and take its larger side (HaMeR/WiLoR); 'square': larger side of the padded box (WiLoR-mini).",
      default: 'hamer',
    },
    box_source: {
      type: 'enum',
      values: ['kp2d', 'bbox'],
      description: "Box to crop around: 'kp2d' = tight box of the finite upstream keypoints (HaMeR demo), falling back to bbox; 'bbox' = the upstream bbox, falling back to kp2d.",
      default: 'kp2d',
    },
    min_keypoints: { type: 'integer', description: 'Finite keypoints needed to use the keypoint box (HaMeR: more than 3).', default: 4, min: 2, max: 21 },
    batch_size: { type: 'integer', description: 'Crops per inference call.', default: 8, min: 1, max: 256 },
    focal_px: {
      type: 'number',
      orString: 'auto',
      description: "Full-image focal length in px for cam_t / joints_2d; 'auto' = HaMeR's 5000/256 * max(W, H). Set the calibrated focal when known.",
      default: 'auto',
      min: 1,
    },
    save_vertices: { type: 'boolean', description: 'Also store the 778 MANO vertices per hand (vertices_cam) when the model outputs them.', default: false },
    providers: { ...PROVIDERS_PARAM, default: [...PROVIDERS_PARAM.default] },
    threads: { type: 'integer', description: 'onnxruntime intra-op threads (0 = onnxruntime default).', default: 0, min: 0, max: 256 },
  },
  outputs: [TABLE],
  resources: { pool: 'gpu', concurrency: 1 },
  models: ['hand_pose_3d'],
  validate(params) {
    try {
      requireWeights(params.model);
      return [];
    } catch (e) {
      return [(e as Error).message];
    }
  },
  async resolveModels(params) {
    const file = path.resolve(requireWeights(resolveParams(params).model));
    return { params: { ...params, model: file }, files: [{ name: 'hand_pose_3d', path: file }] };
  },
  async setup(params) {
    const p = resolveParams(params);
    const model = await loadHandPose3dModel(p.model, { providers: p.providers, threads: p.threads });
    return { model };
  },
  async run(task: TaskInput<Partial<HandPose3dParams>>, ctx): Promise<TaskOutput> {
    const p = resolveParams(task.params);
    // Refuse before anything else: no weights, no output (also when setup was skipped).
    requireWeights(p.model);
    const model = ctx.state?.model;
    if (!model) throw new HandPose3dWeightsError(`hand_pose_3d: the model was not loaded (setup did not run). ${WEIGHTS_HELP}`);
    const clip = task.clip;
    if (!clip) throw new Error('hand_pose_3d is a clip-level op and needs task.clip');
    const hands = (task.upstream.hand_keypoints ?? [])
      .filter((r) => r.clip_id === clip.clip_id)
      .map((r) => ({ ...r, frame: Number(r.frame), hand_index: Number(r.hand_index) }) as HandRow)
      .filter((r) => Number.isInteger(r.frame) && r.frame >= clip.start_frame && r.frame < clip.end_frame);
    if (!hands.length) return { rows: { [TABLE.name]: [] }, stats: { hands_in: 0, hands_out: 0 } };
    let first = Infinity;
    let last = -Infinity;
    for (const h of hands) {
      first = Math.min(first, h.frame);
      last = Math.max(last, h.frame);
    }
    setToolPaths({ ffmpeg: task.tools.ffmpeg, ffprobe: task.tools.ffprobe });
    const v = task.video;
    const frames = decodeFrames({
      path: v.path,
      width: v.width,
      height: v.height,
      startFrame: first,
      endFrame: last + 1,
      fps: v.vfr ? undefined : v.fps,
      pixFmt: 'rgb24',
      signal: ctx.signal,
    });
    try {
      const { rows, stats } = await estimateHandPoses(frames, hands, model, p);
      return { rows: { [TABLE.name]: rows }, stats: { ...stats, frames: stats.frames_used } };
    } catch (e) {
      if (e instanceof DecodeError && e.permanent) throw new PermanentError(e.message);
      throw e;
    }
  },
};

export default op;
