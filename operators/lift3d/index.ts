/**
 * lift3d: camera-frame 3D for every object mask (robust centroid, extent, correspondence grid)
 * and every hand (21 joints in metres), from the clip's depth maps and intrinsics. CPU only, no
 * decoding: it reads the upstream rows of `depth` (needed), `masks` (object_masks), `hand_keypoints`
 * and `hand_pose_3d` (optional). See README.md.
 */
import { decodeDepthRow, type DepthMap } from '../depth/map.js';
import { toNumbers, type OperatorSpec, type Row, type TableSpec, type TaskInput, type TaskOutput } from '../types.js';
import { DEFAULT_OBJECT_OPTIONS, liftHandKeypoints, liftHandPose, liftMask, projectJoints, type ObjectLiftOptions } from './lift.js';
import { rleCountsOf } from './mask.js';

export interface Lift3dParams {
  max_depth_gap_s: number;
  erode_px: number;
  max_points: number;
  outlier_k: number;
  min_tolerance_m: number;
  extent_quantile: number;
  grid_size: number;
  min_cell_px: number;
  min_valid_px: number;
  min_score: number;
  skip_labels: string[];
  hand_source: 'auto' | 'keypoints' | 'hand_pose_3d';
  hand_anchor: 'depth' | 'cam_t';
  palm_radius_px: number;
}

export const DEFAULT_PARAMS: Lift3dParams = {
  max_depth_gap_s: 0,
  erode_px: DEFAULT_OBJECT_OPTIONS.erodePx,
  max_points: DEFAULT_OBJECT_OPTIONS.maxPoints,
  outlier_k: DEFAULT_OBJECT_OPTIONS.outlierK,
  min_tolerance_m: DEFAULT_OBJECT_OPTIONS.minToleranceM,
  extent_quantile: DEFAULT_OBJECT_OPTIONS.extentQuantile,
  grid_size: DEFAULT_OBJECT_OPTIONS.gridSize,
  min_cell_px: DEFAULT_OBJECT_OPTIONS.minCellPx,
  min_valid_px: DEFAULT_OBJECT_OPTIONS.minValidPx,
  min_score: 0,
  skip_labels: ['left_hand', 'right_hand'],
  hand_source: 'auto',
  hand_anchor: 'depth',
  palm_radius_px: 2,
};

export const OBJECTS_3D_TABLE: TableSpec = {
  name: 'objects_3d',
  description: 'Camera-frame 3D of each object mask (object_masks) from the nearest depth frame: robust centroid and extent of the visible surface, plus a correspondence grid for object_motion.',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    t_s: 'DOUBLE',
    object_id: 'VARCHAR',
    label: 'VARCHAR',
    score: 'FLOAT',
    depth_frame: 'INTEGER',
    centroid: 'FLOAT[]',
    extent: 'FLOAT[]',
    valid_px: 'INTEGER',
    mask_px: 'INTEGER',
    confidence: 'FLOAT',
    depth_sigma_m: 'FLOAT',
    centroid_2d: 'FLOAT[]',
    bbox: 'FLOAT[]',
    axis_angle_deg: 'FLOAT',
    grid_size: 'INTEGER',
    grid_idx: 'INTEGER[]',
    grid_points: 'FLOAT[]',
  },
  docs: {
    frame: 'frame of the mask (0-based, video frame number)',
    t_s: 'frame / video fps',
    object_id: 'object track id from object_masks (masks.object_id; joins objects)',
    label: 'object label from object_masks',
    score: 'mask score from object_masks',
    depth_frame: 'frame of the depth map used (= frame unless max_depth_gap_s > 0)',
    centroid: '(x, y, z) metres, OpenCV camera frame (x right, y down, z forward): mean of the mask\'s back-projected depth pixels after depth-outlier rejection (visible-surface centroid, not the volumetric centre)',
    extent: 'per-axis size (m) of those points between the extent_quantile and 1 - extent_quantile quantiles',
    valid_px: 'mask pixels on the depth grid (after erosion) that have depth',
    mask_px: 'mask pixels on the depth grid after erosion',
    confidence: '0..1: valid fraction x inlier fraction x (1 - exp(-valid_px / 20))',
    depth_sigma_m: 'robust sigma (1.4826 MAD) of the depth inside the mask',
    centroid_2d: 'mean mask pixel (x, y), image pixels (the 2D trajectory point)',
    bbox: 'COCO [x, y, w, h] of the mask (image pixels), copied from object_masks',
    axis_angle_deg: 'principal axis of the mask in the image, degrees from +x towards +y (sign from the skewness)',
    grid_size: 'n of the n x n correspondence grid',
    grid_idx: 'cells of the grid that have points (row-major index over n x n, in the mask\'s principal-axis frame)',
    grid_points: 'mean 3D point (m, camera frame) of each listed cell, flattened (x, y, z) in grid_idx order',
  },
};

