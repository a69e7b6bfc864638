/**
 * Pure pixel helpers of the SAM 2.1 runtime: frame -> 1024x1024 normalised NCHW input, prompt
 * coordinates in input space, 256x256 mask logits -> original-resolution binary mask as COCO RLE,
 * and boxes as RLE (for IoU matching).
 */
import { encodeMaskWindow, rleArea, rleBbox, type Rle } from '../../src/rle.js';
import { IMAGE_SIZE, IMG_MEAN, IMG_STD, LOWRES_SIZE } from './contract.js';

export interface RgbFrame {
  width: number;
  height: number;
  /** RGB24, row-major, 3 bytes per pixel */
  data: Uint8Array;
}

/** Box [x0, y0, x1, y1] in image pixels; pixel x covers [x, x + 1), its centre is x + 0.5. */
export type Box = [number, number, number, number];

// ---------------------------------------------------------------------------------------------
// Resampling (PIL-style convolution: bicubic a = -0.5, support widened when downscaling)

function cubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

export interface Taps {
  /** first source index per output index */
  start: Int32Array;
  /** tap count per output index */
  count: Int32Array;
  /** weights, `maxTaps` per output index */
  weights: Float32Array;
  maxTaps: number;
}

/**
 * Resampling taps from `inSize` to `outSize` samples, the way PIL's Image.resize computes them
 * for BICUBIC: output sample i has centre (i + 0.5) * scale in input coordinates; when
 * downscaling the kernel is stretched by the scale (anti-aliasing); weights are normalised.
 */
export function resampleTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const ss = Math.max(scale, 1);
  const support = 2 * ss;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    let lo = Math.floor(centre - support + 0.5);
    let hi = Math.floor(centre + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > inSize) hi = inSize;
    const n = Math.min(hi - lo, maxTaps);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const w = cubic((lo + k - centre + 0.5) / ss);
      weights[i * maxTaps + k] = w;
      sum += w;
    }
    if (sum !== 0) for (let k = 0; k < n; k++) weights[i * maxTaps + k] /= sum;
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weights, maxTaps };
}

const tapCache = new Map<string, Taps>();
function cachedTaps(inSize: number, outSize: number): Taps {
  const key = `${inSize}>${outSize}`;
  let t = tapCache.get(key);
  if (!t) {
    if (tapCache.size > 16) tapCache.clear();
    t = resampleTaps(inSize, outSize);
    tapCache.set(key, t);
  }
  return t;
}

/**
 * The image encoder input: the frame resized to size x size (aspect ratio not kept, as
 * SAM2VideoPredictor does), RGB / 255, ImageNet mean/std, planar NCHW float32.
 * `out` (3 * size * size floats) is reused when given.
 */
export function preprocessFrame(frame: RgbFrame, size = IMAGE_SIZE, out?: Float32Array): Float32Array {
  const { width: W, height: H, data } = frame;
  if (data.length < W * H * 3) throw new RangeError(`frame buffer has ${data.length} bytes, ${W}x${H} RGB needs ${W * H * 3}`);
  const dst = out ?? new Float32Array(3 * size * size);
  const tx = cachedTaps(W, size);
  const ty = cachedTaps(H, size);
  // horizontal pass: H rows x size columns x 3 channels, interleaved
  const tmp = new Float32Array(H * size * 3);
  for (let y = 0; y < H; y++) {
    const srow = y * W * 3;
    const drow = y * size * 3;
    for (let x = 0; x < size; x++) {
      const s0 = tx.start[x];
      const n = tx.count[x];
      const wo = x * tx.maxTaps;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < n; k++) {
        const w = tx.weights[wo + k];
        const p = srow + (s0 + k) * 3;
        r += w * data[p];
        g += w * data[p + 1];
        b += w * data[p + 2];
      }
      const d = drow + x * 3;
      tmp[d] = r;
      tmp[d + 1] = g;
      tmp[d + 2] = b;
    }
  }
  // vertical pass, clamp to [0, 255] (PIL stores 8-bit results), normalise, planar
  const plane = size * size;
  const mul = [1 / (255 * IMG_STD[0]), 1 / (255 * IMG_STD[1]), 1 / (255 * IMG_STD[2])];
  const add = [-IMG_MEAN[0] / IMG_STD[0], -IMG_MEAN[1] / IMG_STD[1], -IMG_MEAN[2] / IMG_STD[2]];
  const rowLen = size * 3;
  const acc = new Float32Array(rowLen);
  for (let y = 0; y < size; y++) {
    const s0 = ty.start[y];
    const n = ty.count[y];
    const wo = y * ty.maxTaps;
    // accumulate whole source rows (contiguous reads)
    acc.fill(0);
    for (let k = 0; k < n; k++) {
      const w = ty.weights[wo + k];
      const base = (s0 + k) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += w * tmp[base + i];
    }
    const o = y * size;
    for (let x = 0; x < size; x++) {
      const p = x * 3;
      dst[o + x] = Math.min(255, Math.max(0, acc[p])) * mul[0] + add[0];
      dst[plane + o + x] = Math.min(255, Math.max(0, acc[p + 1])) * mul[1] + add[1];
      dst[2 * plane + o + x] = Math.min(255, Math.max(0, acc[p + 2])) * mul[2] + add[2];
    }
  }
  return dst;
}

