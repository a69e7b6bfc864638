/**
 * Pure 3D geometry shared by the depth, lift3d and object_motion ops: pinhole back-projection,
 * robust statistics, a 3x3 SVD and symmetric eigen-solver (Jacobi), Kabsch / Umeyama rigid (or
 * similarity) alignment with RANSAC, Rodrigues rotations and plane fitting.
 *
 * Conventions: OpenCV camera frame (x right, y down, z forward), metres. Pixel coordinates are
 * OpenCV's: integer coordinates at pixel centres, so a pixel (u, v) back-projects through
 * ((u - cx) / fx, (v - cy) / fy, 1). Matrices are row-major `number[]` of length 9; point sets are
 * flat arrays (x0, y0, z0, x1, ...). Nothing here allocates per point in the hot loops.
 */

export type Vec3 = [number, number, number];
/** 3x3 matrix, row-major, length 9. */
export type Mat3 = number[];

export interface Intrinsics {
  fx: number;
  fy: number;
  cx: number;
  cy: number;
}

// ---------------------------------------------------------------------------------------------
// Pinhole camera

/** Camera-frame point of pixel (u, v) at depth z (z along the optical axis, not the ray length). */
export function backproject(u: number, v: number, z: number, K: Intrinsics): Vec3 {
  return [((u - K.cx) / K.fx) * z, ((v - K.cy) / K.fy) * z, z];
}

/** Pixel of a camera-frame point; null behind the camera. */
export function project(p: ArrayLike<number>, K: Intrinsics, offset = 0): [number, number] | null {
  const z = p[offset + 2];
  if (!(z > 0)) return null;
  return [(K.fx * p[offset]) / z + K.cx, (K.fy * p[offset + 1]) / z + K.cy];
}

/** Intrinsics of the same camera at another image size (pixel-centre convention). */
export function scaleIntrinsics(K: Intrinsics, fromW: number, fromH: number, toW: number, toH: number): Intrinsics {
  const sx = toW / fromW;
  const sy = toH / fromH;
  return { fx: K.fx * sx, fy: K.fy * sy, cx: (K.cx + 0.5) * sx - 0.5, cy: (K.cy + 0.5) * sy - 0.5 };
}

/** Focal length (px) for a horizontal field of view (degrees) over `width` pixels. */
export function focalFromHfov(hfovDeg: number, width: number): number {
  return width / 2 / Math.tan((hfovDeg * Math.PI) / 360);
}

export function hfovFromFocal(fx: number, width: number): number {
  return (2 * Math.atan(width / 2 / fx) * 180) / Math.PI;
}

// ---------------------------------------------------------------------------------------------
// Robust statistics (on copies; inputs are never reordered)

function finiteCopy(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) out[n++] = v;
  }
  return out.subarray(0, n);
}

