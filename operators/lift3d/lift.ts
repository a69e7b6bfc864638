/**
 * Lifting 2D observations to the camera frame with a metric depth map: masks -> robust 3D
 * centroid, extent and a small grid of 3D points in the mask's own principal-axis frame (used by
 * object_motion as correspondences); hands -> 21 joints in metres.
 */
import { depthAround, type DepthMap } from '../depth/map.js';
import { median, robustCloudStats, type Vec3 } from '../../src/geometry3d.js';
import { countSet, erode, sampleMask, type MaskWindow } from './mask.js';

export interface ObjectLiftOptions {
  /** erosion radius in depth pixels before sampling (mask edges bleed into the background) */
  erodePx: number;
  /** at most this many depth pixels are back-projected (stride subsampling) */
  maxPoints: number;
  /** depth outlier rejection: k robust sigmas, at least minTolerance metres */
  outlierK: number;
  minToleranceM: number;
  /** extent = inter-quantile range [q, 1 - q] per axis */
  extentQuantile: number;
  /** grid cells per side (n x n) of the correspondence grid; 0 = none */
  gridSize: number;
  /** fewest inlier pixels for a grid cell */
  minCellPx: number;
  /** fewest valid depth pixels for a result */
  minValidPx: number;
}

export const DEFAULT_OBJECT_OPTIONS: ObjectLiftOptions = {
  erodePx: 1,
  maxPoints: 4096,
  outlierK: 3,
  minToleranceM: 0.01,
  extentQuantile: 0.05,
  gridSize: 6,
  minCellPx: 2,
  minValidPx: 5,
};

export interface ObjectLift {
  centroid: Vec3;
  extent: Vec3;
  /** mask pixels on the depth grid (after erosion) */
  maskPx: number;
  /** of those, with depth */
  validPx: number;
  /** depth pixels kept by the outlier rejection (of the back-projected ones) */
  inlierFrac: number;
  /** robust sigma of the depth inside the mask (m) */
  depthSigma: number;
  confidence: number;
  /** mean of the mask pixels, image pixels */
  centroid2d: [number, number];
  /** principal axis of the mask in the image, degrees from +x towards +y */
  axisAngleDeg: number;
  /** correspondence grid: cell index (row-major over gridSize x gridSize) and its mean 3D point */
  gridIdx: number[];
  gridPoints: number[];
}

/**
 * 3D centroid / extent of the visible surface of a mask (COCO RLE counts at H x W) with a depth
 * map. Null when the mask is empty or has fewer than minValidPx depth pixels.
 */
export function liftMask(counts: ArrayLike<number>, H: number, W: number, map: DepthMap, opts: ObjectLiftOptions = DEFAULT_OBJECT_OPTIONS): ObjectLift | null {
  const raw = sampleMask(counts, H, W, map.width, map.height);
  if (!raw) return null;
  let win: MaskWindow = erode(raw, opts.erodePx);
  let maskPx = countSet(win);
  if (maskPx === 0) {
    // thinner than the erosion: use the mask as it is
    win = raw;
    maskPx = countSet(win);
  }
  return liftWindow(win, maskPx, map, opts);
}

/** liftMask on an already sampled window (exposed for tests and the bench). */
export function liftWindow(win: MaskWindow, maskPx: number, map: DepthMap, opts: ObjectLiftOptions = DEFAULT_OBJECT_OPTIONS): ObjectLift | null {
  const { fx, fy, cx, cy } = map.Kd;
  const stride = Math.max(1, Math.ceil(Math.sqrt(maskPx / Math.max(1, opts.maxPoints))));
  let validPx = 0;
  // back-projected samples and their depth-pixel coordinates
  const cap = Math.ceil(win.w / stride) * Math.ceil(win.h / stride);
  const pts = new Float64Array(cap * 3);
  const pix = new Float64Array(cap * 2);
  let n = 0;
  let sumX = 0;
  let sumY = 0;
  for (let j = 0; j < win.h; j++) {
    const dy = win.y0 + j;
    for (let i = 0; i < win.w; i++) {
      if (!win.data[j * win.w + i]) continue;
      const dx = win.x0 + i;
      sumX += dx;
      sumY += dy;
      const d = map.depth[dy * map.width + dx];
      if (!(d > 0)) continue;
      validPx++;
      if (j % stride !== 0 || i % stride !== 0) continue;
      pts[n * 3] = ((dx - cx) / fx) * d;
      pts[n * 3 + 1] = ((dy - cy) / fy) * d;
      pts[n * 3 + 2] = d;
      pix[n * 2] = dx;
      pix[n * 2 + 1] = dy;
      n++;
    }
  }
  if (validPx < opts.minValidPx || n < 1) return null;
  const cloud = robustCloudStats(pts.subarray(0, n * 3), { k: opts.outlierK, minTolerance: opts.minToleranceM, extentQuantile: opts.extentQuantile });
  if (!cloud) return null;
  const inlierFrac = cloud.inliers / n;
  const validFrac = validPx / maskPx;
  const confidence = Math.min(1, validFrac) * inlierFrac * (1 - Math.exp(-validPx / 20));
  // image pixel of the mean mask pixel (depth-pixel centre -> image pixel)
  const mx = sumX / maskPx;
  const my = sumY / maskPx;
  const centroid2d: [number, number] = [(mx + 0.5) * (map.imageWidth / map.width) - 0.5, (my + 0.5) * (map.imageHeight / map.height) - 0.5];
  const grid = opts.gridSize > 0 ? maskGrid(pts, pix, cloud.mask, n, opts.gridSize, opts.minCellPx) : { idx: [], points: [], angle: NaN };
  return {
    centroid: cloud.centroid,
    extent: cloud.extent,
    maskPx,
    validPx,
    inlierFrac,
    depthSigma: cloud.sigmaZ,
    confidence,
    centroid2d,
    axisAngleDeg: grid.angle,
    gridIdx: grid.idx,
    gridPoints: grid.points,
  };
}

