/**
 * retarget: human hand keypoints -> robot hand joint angles, per clip, with the dex-retargeting
 * style library in this folder (see README.md).
 *
 * Input, per clip:
 * - `hand_keypoints` rows (needed): 21 landmarks per hand and frame. `kp3d_rel` is x, y in image
 *   pixels and z the model's relative depth in the same pixel scale. Image axes (x right, y down,
 *   z away from the camera) form a right-handed frame, the OpenCV camera frame, so the hand's
 *   chirality is kept: no axis is flipped. The pixels become metres by one isotropic scale per
 *   frame, chosen so that the wrist -> middle-MCP distance (keypoints 0 -> 9, in 3D) equals
 *   `hand_size_m`. This is an APPROXIMATION. The real hand size is unknown. The model's z is only a
 *   relative depth, and the view is treated as orthographic (no perspective inside the hand).
 *   Vector and DexPilot retargeting compare the directions and lengths of wrist -> fingertip
 *   vectors, so a hand-size error scales those vectors and shows up as a residual, not a wrong pose.
 * - `hand_pose_3d` rows (read when the op is in the recipe): metric camera-frame joints
 *   (`joints_cam`, metres, OpenCV axes). They are used as they are, in place of the keypoints, for
 *   every (frame, hand_index) that has one. A row whose handedness differs from its track's
 *   handedness is ignored: it was computed on a mirrored crop.
 *
 * Per frame: `toOperatorFrame(joints, handedness)` (MediaPipe -> MANO wrist frame, dex-retargeting's
 * SingleHandDetector), then `Retargeter.retarget`.
 *
 * Tracks: rows are grouped by `hand_index` and split where a gap is longer than `max_gap_frames`
 * processed frames. The processed-frame step is the smallest frame difference in the clip's rows,
 * which is > 1 when hand_keypoints ran with sample_fps. Each track piece runs through each robot in
 * frame order. The warm start and the low-pass filter carry over from one frame to the next, and
 * `reset()` runs at the start of every piece.
 *
 * Handedness: hand_keypoints gives a per-frame label, and on occluded hands it can flip for single
 * frames. So each track piece gets one label, a vote of the per-frame P(right) weighted by
 * handedness_score. Every row of the piece is written with that label. A robot's handedness comes
 * from its config file name, or else from its URDF file name (a `left` / `right` token, e.g.
 * allegro_hand_left.yml). A config with neither token (e.g. panda_gripper.yml) takes both hands.
 * Right hands go only to right and 'both' robots, left hands only to left and 'both' robots. The
 * operator-frame conversion always uses the hand's own handedness. In that frame a left hand is the
 * mirror image (y -> -y) of a right hand, which is how the shipped left URDFs are built (see
 * README.md, "Left hands").
 *
 * Paths: `robots` (config .yml files) and `urdf_dir` are resolved against the current working
 * directory when they are relative. Each config's `urdf_path` is relative to `urdf_dir`, as in
 * dex-retargeting. At run time the op reads only these paths. A recipe points them at the folders
 * that `egopipe models pull retargeting_configs robot_hands` fetches (robots/retargeting and
 * robots/hands).
 */
import path from 'node:path';
import fs from 'node:fs';
import { isAssetRef, resolveAssetRef } from '../../src/models.js';
import { PermanentError, toNumbers, type OperatorSpec, type Row, type TableSpec, type TaskInput, type TaskOutput } from '../types.js';
import { ConfigError, loadRetargetingConfig, type RetargetingConfig } from './config.js';
import { toOperatorFrame, type Handedness } from './mano.js';
import { Retargeter } from './retargeter.js';

export interface RetargetParams {
  /** dex-retargeting config files (.yml), one robot each */
  robots: string[];
  /** folder the configs' urdf_path is relative to */
  urdf_dir: string;
  /** wrist -> middle MCP length (m) that pixel keypoints are scaled to */
  hand_size_m: number;
  /** hand_keypoints rows below this presence are skipped */
  min_presence: number;
  /** a track continues over at most this many missing processed frames; a longer gap resets it */
  max_gap_frames: number;
  /** use hand_pose_3d's metric joints when the recipe has that op */
  use_hand_pose_3d: boolean;
}

