/**
 * Crop windows and crop sampling, as FoundationPose ('box_3d' crop window) and Isaac ROS
 * FoundationPose do it:
 *
 *  - window: r = diameter * crop_ratio / 2; project the object centre t and t ± r along the
 *    camera x and y axes; radius = the largest |offset| in pixels; left/right/top/bottom =
 *    centre ∓ radius, each rounded; the image -> crop map is the scale S/(right-left),
 *    S/(bottom-top) after the shift (-left, -top). Refiner crop_ratio 1.2, scorer 1.1.
 *  - observed RGB: crop pixel (u, v) samples the image at crop^-1 (u, v), bilinear, pixels outside
 *    the image black (OpenCV/CV-CUDA warpPerspective, INTER_LINEAR, BORDER_CONSTANT 0), / 255.
 *  - observed XYZ: nearest pixel of the depth map at crop^-1 (u, v), unprojected with K; 0
 *    outside or without depth (warpPerspective INTER_NEAREST on the xyz map).
 *  - both XYZ crops, normalised: invalid when z < min_depth; (xyz - t) / (diameter / 2); invalid
 *    when any |component| >= 2; invalid pixels are (0, 0, 0).
 *
 * Network input layout: float32 NHWC [N, S, S, 6], channels r, g, b, x, y, z.
 */
import type { Intrinsics } from './math.js';
import type { Affine } from './render.js';

export const CROP_SIZE = 160;
export const CHANNELS = 6;
export const REFINE_CROP_RATIO = 1.2;
export const SCORE_CROP_RATIO = 1.1;
/** normalised XYZ outside (-bound, bound) is zeroed */
export const XYZ_BOUND = 2;
/** metres: depth below this is "no depth" (Isaac ROS min_depth) */
export const MIN_DEPTH = 0.1;

export interface CropWindow extends Affine {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The image -> crop affine for an object centred at `t` (camera frame, metres). */
export function cropWindow(t: ArrayLike<number>, K: Intrinsics, diameter: number, cropRatio: number, size = CROP_SIZE): CropWindow {
  if (!(t[2] > 0)) throw new RangeError(`object centre must be in front of the camera (z = ${t[2]})`);
  const r = (diameter * cropRatio) / 2;
  const uc = (K.fx * t[0]) / t[2] + K.cx;
  const vc = (K.fy * t[1]) / t[2] + K.cy;
  // offsets (±r, 0, 0), (0, ±r, 0) at the same depth project to ±fx r / z, ±fy r / z
  const radius = Math.max(Math.abs((K.fx * r) / t[2]), Math.abs((K.fy * r) / t[2]));
  const left = Math.round(uc - radius);
  const right = Math.round(uc + radius);
  const top = Math.round(vc - radius);
  const bottom = Math.round(vc + radius);
  if (!(right > left && bottom > top)) throw new RangeError(`degenerate crop window (${left}, ${top}, ${right}, ${bottom})`);
  const sx = size / (right - left);
  const sy = size / (bottom - top);
  return { a: sx, b: 0, c: -left * sx, d: 0, e: sy, f: -top * sy, left, top, right, bottom };
}

export function invertAffine(m: Affine): Affine {
  const det = m.a * m.e - m.b * m.d;
  if (!(Math.abs(det) > 0)) throw new RangeError('affine map is not invertible');
  const a = m.e / det, b = -m.b / det, d = -m.d / det, e = m.a / det;
  return { a, b, c: -(a * m.c + b * m.f), d, e, f: -(d * m.c + e * m.f) };
}

export function applyAffine(m: Affine, x: number, y: number): [number, number] {
  return [m.a * x + m.b * y + m.c, m.d * x + m.e * y + m.f];
}

export interface RgbImage {
  width: number;
  height: number;
  /** row-major RGB, 3 bytes per pixel */
  data: Uint8Array;
}

export interface DepthImage {
  width: number;
  height: number;
  /** row-major depth in metres; 0 / NaN / < min depth = none */
  data: Float32Array;
}

/**
 * Bilinear RGB crop (values / 255) into `out` at float offset `offset`, pixel stride `stride`
 * (6 for the network layout, 3 for a plain RGB crop).
 */
export function warpRgbBilinear(img: RgbImage, crop: Affine, size: number, out: Float32Array, offset = 0, stride = 3): void {
  const inv = invertAffine(crop);
  const W = img.width, H = img.height, src = img.data;
  const k = 1 / 255;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const x = inv.a * u + inv.b * v + inv.c;
      const y = inv.d * u + inv.e * v + inv.f;
      const x0 = Math.floor(x), y0 = Math.floor(y);
      const fx = x - x0, fy = y - y0;
      let r = 0, g = 0, b = 0;
      const o = offset + (v * size + u) * stride;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < W && y0 + 1 < H) {
        const p00 = (y0 * W + x0) * 3, p01 = p00 + 3, p10 = p00 + W * 3, p11 = p10 + 3;
        const w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
        r = w00 * src[p00] + w01 * src[p01] + w10 * src[p10] + w11 * src[p11];
        g = w00 * src[p00 + 1] + w01 * src[p01 + 1] + w10 * src[p10 + 1] + w11 * src[p11 + 1];
        b = w00 * src[p00 + 2] + w01 * src[p01 + 2] + w10 * src[p10 + 2] + w11 * src[p11 + 2];
      } else if (x0 + 1 >= 0 && y0 + 1 >= 0 && x0 < W && y0 < H) {
        // border: taps outside the image are black
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) {
            const xx = x0 + dx, yy = y0 + dy;
            if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
            const w = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
            const p = (yy * W + xx) * 3;
            r += w * src[p];
            g += w * src[p + 1];
            b += w * src[p + 2];
          }
        }
      }
      out[o] = r * k;
      out[o + 1] = g * k;
      out[o + 2] = b * k;
    }
  }
}

