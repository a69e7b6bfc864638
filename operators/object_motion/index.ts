/**
 * object_motion: per tracked object, its 2D / 3D trajectory, speed and acceleration, total
 * displacement, moving vs static, relative 6D motion, and hand-object contact intervals; plus one
 * summary row per clip to filter on ("clips where a hand moves an object"). CPU only, reads the
 * lift3d rows (objects_3d, hands_3d). See README.md.
 */
import { rotationAngleDeg, vectorFromRotation, type Vec3 } from '../../src/geometry3d.js';
import type { OperatorSpec, Row, TableSpec, TaskInput, TaskOutput } from '../types.js';
import {
  DEFAULT_MOTION_PARAMS,
  IDENTITY,
  applyRigid,
  composeRigid,
  egoMotion,
  handObjectDistance,
  handsFromRows,
  handsNear,
  kinematics,
  medianFilter3,
  poseStep,
  tracksFromRows,
  type ContactSample,
  type MotionParams,
  type Rigid,
} from './motion.js';

export type { MotionParams } from './motion.js';

export const OBJECT_MOTION_TABLE: TableSpec = {
  name: 'object_motion',
  description: 'One row per tracked object and clip: 2D/3D trajectory, speed, acceleration, displacement, moving/static, relative 6D motion, hand contacts.',
  columns: {
    clip_id: 'VARCHAR',
    object_id: 'VARCHAR',
    label: 'VARCHAR',
    n_obs: 'INTEGER',
    first_frame: 'INTEGER',
    last_frame: 'INTEGER',
    frames: 'INTEGER[]',
    t_s: 'DOUBLE[]',
    traj_2d: 'FLOAT[]',
    traj_3d: 'FLOAT[]',
    traj_3d_ref: 'FLOAT[]',
    speed_mps: 'FLOAT[]',
    accel_mps2: 'FLOAT[]',
    path_length_m: 'FLOAT',
    displacement_m: 'FLOAT',
    max_excursion_m: 'FLOAT',
    mean_speed_mps: 'FLOAT',
    max_speed_mps: 'FLOAT',
    max_accel_mps2: 'FLOAT',
    moving_frames: 'INTEGER',
    moving: 'BOOLEAN',
    motion_class: 'VARCHAR',
    pose_rel: 'FLOAT[]',
    rotation_deg: 'FLOAT',
    max_rotation_deg: 'FLOAT',
    pose_steps: 'INTEGER',
    pose_inlier_ratio: 'FLOAT',
    ego_compensated: 'BOOLEAN',
    contact_segments: 'INTEGER',
    moved_by_hand: 'BOOLEAN',
    mean_confidence: 'FLOAT',
  },
  docs: {
    object_id: 'object track id (objects_3d / object_masks)',
    n_obs: 'observations used (objects_3d rows with confidence >= min_confidence, one per frame)',
    frames: 'frame of each observation',
    t_s: 'time of each observation (s, video time)',
    traj_2d: 'mask centroid per observation, (x, y) image pixels, flattened (null where unknown)',
    traj_3d: '3D centroid per observation, (x, y, z) m in the camera frame of that frame, flattened',
    traj_3d_ref: 'the same centroids in the camera frame of the clip\'s first observed frame (camera motion removed with ego_motion; equal to traj_3d without it), flattened',
    speed_mps: 'speed at each observation (m/s): central differences of the median-filtered traj_3d_ref',
    accel_mps2: 'acceleration magnitude at each observation (m/s^2), differences of the velocities',
    path_length_m: 'length of the median-filtered reference trajectory',
    displacement_m: 'distance between the first and last filtered positions',
    max_excursion_m: 'largest distance of a filtered position from the first one (pick-and-place-back has displacement ~0 but a large excursion)',
    mean_speed_mps: 'mean of speed_mps',
    max_speed_mps: 'max of speed_mps',
    max_accel_mps2: 'max of accel_mps2',
    moving_frames: 'observations with speed >= speed_threshold_mps',
    moving: 'max_excursion_m >= move_threshold_m (and at least min_observations observations)',
    motion_class: "'moving', 'static' or 'insufficient' (fewer than min_observations)",
    pose_rel: 'per observation 6 numbers: rotation vector (rad, axis * angle) and translation (m) of the object relative to its first observation, p_i = R p_0 + t, in the reference camera frame; from RANSAC Kabsch on the mask correspondence grids, chained over observations',
    rotation_deg: 'rotation angle of the last pose_rel (deg)',
    max_rotation_deg: 'largest rotation angle over pose_rel (deg)',
    pose_steps: 'consecutive observation pairs whose motion was estimated from the grid (others: centroid translation only)',
    pose_inlier_ratio: 'mean RANSAC inlier fraction of the estimated steps',
    ego_compensated: 'true when camera motion was estimated for at least one step of this object\'s observations',
    contact_segments: 'hand contact intervals with this object (hand_object_contacts)',
    moved_by_hand: 'the object moved at least move_threshold_m from where it was when some hand contact interval started, before it ended',
    mean_confidence: 'mean objects_3d confidence of the observations',
  },
};

