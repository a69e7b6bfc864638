/**
 * Object motion analysis on lift3d rows: per-object trajectories (2D, 3D, camera-motion
 * compensated), speed / acceleration, moving vs static, relative 6D motion from the mask
 * correspondence grids (RANSAC Kabsch), and hand-object contact intervals. Pure functions.
 */
import {
  distance,
  kabsch,
  mat3Identity,
  mat3Mul,
  mat3MulVec,
  mat3Transpose,
  median,
  ransacAlign,
  rotationAngleDeg,
  type Mat3,
  type Vec3,
} from '../../src/geometry3d.js';
import { toNumbers, type Row } from '../types.js';

export interface MotionParams {
  min_confidence: number;
  min_observations: number;
  smooth_window: number;
  move_threshold_m: number;
  speed_threshold_mps: number;
  contact_dist_m: number;
  contact_joints: 'all' | 'fingertips';
  contact_require_2d: boolean;
  contact_bbox_margin: number;
  hand_match_gap_s: number;
  contact_max_gap_s: number;
  min_contact_frames: number;
  ego_motion: 'scene_objects' | 'none';
  ego_min_points: number;
  ego_min_objects: number;
  ransac_threshold_m: number;
  min_pose_points: number;
}

export const DEFAULT_MOTION_PARAMS: MotionParams = {
  min_confidence: 0.2,
  min_observations: 3,
  smooth_window: 3,
  move_threshold_m: 0.05,
  speed_threshold_mps: 0.05,
  contact_dist_m: 0.03,
  contact_joints: 'all',
  contact_require_2d: true,
  contact_bbox_margin: 0.15,
  hand_match_gap_s: 0.1,
  contact_max_gap_s: 0.5,
  min_contact_frames: 2,
  ego_motion: 'scene_objects',
  ego_min_points: 12,
  ego_min_objects: 2,
  ransac_threshold_m: 0.02,
  min_pose_points: 6,
};

/** A rigid transform p -> R p + t. */
export interface Rigid {
  R: Mat3;
  t: Vec3;
}

export const IDENTITY: Rigid = { R: mat3Identity(), t: [0, 0, 0] };

export function applyRigid(T: Rigid, p: ArrayLike<number>, offset = 0): Vec3 {
  const q = mat3MulVec(T.R, p, offset);
  return [q[0] + T.t[0], q[1] + T.t[1], q[2] + T.t[2]];
}

/** a then b: p -> b(a(p)) */
export function composeRigid(b: Rigid, a: Rigid): Rigid {
  const t = mat3MulVec(b.R, a.t);
  return { R: mat3Mul(b.R, a.R), t: [t[0] + b.t[0], t[1] + b.t[1], t[2] + b.t[2]] };
}

export function invertRigid(T: Rigid): Rigid {
  const Rt = mat3Transpose(T.R);
  const t = mat3MulVec(Rt, T.t);
  return { R: Rt, t: [-t[0], -t[1], -t[2]] };
}

export interface ObjectObs {
  frame: number;
  t: number;
  centroid: Vec3;
  extent: Vec3;
  c2d: [number, number] | null;
  bbox: [number, number, number, number] | null;
  gridSize: number;
  gridIdx: number[];
  gridPts: number[];
  confidence: number;
}

export interface ObjectTrack {
  objectId: string;
  label: string | null;
  obs: ObjectObs[];
}

export interface HandObs {
  frame: number;
  handIndex: number;
  handedness: string | null;
  joints: number[];
  kp2d: number[] | null;
}

function vec3(v: unknown): Vec3 | null {
  const a = toNumbers(v);
  return a && a.length >= 3 && a.slice(0, 3).every(Number.isFinite) ? [a[0], a[1], a[2]] : null;
}

