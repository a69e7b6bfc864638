/**
 * Pixel work on packed RGB24 frames, writing float32 NCHW model inputs directly:
 *  - letterboxResizeArea: the whole frame, aspect kept, box-filtered (averaging a sub-sampled grid
 *    of about 5 x 5 source pixels per output pixel) into the square palm-detector input; a plain
 *    bilinear sample would alias badly at the 10x reduction of a 720p frame.
 *  - warpAffineBilinear: a rotated crop (the hand ROI) by inverse mapping with bilinear sampling.
 * Values are written as v * mul + add (e.g. mul 2/255, add -1 for [-1, 1]).
 */
import { applyAffine, type Affine } from './geometry.js';
import type { Letterbox } from './palm.js';

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Per output index: the (sub-sampled) source indices whose centres fall in its cell. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  idx: Int32Array;
}

/**
 * Output cell o covers source [(o - off)/scale, (o + 1 - off)/scale). Only every `step`-th source
 * index (phase step/2) is used, so a 10x reduction averages 5 x 5 samples instead of 10 x 10.
 * A cell with no sample centre inside takes the nearest sample (upscaling never averages nothing).
 */
function boxTaps(outSize: number, srcSize: number, scale: number, off: number, step: number): Taps {
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const idx: number[] = [];
  const phase = Math.floor(step / 2);
  for (let o = 0; o < outSize; o++) {
    start[o] = idx.length;
    const a = (o - off) / scale;
    const b = (o + 1 - off) / scale;
    if (b <= 0 || a >= srcSize) continue;
    const lo = Math.max(0, a);
    const hi = Math.min(srcSize, b);
    // sample centres s + 0.5 in [lo, hi) with s = phase (mod step)
    let s = Math.ceil((lo - 0.5 - phase) / step) * step + phase;
    for (; s + 0.5 < hi && s < srcSize; s += step) if (s >= 0) idx.push(s);
    if (idx.length === start[o]) {
      const c = Math.min(srcSize - 1, Math.max(0, Math.floor((lo + hi) / 2)));
      idx.push(Math.min(srcSize - 1, Math.round((c - phase) / step) * step + phase));
    }
    count[o] = idx.length - start[o];
  }
  return { start, count, idx: Int32Array.from(idx) };
}

const tapCache = new Map<string, { tx: Taps; ty: Taps; step: number }>();

function cachedTaps(W: number, H: number, lb: Letterbox): { tx: Taps; ty: Taps; step: number } {
  const key = `${W}x${H}:${lb.size}:${lb.scale}:${lb.offX}:${lb.offY}`;
  let t = tapCache.get(key);
  if (!t) {
    if (tapCache.size > 16) tapCache.clear();
    // about 4-5 samples per output pixel and axis: enough to suppress aliasing, 1/step^2 of the work
    const step = Math.max(1, Math.floor(1 / lb.scale / 4));
    t = { tx: boxTaps(lb.size, W, lb.scale, lb.offX, step), ty: boxTaps(lb.size, H, lb.scale, lb.offY, step), step };
    tapCache.set(key, t);
  }
  return t;
}

let rowAcc = new Uint32Array(0);

/**
 * Box-filter resize of the whole frame into a size x size letterboxed NCHW float tensor (aspect
 * kept, centred). Padding is pixel value `padValue` (before mul/add). `out` must hold
 * 3 * size * size floats. Vertical pass first (integer sums of sub-sampled source rows), then the
 * horizontal taps on the accumulated row.
 */