export const HANDS_3D_TABLE: TableSpec = {
  name: 'hands_3d',
  description: 'Camera-frame 3D hand joints (21, metres) per hand and frame near a depth frame: keypoints + depth + the landmark model relative z, or hand_pose_3d joints anchored with depth.',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    t_s: 'DOUBLE',
    hand_index: 'INTEGER',
    handedness: 'VARCHAR',
    joints: 'FLOAT[]',
    kp2d: 'FLOAT[]',
    source: 'VARCHAR',
    depth_frame: 'INTEGER',
    wrist_depth_m: 'FLOAT',
    confidence: 'FLOAT',
  },
  docs: {
    frame: 'frame of the hand (0-based), as in hand_keypoints',
    hand_index: 'as in hand_keypoints',
    handedness: "'left' / 'right', as upstream",
    joints: '21 x (x, y, z) metres, OpenCV camera frame, MediaPipe/OpenPose joint order',
    kp2d: '21 x (x, y) image pixels (hand_keypoints kp2d, or the projection of the joints for hand_pose_3d sources)',
    source: "'keypoints_depth' (kp2d + depth at the palm + landmark relative z), 'hand_pose_3d_depth' (hand_pose_3d joints, wrist placed with depth) or 'hand_pose_3d' (joints_cam as given, hand_anchor: cam_t or no depth at the palm)",
    depth_frame: 'frame of the depth map used (null for source hand_pose_3d without depth)',
    wrist_depth_m: 'depth of the wrist (m)',
    confidence: 'fraction of the 5 palm joints (wrist + finger MCPs) with depth; 1 for hand_pose_3d joints used as given',
  },
};

export function resolveParams(p: Partial<Lift3dParams> | undefined): Lift3dParams {
  const defined = Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined && v !== null));
  return { ...DEFAULT_PARAMS, ...defined } as Lift3dParams;
}

export function objectOptions(p: Lift3dParams): ObjectLiftOptions {
  return {
    erodePx: p.erode_px,
    maxPoints: p.max_points,
    outlierK: p.outlier_k,
    minToleranceM: p.min_tolerance_m,
    extentQuantile: p.extent_quantile,
    gridSize: p.grid_size,
    minCellPx: p.min_cell_px,
    minValidPx: p.min_valid_px,
  };
}

/** Depth maps of a clip, decoded on first use, looked up by nearest frame. */
export class DepthIndex {
  private readonly frames: number[];
  private readonly rows = new Map<number, Row>();
  private readonly cache = new Map<number, DepthMap | null>();
  errors = 0;

  constructor(rows: readonly Row[]) {
    for (const r of rows) this.rows.set(Number(r.frame), r);
    this.frames = [...this.rows.keys()].filter(Number.isFinite).sort((a, b) => a - b);
  }

  get size(): number {
    return this.frames.length;
  }