/** objects_3d rows -> tracks (one per object_id, observations by frame, best confidence per frame). */
export function tracksFromRows(rows: readonly Row[], fps: number, minConfidence: number): ObjectTrack[] {
  const byId = new Map<string, { label: string | null; obs: Map<number, ObjectObs> }>();
  for (const r of rows) {
    const c = vec3(r.centroid);
    if (!c) continue;
    const conf = r.confidence == null ? 1 : Number(r.confidence);
    if (conf < minConfidence) continue;
    if (r.object_id == null) continue;
    const id = String(r.object_id);
    const frame = Number(r.frame);
    const e = vec3(r.extent) ?? [0, 0, 0];
    const c2 = toNumbers(r.centroid_2d);
    const bb = toNumbers(r.bbox);
    const o: ObjectObs = {
      frame,
      t: r.t_s != null && Number.isFinite(Number(r.t_s)) ? Number(r.t_s) : frame / fps,
      centroid: c,
      extent: e,
      c2d: c2 && c2.length >= 2 ? [c2[0], c2[1]] : null,
      bbox: bb && bb.length >= 4 ? [bb[0], bb[1], bb[2], bb[3]] : null,
      gridSize: Number(r.grid_size) || 0,
      gridIdx: toNumbers(r.grid_idx) ?? [],
      gridPts: toNumbers(r.grid_points) ?? [],
      confidence: conf,
    };
    let t = byId.get(id);
    if (!t) byId.set(id, (t = { label: r.label == null ? null : String(r.label), obs: new Map() }));
    const prev = t.obs.get(frame);
    if (!prev || prev.confidence < conf) t.obs.set(frame, o);
  }
  return [...byId.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([objectId, t]) => ({ objectId, label: t.label, obs: [...t.obs.values()].sort((a, b) => a.frame - b.frame) }));
}

/**
 * hands_3d rows by frame. Rows with source 'hand_pose_3d' (joints as the regressor placed them,
 * with its assumed focal, not anchored in the depth map) are left out: their depth is not
 * comparable with the objects'.
 */