export function letterboxResizeArea(img: RgbImage, lb: Letterbox, out: Float32Array, mul: number, add: number, padValue = 0): void {
  const { size } = lb;
  const W = img.width;
  const src = img.data;
  const { tx, ty, step } = cachedTaps(W, img.height, lb);
  const phase = Math.floor(step / 2);
  const cols = Math.ceil((W - phase) / step); // sampled columns
  if (rowAcc.length < cols * 3) rowAcc = new Uint32Array(cols * 3);
  const acc = rowAcc;
  const plane = size * size;
  const pad = padValue * mul + add;
  const rowLen = W * 3;
  const px = step * 3;
  for (let v = 0; v < size; v++) {
    const nv = ty.count[v];
    if (nv === 0) {
      out.fill(pad, v * size, (v + 1) * size);
      out.fill(pad, plane + v * size, plane + (v + 1) * size);
      out.fill(pad, 2 * plane + v * size, 2 * plane + (v + 1) * size);
      continue;
    }
    acc.fill(0, 0, cols * 3);
    const s0 = ty.start[v];
    for (let k = s0; k < s0 + nv; k++) {
      let p = ty.idx[k] * rowLen + phase * 3;
      for (let i = 0; i < cols * 3; i += 3, p += px) {
        acc[i] += src[p];
        acc[i + 1] += src[p + 1];
        acc[i + 2] += src[p + 2];
      }
    }
    for (let u = 0; u < size; u++) {
      const o = v * size + u;
      const nu = tx.count[u];
      if (nu === 0) {
        out[o] = pad;
        out[plane + o] = pad;
        out[2 * plane + o] = pad;
        continue;
      }
      let r = 0;
      let g = 0;
      let b = 0;
      const t0 = tx.start[u];
      for (let k = t0; k < t0 + nu; k++) {
        const p = ((tx.idx[k] - phase) / step) * 3;
        r += acc[p];
        g += acc[p + 1];
        b += acc[p + 2];
      }
      const m = mul / (nu * nv);
      out[o] = r * m + add;
      out[plane + o] = g * m + add;
      out[2 * plane + o] = b * m + add;
    }
  }
}

/**
 * Fill an outW x outH NCHW float tensor by sampling the image at cropToImage(u + 0.5, v + 0.5)
 * with bilinear interpolation. Outside the image: edge pixels are repeated ('replicate') or
 * `padValue` is used ('constant').
 */
export function warpAffineBilinear(
  img: RgbImage,
  cropToImage: Affine,
  outW: number,
  outH: number,
  out: Float32Array,
  mul: number,
  add: number,
  border: 'replicate' | 'constant' = 'replicate',
  padValue = 0,
): void {
  const W = img.width;
  const H = img.height;
  const src = img.data;
  const plane = outW * outH;
  const [a, , , d] = cropToImage;
  const pad = padValue * mul + add;
  for (let v = 0; v < outH; v++) {
    // image position of pixel (0, v) centre, in pixel-index space (minus the half pixel)
    let [x, y] = applyAffine(cropToImage, 0.5, v + 0.5);
    x -= 0.5;
    y -= 0.5;
    for (let u = 0; u < outW; u++, x += a, y += d) {
      const o = v * outW + u;
      let x0 = Math.floor(x);
      let y0 = Math.floor(y);
      let fx = x - x0;
      let fy = y - y0;
      if (x0 < 0 || y0 < 0 || x0 >= W - 1 || y0 >= H - 1) {
        if (border === 'constant' && (x < -1 || y < -1 || x > W || y > H)) {
          out[o] = pad;
          out[plane + o] = pad;
          out[2 * plane + o] = pad;
          continue;
        }
        // clamp (replicate); for 'constant' the one-pixel fringe also uses the edge pixel
        if (x0 < 0) {
          x0 = 0;
          fx = 0;
        } else if (x0 >= W - 1) {
          x0 = W - 1;
          fx = 0;
        }
        if (y0 < 0) {
          y0 = 0;
          fy = 0;
        } else if (y0 >= H - 1) {
          y0 = H - 1;
          fy = 0;
        }
      }
      const x1 = fx > 0 ? 1 : 0;
      const y1 = fy > 0 ? W : 0;
      const p00 = (y0 * W + x0) * 3;
      const p01 = p00 + x1 * 3;
      const p10 = p00 + y1 * 3;
      const p11 = p10 + x1 * 3;
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      out[o] = (src[p00] * w00 + src[p01] * w01 + src[p10] * w10 + src[p11] * w11) * mul + add;
      out[plane + o] = (src[p00 + 1] * w00 + src[p01 + 1] * w01 + src[p10 + 1] * w10 + src[p11 + 1] * w11) * mul + add;
      out[2 * plane + o] = (src[p00 + 2] * w00 + src[p01 + 2] * w01 + src[p10 + 2] * w10 + src[p11 + 2] * w11) * mul + add;
    }
  }
}
