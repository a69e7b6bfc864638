/**
 * MediaPipe landmarks -> dex-retargeting's wrist ("operator") frame, as dex-retargeting's
 * SingleHandDetector does it. Pure functions, no state.
 *
 * Input: 21 keypoints in MediaPipe / OpenPose order (0 wrist, 1-4 thumb, 5-8 index, 9-12 middle,
 * 13-16 ring, 17-20 little), in any right-handed Cartesian frame, in metres (e.g. MediaPipe world
 * landmarks or camera-frame 3D joints).
 *
 * 1. Translate so the wrist (0) is the origin.
 * 2. Estimate the wrist frame from the wrist, index MCP (5) and middle MCP (9):
 *    - x: from the middle MCP towards the wrist (x = p0 - p9), made orthogonal to the palm normal;
 *    - n: the palm-plane normal (the least-squares plane of the 3 points, i.e. the SVD normal; for
 *      three points it is the normalised cross product);
 *    - z = x cross n, its sign (and n's) chosen so that z points from the middle MCP towards the index
 *      MCP (dex-retargeting: "the vector from pinky to index is similar to the z axis in MANO").
 *    frame = [x n z] (columns) is the MANO-convention wrist rotation in the input frame.
 * 3. Rotate into the operator frame: joints = (p - p0) * frame * OPERATOR2MANO[hand] (row vectors).
 *
 * Resulting operator frame (right hand): +z from the wrist towards the middle MCP (along the
 * fingers), +y towards the index / thumb side, +x = y cross z (the palm side: flexing fingers move
 * their tips towards +x). Both matrices are proper rotations. The left-hand matrix differs from the right one by the sign of the
 * second and third rows, so that a left hand that is the mirror image of a right hand (x -> -x in
 * the input) comes out as the right hand's operator-frame joints with y negated: in the operator frame
 * a left hand is the right hand mirrored through the x-z plane. The shipped left-hand robot URDFs
 * follow the same convention (e.g. Allegro left = Allegro right mirrored in y).
 */

export type Handedness = 'right' | 'left';

/** dex-retargeting's OPERATOR2MANO_RIGHT (row-major 3x3) */
export const OPERATOR2MANO_RIGHT: readonly number[] = [0, 0, -1, -1, 0, 0, 0, 1, 0];
/** dex-retargeting's OPERATOR2MANO_LEFT (row-major 3x3) */
export const OPERATOR2MANO_LEFT: readonly number[] = [0, 0, -1, 1, 0, 0, 0, -1, 0];

function flatten(keypoints: Float64Array | ArrayLike<ArrayLike<number>>): Float64Array {
  if (keypoints instanceof Float64Array) {
    if (keypoints.length !== 63) throw new RangeError(`expected 21 x 3 keypoints (63 numbers), got ${keypoints.length}`);
    return keypoints;
  }
  if (keypoints.length !== 21) throw new RangeError(`expected 21 keypoints, got ${keypoints.length}`);
  const out = new Float64Array(63);
  for (let i = 0; i < 21; i++) {
    const p = keypoints[i];
    if (!p || p.length !== 3) throw new RangeError(`keypoint ${i} must have 3 coordinates`);
    out[3 * i] = p[0];
    out[3 * i + 1] = p[1];
    out[3 * i + 2] = p[2];
  }
  return out;
}

/**
 * MANO-convention wrist rotation in the input frame, as a row-major 3x3 whose columns are x, n, z
 * (see the module comment). Throws when wrist, index MCP and middle MCP are (nearly) collinear.
 */