export function handsFromRows(rows: readonly Row[]): Map<number, HandObs[]> {
  const out = new Map<number, HandObs[]>();
  for (const r of rows) {
    if (r.source === 'hand_pose_3d') continue;
    const j = toNumbers(r.joints);
    if (!j || j.length < 63) continue;
    const frame = Number(r.frame);
    const h: HandObs = { frame, handIndex: Number(r.hand_index), handedness: r.handedness == null ? null : String(r.handedness), joints: j, kp2d: toNumbers(r.kp2d) };
    const list = out.get(frame) ?? [];
    list.push(h);
    out.set(frame, list);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Contacts

export const FINGERTIPS = [4, 8, 12, 16, 20] as const;

/** Distance from a point to an axis-aligned box (0 inside). */
export function pointBoxDistance(p: ArrayLike<number>, center: Vec3, extent: Vec3, offset = 0): number {
  let s = 0;
  for (let a = 0; a < 3; a++) {
    const d = Math.abs(p[offset + a] - center[a]) - extent[a] / 2;
    if (d > 0) s += d * d;
  }
  return Math.sqrt(s);
}

/** Smallest joint-to-object-box distance (m) and whether a keypoint is inside the object's 2D box. */
export function handObjectDistance(hand: HandObs, obj: ObjectObs, p: Pick<MotionParams, 'contact_joints' | 'contact_bbox_margin'>): { dist: number; in2d: boolean | null } {
  const joints = p.contact_joints === 'fingertips' ? FINGERTIPS : Array.from({ length: 21 }, (_, i) => i);
  let dist = Infinity;
  for (const i of joints) {
    const d = pointBoxDistance(hand.joints, obj.centroid, obj.extent, i * 3);
    if (d < dist) dist = d;
  }
  let in2d: boolean | null = null;
  if (obj.bbox && hand.kp2d && hand.kp2d.length >= 42) {
    const [x, y, w, h] = obj.bbox;
    const mx = w * p.contact_bbox_margin;
    const my = h * p.contact_bbox_margin;
    in2d = false;
    for (const i of joints) {
      const u = hand.kp2d[i * 2];
      const v = hand.kp2d[i * 2 + 1];
      if (u >= x - mx && u <= x + w + mx && v >= y - my && v <= y + h + my) {
        in2d = true;
        break;
      }
    }
  }
  return { dist, in2d };
}

/** Hands observed at the frame nearest to `frame` within maxGap frames. */
export function handsNear(hands: Map<number, HandObs[]>, frames: number[], frame: number, maxGap: number): HandObs[] {
  let best: number | null = null;
  for (const f of frames) if (Math.abs(f - frame) <= maxGap + 1e-9 && (best === null || Math.abs(f - frame) < Math.abs(best - frame))) best = f;
  return best === null ? [] : (hands.get(best) ?? []);
}

export interface ContactSample {
  frame: number;
  obsIndex: number;
  handIndex: number;
  handedness: string | null;
  dist: number;
  contact: boolean;
}

// ---------------------------------------------------------------------------------------------
// Trajectories

/**
 * Per-axis running median over an odd window, centred: near the ends the window shrinks
 * symmetrically (the end points themselves are kept), so a uniform motion is left unchanged.
 */
export function medianFilter3(points: Vec3[], window: number): Vec3[] {
  const half = Math.max(0, Math.floor(window / 2));
  if (half === 0) return points.map((p) => [...p] as Vec3);
  return points.map((_, i) => {
    const h = Math.min(half, i, points.length - 1 - i);
    const lo = i - h;
    const hi = i + h;
    const out: Vec3 = [0, 0, 0];
    for (let a = 0; a < 3; a++) {
      const vals: number[] = [];
      for (let k = lo; k <= hi; k++) vals.push(points[k][a]);
      out[a] = median(vals);
    }
    return out;
  });
}

/** Speed (central differences, one-sided at the ends) and acceleration magnitudes at each sample. */
export function kinematics(pos: Vec3[], t: number[]): { speed: number[]; accel: number[]; vel: Vec3[] } {
  const n = pos.length;
  const vel: Vec3[] = [];
  for (let i = 0; i < n; i++) {
    const a = Math.max(0, i - 1);
    const b = Math.min(n - 1, i + 1);
    const dt = t[b] - t[a];
    vel.push(dt > 0 ? [(pos[b][0] - pos[a][0]) / dt, (pos[b][1] - pos[a][1]) / dt, (pos[b][2] - pos[a][2]) / dt] : [0, 0, 0]);
  }
  const accel: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = Math.max(0, i - 1);
    const b = Math.min(n - 1, i + 1);
    const dt = t[b] - t[a];
    accel.push(dt > 0 ? distance(vel[b], vel[a]) / dt : 0);
  }
  return { speed: vel.map((v) => Math.hypot(v[0], v[1], v[2])), accel, vel };
}

// ---------------------------------------------------------------------------------------------
// 6D motion from grid correspondences

/** Cell index of the 180-degree rotated grid (both principal axes flipped). */
export function flippedCell(c: number, n: number): number {
  const i = c % n;
  const j = Math.floor(c / n);
  return (n - 1 - j) * n + (n - 1 - i);
}

export interface PoseStep {
  T: Rigid;
  inliers: number;
  matches: number;
  /** true when estimated from the grid; false = centroid translation only */
  estimated: boolean;
}

/**
 * Relative rigid motion of an object between two observations (points already in a common frame):
 * RANSAC Kabsch on the matching grid cells, for the identity and the 180-degree flipped cell
 * correspondence (the principal-axis signs can flip between views); the smaller rotation wins
 * unless the other explains clearly more cells. Falls back to the centroid translation.
 */
export function poseStep(a: { idx: number[]; pts: number[]; n: number; centroid: Vec3 }, b: { idx: number[]; pts: number[]; n: number; centroid: Vec3 }, p: Pick<MotionParams, 'ransac_threshold_m' | 'min_pose_points'>, seed = 1): PoseStep {
  const fallback: PoseStep = { T: { R: mat3Identity(), t: [b.centroid[0] - a.centroid[0], b.centroid[1] - a.centroid[1], b.centroid[2] - a.centroid[2]] }, inliers: 0, matches: 0, estimated: false };
  if (a.n !== b.n || a.n <= 0) return fallback;
  const posB = new Map<number, number>();
  b.idx.forEach((c, k) => posB.set(c, k));
  const candidates: PoseStep[] = [];
  for (const flip of [false, true]) {
    const src: number[] = [];
    const dst: number[] = [];
    a.idx.forEach((c, k) => {
      const kb = posB.get(flip ? flippedCell(c, a.n) : c);
      if (kb === undefined) return;
      src.push(a.pts[k * 3], a.pts[k * 3 + 1], a.pts[k * 3 + 2]);
      dst.push(b.pts[kb * 3], b.pts[kb * 3 + 1], b.pts[kb * 3 + 2]);
    });
    const m = src.length / 3;
    if (m < p.min_pose_points) continue;
    const r = ransacAlign(src, dst, { threshold: p.ransac_threshold_m, minInliers: p.min_pose_points, seed });
    if (r) candidates.push({ T: { R: r.R, t: r.t }, inliers: r.inlierCount, matches: m, estimated: true });
  }
  if (!candidates.length) return fallback;
  candidates.sort((x, y) => rotationAngleDeg(x.T.R) - rotationAngleDeg(y.T.R));
  const [small, other] = candidates;
  if (other && other.inliers >= 1.5 * small.inliers) return other;
  return small;
}

// ---------------------------------------------------------------------------------------------
// Ego-motion from the objects nobody touches

/**
 * Camera motion between consecutive observation frames, from the objects seen in both frames and
 * not in hand contact in either (centroid + grid points each). Hypotheses: "camera still"
 * (identity), each object's own rigid motion (RANSAC Kabsch on its points) and a RANSAC fit over
 * all points. An object is consistent with a hypothesis when the median residual of its points is
 * at most half the RANSAC threshold; the hypothesis under which the most objects are static wins
 * (then the most consistent points; "camera still" wins ties), and a moving camera is accepted
 * only with at least ego_min_objects consistent objects and ego_min_points points; it is then
 * refitted (Kabsch) on the points of those objects. Delta maps frame-a camera coordinates of
 * static points to frame-b coordinates. One object sliding beside a still one stays a moving
 * object, not camera motion.
 */
export function egoMotion(tracks: ObjectTrack[], contactFrames: Map<string, Set<number>>, p: Pick<MotionParams, 'ego_min_points' | 'ego_min_objects' | 'ransac_threshold_m'>): { frames: number[]; toRef: Map<number, Rigid>; compensated: number; steps: number } {
  const frames = [...new Set(tracks.flatMap((t) => t.obs.map((o) => o.frame)))].sort((a, b) => a - b);
  const G = new Map<number, Rigid>(); // first-frame coordinates -> frame coordinates
  let compensated = 0;
  if (frames.length) G.set(frames[0], IDENTITY);
  const objThr = p.ransac_threshold_m / 2;
  for (let k = 1; k < frames.length; k++) {
    const fa = frames[k - 1];
    const fb = frames[k];
    const groups: Array<{ src: number[]; dst: number[] }> = [];
    for (const t of tracks) {
      const oa = t.obs.find((o) => o.frame === fa);
      const ob = t.obs.find((o) => o.frame === fb);
      if (!oa || !ob) continue;
      if (contactFrames.get(t.objectId)?.has(fa) || contactFrames.get(t.objectId)?.has(fb)) continue;
      const src = [...oa.centroid];
      const dst = [...ob.centroid];
      if (oa.gridSize === ob.gridSize && oa.gridSize > 0) {
        const posB = new Map<number, number>();
        ob.gridIdx.forEach((c, i) => posB.set(c, i));
        oa.gridIdx.forEach((c, i) => {
          const j = posB.get(c);
          if (j === undefined) return;
          src.push(oa.gridPts[i * 3], oa.gridPts[i * 3 + 1], oa.gridPts[i * 3 + 2]);
          dst.push(ob.gridPts[j * 3], ob.gridPts[j * 3 + 1], ob.gridPts[j * 3 + 2]);
        });
      }
      groups.push({ src, dst });
    }
    let delta: Rigid = IDENTITY;
    if (groups.length >= p.ego_min_objects) {
      const hyps: Rigid[] = [];
      for (const g of groups) {
        const r = g.src.length >= 9 ? ransacAlign(g.src, g.dst, { threshold: objThr, seed: fb + 1 }) : null;
        if (r) hyps.push({ R: r.R, t: r.t });
      }
      const allSrc = groups.flatMap((g) => g.src);
      const allDst = groups.flatMap((g) => g.dst);
      const all = ransacAlign(allSrc, allDst, { threshold: p.ransac_threshold_m, seed: fb + 7 });
      if (all) hyps.push({ R: all.R, t: all.t });
      const score = (H: Rigid) => {
        let objects = 0;
        let points = 0;
        const members: number[] = [];
        groups.forEach((g, gi) => {
          const res: number[] = [];
          for (let i = 0; i < g.src.length / 3; i++) res.push(distance(applyRigid(H, g.src, i * 3), g.dst, 0, i * 3));
          if (median(res) <= objThr) {
            objects++;
            points += res.length;
            members.push(gi);
          }
        });
        return { objects, points, members };
      };
      let best = score(IDENTITY);
      let bestH: Rigid | null = null;
      for (const H of hyps) {
        const sc = score(H);
        if (sc.objects > best.objects || (sc.objects === best.objects && sc.points > best.points)) {
          best = sc;
          bestH = H;
        }
      }
      if (bestH && best.objects >= p.ego_min_objects && best.points >= p.ego_min_points) {
        const src = best.members.flatMap((gi) => groups[gi].src);
        const dst = best.members.flatMap((gi) => groups[gi].dst);
        const fit = kabsch(src, dst);
        delta = fit ? { R: fit.R, t: fit.t } : bestH;
        compensated++;
      }
    }
    G.set(fb, composeRigid(delta, G.get(fa)!));
  }
  const toRef = new Map<number, Rigid>();
  for (const [f, g] of G) toRef.set(f, invertRigid(g));
  return { frames, toRef, compensated, steps: Math.max(0, frames.length - 1) };
}
