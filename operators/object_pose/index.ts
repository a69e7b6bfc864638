/**
 * object_pose: 6-DoF object poses per mask and frame with FoundationPose (model-based: a mesh per
 * label) from the `masks` rows of object_masks and metric depth from a `depth` op; the refiner and
 * scorer networks run with onnxruntime, rendering is the CPU rasteriser of render.ts. See
 * README.md for the ONNX contract and the conventions.
 *
 * It never invents poses: without weights the run is refused (resolveModels / setup / run throw
 * FoundationPoseWeightsError); a label without a mesh, a frame without depth, or a mask without
 * depth gives no row (counted in stats).
 */
import path from 'node:path';
import { DecodeError, decodeFrames, setToolPaths } from '../../src/ffmpeg.js';
import { resolveAssetRef } from '../../src/models.js';
import { PermanentError, type OperatorSpec, type Row, type TableSpec, type TaskInput, type TaskOutput } from '../types.js';
import { MIN_DEPTH, type RgbImage } from './crop.js';
import { Workspace, estimatePose, prepareObject, type EstimateOptions, type ObjectModel } from './estimate.js';
import { rotationGrid } from './hypotheses.js';
import { depthFrameFromRow, depthOnGrid, maskFromRow, maskOnGrid, type DepthFrame, type ObjectMask } from './inputs.js';
import type { Mat3 } from './math.js';
import { loadObj } from './mesh.js';
import { FoundationPoseWeightsError, WEIGHTS_HELP, loadFoundationPose, requireWeights, type FoundationPoseModels } from './model.js';
import { PROVIDERS_PARAM } from '../../src/onnx/providers.js';

export interface ObjectPoseParams {
  /** label -> OBJ path */
  meshes: Record<string, string>;
  mesh_scale: number;
  refiner_model?: string;
  scorer_model?: string;
  refine_iterations: number;
  refine_batch: number;
  frame_step: number;
  min_mask_pixels: number;
  min_depth: number;
  min_views: number;
  inplane_step_deg: number;
  cull_back_faces: boolean;
  providers: string[];
  threads: number;
}

export const DEFAULT_PARAMS: ObjectPoseParams = {
  meshes: {},
  mesh_scale: 1,
  refine_iterations: 5,
  refine_batch: 42,
  frame_step: 1,
  min_mask_pixels: 16,
  min_depth: MIN_DEPTH,
  min_views: 40,
  inplane_step_deg: 60,
  cull_back_faces: false,
  providers: ['auto'],
  threads: 0,
};

/** Upstream tables read (names as produced by object_masks and the depth op). */
export const MASKS_TABLE = 'masks';
export const DEPTH_TABLE = 'depth';

export const TABLE: TableSpec = {
  name: 'object_poses',
  description: 'FoundationPose 6-DoF pose per object mask and frame (mesh frame -> OpenCV camera frame), with the scorer value of the chosen hypothesis.',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    object_id: 'VARCHAR',
    label: 'VARCHAR',
    R: 'FLOAT[9]',
    t: 'FLOAT[3]',
    score: 'FLOAT',
  },
  docs: {
    clip_id: 'Clip of the mask (joins masks on clip_id, frame, object_id).',
    frame: '0-based frame number in the video.',
    object_id: 'Object id from the masks table.',
    label: 'Object label from the masks table; its mesh is meshes[label].',
    R: 'Rotation, row-major 3x3: X_cam = R X_mesh + t, mesh coordinates as in the OBJ file (times mesh_scale), OpenCV camera (x right, y down, z forward).',
    t: 'Translation in metres, camera frame.',
    score: "Scorer output of the chosen hypothesis (highest of all hypotheses of this object and frame); comparable only within one object and frame.",
  },
};

export function resolveParams(p: Partial<ObjectPoseParams>): ObjectPoseParams {
  return { ...DEFAULT_PARAMS, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) } as ObjectPoseParams;
}

function meshErrors(meshes: unknown): string[] {
  if (!meshes || typeof meshes !== 'object' || Array.isArray(meshes)) return ['meshes: must be a mapping label -> OBJ file, e.g. {mug: meshes/mug.obj}'];
  const entries = Object.entries(meshes as Record<string, unknown>);
  if (!entries.length) return ['meshes: give at least one label -> OBJ file (object_pose is model-based: no mesh, no pose)'];
  return entries.filter(([, v]) => typeof v !== 'string' || !v).map(([k]) => `meshes.${k}: must be a path to an OBJ file`);
}

