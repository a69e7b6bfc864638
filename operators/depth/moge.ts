/**
 * MoGe-2 post-processing, re-implemented from the description of MoGe's `infer()` (the part the
 * official ONNX export leaves out): the network predicts an affine-invariant point map (x, y, z up
 * to an unknown z shift), a validity mask and a metric scale; the focal length and the shift are
 * recovered by least squares from the point map, then depth = (z + shift) * metric_scale.
 *
 * Normalised view plane ("uv"): the principal point is the image centre and coordinates are in
 * units of half the image diagonal, so pixel x (0-based, centre at x + 0.5 in edge coordinates)
 * has u = (x + 0.5 - W/2) / (D/2), D = sqrt(W^2 + H^2); likewise v for rows. A focal `f` in these
 * units is f * D / 2 pixels, for both axes (square pixels), with cx = W/2 - 0.5, cy = H/2 - 0.5 in
 * OpenCV pixel-centre coordinates.
 *
 * Solve (as MoGe's recover_focal_shift): on a 64x64 nearest-neighbour subsample of the map
 * (torch's `nearest`: source index floor(i * in / out)), masked, find the shift minimising
 * sum |f(shift) * xy / (z + shift) - uv|^2 where f(shift) is the closed-form best focal for that
 * shift (or the known focal). MoGe runs scipy's Levenberg-Marquardt from shift 0 with ftol 1e-3;
 * here a damped Gauss-Newton with the analytic derivative from shift 0, run to a tighter
 * tolerance (same minimum, digits beyond MoGe's tolerance may differ).
 */

export const SOLVE_SIZE = 64;

/** u (columns) and v (rows) of the normalised view plane for a W x H map. */
export function viewPlaneUv(width: number, height: number): { u: Float64Array; v: Float64Array; halfDiag: number } {
  const halfDiag = Math.hypot(width, height) / 2;
  const u = new Float64Array(width);
  const v = new Float64Array(height);
  for (let x = 0; x < width; x++) u[x] = (x + 0.5 - width / 2) / halfDiag;
  for (let y = 0; y < height; y++) v[y] = (y + 0.5 - height / 2) / halfDiag;
  return { u, v, halfDiag };
}

/** torch F.interpolate(mode='nearest') source indices for in -> out. */
export function nearestIndices(nIn: number, nOut: number): Int32Array {
  const out = new Int32Array(nOut);
  const scale = nIn / nOut;
  for (let i = 0; i < nOut; i++) out[i] = Math.min(nIn - 1, Math.floor(i * scale));
  return out;
}

/** The samples the solve uses: uv and xyz of valid points on the 64 x 64 subsample. */
export interface SolveSamples {
  uv: Float64Array;
  xyz: Float64Array;
  n: number;
}

/**
 * Collect solve samples from a point map (H x W x 3, row-major, as MoGe's `points[0]`) and its
 * mask probabilities (H x W; a pixel is valid when mask > threshold).
 */
export function solveSamples(points: ArrayLike<number>, mask: ArrayLike<number> | null, width: number, height: number, threshold = 0.5, size = SOLVE_SIZE): SolveSamples {
  const { u, v } = viewPlaneUv(width, height);
  const rows = nearestIndices(height, size);
  const cols = nearestIndices(width, size);
  const uv = new Float64Array(size * size * 2);
  const xyz = new Float64Array(size * size * 3);
  let n = 0;
  for (let i = 0; i < size; i++) {
    const y = rows[i];
    for (let j = 0; j < size; j++) {
      const x = cols[j];
      const p = y * width + x;
      if (mask && !(mask[p] > threshold)) continue;
      const X = points[p * 3];
      const Y = points[p * 3 + 1];
      const Z = points[p * 3 + 2];
      if (!Number.isFinite(X) || !Number.isFinite(Y) || !Number.isFinite(Z)) continue;
      uv[n * 2] = u[x];
      uv[n * 2 + 1] = v[y];
      xyz[n * 3] = X;
      xyz[n * 3 + 1] = Y;
      xyz[n * 3 + 2] = Z;
      n++;
    }
  }
  return { uv: uv.subarray(0, n * 2), xyz: xyz.subarray(0, n * 3), n };
}

/** Best focal for a shift (closed form) and the squared error. */
function focalAndError(s: SolveSamples, shift: number, focal?: number): { f: number; err: number; ok: boolean } {
  let pu = 0;
  let pp = 0;
  let uu = 0;
  for (let k = 0; k < s.n; k++) {
    const z = s.xyz[k * 3 + 2] + shift;
    if (!(z > 0)) return { f: NaN, err: Infinity, ok: false };
    const px = s.xyz[k * 3] / z;
    const py = s.xyz[k * 3 + 1] / z;
    const u = s.uv[k * 2];
    const v = s.uv[k * 2 + 1];
    pu += px * u + py * v;
    pp += px * px + py * py;
    uu += u * u + v * v;
  }
  const f = focal ?? (pp > 0 ? pu / pp : NaN);
  // |f p - uv|^2 summed = f^2 pp - 2 f pu + uu
  return { f, err: f * f * pp - 2 * f * pu + uu, ok: Number.isFinite(f) };
}