  /** nearest depth frame to `frame` within maxGap frames, or null */
  nearest(frame: number, maxGap: number): number | null {
    const f = this.frames;
    if (!f.length) return null;
    let lo = 0;
    let hi = f.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (f[mid] < frame) lo = mid + 1;
      else hi = mid;
    }
    let best = f[lo];
    if (lo > 0 && Math.abs(f[lo - 1] - frame) <= Math.abs(best - frame)) best = f[lo - 1];
    return Math.abs(best - frame) <= maxGap + 1e-9 ? best : null;
  }

  map(frame: number): DepthMap | null {
    if (this.cache.has(frame)) return this.cache.get(frame)!;
    let m: DepthMap | null = null;
    try {
      m = decodeDepthRow(this.rows.get(frame)!);
    } catch {
      this.errors++;
    }
    this.cache.set(frame, m);
    return m;
  }
}

const f32 = (v: ArrayLike<number>): number[] => Array.from(v, (x) => Math.fround(x));

function handKey(r: Row): string {
  return `${Number(r.frame)}:${Number(r.hand_index)}`;
}

export interface LiftInput {
  clipId: string;
  fps: number;
  depth: readonly Row[];
  masks: readonly Row[];
  hands: readonly Row[];
  handPoses: readonly Row[];
}