/**
 * n x n grid in the principal-axis frame of the inlier pixels: axes from the 2x2 pixel covariance,
 * the major axis pointing to the side of positive skewness (so the frame turns with the object),
 * the minor axis 90 degrees from it; cells span +-2 sigma along each axis. Each cell with at least
 * minCellPx inliers gives the mean 3D point of its pixels. Cells of two views of the same object
 * are correspondences up to the residual ambiguity of the axis signs (object_motion checks the
 * 180-degree flip).
 */
export function maskGrid(pts: ArrayLike<number>, pix: ArrayLike<number>, inlier: Uint8Array, n: number, size: number, minCellPx: number): { idx: number[]; points: number[]; angle: number } {
  let cnt = 0;
  let mx = 0;
  let my = 0;
  for (let k = 0; k < n; k++) {
    if (!inlier[k]) continue;
    cnt++;
    mx += pix[k * 2];
    my += pix[k * 2 + 1];
  }
  if (cnt < 3) return { idx: [], points: [], angle: NaN };
  mx /= cnt;
  my /= cnt;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let k = 0; k < n; k++) {
    if (!inlier[k]) continue;
    const x = pix[k * 2] - mx;
    const y = pix[k * 2 + 1] - my;
    sxx += x * x;
    syy += y * y;
    sxy += x * y;
  }
  sxx /= cnt;
  syy /= cnt;
  sxy /= cnt;
  let theta = 0.5 * Math.atan2(2 * sxy, sxx - syy);
  let ax = Math.cos(theta);
  let ay = Math.sin(theta);
  // third moment along the major axis fixes its sign
  let m3 = 0;
  for (let k = 0; k < n; k++) {
    if (!inlier[k]) continue;
    const a = (pix[k * 2] - mx) * ax + (pix[k * 2 + 1] - my) * ay;
    m3 += a * a * a;
  }
  if (m3 < 0) {
    ax = -ax;
    ay = -ay;
    theta += Math.PI;
  }
  const bx = -ay; // minor axis: major rotated +90 degrees (image y down)
  const by = ax;
  let s1 = 0;
  let s2 = 0;
  for (let k = 0; k < n; k++) {
    if (!inlier[k]) continue;
    const x = pix[k * 2] - mx;
    const y = pix[k * 2 + 1] - my;
    const a = x * ax + y * ay;
    const b = x * bx + y * by;
    s1 += a * a;
    s2 += b * b;
  }
  s1 = Math.max(0.5, Math.sqrt(s1 / cnt));
  s2 = Math.max(0.5, Math.sqrt(s2 / cnt));
  const cells = size * size;
  const sum = new Float64Array(cells * 3);
  const num = new Int32Array(cells);
  for (let k = 0; k < n; k++) {
    if (!inlier[k]) continue;
    const x = pix[k * 2] - mx;
    const y = pix[k * 2 + 1] - my;
    const a = (x * ax + y * ay) / (2 * s1);
    const b = (x * bx + y * by) / (2 * s2);
    const i = Math.min(size - 1, Math.max(0, Math.floor(((a + 1) / 2) * size)));
    const j = Math.min(size - 1, Math.max(0, Math.floor(((b + 1) / 2) * size)));
    const c = j * size + i;
    num[c]++;
    sum[c * 3] += pts[k * 3];
    sum[c * 3 + 1] += pts[k * 3 + 1];
    sum[c * 3 + 2] += pts[k * 3 + 2];
  }
  const idx: number[] = [];
  const points: number[] = [];
  for (let c = 0; c < cells; c++) {
    if (num[c] < minCellPx) continue;
    idx.push(c);
    points.push(sum[c * 3] / num[c], sum[c * 3 + 1] / num[c], sum[c * 3 + 2] / num[c]);
  }
  let deg = (theta * 180) / Math.PI;
  deg = ((deg % 360) + 360) % 360;
  return { idx, points, angle: deg };
}