export const CONTACTS_TABLE: TableSpec = {
  name: 'hand_object_contacts',
  description: 'Hand-object contact intervals: a hand joint within contact_dist_m of the object\'s 3D box (centroid +- extent/2), and a hand keypoint inside its 2D box.',
  columns: {
    clip_id: 'VARCHAR',
    object_id: 'VARCHAR',
    label: 'VARCHAR',
    hand_index: 'INTEGER',
    handedness: 'VARCHAR',
    start_frame: 'INTEGER',
    end_frame: 'INTEGER',
    start_s: 'DOUBLE',
    end_s: 'DOUBLE',
    n_obs: 'INTEGER',
    min_dist_m: 'FLOAT',
    mean_dist_m: 'FLOAT',
    object_displacement_m: 'FLOAT',
    object_max_excursion_m: 'FLOAT',
    object_moved: 'BOOLEAN',
  },
  docs: {
    hand_index: 'hand track slot (hands_3d / hand_keypoints)',
    handedness: 'most frequent handedness of the hand over the interval',
    start_frame: 'first observation in contact',
    end_frame: 'exclusive: last observation in contact + 1',
    start_s: 'start_frame / fps',
    end_s: 'end_frame / fps',
    n_obs: 'object observations in contact within the interval',
    min_dist_m: 'smallest joint-to-object-box distance over the interval (m; 0 = inside the box)',
    mean_dist_m: 'mean of that distance over the contact observations',
    object_displacement_m: 'object displacement (filtered reference trajectory) between the start and the end of the interval',
    object_max_excursion_m: 'largest distance of the object from its position at the start, within the interval',
    object_moved: 'object_max_excursion_m >= move_threshold_m: the hand moved the object',
  },
};

export const CLIP_SUMMARY_TABLE: TableSpec = {
  name: 'clip_summary',
  description: 'One row per clip with objects and hands in 3D: what moved, hand contacts; filter e.g. WHERE hand_moves_object.',
  columns: {
    clip_id: 'VARCHAR',
    objects: 'INTEGER',
    moving_objects: 'INTEGER',
    static_objects: 'INTEGER',
    moving_labels: 'VARCHAR[]',
    hands_present: 'INTEGER',
    hand_frames: 'INTEGER',
    contact_segments: 'INTEGER',
    hand_moves_object: 'BOOLEAN',
    moved_by_hand_objects: 'INTEGER',
    moved_by_hand_labels: 'VARCHAR[]',
    max_object_speed_mps: 'FLOAT',
    max_displacement_m: 'FLOAT',
    frames_3d: 'INTEGER',
    ego_steps: 'INTEGER',
    ego_compensated_steps: 'INTEGER',
  },
  docs: {
    objects: 'tracked objects with at least one usable observation',
    moving_objects: "objects with motion_class 'moving'",
    static_objects: "objects with motion_class 'static'",
    moving_labels: 'labels of the moving objects (distinct, sorted)',
    hands_present: 'distinct hand_index values in hands_3d',
    hand_frames: 'frames with at least one hand in hands_3d',
    contact_segments: 'hand_object_contacts rows of the clip',
    hand_moves_object: 'some object was moved by a hand (object_motion.moved_by_hand)',
    moved_by_hand_objects: 'objects moved by a hand',
    moved_by_hand_labels: 'their labels (distinct, sorted)',
    max_object_speed_mps: 'largest object speed in the clip (m/s)',
    max_displacement_m: 'largest object displacement (m)',
    frames_3d: 'distinct frames with objects in 3D',
    ego_steps: 'consecutive object-frame pairs',
    ego_compensated_steps: 'of those, with camera motion estimated from untouched objects',
  },
};