/** Everything lift3d does, on rows. */
export function lift3d(input: LiftInput, params: Partial<Lift3dParams>): { objects: Row[]; hands: Row[]; stats: Record<string, number> } {
  const p = resolveParams(params);
  const opts = objectOptions(p);
  const fps = input.fps > 0 ? input.fps : 30;
  const maxGap = p.max_depth_gap_s * fps;
  const skip = new Set(p.skip_labels);
  const idx = new DepthIndex(input.depth.filter((r) => r.clip_id === undefined || r.clip_id === input.clipId));
  const stats: Record<string, number> = {
    depth_frames: idx.size,
    masks_in: 0,
    objects_out: 0,
    masks_no_depth_frame: 0,
    masks_no_depth: 0,
    masks_bad: 0,
    masks_skipped_label: 0,
    hands_in: 0,
    hands_out: 0,
    hands_no_depth_frame: 0,
    hands_no_depth: 0,
    lift_ms: 0,
  };
  const t0 = performance.now();
  const objects: Row[] = [];
  for (const m of input.masks) {
    if (m.clip_id !== undefined && m.clip_id !== input.clipId) continue;
    stats.masks_in++;
    const score = m.score == null ? null : Number(m.score);
    if (score !== null && score < p.min_score) continue;
    if (m.label != null && skip.has(String(m.label))) {
      stats.masks_skipped_label++;
      continue;
    }
    const frame = Number(m.frame);
    const df = idx.nearest(frame, maxGap);
    if (df === null) {
      stats.masks_no_depth_frame++;
      continue;
    }
    const map = idx.map(df);
    const counts = rleCountsOf(m.rle_counts);
    const H = Number(m.height);
    const W = Number(m.width);
    if (!map || !counts || !(H > 0) || !(W > 0) || m.object_id == null) {
      stats.masks_bad++;
      continue;
    }
    const r = liftMask(counts, H, W, map, opts);
    if (!r) {
      stats.masks_no_depth++;
      continue;
    }
    objects.push({
      clip_id: input.clipId,
      frame,
      t_s: frame / fps,
      object_id: String(m.object_id),
      label: m.label == null ? null : String(m.label),
      score,
      depth_frame: df,
      centroid: f32(r.centroid),
      extent: f32(r.extent),
      valid_px: r.validPx,
      mask_px: r.maskPx,
      confidence: r.confidence,
      depth_sigma_m: r.depthSigma,
      centroid_2d: f32(r.centroid2d),
      bbox: toNumbers(m.bbox) ?? null,
      axis_angle_deg: Number.isFinite(r.axisAngleDeg) ? r.axisAngleDeg : null,
      grid_size: opts.gridSize,
      grid_idx: r.gridIdx,
      grid_points: f32(r.gridPoints),
    });
  }
  stats.objects_out = objects.length;

  // hands: hand_pose_3d rows by (frame, hand_index)
  const poses = new Map<string, Row>();
  if (p.hand_source !== 'keypoints') for (const r of input.handPoses) if (r.clip_id === undefined || r.clip_id === input.clipId) poses.set(handKey(r), r);
  const hands: Row[] = [];
  const handRows: Row[] = [...input.hands.filter((r) => r.clip_id === undefined || r.clip_id === input.clipId)];
  if (p.hand_source === 'hand_pose_3d') {
    // hand_pose_3d rows drive; keypoint rows are not needed
    handRows.length = 0;
    handRows.push(...poses.values());
  } else {
    // hand_pose_3d rows without a keypoint row still count
    const seen = new Set(handRows.map(handKey));
    for (const [k, r] of poses) if (!seen.has(k)) handRows.push(r);
  }
  for (const h of handRows) {
    stats.hands_in++;
    const frame = Number(h.frame);
    const pose = p.hand_source === 'keypoints' ? undefined : poses.get(handKey(h));
    const df = idx.nearest(frame, maxGap);
    const map = df === null ? null : idx.map(df);
    const base = {
      clip_id: input.clipId,
      frame,
      t_s: frame / fps,
      hand_index: Number(h.hand_index),
      handedness: h.handedness == null ? null : String(h.handedness),
    };
    if (pose) {
      const jc = toNumbers(pose.joints_cam);
      const j2 = toNumbers(pose.joints_2d);
      if (jc && jc.length >= 63) {
        const lifted = p.hand_anchor === 'depth' && map ? liftHandPose(jc, j2, map, p.palm_radius_px) : null;
        if (lifted && map) {
          hands.push({ ...base, joints: f32(lifted.joints), kp2d: f32(projectJoints(lifted.joints, map)), source: 'hand_pose_3d_depth', depth_frame: df, wrist_depth_m: lifted.wristDepth, confidence: lifted.confidence });
        } else {
          hands.push({ ...base, joints: f32(jc.slice(0, 63)), kp2d: j2 ? f32(j2.slice(0, 42)) : null, source: 'hand_pose_3d', depth_frame: null, wrist_depth_m: jc[2], confidence: 1 });
        }
        stats.hands_out++;
        continue;
      }
    }
    if (p.hand_source === 'hand_pose_3d') continue;
    if (!map) {
      stats.hands_no_depth_frame++;
      continue;
    }
    const kp = toNumbers(h.kp2d);
    if (!kp || kp.length < 42) continue;
    const lifted = liftHandKeypoints(kp, toNumbers(h.kp3d_rel), map, p.palm_radius_px);
    if (!lifted) {
      stats.hands_no_depth++;
      continue;
    }
    hands.push({ ...base, joints: f32(lifted.joints), kp2d: f32(kp.slice(0, 42)), source: 'keypoints_depth', depth_frame: df, wrist_depth_m: lifted.wristDepth, confidence: lifted.confidence });
    stats.hands_out++;
  }
  hands.sort((a, b) => (a.frame as number) - (b.frame as number) || (a.hand_index as number) - (b.hand_index as number));
  objects.sort((a, b) => (a.frame as number) - (b.frame as number) || String(a.object_id).localeCompare(String(b.object_id)));
  stats.depth_decode_errors = idx.errors;
  stats.lift_ms = performance.now() - t0;
  return { objects, hands, stats };
}