export function estimateWristFrame(keypoints: Float64Array | ArrayLike<ArrayLike<number>>): Float64Array {
  const k = flatten(keypoints);
  const p0 = [k[0], k[1], k[2]];
  const p1 = [k[15], k[16], k[17]]; // index MCP (5)
  const p2 = [k[27], k[28], k[29]]; // middle MCP (9)
  const xv = [p0[0] - p2[0], p0[1] - p2[1], p0[2] - p2[2]];
  const a = [p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]];
  const b = [p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]];
  const nv = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const nn = Math.hypot(nv[0], nv[1], nv[2]);
  const scale = Math.hypot(a[0], a[1], a[2]) * Math.hypot(b[0], b[1], b[2]);
  if (!(nn > 1e-9 * scale) || !(scale > 0)) {
    throw new RangeError('cannot estimate the wrist frame: wrist, index MCP and middle MCP are collinear or coincide');
  }
  const n = [nv[0] / nn, nv[1] / nn, nv[2] / nn];
  // Gram-Schmidt: remove the normal component from x
  const dn = xv[0] * n[0] + xv[1] * n[1] + xv[2] * n[2];
  const x = [xv[0] - dn * n[0], xv[1] - dn * n[1], xv[2] - dn * n[2]];
  const xn = Math.hypot(x[0], x[1], x[2]);
  if (!(xn > 0)) throw new RangeError('cannot estimate the wrist frame: degenerate palm points');
  x[0] /= xn;
  x[1] /= xn;
  x[2] /= xn;
  let z = [x[1] * n[2] - x[2] * n[1], x[2] * n[0] - x[0] * n[2], x[0] * n[1] - x[1] * n[0]];
  // z should point from the middle MCP to the index MCP
  const d = [p1[0] - p2[0], p1[1] - p2[1], p1[2] - p2[2]];
  if (z[0] * d[0] + z[1] * d[1] + z[2] * d[2] < 0) {
    n[0] = -n[0];
    n[1] = -n[1];
    n[2] = -n[2];
    z = [-z[0], -z[1], -z[2]];
  }
  return Float64Array.from([x[0], n[0], z[0], x[1], n[1], z[1], x[2], n[2], z[2]]);
}

export interface OperatorFrameResult {
  /** 21 x 3 row-major joints in the operator frame (wrist at the origin) */
  joints: Float64Array;
  /** MANO-convention wrist rotation in the input frame (row-major, columns x, n, z) */
  wristFrame: Float64Array;
}

/**
 * Convert 21 keypoints from the camera / MediaPipe frame to dex-retargeting's operator frame for a
 * right or left hand. Pure: the input is not modified.
 */
export function toOperatorFrame(keypoints: Float64Array | ArrayLike<ArrayLike<number>>, hand: Handedness): OperatorFrameResult {
  if (hand !== 'right' && hand !== 'left') throw new RangeError(`hand must be 'right' or 'left', got ${String(hand)}`);
  const k = flatten(keypoints);
  for (let i = 0; i < 63; i++) if (!Number.isFinite(k[i])) throw new RangeError(`keypoint ${Math.floor(i / 3)} is not finite`);
  const F = estimateWristFrame(k);
  const O = hand === 'right' ? OPERATOR2MANO_RIGHT : OPERATOR2MANO_LEFT;
  // M = F * O  (so that joints = (p - p0) * M)
  const M = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) M[3 * i + j] = F[3 * i] * O[j] + F[3 * i + 1] * O[3 + j] + F[3 * i + 2] * O[6 + j];
  }
  const out = new Float64Array(63);
  const wx = k[0], wy = k[1], wz = k[2];
  for (let p = 0; p < 21; p++) {
    const x = k[3 * p] - wx, y = k[3 * p + 1] - wy, z = k[3 * p + 2] - wz;
    out[3 * p] = x * M[0] + y * M[3] + z * M[6];
    out[3 * p + 1] = x * M[1] + y * M[4] + z * M[7];
    out[3 * p + 2] = x * M[2] + y * M[5] + z * M[8];
  }
  return { joints: out, wristFrame: F };
}

/** Mirror operator-frame joints of one hand into the other hand's operator frame (y -> -y). */
export function mirrorOperatorFrame(joints: Float64Array): Float64Array {
  if (joints.length !== 63) throw new RangeError(`expected 63 numbers, got ${joints.length}`);
  const out = Float64Array.from(joints);
  for (let p = 0; p < 21; p++) out[3 * p + 1] = -out[3 * p + 1];
  return out;
}