export function resolveParams(p: Partial<MotionParams> | undefined): MotionParams {
  const defined = Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined && v !== null));
  return { ...DEFAULT_MOTION_PARAMS, ...defined } as MotionParams;
}

const f32 = (v: ArrayLike<number>): number[] => Array.from(v, (x) => Math.fround(x));

function mostFrequent(values: Array<string | null>): string | null {
  const counts = new Map<string | null, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | null = null;
  let n = -1;
  for (const [v, c] of counts) if (c > n) [best, n] = [v, c];
  return best;
}

export interface MotionInput {
  clipId: string;
  fps: number;
  objects: readonly Row[];
  hands: readonly Row[];
}

export interface MotionOutput {
  objectMotion: Row[];
  contacts: Row[];
  summary: Row;
  stats: Record<string, number>;
}

/** Everything object_motion does, on rows. */
export function analyzeMotion(input: MotionInput, params: Partial<MotionParams>): MotionOutput {
  const p = resolveParams(params);
  const fps = input.fps > 0 ? input.fps : 30;
  const t0 = performance.now();
  const own = (r: Row) => r.clip_id === undefined || r.clip_id === input.clipId;
  const tracks = tracksFromRows(input.objects.filter(own), fps, p.min_confidence);
  const hands = handsFromRows(input.hands.filter(own));
  const handFrames = [...hands.keys()].sort((a, b) => a - b);
  const handGap = p.hand_match_gap_s * fps;

  // 1. contact samples per object observation (camera frame of that frame: no ego-motion needed)
  const samples = new Map<string, ContactSample[]>();
  const contactFrames = new Map<string, Set<number>>();
  for (const tr of tracks) {
    const list: ContactSample[] = [];
    const set = new Set<number>();
    tr.obs.forEach((o, k) => {
      for (const h of handsNear(hands, handFrames, o.frame, handGap)) {
        const { dist, in2d } = handObjectDistance(h, o, p);
        const contact = dist <= p.contact_dist_m && (!p.contact_require_2d || in2d !== false);
        list.push({ frame: o.frame, obsIndex: k, handIndex: h.handIndex, handedness: h.handedness, dist, contact });
        if (contact) set.add(o.frame);
      }
    });
    samples.set(tr.objectId, list);
    contactFrames.set(tr.objectId, set);
  }

  // 2. camera motion from untouched objects
  const ego = p.ego_motion === 'scene_objects' ? egoMotion(tracks, contactFrames, p) : null;
  const toRef = (frame: number): Rigid => ego?.toRef.get(frame) ?? IDENTITY;

  const objectMotion: Row[] = [];
  const contacts: Row[] = [];
  let maxSpeed = 0;
  let maxDisp = 0;
  for (const tr of tracks) {
    const n = tr.obs.length;
    const frames = tr.obs.map((o) => o.frame);
    const times = tr.obs.map((o) => o.t);
    const raw = tr.obs.map((o) => o.centroid);
    const ref = tr.obs.map((o) => applyRigid(toRef(o.frame), o.centroid));
    const smooth = medianFilter3(ref, p.smooth_window);
    const { speed, accel } = kinematics(smooth, times);
    let path = 0;
    let excursion = 0;
    for (let i = 1; i < n; i++) path += Math.hypot(smooth[i][0] - smooth[i - 1][0], smooth[i][1] - smooth[i - 1][1], smooth[i][2] - smooth[i - 1][2]);
    for (let i = 0; i < n; i++) excursion = Math.max(excursion, Math.hypot(smooth[i][0] - smooth[0][0], smooth[i][1] - smooth[0][1], smooth[i][2] - smooth[0][2]));
    const disp = n ? Math.hypot(smooth[n - 1][0] - smooth[0][0], smooth[n - 1][1] - smooth[0][1], smooth[n - 1][2] - smooth[0][2]) : 0;
    const enough = n >= p.min_observations;
    const moving = enough && excursion >= p.move_threshold_m;
    const motionClass = !enough ? 'insufficient' : moving ? 'moving' : 'static';
    const movingFrames = speed.filter((s) => s >= p.speed_threshold_mps).length;

    // relative 6D motion, chained over consecutive observations, in reference coordinates
    const pose: number[] = [0, 0, 0, 0, 0, 0];
    let T: Rigid = IDENTITY;
    let steps = 0;
    let inlierSum = 0;
    let maxRot = 0;
    const toRefPts = (k: number) => {
      const o = tr.obs[k];
      const G = toRef(o.frame);
      const pts: number[] = [];
      for (let i = 0; i < o.gridIdx.length; i++) pts.push(...applyRigid(G, o.gridPts, i * 3));
      return { idx: o.gridIdx, pts, n: o.gridSize, centroid: ref[k] };
    };
    let prev = n ? toRefPts(0) : null;
    for (let k = 1; k < n; k++) {
      const cur = toRefPts(k);
      const step = poseStep(prev!, cur, p, seedOf(tr.objectId) + k);
      if (step.estimated) {
        steps++;
        inlierSum += step.inliers / step.matches;
      }
      T = composeRigid(step.T, T);
      const w = vectorFromRotation(T.R);
      pose.push(w[0], w[1], w[2], T.t[0], T.t[1], T.t[2]);
      maxRot = Math.max(maxRot, rotationAngleDeg(T.R));
      prev = cur;
    }

    // contact intervals per hand
    let segments = 0;
    let movedByHand = false;
    const byHand = new Map<number, ContactSample[]>();
    for (const s of samples.get(tr.objectId) ?? []) {
      const l = byHand.get(s.handIndex) ?? [];
      l.push(s);
      byHand.set(s.handIndex, l);
    }
    const maxGapFrames = p.contact_max_gap_s * fps;
    for (const [handIndex, list] of [...byHand.entries()].sort((a, b) => a[0] - b[0])) {
      const hits = list.filter((s) => s.contact).sort((a, b) => a.frame - b.frame);
      const groups: ContactSample[][] = [];
      for (const h of hits) {
        const g = groups[groups.length - 1];
        if (g && h.frame - g[g.length - 1].frame <= maxGapFrames + 1e-9) g.push(h);
        else groups.push([h]);
      }
      for (const g of groups) {
        if (g.length < p.min_contact_frames) continue;
        const a = g[0].obsIndex;
        const b = g[g.length - 1].obsIndex;
        let exc = 0;
        for (let k = a; k <= b; k++) exc = Math.max(exc, Math.hypot(smooth[k][0] - smooth[a][0], smooth[k][1] - smooth[a][1], smooth[k][2] - smooth[a][2]));
        const objDisp = Math.hypot(smooth[b][0] - smooth[a][0], smooth[b][1] - smooth[a][1], smooth[b][2] - smooth[a][2]);
        const moved = exc >= p.move_threshold_m;
        movedByHand ||= moved;
        segments++;
        const startFrame = g[0].frame;
        const endFrame = g[g.length - 1].frame + 1;
        contacts.push({
          clip_id: input.clipId,
          object_id: tr.objectId,
          label: tr.label,
          hand_index: handIndex,
          handedness: mostFrequent(g.map((s) => s.handedness)),
          start_frame: startFrame,
          end_frame: endFrame,
          start_s: startFrame / fps,
          end_s: endFrame / fps,
          n_obs: g.length,
          min_dist_m: Math.min(...g.map((s) => s.dist)),
          mean_dist_m: g.reduce((s, x) => s + x.dist, 0) / g.length,
          object_displacement_m: objDisp,
          object_max_excursion_m: exc,
          object_moved: moved,
        });
      }
    }

    const maxS = speed.length ? Math.max(...speed) : 0;
    maxSpeed = Math.max(maxSpeed, maxS);
    maxDisp = Math.max(maxDisp, disp);
    const egoUsed = !!ego && frames.some((f, i) => i > 0 && !sameRigid(ego.toRef.get(f), ego.toRef.get(frames[i - 1])));
    objectMotion.push({
      clip_id: input.clipId,
      object_id: tr.objectId,
      label: tr.label,
      n_obs: n,
      first_frame: frames[0],
      last_frame: frames[n - 1],
      frames,
      t_s: times,
      traj_2d: f32(tr.obs.flatMap((o) => o.c2d ?? [NaN, NaN])),
      traj_3d: f32(raw.flat()),
      traj_3d_ref: f32(ref.flat()),
      speed_mps: f32(speed),
      accel_mps2: f32(accel),
      path_length_m: path,
      displacement_m: disp,
      max_excursion_m: excursion,
      mean_speed_mps: speed.length ? speed.reduce((s, x) => s + x, 0) / speed.length : 0,
      max_speed_mps: maxS,
      max_accel_mps2: accel.length ? Math.max(...accel) : 0,
      moving_frames: movingFrames,
      moving,
      motion_class: motionClass,
      pose_rel: f32(pose),
      rotation_deg: n > 1 ? rotationAngleDeg(T.R) : 0,
      max_rotation_deg: maxRot,
      pose_steps: steps,
      pose_inlier_ratio: steps ? inlierSum / steps : null,
      ego_compensated: egoUsed,
      contact_segments: segments,
      moved_by_hand: movedByHand,
      mean_confidence: tr.obs.reduce((s, o) => s + o.confidence, 0) / Math.max(1, n),
    });
  }

  const moving = objectMotion.filter((o) => o.motion_class === 'moving');
  const movedBy = objectMotion.filter((o) => o.moved_by_hand);
  const labels = (rows: Row[]) => [...new Set(rows.map((o) => o.label).filter((l): l is string => typeof l === 'string'))].sort();
  const handIdx = new Set<number>();
  for (const l of hands.values()) for (const h of l) handIdx.add(h.handIndex);
  const summary: Row = {
    clip_id: input.clipId,
    objects: objectMotion.length,
    moving_objects: moving.length,
    static_objects: objectMotion.filter((o) => o.motion_class === 'static').length,
    moving_labels: labels(moving),
    hands_present: handIdx.size,
    hand_frames: hands.size,
    contact_segments: contacts.length,
    hand_moves_object: movedBy.length > 0,
    moved_by_hand_objects: movedBy.length,
    moved_by_hand_labels: labels(movedBy),
    max_object_speed_mps: maxSpeed,
    max_displacement_m: maxDisp,
    frames_3d: new Set(tracks.flatMap((t) => t.obs.map((o) => o.frame))).size,
    ego_steps: ego?.steps ?? 0,
    ego_compensated_steps: ego?.compensated ?? 0,
  };
  const stats = {
    objects: objectMotion.length,
    moving_objects: moving.length,
    contact_segments: contacts.length,
    object_rows: input.objects.length,
    hand_rows: input.hands.length,
    motion_ms: performance.now() - t0,
  };
  return { objectMotion, contacts, summary, stats };
}