/**
 * Default wrist -> middle-MCP length, 0.095 m. Adult hand length (wrist crease to the tip of the
 * middle finger) averages about 19 cm for men and 17 cm for women, so about 18 cm overall. The
 * middle finger from its MCP joint centre to the tip (proximal + middle + distal phalanx and the
 * pulp) is about 9 cm. That leaves about 9 cm from the wrist crease to the MCP joint. MediaPipe's
 * wrist landmark sits slightly proximal of the crease. The recorded MediaPipe world landmarks of
 * dex-retargeting's example (human_joint_right.json) have a median 0 -> 9 distance of 9.7 cm
 * (range 8.1-11.1 cm over 621 frames). 9.5 cm sits between the two estimates.
 */
export const DEFAULT_HAND_SIZE_M = 0.095;

export const DEFAULT_PARAMS: Omit<RetargetParams, 'robots' | 'urdf_dir'> = {
  hand_size_m: DEFAULT_HAND_SIZE_M,
  min_presence: 0.5,
  max_gap_frames: 3,
  use_hand_pose_3d: true,
};

export { toNumbers };

export const robotJointsTable: TableSpec = {
  name: 'robot_joints',
  description: 'Robot hand joint values per hand, frame and robot, retargeted from the human hand keypoints (dex-retargeting style).',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    t_s: 'DOUBLE',
    hand_index: 'INTEGER',
    handedness: 'VARCHAR',
    robot: 'VARCHAR',
    joint_names: 'VARCHAR[]',
    q: 'DOUBLE[]',
    residual: 'DOUBLE',
    source: 'VARCHAR',
  },
  docs: {
    clip_id: 'clip of the hand (joins hand_keypoints on clip_id, frame, hand_index)',
    frame: '0-based frame number in the video',
    t_s: 'seconds from the start of the video (from hand_keypoints)',
    hand_index: 'track slot of the hand, from hand_keypoints',
    handedness: "'left' or 'right': one label per track piece, a vote over its frames (per-frame labels can flip)",
    robot: 'config file name without extension, e.g. allegro_hand_right or allegro_hand_right_dexpilot',
    joint_names: "every movable joint of the robot (mimic joints included), in q's order",
    q: 'joint values, rad (revolute) or m (prismatic), low-pass filtered as in dex-retargeting',
    residual: "the optimizer's task loss at the solution (Huber cost, without the smoothness term); lower is better, comparable within one robot",
    source: "'hand_keypoints' (pixel keypoints scaled to hand_size_m) or 'hand_pose_3d' (metric joints)",
  },
};

// ---------------------------------------------------------------------------------------------
// params
// ---------------------------------------------------------------------------------------------

export function resolveParams(p: Partial<RetargetParams>): RetargetParams {
  const defined = Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined && v !== null));
  return { robots: [], urdf_dir: '', ...DEFAULT_PARAMS, ...defined } as RetargetParams;
}

export type RobotHandedness = Handedness | 'both';

/** 'left' / 'right' from a `left` / `right` token in the first name that has exactly one of them, else 'both'. */
export function inferRobotHandedness(...names: string[]): RobotHandedness {
  for (const n of names) {
    const tokens = path.basename(n).replace(/\.[^.]*$/, '').toLowerCase().split(/[^a-z0-9]+/);
    const l = tokens.includes('left');
    const r = tokens.includes('right');
    if (l !== r) return l ? 'left' : 'right';
  }
  return 'both';
}

/** Robot name written to the table: the config's file name without its extension. */
export function robotName(configPath: string): string {
  return path.basename(configPath).replace(/\.ya?ml$/i, '');
}