/** k-th smallest (0-based) of a, in place (Hoare quickselect); a is partially reordered. */
function selectInPlace(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/** Median of the finite values; NaN when there are none. */
export function median(values: ArrayLike<number>): number {
  const a = finiteCopy(values);
  const n = a.length;
  if (n === 0) return NaN;
  const hi = selectInPlace(a, n >> 1);
  if (n & 1) return hi;
  // the lower middle is the maximum of the lower part after selection
  let lo = -Infinity;
  for (let i = 0; i < n >> 1; i++) if (a[i] > lo) lo = a[i];
  return (lo + hi) / 2;
}

/** Quantile q in [0, 1] of the finite values, linear interpolation between order statistics (numpy's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  const a = finiteCopy(values).sort();
  return quantileSorted(a, q);
}

/** Quantile of an already sorted array (ascending, finite). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = Math.min(1, Math.max(0, q)) * (n - 1);
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < n ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

/** Median absolute deviation from the median (unscaled; multiply by 1.4826 for a Gaussian sigma). */
export function mad(values: ArrayLike<number>, center = median(values)): number {
  const a = finiteCopy(values);
  for (let i = 0; i < a.length; i++) a[i] = Math.abs(a[i] - center);
  return median(a);
}

/** Mean of the finite values after dropping the lowest and highest `trim` fraction (0..0.5). */
export function trimmedMean(values: ArrayLike<number>, trim = 0.1): number {
  const a = finiteCopy(values).sort();
  const n = a.length;
  if (n === 0) return NaN;
  const k = Math.min(Math.floor(n * Math.min(0.5, Math.max(0, trim))), Math.floor((n - 1) / 2));
  let s = 0;
  for (let i = k; i < n - k; i++) s += a[i];
  return s / (n - 2 * k);
}

export interface RobustCloudStats {
  /** mean of the inlier points (m) */
  centroid: Vec3;
  /** per-axis spread of the inliers between the quantiles q and 1 - q (m) */
  extent: Vec3;
  /** per-axis minimum / maximum at those quantiles */
  min: Vec3;
  max: Vec3;
  /** points kept */
  inliers: number;
  /** median z of all finite points */
  medianZ: number;
  /** 1.4826 x MAD of z (a robust sigma of the depth, m) */
  sigmaZ: number;
  /** inlier flags per input point (1 = kept) */
  mask: Uint8Array;
}

export interface RobustCloudOptions {
  /** points farther than k robust sigmas from the median depth are rejected (default 3) */
  k?: number;
  /** lower bound of the depth tolerance in metres, for nearly flat clouds (default 0.01) */
  minTolerance?: number;
  /** quantile for the extent, e.g. 0.05 = 5th..95th percentile (default 0.05) */
  extentQuantile?: number;
}

/**
 * Robust centroid and extent of a point cloud seen by a depth camera: points whose depth is more
 * than k robust sigmas (min `minTolerance`) from the median depth are dropped (mask edges that
 * bleed into the background, flying pixels), the centroid is the mean of the rest and the extent
 * the inter-quantile range per axis. Null when no finite point exists.
 */
export function robustCloudStats(points: ArrayLike<number>, opts: RobustCloudOptions = {}): RobustCloudStats | null {
  const n = Math.floor(points.length / 3);
  const k = opts.k ?? 3;
  const minTol = opts.minTolerance ?? 0.01;
  const q = opts.extentQuantile ?? 0.05;
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = points[i * 3];
    const y = points[i * 3 + 1];
    const zz = points[i * 3 + 2];
    z[i] = Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(zz) ? zz : NaN;
  }
  const mz = median(z);
  if (!Number.isFinite(mz)) return null;
  const sigma = 1.4826 * mad(z, mz);
  const tol = Math.max(minTol, k * sigma);
  const mask = new Uint8Array(n);
  let cnt = 0;
  const sum = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(z[i]) && Math.abs(z[i] - mz) <= tol) {
      mask[i] = 1;
      cnt++;
      sum[0] += points[i * 3];
      sum[1] += points[i * 3 + 1];
      sum[2] += points[i * 3 + 2];
    }
  }
  const axes: Float64Array[] = [new Float64Array(cnt), new Float64Array(cnt), new Float64Array(cnt)];
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (!mask[i]) continue;
    axes[0][j] = points[i * 3];
    axes[1][j] = points[i * 3 + 1];
    axes[2][j] = points[i * 3 + 2];
    j++;
  }
  const min: Vec3 = [0, 0, 0];
  const max: Vec3 = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    axes[a].sort();
    min[a] = quantileSorted(axes[a], q);
    max[a] = quantileSorted(axes[a], 1 - q);
  }
  return {
    centroid: [sum[0] / cnt, sum[1] / cnt, sum[2] / cnt],
    extent: [max[0] - min[0], max[1] - min[1], max[2] - min[2]],
    min,
    max,
    inliers: cnt,
    medianZ: mz,
    sigmaZ: sigma,
    mask,
  };
}

