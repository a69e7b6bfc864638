/**
 * Applying the refiner's outputs to a pose (FoundationPose predict_pose_refine with
 * normalize_xyz, trans_rep 'tracknet', rot_rep 'axis_angle'; Isaac ROS apply_deltas):
 *
 *   Δt = trans * diameter / 2                        (camera frame, metres)
 *   ω  = tanh(rot) * rot_normalizer                  (axis-angle, radians; rot_normalizer = 20°)
 *   ΔR = exp(ω)^T                                    (Rodrigues matrix, transposed)
 *   t' = t + Δt,  R' = ΔR R                          (egocentric update: both in the camera frame)
 *
 * and choosing the best hypothesis by the scorer's output (argmax).
 */
import { axisAngleToMatrix, mul3, orthonormalize, transpose3, type Pose, type Vec3 } from './math.js';

/** 20 degrees in radians: FoundationPose / Isaac ROS rot_normalizer. */
export const ROT_NORMALIZER = 0.349065850398865;

export interface RefinerDelta {
  /** raw network output (3): translation, in units of diameter / 2 */
  trans: ArrayLike<number>;
  /** raw network output (3): axis-angle before tanh and rot_normalizer */
  rot: ArrayLike<number>;
}

/** The rotation matrix the raw rotation output stands for (exp(tanh(rot) * normalizer)^T). */
export function deltaRotation(rot: ArrayLike<number>, offset = 0, rotNormalizer = ROT_NORMALIZER) {
  const w: Vec3 = [Math.tanh(rot[offset]) * rotNormalizer, Math.tanh(rot[offset + 1]) * rotNormalizer, Math.tanh(rot[offset + 2]) * rotNormalizer];
  return transpose3(axisAngleToMatrix(w));
}

export function applyRefinerDelta(p: Pose, trans: ArrayLike<number>, rot: ArrayLike<number>, diameter: number, offset = 0, rotNormalizer = ROT_NORMALIZER): Pose {
  const h = diameter / 2;
  const dR = deltaRotation(rot, offset, rotNormalizer);
  return {
    // re-orthonormalise so many iterations do not drift off SO(3) in float
    R: orthonormalize(mul3(dR, p.R)),
    t: [p.t[0] + trans[offset] * h, p.t[1] + trans[offset + 1] * h, p.t[2] + trans[offset + 2] * h],
  };
}

/** Update every pose with its row of the batched outputs (trans, rot: count x 3). */
export function applyRefinerBatch(poses: Pose[], trans: ArrayLike<number>, rot: ArrayLike<number>, diameter: number, rotNormalizer = ROT_NORMALIZER): Pose[] {
  if (trans.length < poses.length * 3 || rot.length < poses.length * 3) throw new RangeError(`refiner outputs hold ${trans.length / 3} / ${rot.length / 3} rows for ${poses.length} poses`);
  return poses.map((p, i) => applyRefinerDelta(p, trans, rot, diameter, i * 3, rotNormalizer));
}

/** Index of the highest finite score (first on ties); -1 when none. */
export function bestIndex(scores: ArrayLike<number>): number {
  let best = -1;
  let v = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    if (Number.isFinite(scores[i]) && (best < 0 || scores[i] > v)) {
      best = i;
      v = scores[i];
    }
  }
  return best;
}

/**
 * Pose of the original mesh from the pose of the centred mesh (vertices - center):
 * X_cam = R (X - c) + t, i.e. t_orig = t - R c.
 */
export function uncenterPose(p: Pose, center: ArrayLike<number>): Pose {
  const R = p.R;
  const c0 = center[0], c1 = center[1], c2 = center[2];
  return {
    R: p.R,
    t: [p.t[0] - (R[0] * c0 + R[1] * c1 + R[2] * c2), p.t[1] - (R[3] * c0 + R[4] * c1 + R[5] * c2), p.t[2] - (R[6] * c0 + R[7] * c1 + R[8] * c2)],
  };
}
