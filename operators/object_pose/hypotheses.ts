/**
 * Pose hypotheses, as FoundationPose's make_rotation_grid / guess_translation (and Isaac ROS's
 * PoseSampler):
 *
 *  - viewpoints: the vertices of an icosphere subdivided until it has at least `minViews` (40)
 *    vertices -> 42 viewpoints;
 *  - per viewpoint a camera at the vertex looking at the object origin (z = -vertex, x = up x z
 *    with up = +z, or +x when that vanishes, y = z x x), rotated in-plane about its z axis in
 *    steps of `inplaneStepDeg` (60 deg -> 6): 42 x 6 = 252 rotations (object -> camera = the
 *    inverse of camera-in-object);
 *  - rotations closer than 30 deg (geodesic) to an earlier one are dropped (none are for this
 *    grid: 252 remain);
 *  - translation: the centre of the mask's bounding box ((min + max) / 2 in pixels), unprojected
 *    at the median depth of the mask pixels with depth >= min_depth.
 */
import { cross, mat3, mul3, normalize3, rotZ, rotationDistance, transpose3, unproject, type Intrinsics, type Mat3, type Pose, type Vec3 } from './math.js';
import { icosahedron, subdivideSphere } from './mesh.js';

export const DEFAULT_MIN_VIEWS = 40;
export const DEFAULT_INPLANE_STEP_DEG = 60;
export const DEFAULT_CLUSTER_DEG = 30;

/** Unit vectors of an icosphere with at least `minViews` vertices (12, 42, 162, ...). */
export function icosphereViews(minViews = DEFAULT_MIN_VIEWS): number[][] {
  let s = icosahedron();
  while (s.vertices.length < minViews) s = subdivideSphere(s.vertices, s.faces);
  return s.vertices;
}

/** Camera-in-object rotation (columns x, y, z) for a camera at unit vector `v` looking at the origin. */
export function lookAtOrigin(v: ArrayLike<number>): Mat3 {
  const z = normalize3([-v[0], -v[1], -v[2]]);
  let x = cross([0, 0, 1], z);
  if (Math.hypot(x[0], x[1], x[2]) < 1e-9) x = [1, 0, 0];
  x = normalize3(x);
  const y = normalize3(cross(z, x));
  // columns x, y, z
  return mat3([x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2]]);
}

export interface RotationGridOptions {
  minViews?: number;
  inplaneStepDeg?: number;
  /** drop rotations within this geodesic angle of a kept one; 0 = keep all */
  clusterDeg?: number;
}

/** Object -> camera rotations of the hypothesis grid (252 with the defaults). */
export function rotationGrid(opts: RotationGridOptions = {}): Mat3[] {
  const views = icosphereViews(opts.minViews ?? DEFAULT_MIN_VIEWS);
  const step = ((opts.inplaneStepDeg ?? DEFAULT_INPLANE_STEP_DEG) * Math.PI) / 180;
  if (!(step > 0)) throw new RangeError('inplaneStepDeg must be positive');
  const grid: Mat3[] = [];
  for (const v of views) {
    const camInOb = lookAtOrigin(v);
    const n = Math.round((2 * Math.PI) / step);
    for (let k = 0; k < n && k * step < 2 * Math.PI - 1e-9; k++) {
      // ob_in_cam = (cam_in_ob Rz)^-1 = (cam_in_ob Rz)^T
      grid.push(transpose3(mul3(camInOb, rotZ(k * step))));
    }
  }
  const deg = opts.clusterDeg ?? DEFAULT_CLUSTER_DEG;
  return deg > 0 ? clusterRotations(grid, deg) : grid;
}

/** Greedy clustering in order: keep a rotation unless it is within `deg` of a kept one. */
export function clusterRotations(rots: readonly Mat3[], deg: number): Mat3[] {
  const thr = (deg * Math.PI) / 180;
  const kept: Mat3[] = [];
  for (const r of rots) {
    if (kept.every((k) => rotationDistance(k, r) >= thr)) kept.push(r);
  }
  return kept;
}

export function makeHypotheses(rotations: readonly Mat3[], t: ArrayLike<number>): Pose[] {
  return rotations.map((R) => ({ R: mat3(R), t: [t[0], t[1], t[2]] as Vec3 }));
}

export interface TranslationGuess {
  t: Vec3;
  /** mask bbox centre, pixels */
  uv: [number, number];
  /** median depth used, metres */
  depth: number;
  /** mask pixels with valid depth */
  validPixels: number;
}

/**
 * Initial translation from a binary mask (row-major, width x height, nonzero = object) and a depth
 * map of the same size (metres). Null when the mask is empty or no mask pixel has depth.
 */
export function guessTranslation(mask: Uint8Array, depth: Float32Array, width: number, height: number, K: Intrinsics, minDepth = 0.1): TranslationGuess | null {
  if (mask.length !== width * height || depth.length !== width * height) throw new RangeError('mask and depth must both be width x height');
  let x0 = width, x1 = -1, y0 = height, y1 = -1;
  const ds: number[] = [];
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (!mask[row + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      const d = depth[row + x];
      if (d >= minDepth && Number.isFinite(d)) ds.push(d);
    }
  }
  if (x1 < 0 || !ds.length) return null;
  const z = median(ds);
  const u = (x0 + x1) / 2;
  const v = (y0 + y1) / 2;
  return { t: unproject(K, u, v, z), uv: [u, v], depth: z, validPixels: ds.length };
}

export function median(values: number[]): number {
  const a = Float64Array.from(values).sort();
  const n = a.length;
  if (!n) return NaN;
  return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
}