// ---------------------------------------------------------------------------------------------
// Small linear algebra

export function mat3Identity(): Mat3 {
  return [1, 0, 0, 0, 1, 0, 0, 0, 1];
}

export function mat3Mul(a: Mat3, b: Mat3): Mat3 {
  const o = new Array<number>(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) o[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
  }
  return o;
}

export function mat3Transpose(a: Mat3): Mat3 {
  return [a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]];
}

export function mat3Det(a: Mat3): number {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}

export function mat3MulVec(a: Mat3, v: ArrayLike<number>, offset = 0): Vec3 {
  const x = v[offset];
  const y = v[offset + 1];
  const z = v[offset + 2];
  return [a[0] * x + a[1] * y + a[2] * z, a[3] * x + a[4] * y + a[5] * z, a[6] * x + a[7] * y + a[8] * z];
}

export function cross(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function norm(a: ArrayLike<number>): number {
  return Math.hypot(a[0], a[1], a[2]);
}

export function sub(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

export function distance(a: ArrayLike<number>, b: ArrayLike<number>, ao = 0, bo = 0): number {
  return Math.hypot(a[ao] - b[bo], a[ao + 1] - b[bo + 1], a[ao + 2] - b[bo + 2]);
}

/**
 * Eigen-decomposition of a symmetric 3x3 matrix by cyclic Jacobi rotations.
 * Returns eigenvalues in ascending order and the matching unit eigenvectors as the COLUMNS of
 * `vectors` (row-major Mat3).
 */
export function symmetricEigen3(m: Mat3): { values: Vec3; vectors: Mat3 } {
  const a = m.slice(0, 9);
  const v = mat3Identity();
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
    const scale = a[0] * a[0] + a[4] * a[4] + a[8] * a[8] + 2 * off;
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const) {
      const apq = a[p * 3 + q];
      if (Math.abs(apq) < 1e-300) continue;
      const app = a[p * 3 + p];
      const aqq = a[q * 3 + q];
      const theta = (aqq - app) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      // A <- J^T A J with J the rotation in the (p, q) plane
      for (let k = 0; k < 3; k++) {
        const akp = a[k * 3 + p];
        const akq = a[k * 3 + q];
        a[k * 3 + p] = c * akp - s * akq;
        a[k * 3 + q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p * 3 + k];
        const aqk = a[q * 3 + k];
        a[p * 3 + k] = c * apk - s * aqk;
        a[q * 3 + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k * 3 + p];
        const vkq = v[k * 3 + q];
        v[k * 3 + p] = c * vkp - s * vkq;
        v[k * 3 + q] = s * vkp + c * vkq;
      }
    }
  }
  const order = [0, 1, 2].sort((i, j) => a[i * 4] - a[j * 4]);
  const values: Vec3 = [a[order[0] * 4], a[order[1] * 4], a[order[2] * 4]];
  const vectors = new Array<number>(9);
  for (let c = 0; c < 3; c++) for (let r = 0; r < 3; r++) vectors[r * 3 + c] = v[r * 3 + order[c]];
  return { values, vectors };
}

export interface Svd3 {
  U: Mat3;
  /** singular values, descending, >= 0 */
  S: Vec3;
  V: Mat3;
}

/**
 * SVD of a 3x3 matrix, A = U diag(S) V^T, by one-sided Jacobi (Hestenes): plane rotations on
 * the right orthogonalise the columns of A; their norms are the singular values. U and V are
 * orthogonal (det may be -1); rank-deficient inputs get an orthonormal completion of U.
 */