export interface LoadedRobot {
  name: string;
  configPath: string;
  handedness: RobotHandedness;
  config: RetargetingConfig;
}

/** Parsed configs (with their URDFs) per worker, keyed by absolute config path + URDF dir. */
const configCache = new Map<string, RetargetingConfig>();

/** Load (or reuse) the configs of `robots`. Throws ConfigError with the file and field. */
export function loadRobots(p: Pick<RetargetParams, 'robots' | 'urdf_dir'>): LoadedRobot[] {
  const urdfDir = path.resolve(p.urdf_dir);
  return p.robots.map((c) => {
    const configPath = path.resolve(c);
    const key = configPath + '\0' + urdfDir;
    let config = configCache.get(key);
    if (!config) {
      config = loadRetargetingConfig(configPath, urdfDir);
      configCache.set(key, config);
    }
    return { name: robotName(configPath), configPath, handedness: inferRobotHandedness(configPath, config.urdfPath), config };
  });
}

function validateParams(params: Partial<RetargetParams>): string[] {
  const errors: string[] = [];
  const p = resolveParams(params);
  // `asset:` references are checked when they are pulled (resolveModels), before the run starts
  if ([p.urdf_dir, ...(Array.isArray(p.robots) ? p.robots : [])].some((x) => isAssetRef(x))) return errors;
  if (!Array.isArray(p.robots) || p.robots.length === 0 || p.robots.some((r) => typeof r !== 'string' || !r)) {
    errors.push(
      'robots: must be a non-empty list of dex-retargeting config files (.yml), e.g. [models/robots/retargeting/teleop/allegro_hand_right.yml]',
    );
    return errors;
  }
  if (typeof p.urdf_dir !== 'string' || !p.urdf_dir) {
    errors.push('urdf_dir: must be the folder the configs\' urdf_path is relative to (e.g. models/robots/hands from `egopipe models pull robot_hands`)');
    return errors;
  }
  const urdfDir = path.resolve(p.urdf_dir);
  if (!fs.existsSync(urdfDir) || !fs.statSync(urdfDir).isDirectory()) {
    errors.push(`urdf_dir: ${urdfDir} is not a folder. Fix: run \`egopipe models pull robot_hands\` and point urdf_dir at its robots/hands folder`);
    return errors;
  }
  const names = new Map<string, string>();
  p.robots.forEach((c, i) => {
    const file = path.resolve(c);
    if (!fs.existsSync(file)) {
      errors.push(
        `robots[${i}]: config ${file} does not exist (relative paths are resolved against the working directory ${process.cwd()}). ` +
          'Fix: run `egopipe models pull retargeting_configs` and use a file under its robots/retargeting folder',
      );
      return;
    }
    const name = robotName(file);
    const prev = names.get(name);
    if (prev) errors.push(`robots[${i}]: robot name '${name}' is already used by ${prev}; rename one of the config files`);
    names.set(name, file);
    try {
      loadRobots({ robots: [file], urdf_dir: urdfDir });
    } catch (e) {
      // ConfigError (bad YAML, unknown key, missing link ...) or UrdfError / XmlError from the URDF
      errors.push(`robots[${i}]: ${e instanceof ConfigError ? '' : 'cannot load: '}${(e as Error).message}`);
    }
  });
  if (!(p.hand_size_m > 0)) errors.push(`hand_size_m: must be > 0 metres (got ${String(p.hand_size_m)})`);
  return errors;
}

// ---------------------------------------------------------------------------------------------
// keypoints
// ---------------------------------------------------------------------------------------------


/**
 * Pixel keypoints (21 x (x, y, z), z in x's pixel scale) -> metres with the wrist at the origin,
 * scaled so that |p9 - p0| = handSizeM. Null when the input is not 63 finite numbers or the wrist
 * and the middle MCP coincide.
 */