// ---------------------------------------------------------------------------------------------
// Hands

/** MediaPipe / OpenPose palm joints: wrist and the four finger MCPs. */
export const PALM_JOINTS = [0, 5, 9, 13, 17] as const;

export interface HandLift {
  /** 21 x 3, metres, camera frame */
  joints: number[];
  /** depth of the wrist joint (m) */
  wristDepth: number;
  /** fraction of palm joints with depth */
  confidence: number;
}

/**
 * 21 joints from image keypoints (kp2d, px) and the landmark model's relative z (kp3d_rel z, in
 * the pixel scale of x, wrist-relative): each palm joint's depth gives a wrist depth
 * Z_w = d_i / (1 + zr_i / fx); their median anchors the hand, and joint i sits at depth
 * Z_w (1 + zr_i / fx) on its pixel's ray. Null without any palm depth.
 */
export function liftHandKeypoints(kp2d: ArrayLike<number>, kp3dRel: ArrayLike<number> | null, map: DepthMap, radius = 2): HandLift | null {
  const K = map.K;
  const zr = (i: number) => (kp3dRel && kp3dRel.length >= 63 && Number.isFinite(kp3dRel[i * 3 + 2]) ? kp3dRel[i * 3 + 2] - (kp3dRel[2] || 0) : 0);
  const anchors: number[] = [];
  for (const i of PALM_JOINTS) {
    const u = kp2d[i * 2];
    const v = kp2d[i * 2 + 1];
    if (!Number.isFinite(u) || !Number.isFinite(v)) continue;
    const d = depthAround(map, u, v, radius);
    if (d > 0) anchors.push(d / (1 + zr(i) / K.fx));
  }
  if (!anchors.length) return null;
  const zw = median(anchors);
  const joints: number[] = new Array(63);
  for (let i = 0; i < 21; i++) {
    const z = zw * (1 + zr(i) / K.fx);
    joints[i * 3] = ((kp2d[i * 2] - K.cx) / K.fx) * z;
    joints[i * 3 + 1] = ((kp2d[i * 2 + 1] - K.cy) / K.fy) * z;
    joints[i * 3 + 2] = z;
  }
  return { joints, wristDepth: zw, confidence: anchors.length / PALM_JOINTS.length };
}

/**
 * hand_pose_3d joints (metres, their own camera) re-anchored with the depth map: the wrist goes
 * on the ray of its image position (joints_2d[0]) at the depth the palm joints agree on
 * (d_i - (z_i - z_0)), and the joints keep their shape relative to the wrist. Null without palm
 * depth or 2D joints.
 */
export function liftHandPose(jointsCam: ArrayLike<number>, joints2d: ArrayLike<number> | null, map: DepthMap, radius = 2): HandLift | null {
  if (!joints2d || joints2d.length < 42) return null;
  const K = map.K;
  const anchors: number[] = [];
  for (const i of PALM_JOINTS) {
    const u = joints2d[i * 2];
    const v = joints2d[i * 2 + 1];
    if (!Number.isFinite(u) || !Number.isFinite(v)) continue;
    const d = depthAround(map, u, v, radius);
    if (d > 0) anchors.push(d - (jointsCam[i * 3 + 2] - jointsCam[2]));
  }
  if (!anchors.length) return null;
  const zw = median(anchors);
  if (!(zw > 0)) return null;
  const root: Vec3 = [((joints2d[0] - K.cx) / K.fx) * zw, ((joints2d[1] - K.cy) / K.fy) * zw, zw];
  const joints: number[] = new Array(63);
  for (let i = 0; i < 21; i++) for (let a = 0; a < 3; a++) joints[i * 3 + a] = root[a] + jointsCam[i * 3 + a] - jointsCam[a];
  return { joints, wristDepth: zw, confidence: anchors.length / PALM_JOINTS.length };
}

/** Image projection of joints with the depth map's intrinsics (21 x 2, px). */
export function projectJoints(joints: ArrayLike<number>, map: DepthMap): number[] {
  const out: number[] = new Array(42);
  for (let i = 0; i < 21; i++) {
    const z = joints[i * 3 + 2];
    out[i * 2] = z > 0 ? (map.K.fx * joints[i * 3]) / z + map.K.cx : NaN;
    out[i * 2 + 1] = z > 0 ? (map.K.fy * joints[i * 3 + 1]) / z + map.K.cy : NaN;
  }
  return out;
}