export function svd3(A: Mat3): Svd3 {
  const b = A.slice(0, 9); // columns are b[0,3,6], b[1,4,7], b[2,5,8]
  const v = mat3Identity();
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const) {
      let alpha = 0;
      let beta = 0;
      let gamma = 0;
      for (let r = 0; r < 3; r++) {
        const x = b[r * 3 + p];
        const y = b[r * 3 + q];
        alpha += x * x;
        beta += y * y;
        gamma += x * y;
      }
      if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
      rotated = true;
      const zeta = (beta - alpha) / (2 * gamma);
      const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
      const c = 1 / Math.sqrt(1 + t * t);
      const s = c * t;
      for (let r = 0; r < 3; r++) {
        const x = b[r * 3 + p];
        const y = b[r * 3 + q];
        b[r * 3 + p] = c * x - s * y;
        b[r * 3 + q] = s * x + c * y;
        const vx = v[r * 3 + p];
        const vy = v[r * 3 + q];
        v[r * 3 + p] = c * vx - s * vy;
        v[r * 3 + q] = s * vx + c * vy;
      }
    }
    if (!rotated) break;
  }
  const sv = [0, 1, 2].map((c) => Math.hypot(b[c], b[3 + c], b[6 + c]));
  const order = [0, 1, 2].sort((i, j) => sv[j] - sv[i]);
  const S: Vec3 = [sv[order[0]], sv[order[1]], sv[order[2]]];
  const U = new Array<number>(9).fill(0);
  const V = new Array<number>(9).fill(0);
  const tiny = Math.max(S[0], 1e-300) * 1e-12;
  const cols: Vec3[] = [];
  for (let k = 0; k < 3; k++) {
    const c = order[k];
    for (let r = 0; r < 3; r++) V[r * 3 + k] = v[r * 3 + c];
    cols.push(S[k] > tiny ? [b[c] / S[k], b[3 + c] / S[k], b[6 + c] / S[k]] : [NaN, NaN, NaN]);
  }
  // complete U for zero singular values
  if (!Number.isFinite(cols[0][0])) cols[0] = [1, 0, 0];
  if (!Number.isFinite(cols[1][0])) {
    const u0 = cols[0];
    const helper: Vec3 = Math.abs(u0[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
    const c = cross(u0, helper);
    const n = norm(c);
    cols[1] = [c[0] / n, c[1] / n, c[2] / n];
  }
  if (!Number.isFinite(cols[2][0])) cols[2] = cross(cols[0], cols[1]);
  for (let k = 0; k < 3; k++) for (let r = 0; r < 3; r++) U[r * 3 + k] = cols[k][r];
  return { U, S, V };
}

// ---------------------------------------------------------------------------------------------
// Rotations

/** Rotation matrix of an axis-angle vector (Rodrigues). */
export function rotationFromVector(w: ArrayLike<number>): Mat3 {
  const th = Math.hypot(w[0], w[1], w[2]);
  if (th < 1e-12) return [1, -w[2], w[1], w[2], 1, -w[0], -w[1], w[0], 1];
  const x = w[0] / th;
  const y = w[1] / th;
  const z = w[2] / th;
  const c = Math.cos(th);
  const s = Math.sin(th);
  const C = 1 - c;
  return [c + x * x * C, x * y * C - z * s, x * z * C + y * s, y * x * C + z * s, c + y * y * C, y * z * C - x * s, z * x * C - y * s, z * y * C + x * s, c + z * z * C];
}

/** Axis-angle vector of a rotation matrix (angle in [0, pi]). */
export function vectorFromRotation(R: Mat3): Vec3 {
  const tr = R[0] + R[4] + R[8];
  const cos = Math.min(1, Math.max(-1, (tr - 1) / 2));
  const th = Math.acos(cos);
  if (th < 1e-7) return [(R[7] - R[5]) / 2, (R[2] - R[6]) / 2, (R[3] - R[1]) / 2];
  if (Math.PI - th < 1e-4) {
    // near pi: the axis from the diagonal of (R + I) / 2 = a a^T
    const xx = Math.max(0, (R[0] + 1) / 2);
    const yy = Math.max(0, (R[4] + 1) / 2);
    const zz = Math.max(0, (R[8] + 1) / 2);
    let ax: Vec3;
    if (xx >= yy && xx >= zz) {
      const x = Math.sqrt(xx);
      ax = [x, (R[1] + R[3]) / (4 * x), (R[2] + R[6]) / (4 * x)];
    } else if (yy >= zz) {
      const y = Math.sqrt(yy);
      ax = [(R[1] + R[3]) / (4 * y), y, (R[5] + R[7]) / (4 * y)];
    } else {
      const z = Math.sqrt(zz);
      ax = [(R[2] + R[6]) / (4 * z), (R[5] + R[7]) / (4 * z), z];
    }
    const n = norm(ax);
    return [(ax[0] / n) * th, (ax[1] / n) * th, (ax[2] / n) * th];
  }
  const k = th / (2 * Math.sin(th));
  return [(R[7] - R[5]) * k, (R[2] - R[6]) * k, (R[3] - R[1]) * k];
}

/** Rotation angle of R in degrees (0..180). */
export function rotationAngleDeg(R: Mat3): number {
  const cos = Math.min(1, Math.max(-1, (R[0] + R[4] + R[8] - 1) / 2));
  return (Math.acos(cos) * 180) / Math.PI;
}

// ---------------------------------------------------------------------------------------------
// Rigid / similarity alignment

export interface Alignment {
  /** dst ~= s R src + t */
  R: Mat3;
  t: Vec3;
  s: number;
  /** root mean square residual over the points used (m) */
  rmsd: number;
}

/**
 * Least-squares similarity (withScale) or rigid transform taking src onto dst (Umeyama 1991;
 * without scale this is the Kabsch solution): minimises sum w_i |dst_i - (s R src_i + t)|^2 with
 * det R = +1. Points are flat (x, y, z) arrays; `idx` restricts to a subset. Null when fewer than
 * 3 points or zero total weight.
 */
export function umeyama(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  opts: { withScale?: boolean; weights?: ArrayLike<number>; idx?: ArrayLike<number> } = {},
): Alignment | null {
  const n = opts.idx ? opts.idx.length : Math.min(src.length, dst.length) / 3;
  if (n < 3) return null;
  const at = (k: number) => (opts.idx ? opts.idx[k] : k);
  let W = 0;
  const ms = [0, 0, 0];
  const md = [0, 0, 0];
  for (let k = 0; k < n; k++) {
    const i = at(k);
    const w = opts.weights ? opts.weights[i] : 1;
    W += w;
    for (let a = 0; a < 3; a++) {
      ms[a] += w * src[i * 3 + a];
      md[a] += w * dst[i * 3 + a];
    }
  }
  if (!(W > 0)) return null;
  for (let a = 0; a < 3; a++) {
    ms[a] /= W;
    md[a] /= W;
  }
  const C = new Array<number>(9).fill(0); // covariance dst x src^T
  let varS = 0;
  for (let k = 0; k < n; k++) {
    const i = at(k);
    const w = opts.weights ? opts.weights[i] : 1;
    const sx = src[i * 3] - ms[0];
    const sy = src[i * 3 + 1] - ms[1];
    const sz = src[i * 3 + 2] - ms[2];
    const dx = dst[i * 3] - md[0];
    const dy = dst[i * 3 + 1] - md[1];
    const dz = dst[i * 3 + 2] - md[2];
    varS += w * (sx * sx + sy * sy + sz * sz);
    C[0] += w * dx * sx;
    C[1] += w * dx * sy;
    C[2] += w * dx * sz;
    C[3] += w * dy * sx;
    C[4] += w * dy * sy;
    C[5] += w * dy * sz;
    C[6] += w * dz * sx;
    C[7] += w * dz * sy;
    C[8] += w * dz * sz;
  }
  for (let i = 0; i < 9; i++) C[i] /= W;
  varS /= W;
  const { U, S, V } = svd3(C);
  const d = mat3Det(U) * mat3Det(V) < 0 ? -1 : 1;
  // R = U diag(1, 1, d) V^T
  const Ud = U.slice();
  Ud[2] *= d;
  Ud[5] *= d;
  Ud[8] *= d;
  const R = mat3Mul(Ud, mat3Transpose(V));
  const s = opts.withScale ? (varS > 0 ? (S[0] + S[1] + d * S[2]) / varS : 1) : 1;
  const Rm = mat3MulVec(R, ms);
  const t: Vec3 = [md[0] - s * Rm[0], md[1] - s * Rm[1], md[2] - s * Rm[2]];
  let se = 0;
  for (let k = 0; k < n; k++) {
    const i = at(k);
    const p = mat3MulVec(R, src, i * 3);
    const ex = s * p[0] + t[0] - dst[i * 3];
    const ey = s * p[1] + t[1] - dst[i * 3 + 1];
    const ez = s * p[2] + t[2] - dst[i * 3 + 2];
    se += ex * ex + ey * ey + ez * ez;
  }
  return { R, t, s, rmsd: Math.sqrt(se / n) };
}

/** Kabsch: the rigid (rotation + translation) least-squares fit; umeyama without scale. */
export function kabsch(src: ArrayLike<number>, dst: ArrayLike<number>, idx?: ArrayLike<number>): Alignment | null {
  return umeyama(src, dst, { withScale: false, idx });
}

/** Apply an alignment to one point. */
export function applyAlignment(a: Pick<Alignment, 'R' | 't' | 's'>, p: ArrayLike<number>, offset = 0): Vec3 {
  const q = mat3MulVec(a.R, p, offset);
  return [a.s * q[0] + a.t[0], a.s * q[1] + a.t[1], a.s * q[2] + a.t[2]];
}

/** Deterministic PRNG (mulberry32) in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RansacOptions {
  /** inlier distance threshold in metres (residual |dst - T(src)|) */
  threshold: number;
  /** maximum hypotheses (default 200); fewer when the inlier ratio allows (confidence 0.99) */
  iterations?: number;
  /** estimate a scale as well (Umeyama similarity) */
  withScale?: boolean;
  /** fewest inliers for a result (default 3) */
  minInliers?: number;
  /** PRNG seed, for reproducible results (default 1) */
  seed?: number;
  /** success probability for the adaptive iteration count (default 0.99) */
  confidence?: number;
}