export function pixelKeypointsToMetres(kp3d: ArrayLike<number>, handSizeM: number): Float64Array | null {
  if (kp3d.length < 63) return null;
  for (let i = 0; i < 63; i++) if (!Number.isFinite(kp3d[i])) return null;
  const d = Math.hypot(kp3d[27] - kp3d[0], kp3d[28] - kp3d[1], kp3d[29] - kp3d[2]);
  if (!(d > 1e-6)) return null;
  const s = handSizeM / d;
  const out = new Float64Array(63);
  for (let p = 0; p < 21; p++) {
    for (let c = 0; c < 3; c++) out[3 * p + c] = (kp3d[3 * p + c] - kp3d[c]) * s;
  }
  return out;
}

function finite63(v: unknown): Float64Array | null {
  const a = toNumbers(v);
  if (!a || a.length < 63) return null;
  const out = Float64Array.from(a.slice(0, 63));
  return out.every(Number.isFinite) ? out : null;
}

function parseHand(h: unknown): Handedness | null {
  if (typeof h !== 'string') return null;
  const s = h.trim().toLowerCase();
  return s === 'right' || s === 'left' ? s : null;
}

/** One usable hand observation of the clip. */
interface Obs {
  frame: number;
  t_s: number | null;
  hand_index: number;
  /** P(right) from this frame's label and score */
  pRight: number;
  weight: number;
  row: Row;
}

/** Track pieces: rows of one hand_index, in frame order, split at gaps longer than maxGap processed frames. */
export function splitTracks<T extends { frame: number; hand_index: number }>(obs: readonly T[], maxGapFrames: number): T[][] {
  const frames = [...new Set(obs.map((o) => o.frame))].sort((a, b) => a - b);
  let step = Infinity;
  for (let i = 1; i < frames.length; i++) step = Math.min(step, frames[i] - frames[i - 1]);
  if (!Number.isFinite(step) || step < 1) step = 1;
  const byIndex = new Map<number, T[]>();
  for (const o of obs) {
    const a = byIndex.get(o.hand_index);
    if (a) a.push(o);
    else byIndex.set(o.hand_index, [o]);
  }
  const pieces: T[][] = [];
  for (const idx of [...byIndex.keys()].sort((a, b) => a - b)) {
    const list = byIndex.get(idx)!.sort((a, b) => a.frame - b.frame);
    let cur: T[] = [];
    for (const o of list) {
      const prev = cur[cur.length - 1];
      // a duplicate (frame, hand_index) row is dropped; a gap of more than maxGap missing steps starts a new piece
      if (prev && o.frame === prev.frame) continue;
      if (prev && o.frame - prev.frame > (maxGapFrames + 1) * step) {
        pieces.push(cur);
        cur = [];
      }
      cur.push(o);
    }
    if (cur.length) pieces.push(cur);
  }
  return pieces;
}

export interface RetargetClipResult {
  rows: Row[];
  stats: Record<string, number>;
}

/**
 * Retarget the hand_keypoints rows of one clip (optionally with hand_pose_3d rows) onto each robot.
 * `robots` come from loadRobots(). Rows are sorted by frame, hand_index, robot.
 */