// ---------------------------------------------------------------------------------------------
// Prompts

/**
 * Image pixel coordinates -> input (1024) coordinates, as SAM2VideoPredictor.add_new_points_or_box
 * does with normalize_coords=True: x / W * 1024, y / H * 1024.
 */
export function toInputCoords(x: number, y: number, width: number, height: number, size = IMAGE_SIZE): [number, number] {
  return [(x / width) * size, (y / height) * size];
}

export interface PromptPoints {
  /** flattened (x, y) pairs in input space */
  coords: Float32Array;
  labels: Float32Array;
  count: number;
}

/**
 * Encoder inputs for one object: the box first (2 points labelled 2 and 3), then any clicks
 * (label 1 positive, 0 negative), as add_new_points_or_box concatenates them. No box and no
 * points: one padding point (0, 0) labelled -1 (what SAM 2 feeds on frames without prompts).
 */
export function promptPoints(width: number, height: number, box?: Box | null, points?: ReadonlyArray<readonly [number, number]>, pointLabels?: readonly number[]): PromptPoints {
  const xy: number[] = [];
  const lab: number[] = [];
  if (box) {
    xy.push(...toInputCoords(box[0], box[1], width, height), ...toInputCoords(box[2], box[3], width, height));
    lab.push(2, 3);
  }
  (points ?? []).forEach((p, i) => {
    xy.push(...toInputCoords(p[0], p[1], width, height));
    lab.push(pointLabels?.[i] ?? 1);
  });
  if (!lab.length) {
    xy.push(0, 0);
    lab.push(-1);
  }
  return { coords: Float32Array.from(xy), labels: Float32Array.from(lab), count: lab.length };
}

/** Box clipped to the frame; null when nothing is left or the numbers are not finite. */
export function clipBox(b: ArrayLike<number> | null | undefined, width: number, height: number): Box | null {
  if (!b || b.length < 4) return null;
  const v = [b[0], b[1], b[2], b[3]].map(Number);
  if (!v.every(Number.isFinite)) return null;
  const x0 = Math.max(0, Math.min(v[0], v[2]));
  const x1 = Math.min(width, Math.max(v[0], v[2]));
  const y0 = Math.max(0, Math.min(v[1], v[3]));
  const y1 = Math.min(height, Math.max(v[1], v[3]));
  return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
}

/** Box grown by `frac` of its width/height on each side. */
export function padBox(b: Box, frac: number): Box {
  const dx = (b[2] - b[0]) * frac;
  const dy = (b[3] - b[1]) * frac;
  return [b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy];
}

/** The pixels whose centres lie strictly inside the box, as an RLE of an h x w frame. */
export function boxRle(b: Box, width: number, height: number): Rle {
  // centre x + 0.5 in (x0, x1)  <=>  x in [floor(x0 - 0.5) + 1, ceil(x1 - 0.5) - 1]
  const xa = Math.max(0, Math.floor(b[0] - 0.5) + 1);
  const xb = Math.min(width - 1, Math.ceil(b[2] - 0.5) - 1);
  const ya = Math.max(0, Math.floor(b[1] - 0.5) + 1);
  const yb = Math.min(height - 1, Math.ceil(b[3] - 0.5) - 1);
  if (xb < xa || yb < ya) return encodeMaskWindow(new Uint8Array(0), 0, 0, 0, 0, height, width);
  const w = xb - xa + 1;
  const h = yb - ya + 1;
  return encodeMaskWindow(new Uint8Array(w * h).fill(1), h, w, xa, ya, height, width);
}