export interface RansacResult extends Alignment {
  /** 1 = inlier */
  inliers: Uint8Array;
  inlierCount: number;
  /** hypotheses evaluated */
  iterations: number;
}

function residualsInliers(a: Alignment, src: ArrayLike<number>, dst: ArrayLike<number>, n: number, thr: number, out: Uint8Array): number {
  let cnt = 0;
  const thr2 = thr * thr;
  for (let i = 0; i < n; i++) {
    const p = mat3MulVec(a.R, src, i * 3);
    const ex = a.s * p[0] + a.t[0] - dst[i * 3];
    const ey = a.s * p[1] + a.t[1] - dst[i * 3 + 1];
    const ez = a.s * p[2] + a.t[2] - dst[i * 3 + 2];
    const ok = ex * ex + ey * ey + ez * ez <= thr2 ? 1 : 0;
    out[i] = ok;
    cnt += ok;
  }
  return cnt;
}

function indicesOf(mask: Uint8Array): Int32Array {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  const out = new Int32Array(n);
  let j = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) out[j++] = i;
  return out;
}

/**
 * RANSAC around Kabsch / Umeyama for correspondences with outliers: minimal samples of 3
 * non-collinear pairs, hypotheses scored by inlier count (ties: lower inlier error), the best one
 * refitted on its inliers until the inlier set is stable. Null when no hypothesis reaches
 * `minInliers`.
 */