export function retargetClip(
  clipId: string,
  fps: number,
  handRows: readonly Row[],
  pose3dRows: readonly Row[],
  robots: readonly LoadedRobot[],
  params: RetargetParams,
): RetargetClipResult {
  const stats: Record<string, number> = {
    hands_in: handRows.length,
    skipped_presence: 0,
    skipped_keypoints: 0,
    skipped_handedness: 0,
    skipped_frame: 0,
    tracks: 0,
    rows: 0,
    from_hand_pose_3d: 0,
    solve_ms: 0,
  };
  const obs: Obs[] = [];
  for (const row of handRows) {
    const hand = parseHand(row.handedness);
    if (!hand) {
      stats.skipped_handedness++;
      continue;
    }
    const presence = row.presence == null ? 1 : Number(row.presence);
    if (!(presence >= params.min_presence)) {
      stats.skipped_presence++;
      continue;
    }
    const score = row.handedness_score == null ? 1 : Math.min(1, Math.max(0, Number(row.handedness_score)));
    const s = Number.isFinite(score) ? score : 0.5;
    const frame = Number(row.frame);
    const t = row.t_s == null ? null : Number(row.t_s);
    obs.push({
      frame,
      t_s: Number.isFinite(t) ? t : fps > 0 ? frame / fps : null,
      hand_index: Number(row.hand_index ?? 0),
      pRight: hand === 'right' ? s : 1 - s,
      weight: Math.max(1e-3, Math.abs(2 * s - 1)),
      row,
    });
  }
  const metric = new Map<string, { hand: Handedness | null; joints: Float64Array }>();
  if (params.use_hand_pose_3d) {
    for (const r of pose3dRows) {
      const j = finite63(r.joints_cam);
      if (j) metric.set(`${Number(r.frame)}\0${Number(r.hand_index ?? 0)}`, { hand: parseHand(r.handedness), joints: j });
    }
  }

  interface Prepared {
    o: Obs;
    joints: Float64Array;
    source: 'hand_keypoints' | 'hand_pose_3d';
  }
  const out: Row[] = [];
  const t0 = performance.now();
  // fresh Retargeters per call (cheap next to the parsed config): warm start and filter state never
  // leak between clips or between concurrent tasks of one worker
  const retargeters = new Map<LoadedRobot, Retargeter>();
  const retargeterOf = (r: LoadedRobot) => {
    let rt = retargeters.get(r);
    if (!rt) retargeters.set(r, (rt = new Retargeter(r.config)));
    return rt;
  };
  for (const piece of splitTracks(obs, params.max_gap_frames)) {
    let num = 0, den = 0;
    for (const o of piece) {
      num += o.weight * o.pRight;
      den += o.weight;
    }
    const hand: Handedness = num / den >= 0.5 ? 'right' : 'left';
    const targets = robots.filter((r) => r.handedness === 'both' || r.handedness === hand);
    if (!targets.length) continue;
    // operator-frame joints of every frame of the piece (once, shared by the robots)
    const prepared: Prepared[] = [];
    for (const o of piece) {
      const m = metric.get(`${o.frame}\0${o.hand_index}`);
      let src: Float64Array | null = null;
      let source: Prepared['source'] = 'hand_keypoints';
      if (m && (m.hand === null || m.hand === hand)) {
        src = m.joints;
        source = 'hand_pose_3d';
      } else {
        const kp = toNumbers(o.row.kp3d_rel);
        src = kp ? pixelKeypointsToMetres(kp, params.hand_size_m) : null;
      }
      if (!src) {
        stats.skipped_keypoints++;
        continue;
      }
      try {
        prepared.push({ o, joints: toOperatorFrame(src, hand).joints, source });
      } catch {
        stats.skipped_frame++; // degenerate palm (collinear wrist / MCPs)
      }
    }
    if (!prepared.length) continue;
    stats.tracks++;
    for (const robot of targets) {
      const rt = retargeterOf(robot);
      rt.reset();
      for (const p of prepared) {
        const r = rt.retarget(p.joints);
        out.push({
          clip_id: clipId,
          frame: p.o.frame,
          t_s: p.o.t_s,
          hand_index: p.o.hand_index,
          handedness: hand,
          robot: robot.name,
          joint_names: rt.jointNames,
          q: Array.from(r.q),
          residual: r.residual,
          source: p.source,
        });
        if (p.source === 'hand_pose_3d') stats.from_hand_pose_3d++;
      }
    }
  }
  stats.solve_ms = Math.round(performance.now() - t0);
  out.sort((a, b) =>
    (a.frame as number) - (b.frame as number) || (a.hand_index as number) - (b.hand_index as number) || String(a.robot).localeCompare(String(b.robot)),
  );
  stats.rows = out.length;
  return { rows: out, stats };
}

// ---------------------------------------------------------------------------------------------
// the op
// ---------------------------------------------------------------------------------------------