export const op: OperatorSpec<Partial<Lift3dParams>> = {
  name: 'lift3d',
  description: 'Camera-frame 3D for every object mask (robust centroid, extent, correspondence grid) and every hand (21 joints, metres) from the depth maps and intrinsics.',
  level: 'clip',
  needs: ['depth'],
  reads: ['object_masks', 'hand_keypoints', 'hand_pose_3d'],
  params: {
    max_depth_gap_s: { type: 'number', default: 0, min: 0, max: 10, description: 'Use the nearest depth frame within this many seconds of a mask/hand frame (0 = only observations on a depth frame); farther observations are skipped. A depth map from another frame is stale for anything that moves.' },
    erode_px: { type: 'integer', default: 1, min: 0, max: 20, description: 'Erode masks by this many depth pixels before sampling depth (edges bleed into the background).' },
    max_points: { type: 'integer', default: 4096, min: 16, max: 1000000, description: 'At most about this many depth pixels per mask are back-projected (regular subsampling).' },
    outlier_k: { type: 'number', default: 3, min: 0.5, max: 100, description: 'Depth outlier rejection: drop pixels farther than k robust sigmas (1.4826 MAD) from the median depth of the mask.' },
    min_tolerance_m: { type: 'number', default: 0.01, min: 0, max: 10, description: 'Lower bound of the outlier tolerance (m), for flat masks with a tiny MAD.' },
    extent_quantile: { type: 'number', default: 0.05, min: 0, max: 0.49, description: 'extent = per-axis range between this quantile and 1 - it.' },
    grid_size: { type: 'integer', default: 6, min: 0, max: 32, description: 'n x n correspondence grid per mask (in its principal-axis frame) for object_motion; 0 = none.' },
    min_cell_px: { type: 'integer', default: 2, min: 1, max: 10000, description: 'Fewest depth pixels in a grid cell for it to be stored.' },
    min_valid_px: { type: 'integer', default: 5, min: 1, max: 1000000, description: 'Fewest mask pixels with depth for an objects_3d row.' },
    min_score: { type: 'number', default: 0, min: 0, max: 1, description: 'Skip masks whose score is below this.' },
    skip_labels: { type: 'string[]', default: ['left_hand', 'right_hand'], description: "Mask labels that are not objects (object_masks labels hand tracks '<left|right>_hand'; hands come from hand_keypoints / hand_pose_3d)." },
    hand_source: {
      type: 'enum',
      values: ['auto', 'keypoints', 'hand_pose_3d'],
      default: 'auto',
      description: "'auto': hand_pose_3d joints where that op ran for the hand, else keypoints + depth; 'keypoints': always keypoints + depth; 'hand_pose_3d': only hand_pose_3d rows.",
    },
    hand_anchor: {
      type: 'enum',
      values: ['depth', 'cam_t'],
      default: 'depth',
      description: "hand_pose_3d joints: 'depth' = wrist placed on its pixel ray at the depth-map depth (real intrinsics), 'cam_t' = joints_cam as given (HaMeR's assumed focal).",
    },
    palm_radius_px: { type: 'integer', default: 2, min: 0, max: 50, description: 'Depth at a palm joint = median over this radius (depth pixels).' },
  },
  outputs: [OBJECTS_3D_TABLE, HANDS_3D_TABLE],
  resources: { pool: 'cpu' },
  cost(task) {
    return Math.max(1, (task.clip?.end_frame ?? 1) - (task.clip?.start_frame ?? 0));
  },
  async run(task: TaskInput<Partial<Lift3dParams>>): Promise<TaskOutput> {
    const clip = task.clip;
    if (!clip) throw new Error('lift3d is a clip-level op and needs task.clip');
    const up = task.upstream;
    const { objects, hands, stats } = lift3d(
      {
        clipId: clip.clip_id,
        fps: task.video.fps,
        depth: up.depth ?? [],
        masks: up.masks ?? [],
        hands: up.hand_keypoints ?? [],
        handPoses: up.hand_pose_3d ?? [],
      },
      task.params,
    );
    return { rows: { [OBJECTS_3D_TABLE.name]: objects, [HANDS_3D_TABLE.name]: hands }, stats };
  },
};

export default op;