export function ransacAlign(src: ArrayLike<number>, dst: ArrayLike<number>, opts: RansacOptions): RansacResult | null {
  const n = Math.floor(Math.min(src.length, dst.length) / 3);
  const minInliers = Math.max(3, opts.minInliers ?? 3);
  if (n < minInliers) return null;
  const maxIter = opts.iterations ?? 200;
  const conf = opts.confidence ?? 0.99;
  const rand = rng(opts.seed ?? 1);
  const mask = new Uint8Array(n);
  let best: Alignment | null = null;
  let bestCount = -1;
  let bestErr = Infinity;
  let needed = maxIter;
  let it = 0;
  const sample = new Int32Array(3);
  for (; it < Math.min(maxIter, needed); it++) {
    // draw 3 distinct indices whose source triangle is not degenerate
    let ok = false;
    for (let tries = 0; tries < 20 && !ok; tries++) {
      sample[0] = Math.floor(rand() * n);
      sample[1] = Math.floor(rand() * n);
      sample[2] = Math.floor(rand() * n);
      if (sample[0] === sample[1] || sample[0] === sample[2] || sample[1] === sample[2]) continue;
      const a = sample[0] * 3;
      const e1 = [src[sample[1] * 3] - src[a], src[sample[1] * 3 + 1] - src[a + 1], src[sample[1] * 3 + 2] - src[a + 2]];
      const e2 = [src[sample[2] * 3] - src[a], src[sample[2] * 3 + 1] - src[a + 1], src[sample[2] * 3 + 2] - src[a + 2]];
      const area = norm(cross(e1, e2));
      const scale = Math.max(1e-12, norm(e1) * norm(e2));
      ok = area / scale > 1e-3;
    }
    if (!ok) continue;
    const h = umeyama(src, dst, { withScale: opts.withScale, idx: sample });
    if (!h) continue;
    const cnt = residualsInliers(h, src, dst, n, opts.threshold, mask);
    if (cnt < 3 || cnt < bestCount) continue;
    // ties on the inlier count go to the hypothesis whose inliers fit better
    const fit = umeyama(src, dst, { withScale: opts.withScale, idx: indicesOf(mask) });
    const err = fit ? fit.rmsd : Infinity;
    if (cnt > bestCount || err < bestErr) {
      best = h;
      bestCount = cnt;
      bestErr = err;
      const pAll = (cnt / n) ** 3;
      needed = pAll >= 1 ? 1 : Math.ceil(Math.log(1 - conf) / Math.log(Math.max(1e-12, 1 - pAll)));
    }
  }
  if (!best || bestCount < minInliers) return null;
  // refit on the inliers until the set stops changing
  let fit: Alignment = best;
  let count = residualsInliers(fit, src, dst, n, opts.threshold, mask);
  for (let k = 0; k < 5; k++) {
    const idx = indicesOf(mask);
    const refit = umeyama(src, dst, { withScale: opts.withScale, idx });
    if (!refit) break;
    const next = new Uint8Array(n);
    const c2 = residualsInliers(refit, src, dst, n, opts.threshold, next);
    if (c2 < count) break;
    const same = c2 === count && next.every((v, i) => v === mask[i]);
    fit = refit;
    mask.set(next);
    count = c2;
    if (same) break;
  }
  if (count < minInliers) return null;
  const final = umeyama(src, dst, { withScale: opts.withScale, idx: indicesOf(mask) }) ?? fit;
  return { ...final, inliers: mask, inlierCount: count, iterations: it };
}