/** Residuals and their derivative w.r.t. the shift, accumulated as J^T r and J^T J. */
function gaussNewtonTerms(s: SolveSamples, shift: number, focal?: number): { jtr: number; jtj: number } {
  // p_k = xy_k / (z_k + s); dp_k/ds = -p_k / (z_k + s)
  let pu = 0;
  let pp = 0;
  let dpu = 0;
  let pdp = 0;
  for (let k = 0; k < s.n; k++) {
    const z = s.xyz[k * 3 + 2] + shift;
    const px = s.xyz[k * 3] / z;
    const py = s.xyz[k * 3 + 1] / z;
    const dx = -px / z;
    const dy = -py / z;
    pu += px * s.uv[k * 2] + py * s.uv[k * 2 + 1];
    pp += px * px + py * py;
    dpu += dx * s.uv[k * 2] + dy * s.uv[k * 2 + 1];
    pdp += px * dx + py * dy;
  }
  const f = focal ?? pu / pp;
  const df = focal !== undefined ? 0 : (dpu * pp - pu * 2 * pdp) / (pp * pp);
  let jtr = 0;
  let jtj = 0;
  for (let k = 0; k < s.n; k++) {
    const z = s.xyz[k * 3 + 2] + shift;
    const px = s.xyz[k * 3] / z;
    const py = s.xyz[k * 3 + 1] / z;
    const jx = df * px + f * (-px / z);
    const jy = df * py + f * (-py / z);
    const rx = f * px - s.uv[k * 2];
    const ry = f * py - s.uv[k * 2 + 1];
    jtr += jx * rx + jy * ry;
    jtj += jx * jx + jy * jy;
  }
  return { jtr, jtj };
}

export interface FocalShift {
  /** focal relative to half the image diagonal */
  focal: number;
  /** z shift that turns the affine point map into camera space (before the metric scale) */
  shift: number;
  /** samples used */
  samples: number;
  /** final mean squared reprojection error in view-plane units */
  mse: number;
  /** true when the solve had too few samples and returned MoGe's fallback (focal 1, shift 0) */
  fallback: boolean;
}

/**
 * Recover focal and shift (or only the shift when `focal` is given) from solve samples.
 * Fewer than 2 samples: MoGe's fallback, focal 1 and shift 0.
 */
export function solveFocalShift(s: SolveSamples, focal?: number): FocalShift {
  if (s.n < 2) return { focal: focal ?? 1, shift: 0, samples: s.n, mse: NaN, fallback: true };
  let minZ = Infinity;
  for (let k = 0; k < s.n; k++) minZ = Math.min(minZ, s.xyz[k * 3 + 2]);
  let shift = 0;
  // start inside the feasible region (all z + shift > 0)
  if (!(minZ + shift > 0)) shift = -minZ + 1e-3 * Math.max(1, Math.abs(minZ));
  let cur = focalAndError(s, shift, focal);
  let lambda = 1e-3;
  let done = false;
  for (let it = 0; it < 200 && !done; it++) {
    const { jtr, jtj } = gaussNewtonTerms(s, shift, focal);
    if (!(jtj > 0)) break;
    let accepted = false;
    for (let tries = 0; tries < 30; tries++) {
      const step = -jtr / (jtj * (1 + lambda));
      let next = shift + step;
      if (!(minZ + next > 0)) next = (shift + -minZ) / 2; // stay feasible: halfway to the boundary
      const cand = focalAndError(s, next, focal);
      if (cand.ok && cand.err <= cur.err) {
        const rel = Math.abs(next - shift) / Math.max(1e-12, Math.abs(shift) + Math.abs(minZ) + 1e-12);
        shift = next;
        const gain = cur.err - cand.err;
        cur = cand;
        lambda = Math.max(1e-12, lambda / 10);
        accepted = true;
        done = rel < 1e-12 || gain <= 1e-15 * Math.max(1e-30, cand.err);
        break;
      }
      lambda *= 10;
    }
    if (!accepted) break;
  }
  return { focal: cur.f, shift, samples: s.n, mse: cur.err / s.n, fallback: false };
}

/** Depth (metres) from MoGe outputs: (z + shift) * metric_scale where mask > threshold and depth > 0; NaN elsewhere. */
export function mogeDepth(points: ArrayLike<number>, mask: ArrayLike<number> | null, width: number, height: number, shift: number, metricScale: number, threshold = 0.5): Float32Array {
  const out = new Float32Array(width * height);
  for (let p = 0; p < width * height; p++) {
    const z = points[p * 3 + 2] + shift;
    out[p] = (mask && !(mask[p] > threshold)) || !(z > 0) || !Number.isFinite(z) ? NaN : z * metricScale;
  }
  return out;
}

/** Focal in pixels of a W x H map from MoGe's normalised focal. */
export function focalPx(focal: number, width: number, height: number): number {
  return (focal * Math.hypot(width, height)) / 2;
}

/** MoGe's normalised focal for a focal in pixels of a W x H map. */
export function focalNormalised(fpx: number, width: number, height: number): number {
  return fpx / (Math.hypot(width, height) / 2);
}