/** A small deterministic seed from an object id (RANSAC reproducibility). */
function seedOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (h >>> 0) % 1000003;
}

function sameRigid(a: Rigid | undefined, b: Rigid | undefined): boolean {
  const x = a ?? IDENTITY;
  const y = b ?? IDENTITY;
  return x.R.every((v, i) => Math.abs(v - y.R[i]) < 1e-12) && x.t.every((v, i) => Math.abs(v - (y.t as Vec3)[i]) < 1e-12);
}

export const op: OperatorSpec<Partial<MotionParams>> = {
  name: 'object_motion',
  description: 'Per tracked object: 2D/3D trajectories, speed/acceleration, displacement, moving/static, relative 6D motion (RANSAC Kabsch), hand-object contact intervals; one summary row per clip.',
  level: 'clip',
  needs: ['lift3d'],
  params: {
    min_confidence: { type: 'number', default: 0.2, min: 0, max: 1, description: 'objects_3d rows below this confidence are ignored.' },
    min_observations: { type: 'integer', default: 3, min: 1, max: 100000, description: "Fewer observations: motion_class 'insufficient'." },
    smooth_window: { type: 'integer', default: 3, min: 1, max: 99, description: 'Running median over this many observations (per axis) before speeds and displacements (1 = none).' },
    move_threshold_m: { type: 'number', default: 0.05, min: 0, max: 100, description: "An object is 'moving' when its filtered position gets at least this far (m) from where it started." },
    speed_threshold_mps: { type: 'number', default: 0.05, min: 0, max: 100, description: 'Observations at or above this speed (m/s) count in moving_frames.' },
    contact_dist_m: { type: 'number', default: 0.03, min: 0, max: 10, description: 'Contact: some hand joint within this distance (m) of the object\'s 3D box (centroid +- extent / 2).' },
    contact_joints: { type: 'enum', values: ['all', 'fingertips'], default: 'all', description: 'Joints tested for contact: all 21, or the 5 fingertips.' },
    contact_require_2d: { type: 'boolean', default: true, description: "Also require a tested hand keypoint inside the object's 2D box (bbox widened by contact_bbox_margin) when both are known." },
    contact_bbox_margin: { type: 'number', default: 0.15, min: 0, max: 10, description: 'Widening of the object 2D box on each side, as a fraction of its size.' },
    hand_match_gap_s: { type: 'number', default: 0.1, min: 0, max: 10, description: 'Hands are matched to an object observation from the nearest hands_3d frame within this many seconds.' },
    contact_max_gap_s: { type: 'number', default: 0.5, min: 0, max: 100, description: 'Contact observations closer than this (s) belong to the same interval.' },
    min_contact_frames: { type: 'integer', default: 2, min: 1, max: 100000, description: 'Intervals with fewer contact observations are dropped.' },
    ego_motion: {
      type: 'enum',
      values: ['scene_objects', 'none'],
      default: 'scene_objects',
      description: "'scene_objects': estimate camera motion between observation frames from the objects no hand touches (the rigid motion under which most of them are static; RANSAC Kabsch on their grid points) and remove it; 'none': trajectories in each frame's camera frame.",
    },
    ego_min_points: { type: 'integer', default: 12, min: 3, max: 100000, description: 'Fewest inlier points for a camera-motion step; fewer = camera assumed still for that step.' },
    ego_min_objects: { type: 'integer', default: 2, min: 1, max: 1000, description: 'A moving camera is accepted only when at least this many untouched objects are static under it (1 trusts a single untouched object to be static).' },
    ransac_threshold_m: { type: 'number', default: 0.02, min: 0.0001, max: 10, description: 'RANSAC inlier distance (m) for object and camera motion.' },
    min_pose_points: { type: 'integer', default: 6, min: 3, max: 10000, description: 'Fewest matching grid cells (and inliers) for an object pose step.' },
  },
  outputs: [OBJECT_MOTION_TABLE, CONTACTS_TABLE, CLIP_SUMMARY_TABLE],
  resources: { pool: 'cpu' },
  cost(task) {
    return Math.max(1, (task.clip?.end_frame ?? 1) - (task.clip?.start_frame ?? 0));
  },
  async run(task: TaskInput<Partial<MotionParams>>): Promise<TaskOutput> {
    const clip = task.clip;
    if (!clip) throw new Error('object_motion is a clip-level op and needs task.clip');
    const { objectMotion, contacts, summary, stats } = analyzeMotion(
      { clipId: clip.clip_id, fps: task.video.fps, objects: task.upstream.objects_3d ?? [], hands: task.upstream.hands_3d ?? [] },
      task.params,
    );
    return { rows: { [OBJECT_MOTION_TABLE.name]: objectMotion, [CONTACTS_TABLE.name]: contacts, [CLIP_SUMMARY_TABLE.name]: [summary] }, stats };
  },
};

export default op;