// ---------------------------------------------------------------------------------------------
// Planes

export interface Plane {
  /** unit normal, oriented towards the camera (n . (0,0,-1) >= 0, i.e. n_z <= 0) */
  normal: Vec3;
  /** plane: normal . p + d = 0 */
  d: number;
  centroid: Vec3;
  /** RMS point-to-plane distance (m) */
  rms: number;
}

/** Least-squares plane through points (smallest eigenvector of the covariance); null for < 3 points. */
export function fitPlane(points: ArrayLike<number>, idx?: ArrayLike<number>): Plane | null {
  const n = idx ? idx.length : Math.floor(points.length / 3);
  if (n < 3) return null;
  const at = (k: number) => (idx ? idx[k] : k);
  const c = [0, 0, 0];
  for (let k = 0; k < n; k++) for (let a = 0; a < 3; a++) c[a] += points[at(k) * 3 + a];
  for (let a = 0; a < 3; a++) c[a] /= n;
  const C = new Array<number>(9).fill(0);
  for (let k = 0; k < n; k++) {
    const i = at(k);
    const x = points[i * 3] - c[0];
    const y = points[i * 3 + 1] - c[1];
    const z = points[i * 3 + 2] - c[2];
    C[0] += x * x;
    C[1] += x * y;
    C[2] += x * z;
    C[4] += y * y;
    C[5] += y * z;
    C[8] += z * z;
  }
  C[3] = C[1];
  C[6] = C[2];
  C[7] = C[5];
  const { values, vectors } = symmetricEigen3(C);
  let nrm: Vec3 = [vectors[0], vectors[3], vectors[6]];
  if (nrm[2] > 0) nrm = [-nrm[0], -nrm[1], -nrm[2]];
  const d = -dot(nrm, c);
  return { normal: nrm, d, centroid: [c[0], c[1], c[2]], rms: Math.sqrt(Math.max(0, values[0]) / n) };
}