export interface RetargetState {
  robots: LoadedRobot[];
}

export const op: OperatorSpec<Partial<RetargetParams>, RetargetState> = {
  name: 'retarget',
  description:
    'Human hand keypoints -> robot hand joint angles per frame (dex-retargeting configs and URDFs; vector, position or DexPilot optimisation, warm-started and low-pass filtered along each hand track).',
  level: 'clip',
  needs: ['hand_keypoints'],
  reads: ['hand_pose_3d'],
  params: {
    robots: {
      type: 'string[]',
      description:
        'dex-retargeting config files (.yml), one robot each, e.g. models/robots/retargeting/teleop/allegro_hand_right.yml (`egopipe models pull retargeting_configs`). ' +
        'A `left` / `right` token in the file name (or else the URDF name) picks the hands it gets; neither = both hands. Relative paths: against the working directory.',
      required: true,
    },
    urdf_dir: {
      type: 'string',
      description: "Folder the configs' urdf_path is relative to, e.g. models/robots/hands (`egopipe models pull robot_hands`). Relative: against the working directory.",
      required: true,
    },
    hand_size_m: {
      type: 'number',
      description:
        'Wrist -> middle-finger MCP distance (m) that pixel keypoints are scaled to (an approximation; metric hand_pose_3d joints are used as they are). 0.095 is a typical adult hand.',
      default: DEFAULT_HAND_SIZE_M,
      min: 0.03,
      max: 0.3,
    },
    min_presence: {
      type: 'number',
      description: 'Skip hand_keypoints rows whose presence is below this.',
      default: 0.5,
      min: 0,
      max: 1,
    },
    max_gap_frames: {
      type: 'integer',
      description: 'A hand track keeps its warm start and filter over at most this many missing processed frames; a longer gap starts afresh.',
      default: 3,
      min: 0,
      max: 1000,
    },
    use_hand_pose_3d: {
      type: 'boolean',
      description: "Use hand_pose_3d's metric joints (when that op is in the recipe) instead of the scaled pixel keypoints.",
      default: true,
    },
  },
  outputs: [robotJointsTable],
  resources: { pool: 'cpu' },
  validate: validateParams,
  async resolveModels(params) {
    const p = resolveParams(params);
    const resolved = {
      ...params,
      urdf_dir: await resolveAssetRef(p.urdf_dir),
      robots: await Promise.all(p.robots.map((r) => resolveAssetRef(r))),
    };
    const errors = validateParams(resolved);
    if (errors.length) throw new PermanentError(`retarget: ${errors.join('; ')}`);
    return { params: resolved, files: resolved.robots.map((r) => ({ name: robotName(r), path: r })) };
  },
  setup(params) {
    const p = resolveParams(params);
    try {
      return { robots: loadRobots(p) };
    } catch (e) {
      // a missing or broken config / URDF: a retry cannot fix it
      throw new PermanentError(`retarget: ${(e as Error).message}`);
    }
  },
  cost(task) {
    const start = task.clip?.start_frame ?? 0;
    const end = task.clip?.end_frame ?? task.video.frame_count;
    const n = Array.isArray(task.params?.robots) ? task.params.robots.length : 1;
    return Math.max(0, end - start) * Math.max(1, n);
  },
  async run(task: TaskInput<Partial<RetargetParams>>, ctx): Promise<TaskOutput> {
    const p = resolveParams(task.params);
    const robots = (ctx.state ?? (op.setup!(task.params) as RetargetState)).robots;
    const clipId = task.clip?.clip_id ?? task.video.video_id;
    const { rows, stats } = retargetClip(
      clipId,
      task.video.fps,
      task.upstream.hand_keypoints ?? [],
      task.upstream.hand_pose_3d ?? [],
      robots,
      p,
    );
    return { rows: { robot_joints: rows }, stats: { ...stats, frames: new Set(rows.map((r) => r.frame)).size } };
  },
};