export interface ObjectPoseState {
  models: FoundationPoseModels;
  objects: Map<string, ObjectModel>;
  rotations: Mat3[];
  ws: Workspace;
}

/** Everything setup() prepares, usable without the worker machinery (tests, tools). */
export async function createState(params: Partial<ObjectPoseParams>): Promise<ObjectPoseState> {
  const p = resolveParams(params);
  requireWeights(p.refiner_model, 'refiner_model');
  requireWeights(p.scorer_model, 'scorer_model');
  const objects = new Map<string, ObjectModel>();
  for (const [label, file] of Object.entries(p.meshes)) {
    try {
      objects.set(label, prepareObject(label, loadObj(file, { scale: p.mesh_scale }), { cull: p.cull_back_faces ? 'back' : 'none' }));
    } catch (e) {
      throw new PermanentError(`object_pose: cannot load the mesh for "${label}" (${file}): ${(e as Error).message}`);
    }
  }
  const models = await loadFoundationPose(p.refiner_model!, p.scorer_model!, { providers: p.providers, threads: p.threads });
  return { models, objects, rotations: rotationGrid({ minViews: p.min_views, inplaneStepDeg: p.inplane_step_deg }), ws: new Workspace() };
}

export interface FrameLike extends RgbImage {
  index: number;
}

/** Depth per frame from upstream rows (later rows for a frame win). */
export function depthByFrame(rows: readonly Row[], clipId?: string): Map<number, DepthFrame> {
  const out = new Map<number, DepthFrame>();
  for (const r of rows) {
    if (clipId !== undefined && r.clip_id !== undefined && r.clip_id !== clipId) continue;
    const d = depthFrameFromRow(r);
    if (d && Number.isInteger(d.frame)) out.set(d.frame, d);
  }
  return out;
}

const f = (a: ArrayLike<number>): number[] => Array.from(a, (v) => Math.fround(v));

/**
 * Everything except decoding: for each frame with masks (every `frame_step`-th frame of the clip)
 * and depth, estimate the pose of each mask whose label has a mesh.
 */
export async function estimateClipPoses(
  frames: AsyncIterable<FrameLike> | Iterable<FrameLike>,
  masks: readonly ObjectMask[],
  depth: Map<number, DepthFrame>,
  state: ObjectPoseState,
  params: ObjectPoseParams,
): Promise<{ rows: Row[]; stats: Record<string, number> }> {
  const stats: Record<string, number> = {
    masks_in: masks.length,
    poses_out: 0,
    skipped_no_mesh: 0,
    skipped_no_depth: 0,
    skipped_small_mask: 0,
    skipped_no_depth_in_mask: 0,
    frames_used: 0,
    hypotheses: 0,
    render_ms: 0,
    refine_ms: 0,
    score_ms: 0,
  };
  const byFrame = new Map<number, ObjectMask[]>();
  for (const m of masks) {
    if (!state.objects.has(m.label)) {
      stats.skipped_no_mesh++;
      const k = `skipped_no_mesh.${m.label}`;
      stats[k] = (stats[k] ?? 0) + 1;
      continue;
    }
    if (m.area < params.min_mask_pixels) {
      stats.skipped_small_mask++;
      continue;
    }
    if (!depth.has(m.frame)) {
      stats.skipped_no_depth++;
      continue;
    }
    const list = byFrame.get(m.frame) ?? [];
    list.push(m);
    byFrame.set(m.frame, list);
  }
  const opts: EstimateOptions = {
    refineIterations: params.refine_iterations,
    refineBatch: params.refine_batch,
    rotations: state.rotations,
    minDepth: params.min_depth,
  };
  const rows: Row[] = [];
  if (byFrame.size) {
    for await (const frame of frames) {
      const list = byFrame.get(frame.index);
      if (!list) continue;
      byFrame.delete(frame.index);
      stats.frames_used++;
      const { depth: dimg, K } = depthOnGrid(depth.get(frame.index)!, frame.width, frame.height);
      const obs = { rgb: frame, depth: dimg, K };
      for (const m of list) {
        const obj = state.objects.get(m.label)!;
        const r = await estimatePose(obj, obs, maskOnGrid(m, frame.width, frame.height), state.models, opts, state.ws);
        if ('skip' in r) {
          stats.skipped_no_depth_in_mask++;
          continue;
        }
        stats.hypotheses += r.hypotheses;
        stats.render_ms += r.ms.render;
        stats.refine_ms += r.ms.refine;
        stats.score_ms += r.ms.score;
        rows.push({
          clip_id: m.clip_id,
          frame: m.frame,
          object_id: m.object_id,
          label: m.label,
          R: f(r.pose.R),
          t: f(r.pose.t),
          score: r.score,
        });
        stats.poses_out++;
      }
      if (!byFrame.size) break;
    }
  }
  for (const list of byFrame.values()) stats.skipped_missing_frame = (stats.skipped_missing_frame ?? 0) + list.length;
  rows.sort((a, b) => (a.frame as number) - (b.frame as number) || String(a.object_id).localeCompare(String(b.object_id)));
  return { rows, stats };
}