/** RANSAC plane (3-point hypotheses, refit on inliers); null when fewer than 3 inliers. */
export function fitPlaneRansac(points: ArrayLike<number>, threshold: number, iterations = 200, seed = 1): (Plane & { inliers: Uint8Array; inlierCount: number }) | null {
  const n = Math.floor(points.length / 3);
  if (n < 3) return null;
  const rand = rng(seed);
  const mask = new Uint8Array(n);
  let bestCount = -1;
  let bestMask = new Uint8Array(n);
  for (let it = 0; it < iterations; it++) {
    const i = Math.floor(rand() * n);
    const j = Math.floor(rand() * n);
    const k = Math.floor(rand() * n);
    if (i === j || i === k || j === k) continue;
    const e1 = sub([points[j * 3], points[j * 3 + 1], points[j * 3 + 2]], [points[i * 3], points[i * 3 + 1], points[i * 3 + 2]]);
    const e2 = sub([points[k * 3], points[k * 3 + 1], points[k * 3 + 2]], [points[i * 3], points[i * 3 + 1], points[i * 3 + 2]]);
    const nn = cross(e1, e2);
    const l = norm(nn);
    if (l < 1e-12) continue;
    const nrm: Vec3 = [nn[0] / l, nn[1] / l, nn[2] / l];
    const d = -(nrm[0] * points[i * 3] + nrm[1] * points[i * 3 + 1] + nrm[2] * points[i * 3 + 2]);
    let cnt = 0;
    for (let p = 0; p < n; p++) {
      const ok = Math.abs(nrm[0] * points[p * 3] + nrm[1] * points[p * 3 + 1] + nrm[2] * points[p * 3 + 2] + d) <= threshold ? 1 : 0;
      mask[p] = ok;
      cnt += ok;
    }
    if (cnt > bestCount) {
      bestCount = cnt;
      bestMask = mask.slice();
    }
  }
  if (bestCount < 3) return null;
  const plane = fitPlane(points, indicesOf(bestMask));
  if (!plane) return null;
  const inl = new Uint8Array(n);
  let cnt = 0;
  for (let p = 0; p < n; p++) {
    const ok = Math.abs(dot(plane.normal, [points[p * 3], points[p * 3 + 1], points[p * 3 + 2]]) + plane.d) <= threshold ? 1 : 0;
    inl[p] = ok;
    cnt += ok;
  }
  return { ...plane, inliers: inl, inlierCount: cnt };
}