/**
 * Observed XYZ crop: the depth pixel nearest to crop^-1 (u, v), unprojected with K (camera frame,
 * metres); (0, 0, 0) outside the image or where depth < minDepth / not finite.
 */
export function warpDepthToXyzNearest(depth: DepthImage, K: Intrinsics, crop: Affine, size: number, out: Float32Array, offset = 0, stride = 3, minDepth = MIN_DEPTH): void {
  const inv = invertAffine(crop);
  const W = depth.width, H = depth.height, src = depth.data;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const x = Math.round(inv.a * u + inv.b * v + inv.c);
      const y = Math.round(inv.d * u + inv.e * v + inv.f);
      const o = offset + (v * size + u) * stride;
      let X = 0, Y = 0, Z = 0;
      if (x >= 0 && y >= 0 && x < W && y < H) {
        const z = src[y * W + x];
        if (z >= minDepth && Number.isFinite(z)) {
          X = ((x - K.cx) * z) / K.fx;
          Y = ((y - K.cy) * z) / K.fy;
          Z = z;
        }
      }
      out[o] = X;
      out[o + 1] = Y;
      out[o + 2] = Z;
    }
  }
}

/**
 * Normalise an XYZ crop in place: (xyz - t) / (diameter / 2); pixels with z < minDepth (before
 * centring) or any |normalised component| >= bound become 0.
 */
export function normalizeXyz(buf: Float32Array, pixels: number, t: ArrayLike<number>, diameter: number, offset = 0, stride = 3, minDepth = MIN_DEPTH, bound = XYZ_BOUND): void {
  const inv = 2 / diameter;
  for (let i = 0; i < pixels; i++) {
    const o = offset + i * stride;
    const z = buf[o + 2];
    const x = (buf[o] - t[0]) * inv;
    const y = (buf[o + 1] - t[1]) * inv;
    const zz = (z - t[2]) * inv;
    if (!(z >= minDepth) || !(Math.abs(x) < bound) || !(Math.abs(y) < bound) || !(Math.abs(zz) < bound)) {
      buf[o] = 0;
      buf[o + 1] = 0;
      buf[o + 2] = 0;
    } else {
      buf[o] = x;
      buf[o + 1] = y;
      buf[o + 2] = zz;
    }
  }
}

/** Copy render slot `index` (rgb + xyz) into the network layout at slot `slot` of `out`. */
export function packRendered(rgb: Float32Array, xyz: Float32Array, index: number, size: number, out: Float32Array, slot: number): void {
  const px = size * size;
  const src = index * px * 3;
  const dst = slot * px * CHANNELS;
  for (let i = 0; i < px; i++) {
    const s = src + i * 3, d = dst + i * CHANNELS;
    out[d] = rgb[s];
    out[d + 1] = rgb[s + 1];
    out[d + 2] = rgb[s + 2];
    out[d + 3] = xyz[s];
    out[d + 4] = xyz[s + 1];
    out[d + 5] = xyz[s + 2];
  }
}
