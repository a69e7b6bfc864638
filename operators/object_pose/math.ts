/**
 * Small 3D math for object_pose: 3x3 rotations (row-major, 9 numbers), rigid poses (R, t) that map
 * object points into the OpenCV camera frame (x right, y down, z forward), pinhole intrinsics.
 */

/** Row-major 3x3 matrix. */
export type Mat3 = Float64Array;
export type Vec3 = [number, number, number];

/** Object -> camera: X_cam = R X_obj + t (metres). */
export interface Pose {
  R: Mat3;
  t: Vec3;
}

/** Pinhole intrinsics in pixels; pixel centres at integer coordinates (OpenCV). */
export interface Intrinsics {
  fx: number;
  fy: number;
  cx: number;
  cy: number;
}

export function mat3(values?: ArrayLike<number>): Mat3 {
  const m = new Float64Array(9);
  if (values) {
    if (values.length !== 9) throw new RangeError(`a 3x3 matrix needs 9 numbers, got ${values.length}`);
    m.set(values);
  }
  return m;
}

export function identity3(): Mat3 {
  return mat3([1, 0, 0, 0, 1, 0, 0, 0, 1]);
}

export function mul3(a: ArrayLike<number>, b: ArrayLike<number>): Mat3 {
  const o = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) o[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  }
  return o;
}

export function transpose3(a: ArrayLike<number>): Mat3 {
  return mat3([a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]]);
}

export function mulVec3(a: ArrayLike<number>, v: ArrayLike<number>): Vec3 {
  return [a[0] * v[0] + a[1] * v[1] + a[2] * v[2], a[3] * v[0] + a[4] * v[1] + a[5] * v[2], a[6] * v[0] + a[7] * v[1] + a[8] * v[2]];
}

export function det3(a: ArrayLike<number>): number {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}

export function cross(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function norm3(v: ArrayLike<number>): number {
  return Math.hypot(v[0], v[1], v[2]);
}

export function normalize3(v: ArrayLike<number>): Vec3 {
  const n = norm3(v);
  return n > 0 ? [v[0] / n, v[1] / n, v[2] / n] : [0, 0, 0];
}

/** Rotation about the z axis by `a` radians. */
export function rotZ(a: number): Mat3 {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return mat3([c, -s, 0, s, c, 0, 0, 0, 1]);
}

/** Axis-angle (rotation vector, radians) -> rotation matrix (Rodrigues). */
export function axisAngleToMatrix(w: ArrayLike<number>, offset = 0): Mat3 {
  const x = w[offset];
  const y = w[offset + 1];
  const z = w[offset + 2];
  const th = Math.hypot(x, y, z);
  if (th < 1e-12) return mat3([1, -z, y, z, 1, -x, -y, x, 1]); // first order
  const kx = x / th;
  const ky = y / th;
  const kz = z / th;
  const c = Math.cos(th);
  const s = Math.sin(th);
  const C = 1 - c;
  return mat3([
    c + kx * kx * C, kx * ky * C - kz * s, kx * kz * C + ky * s,
    ky * kx * C + kz * s, c + ky * ky * C, ky * kz * C - kx * s,
    kz * kx * C - ky * s, kz * ky * C + kx * s, c + kz * kz * C,
  ]);
}

/** Rotation matrix -> axis-angle (radians), robust near 0 and pi. */
export function matrixToAxisAngle(R: ArrayLike<number>): Vec3 {
  const cos = Math.min(1, Math.max(-1, (R[0] + R[4] + R[8] - 1) / 2));
  const th = Math.acos(cos);
  if (th < 1e-7) return [(R[7] - R[5]) / 2, (R[2] - R[6]) / 2, (R[3] - R[1]) / 2];
  if (Math.PI - th < 1e-4) {
    // R ~ 2 k k^T - I: take the largest diagonal for the axis
    const d = [R[0], R[4], R[8]];
    const i = d[0] >= d[1] && d[0] >= d[2] ? 0 : d[1] >= d[2] ? 1 : 2;
    const k: Vec3 = [0, 0, 0];
    k[i] = Math.sqrt(Math.max(0, (d[i] + 1) / 2));
    for (let j = 0; j < 3; j++) if (j !== i) k[j] = (R[i * 3 + j] + R[j * 3 + i]) / (4 * k[i]);
    const n = normalize3(k);
    return [n[0] * th, n[1] * th, n[2] * th];
  }
  const s = 2 * Math.sin(th);
  return [((R[7] - R[5]) / s) * th, ((R[2] - R[6]) / s) * th, ((R[3] - R[1]) / s) * th];
}

/** Geodesic distance between two rotations, radians (0..pi). */
export function rotationDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  // trace(a b^T)
  let tr = 0;
  for (let i = 0; i < 9; i++) tr += a[i] * b[i];
  return Math.acos(Math.min(1, Math.max(-1, (tr - 1) / 2)));
}

/** Max |R R^T - I| and |det R - 1|: 0 for a rotation. */
export function rotationError(R: ArrayLike<number>): number {
  const p = mul3(R, transpose3(R));
  let e = Math.abs(det3(R) - 1);
  for (let i = 0; i < 9; i++) e = Math.max(e, Math.abs(p[i] - (i % 4 === 0 ? 1 : 0)));
  return e;
}

/** Nearest rotation (Gram-Schmidt on the rows); keeps accumulated products orthonormal. */
export function orthonormalize(R: ArrayLike<number>): Mat3 {
  const r0 = normalize3([R[0], R[1], R[2]]);
  const r1raw = [R[3], R[4], R[5]];
  const d = r0[0] * r1raw[0] + r0[1] * r1raw[1] + r0[2] * r1raw[2];
  const r1 = normalize3([r1raw[0] - d * r0[0], r1raw[1] - d * r0[1], r1raw[2] - d * r0[2]]);
  const r2 = cross(r0, r1);
  return mat3([...r0, ...r1, ...r2]);
}

export function pose(R: ArrayLike<number>, t: ArrayLike<number>): Pose {
  return { R: mat3(R), t: [t[0], t[1], t[2]] };
}

/** a ∘ b: first b, then a. */
export function composePose(a: Pose, b: Pose): Pose {
  const t = mulVec3(a.R, b.t);
  return { R: mul3(a.R, b.R), t: [t[0] + a.t[0], t[1] + a.t[1], t[2] + a.t[2]] };
}

export function invertPose(p: Pose): Pose {
  const Rt = transpose3(p.R);
  const t = mulVec3(Rt, p.t);
  return { R: Rt, t: [-t[0], -t[1], -t[2]] };
}

export function transformPoint(p: Pose, x: ArrayLike<number>): Vec3 {
  const v = mulVec3(p.R, x);
  return [v[0] + p.t[0], v[1] + p.t[1], v[2] + p.t[2]];
}

/** Camera point -> pixel (u, v), OpenCV convention. */
export function project(K: Intrinsics, X: ArrayLike<number>): [number, number] {
  return [(K.fx * X[0]) / X[2] + K.cx, (K.fy * X[1]) / X[2] + K.cy];
}

/** Pixel + depth -> camera point. */
export function unproject(K: Intrinsics, u: number, v: number, z: number): Vec3 {
  return [((u - K.cx) * z) / K.fx, ((v - K.cy) * z) / K.fy, z];
}