export const op: OperatorSpec<Partial<ObjectPoseParams>, ObjectPoseState> = {
  name: 'object_pose',
  description:
    'FoundationPose 6-DoF object pose per object mask and frame (model-based: one OBJ mesh per label) from RGB, the object_masks masks and metric depth; needs the refiner and scorer weights.',
  level: 'clip',
  needs: [],
  reads: ['object_masks', 'depth'],
  params: {
    meshes: { type: 'object', description: 'Mesh per object label: {label: path/to/mesh.obj} (asset: references allowed). Masks of other labels get no pose.', required: true },
    mesh_scale: { type: 'number', description: 'Multiply mesh coordinates by this to get metres (0.001 for meshes in millimetres).', default: 1, min: 1e-6, max: 1e6 },
    refiner_model: { type: 'string', description: 'FoundationPose refiner ONNX (Isaac ROS refine_model.onnx, contract in operators/object_pose/README.md). Required: the op refuses to run without it.' },
    scorer_model: { type: 'string', description: 'FoundationPose scorer ONNX (Isaac ROS score_model.onnx). Required.' },
    refine_iterations: { type: 'integer', description: 'Refiner passes over all hypotheses (FoundationPose register: 5; Isaac ROS: 1).', default: 5, min: 0, max: 20 },
    refine_batch: { type: 'integer', description: 'Hypotheses per refiner call (Isaac ROS engine: 42). The scorer always sees all hypotheses of an object at once.', default: 42, min: 1, max: 1024 },
    frame_step: { type: 'integer', description: 'Estimate every n-th frame of the clip (counted from the clip start) that has masks and depth.', default: 1, min: 1, max: 10000 },
    min_mask_pixels: { type: 'integer', description: 'Masks with fewer pixels are skipped.', default: 16, min: 1 },
    min_depth: { type: 'number', description: 'Depth below this (metres) counts as missing (Isaac ROS min_depth).', default: MIN_DEPTH, min: 0, max: 10 },
    min_views: { type: 'integer', description: 'Viewpoints: icosphere subdivided until it has at least this many vertices (40 -> 42).', default: 40, min: 12, max: 10000 },
    inplane_step_deg: { type: 'number', description: 'In-plane rotation step per viewpoint in degrees (60 -> 6 per view, 252 hypotheses).', default: 60, min: 1, max: 360 },
    cull_back_faces: {
      type: 'boolean',
      description: 'Skip back-facing triangles when rendering: about 2x faster, the same image for closed, consistently wound meshes (FoundationPose/nvdiffrast do not cull; leave off for open scans).',
      default: false,
    },
    providers: { ...PROVIDERS_PARAM, default: [...PROVIDERS_PARAM.default] },
    threads: { type: 'integer', description: 'onnxruntime intra-op threads (0 = onnxruntime default).', default: 0, min: 0, max: 256 },
  },
  outputs: [TABLE],
  resources: { pool: 'gpu', concurrency: 1 },
  models: ['foundationpose_refiner', 'foundationpose_scorer'],
  validate(params) {
    const errors = meshErrors(params.meshes);
    for (const k of ['refiner_model', 'scorer_model'] as const) {
      const v = params[k];
      if (typeof v === 'string' && v.startsWith('asset:')) continue;
      try {
        requireWeights(v, k);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    return errors;
  },
  async resolveModels(params) {
    const p = resolveParams(params);
    const errs = meshErrors(p.meshes);
    if (errs.length) throw new PermanentError(`object_pose: ${errs.join('; ')}`);
    const refiner = path.resolve(requireWeights(typeof p.refiner_model === 'string' && p.refiner_model.startsWith('asset:') ? await resolveAssetRef(p.refiner_model) : p.refiner_model, 'refiner_model'));
    const scorer = path.resolve(requireWeights(typeof p.scorer_model === 'string' && p.scorer_model.startsWith('asset:') ? await resolveAssetRef(p.scorer_model) : p.scorer_model, 'scorer_model'));
    const meshes: Record<string, string> = {};
    const files = [
      { name: 'foundationpose_refiner', path: refiner },
      { name: 'foundationpose_scorer', path: scorer },
    ];
    for (const [label, file] of Object.entries(p.meshes)) {
      const abs = await resolveAssetRef(file);
      try {
        loadObj(abs, { scale: p.mesh_scale });
      } catch (e) {
        throw new PermanentError(`object_pose: meshes.${label}: cannot read ${abs}: ${(e as Error).message}`);
      }
      meshes[label] = abs;
      files.push({ name: `mesh:${label}`, path: abs });
    }
    return { params: { ...params, refiner_model: refiner, scorer_model: scorer, meshes }, files };
  },
  async setup(params) {
    return createState(params);
  },
  async run(task: TaskInput<Partial<ObjectPoseParams>>, ctx): Promise<TaskOutput> {
    const p = resolveParams(task.params);
    // refuse before anything else: no weights, no poses (also when setup was skipped)
    requireWeights(p.refiner_model, 'refiner_model');
    requireWeights(p.scorer_model, 'scorer_model');
    const state = ctx.state;
    if (!state?.models) throw new FoundationPoseWeightsError(`object_pose: the models were not loaded (setup did not run). ${WEIGHTS_HELP}`);
    const clip = task.clip;
    if (!clip) throw new Error('object_pose is a clip-level op and needs task.clip');
    const masks: ObjectMask[] = [];
    for (const r of task.upstream[MASKS_TABLE] ?? []) {
      if (r.clip_id !== clip.clip_id) continue;
      const fr = Number(r.frame);
      if (!Number.isInteger(fr) || fr < clip.start_frame || fr >= clip.end_frame) continue;
      if ((fr - clip.start_frame) % p.frame_step !== 0) continue;
      const m = maskFromRow(r);
      if (m) masks.push(m);
    }
    const depth = depthByFrame(task.upstream[DEPTH_TABLE] ?? [], clip.clip_id);
    if (!masks.length) return { rows: { [TABLE.name]: [] }, stats: { masks_in: 0, poses_out: 0, depth_frames: depth.size } };
    let first = Infinity;
    let last = -Infinity;
    for (const m of masks) {
      if (!depth.has(m.frame) || !state.objects.has(m.label)) continue;
      first = Math.min(first, m.frame);
      last = Math.max(last, m.frame);
    }
    const v = task.video;
    setToolPaths({ ffmpeg: task.tools.ffmpeg, ffprobe: task.tools.ffprobe });
    const frames: AsyncIterable<FrameLike> | FrameLike[] = Number.isFinite(first)
      ? decodeFrames({ path: v.path, width: v.width, height: v.height, startFrame: first, endFrame: last + 1, fps: v.vfr ? undefined : v.fps, pixFmt: 'rgb24', signal: ctx.signal })
      : [];
    try {
      const { rows, stats } = await estimateClipPoses(frames, masks, depth, state, p);
      return { rows: { [TABLE.name]: rows }, stats: { ...stats, frames: stats.frames_used } };
    } catch (e) {
      if (e instanceof DecodeError && e.permanent) throw new PermanentError(e.message);
      throw e;
    }
  },
};

export default op;