// ---------------------------------------------------------------------------------------------
// Mask post-processing

/**
 * Bilinear sampling positions of PyTorch F.interpolate(mode='bilinear', align_corners=False)
 * from `inSize` to `outSize`: for each output index the lower source index and the weight of
 * the upper one (negative source positions clamp to 0).
 */
export function bilinearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const scale = inSize / outSize;
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w1 = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let src = (o + 0.5) * scale - 0.5;
    if (src < 0) src = 0;
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, inSize - 1);
    w1[o] = src - lo;
  }
  return { i0, i1, w1 };
}

export interface MaskResult {
  rle: Rle;
  /** COCO [x, y, w, h] of the set pixels ([0,0,0,0] when empty) */
  bbox: [number, number, number, number];
  area: number;
}

/**
 * Low-resolution mask logits (n x n over the whole 1024 x 1024 input, which is the whole frame
 * stretched) -> binary mask at width x height: bilinear upsampling (align_corners=False, as
 * SAM2VideoPredictor._get_orig_video_res_output) and logits > threshold. Only the window around
 * the positive cells is evaluated: an output pixel can only be positive when one of its four
 * source cells is.
 */
export function masksFromLogits(logits: Float32Array, width: number, height: number, threshold = 0, n = LOWRES_SIZE, offset = 0): MaskResult {
  let u0 = n;
  let u1 = -1;
  let v0 = n;
  let v1 = -1;
  for (let v = 0; v < n; v++) {
    const row = offset + v * n;
    for (let u = 0; u < n; u++) {
      if (logits[row + u] > threshold) {
        if (u < u0) u0 = u;
        if (u > u1) u1 = u;
        if (v < v0) v0 = v;
        if (v > v1) v1 = v;
      }
    }
  }
  const empty = (): MaskResult => {
    const rle = encodeMaskWindow(new Uint8Array(0), 0, 0, 0, 0, height, width);
    return { rle, bbox: [0, 0, 0, 0], area: 0 };
  };
  if (u1 < 0 || width === 0 || height === 0) return empty();
  const tx = bilinearTaps(n, width);
  const ty = bilinearTaps(n, height);
  // output columns/rows whose taps touch [u0, u1] / [v0, v1]
  let xa = 0;
  while (xa < width && tx.i1[xa] < u0) xa++;
  let xb = width - 1;
  while (xb >= xa && tx.i0[xb] > u1) xb--;
  let ya = 0;
  while (ya < height && ty.i1[ya] < v0) ya++;
  let yb = height - 1;
  while (yb >= ya && ty.i0[yb] > v1) yb--;
  if (xb < xa || yb < ya) return empty();
  const ww = xb - xa + 1;
  const wh = yb - ya + 1;
  const win = new Uint8Array(ww * wh);
  // horizontal interpolation per needed source row, then vertical
  const rowCache = new Map<number, Float32Array>();
  const hrow = (v: number): Float32Array => {
    let r = rowCache.get(v);
    if (!r) {
      r = new Float32Array(ww);
      const base = offset + v * n;
      for (let x = 0; x < ww; x++) {
        const X = xa + x;
        const a = logits[base + tx.i0[X]];
        const b = logits[base + tx.i1[X]];
        r[x] = a + (b - a) * tx.w1[X];
      }
      rowCache.set(v, r);
    }
    return r;
  };
  let any = false;
  for (let y = 0; y < wh; y++) {
    const Y = ya + y;
    const ra = hrow(ty.i0[Y]);
    const rb = hrow(ty.i1[Y]);
    const wy = ty.w1[Y];
    const o = y * ww;
    for (let x = 0; x < ww; x++) {
      const val = ra[x] + (rb[x] - ra[x]) * wy;
      if (val > threshold) {
        win[o + x] = 1;
        any = true;
      }
    }
    if (rowCache.size > 4) {
      for (const k of rowCache.keys()) if (k < ty.i0[Y]) rowCache.delete(k);
    }
  }
  if (!any) return empty();
  const rle = encodeMaskWindow(win, wh, ww, xa, ya, height, width);
  return { rle, bbox: rleBbox(rle), area: rleArea(rle) };
}
