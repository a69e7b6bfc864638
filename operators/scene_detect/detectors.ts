/**
 * PySceneDetect-compatible (0.6.x semantics) shot-boundary detectors: ContentDetector and
 * AdaptiveDetector. Pure computation on packed RGB24 frames: no decoding, no I/O.
 *
 * Behaviour reproduced from PySceneDetect 0.6.4+ (the versions with FlashFilter):
 *  - frames are converted to HSV exactly like OpenCV's 8-bit COLOR_BGR2HSV (fixed-point tables,
 *    H in [0,180), S/V in [0,255]);
 *  - a frame's score is the weighted mean of the per-channel mean absolute differences to the
 *    previous frame (hue is not wrapped); the first frame scores 0;
 *  - ContentDetector: cut candidate when score >= threshold, min_scene_len enforced by FlashFilter
 *    (MERGE by default, or SUPPRESS);
 *  - AdaptiveDetector: rolling window of 2*window_width+1 scores, ratio of the centre score to the
 *    mean of its neighbours.
 * The optional edge component (weights[3] > 0) follows ContentDetector._detect_edges: Canny on the
 * V channel with thresholds from the median, then a dilation with a square kernel.
 *
 * Checked against OpenCV 4.6 (a build without IPP): the HSV conversion is bit-exact for all 2^24
 * colours, and frame scores (with and without edges) are bit-exact on a real 720-frame video.
 *
 * Memory is flat: only the previous frame's planes (and, for AdaptiveDetector, 2*window_width+1
 * scores) are kept.
 */

export interface FrameDetector {
  /** Feed one frame: packed RGB24 (width*height*3 bytes), 0-based frame number. Returns cut frame numbers (the first frame of a new scene) decided so far by this call. */
  processFrame(frameNum: number, rgb: Uint8Array, width: number, height: number): number[];
  /** End of stream. Returns cuts still pending (e.g. AdaptiveDetector's buffer, merge filter). */
  finish(): number[];
  /** Per-frame scores computed so far are not kept (memory must stay flat); expose the last score for debugging */
  readonly lastScore: number;
}

export type ComponentWeights = [number, number, number, number];

export interface ContentParams {
  threshold: number;
  min_scene_len: number;
  /** hue, sat, lum, edges */
  weights: ComponentWeights;
  luma_only: boolean;
  filter_mode: 'merge' | 'suppress';
}

export interface AdaptiveParams {
  adaptive_threshold: number;
  min_scene_len: number;
  window_width: number;
  min_content_val: number;
  /** hue, sat, lum, edges */
  weights: ComponentWeights;
  luma_only: boolean;
}

export const CONTENT_DEFAULTS: ContentParams = Object.freeze({
  threshold: 27,
  min_scene_len: 15,
  weights: Object.freeze([1, 1, 1, 0]) as unknown as ComponentWeights,
  luma_only: false,
  filter_mode: 'merge' as const,
}) as ContentParams;

export const ADAPTIVE_DEFAULTS: AdaptiveParams = Object.freeze({
  adaptive_threshold: 3.0,
  min_scene_len: 15,
  window_width: 2,
  min_content_val: 15,
  weights: Object.freeze([1, 1, 1, 0]) as unknown as ComponentWeights,
  luma_only: false,
}) as AdaptiveParams;

const LUMA_ONLY_WEIGHTS: ComponentWeights = [0, 0, 1, 0];

// ---------------------------------------------------------------------------------------------
// Small numeric helpers

/** Python's round() for floats: round half to even. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * PySceneDetect 0.6.x automatic downscale (compute_downscale_factor + the resize in SceneManager):
 * factor = 1 if width < effectiveWidth else floor(width / effectiveWidth); size = (round(w/f), round(h/f)).
 */
export function downscaleSize(
  width: number,
  height: number,
  effectiveWidth = 256,
): { width: number; height: number; factor: number } {
  if (!(width >= 1 && height >= 1 && effectiveWidth >= 1)) {
    throw new RangeError(`downscaleSize: width, height and effectiveWidth must be >= 1 (got ${width}x${height}, ${effectiveWidth})`);
  }
  const factor = width < effectiveWidth ? 1 : Math.floor(width / effectiveWidth);
  return {
    width: Math.max(1, pyRound(width / factor)),
    height: Math.max(1, pyRound(height / factor)),
    factor,
  };
}

/** cuts -> scenes [start,end) with end exclusive, covering [0, frameCount) */
export function cutsToScenes(cuts: number[], frameCount: number): Array<[number, number]> {
  if (!(frameCount > 0)) return [];
  const sorted = Array.from(new Set(cuts))
    .filter((c) => Number.isFinite(c) && c > 0 && c < frameCount)
    .sort((a, b) => a - b);
  const scenes: Array<[number, number]> = [];
  let start = 0;
  for (const c of sorted) {
    scenes.push([start, c]);
    start = c;
  }
  scenes.push([start, frameCount]);
  return scenes;
}

// ---------------------------------------------------------------------------------------------
// OpenCV-exact RGB -> HSV (8-bit, hue range 180)

const HSV_SHIFT = 12;
const HSV_ROUND = 1 << (HSV_SHIFT - 1);
/** sdiv[v] = round((255 << 12) / v), hdiv[d] = round((180 << 12) / (6 d)); index 0 -> 0. */
const SDIV = new Int32Array(256);
const HDIV = new Int32Array(256);
for (let i = 1; i < 256; i++) {
  // No exact .5 cases occur for these quotients, so Math.round matches OpenCV's cvRound.
  SDIV[i] = Math.round((255 << HSV_SHIFT) / i);
  HDIV[i] = Math.round((180 << HSV_SHIFT) / (6 * i));
}

/** One pixel through OpenCV's cvtColor(..., COLOR_RGB2HSV) for uint8: returns [H 0..179, S, V]. */
export function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  let v = r > g ? r : g;
  if (b > v) v = b;
  let mn = r < g ? r : g;
  if (b < mn) mn = b;
  const diff = v - mn;
  const s = (diff * SDIV[v] + HSV_ROUND) >> HSV_SHIFT;
  let h = v === r ? g - b : v === g ? b - r + 2 * diff : r - g + 4 * diff;
  h = (h * HDIV[diff] + HSV_ROUND) >> HSV_SHIFT;
  if (h < 0) h += 180;
  return [h, s, v];
}

/** Whole-frame conversion into separate planes (same arithmetic as rgbToHsv). */
export function rgbFrameToHsv(rgb: Uint8Array, pixels: number, hue: Uint8Array, sat: Uint8Array, val: Uint8Array): void {
  for (let i = 0, p = 0; i < pixels; i++, p += 3) {
    const r = rgb[p];
    const g = rgb[p + 1];
    const b = rgb[p + 2];
    let v = r > g ? r : g;
    if (b > v) v = b;
    let mn = r < g ? r : g;
    if (b < mn) mn = b;
    const diff = v - mn;
    let h = v === r ? g - b : v === g ? b - r + 2 * diff : r - g + 4 * diff;
    h = (h * HDIV[diff] + HSV_ROUND) >> HSV_SHIFT;
    hue[i] = h < 0 ? h + 180 : h;
    sat[i] = (diff * SDIV[v] + HSV_ROUND) >> HSV_SHIFT;
    val[i] = v;
  }
}

// ---------------------------------------------------------------------------------------------
// Edge map (ContentDetector._detect_edges): Canny(lum, low, high) then dilate(ones(k, k))

/** 4 + round(sqrt(w*h)/192), made odd (PySceneDetect's _estimated_kernel_size). */
export function estimatedKernelSize(width: number, height: number): number {
  let size = 4 + pyRound(Math.sqrt(width * height) / 192);
  if (size % 2 === 0) size += 1;
  return size;
}

/** numpy.median of an 8-bit plane (mean of the two middle values for an even count). */
export function medianU8(plane: Uint8Array, n: number, hist: Uint32Array = new Uint32Array(256)): number {
  hist.fill(0);
  for (let i = 0; i < n; i++) hist[plane[i]]++;
  const kth = (k: number): number => {
    let acc = 0;
    for (let v = 0; v < 256; v++) {
      acc += hist[v];
      if (acc > k) return v;
    }
    return 255;
  };
  if (n % 2 === 1) return kth((n - 1) / 2);
  return (kth(n / 2 - 1) + kth(n / 2)) / 2;
}

const CANNY_SHIFT = 15;
const TG22 = Math.trunc(0.4142135623730950488016887242097 * (1 << CANNY_SHIFT) + 0.5);

/**
 * Reusable edge detector. Reproduces OpenCV's reference (non-IPP) Canny with aperture 3 and L1
 * gradient: Sobel with replicated borders, the fixed-point tan(22.5deg) non-maximum suppression
 * (strict > towards the previous pixel, >= towards the next on horizontal/vertical directions),
 * magnitude > low to be a candidate, > high to be a seed, 8-connected hysteresis; then a k x k
 * dilation (pixels outside the image ignored).
 */
export class EdgeMapper {
  private w = 0;
  private h = 0;
  // Padded (w+2)x(h+2) buffers share one layout: pixel (x, y) is at (y+1)*(w+2) + x+1.
  private pad = new Uint8Array(0); // replicate-bordered copy of the input
  private dx = new Int16Array(0);
  private dy = new Int16Array(0);
  private mag = new Int32Array(0); // zero border
  private map = new Uint8Array(0); // 1 = not edge (and border), 0 = weak candidate, 2 = edge
  private stack = new Int32Array(0);
  private tmp = new Uint8Array(0);
  private colCount = new Int32Array(0);
  private hist = new Uint32Array(256);
  readonly kernelSize: number | null;

  constructor(kernelSize: number | null = null) {
    if (kernelSize !== null && (!Number.isInteger(kernelSize) || kernelSize < 3 || kernelSize % 2 === 0)) {
      throw new RangeError('kernel_size must be odd integer >= 3');
    }
    this.kernelSize = kernelSize;
  }

  private ensure(w: number, h: number): void {
    if (w === this.w && h === this.h) return;
    this.w = w;
    this.h = h;
    const pn = (w + 2) * (h + 2);
    this.pad = new Uint8Array(pn);
    this.dx = new Int16Array(pn);
    this.dy = new Int16Array(pn);
    this.mag = new Int32Array(pn);
    this.map = new Uint8Array(pn);
    this.stack = new Int32Array(pn);
    this.tmp = new Uint8Array(w * h);
    this.colCount = new Int32Array(w);
  }

  /** Canny edges of `lum` (255 = edge, else 0) written to `out`, as cv2.Canny(img, low, high). */
  canny(lum: Uint8Array, w: number, h: number, lowThresh: number, highThresh: number, out: Uint8Array): void {
    this.ensure(w, h);
    if (lowThresh > highThresh) [lowThresh, highThresh] = [highThresh, lowThresh];
    const low = Math.floor(lowThresh);
    const high = Math.floor(highThresh);
    const { pad, dx, dy, mag, map, stack } = this;
    const pw = w + 2;
    // Replicate border.
    for (let y = 0; y < h; y++) {
      const row = (y + 1) * pw;
      pad.set(lum.subarray(y * w, y * w + w), row + 1);
      pad[row] = lum[y * w];
      pad[row + w + 1] = lum[y * w + w - 1];
    }
    pad.copyWithin(0, pw, 2 * pw);
    pad.copyWithin((h + 1) * pw, h * pw, (h + 1) * pw);
    // Sobel 3x3 and L1 magnitude.
    for (let y = 0; y < h; y++) {
      const b = (y + 1) * pw + 1;
      for (let j = b, e = b + w; j < e; j++) {
        const a0 = pad[j - pw - 1];
        const a2 = pad[j - pw + 1];
        const c0 = pad[j + pw - 1];
        const c2 = pad[j + pw + 1];
        const gx = a2 - a0 + 2 * (pad[j + 1] - pad[j - 1]) + c2 - c0;
        const gy = c0 - a0 + 2 * (pad[j + pw] - pad[j - pw]) + c2 - a2;
        dx[j] = gx;
        dy[j] = gy;
        mag[j] = Math.abs(gx) + Math.abs(gy);
      }
    }
    // Non-maximum suppression (border of map stays 1: never an edge; mag border is 0).
    map.fill(1);
    let top = 0;
    for (let y = 0; y < h; y++) {
      const b = (y + 1) * pw + 1;
      for (let j = b, e = b + w; j < e; j++) {
        const m = mag[j];
        if (m <= low) continue;
        const xs = dx[j];
        const ys = dy[j];
        const ax = Math.abs(xs);
        const ay = Math.abs(ys) << CANNY_SHIFT;
        const tg22x = ax * TG22;
        let keep: boolean;
        if (ay < tg22x) {
          keep = m > mag[j - 1] && m >= mag[j + 1];
        } else if (ay > tg22x + (ax << (CANNY_SHIFT + 1))) {
          keep = m > mag[j - pw] && m >= mag[j + pw];
        } else {
          const s = (xs ^ ys) < 0 ? -1 : 1;
          keep = m > mag[j - pw - s] && m > mag[j + pw + s];
        }
        if (!keep) continue;
        if (m > high) {
          map[j] = 2;
          stack[top++] = j;
        } else {
          map[j] = 0;
        }
      }
    }
    // Hysteresis: grow the seeds through weak candidates (8-connected).
    while (top > 0) {
      const j = stack[--top];
      let k = j - 1;
      if (map[k] === 0) { map[k] = 2; stack[top++] = k; }
      k = j + 1;
      if (map[k] === 0) { map[k] = 2; stack[top++] = k; }
      k = j - pw - 1;
      if (map[k] === 0) { map[k] = 2; stack[top++] = k; }
      k++;
      if (map[k] === 0) { map[k] = 2; stack[top++] = k; }
      k++;
      if (map[k] === 0) { map[k] = 2; stack[top++] = k; }
      k = j + pw - 1;
      if (map[k] === 0) { map[k] = 2; stack[top++] = k; }
      k++;
      if (map[k] === 0) { map[k] = 2; stack[top++] = k; }
      k++;
      if (map[k] === 0) { map[k] = 2; stack[top++] = k; }
    }
    for (let y = 0; y < h; y++) {
      const b = (y + 1) * pw + 1;
      const o = y * w;
      for (let x = 0; x < w; x++) out[o + x] = map[b + x] === 2 ? 255 : 0;
    }
  }

  /**
   * cv2.dilate(src, ones((k, k))) for a binary (0/255) image such as a Canny map: a k x k window
   * is 255 if it contains any non-zero pixel (pixels outside the image are ignored). Sliding-window
   * counts, O(1) per pixel. `out` may be `src`.
   */
  dilateBinary(src: Uint8Array, w: number, h: number, k: number, out: Uint8Array): void {
    this.ensure(w, h);
    const tmp = this.tmp;
    const r = k >> 1;
    for (let y = 0; y < h; y++) {
      const row = y * w;
      let cnt = 0;
      for (let t = 0; t <= r && t < w; t++) if (src[row + t] !== 0) cnt++;
      for (let x = 0; x < w; x++) {
        tmp[row + x] = cnt > 0 ? 255 : 0;
        if (x - r >= 0 && src[row + x - r] !== 0) cnt--;
        if (x + r + 1 < w && src[row + x + r + 1] !== 0) cnt++;
      }
    }
    const col = this.colCount;
    col.fill(0);
    for (let t = 0; t <= r && t < h; t++) {
      const row = t * w;
      for (let x = 0; x < w; x++) if (tmp[row + x] !== 0) col[x]++;
    }
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < w; x++) out[row + x] = col[x] > 0 ? 255 : 0;
      if (y - r >= 0) {
        const rr = (y - r) * w;
        for (let x = 0; x < w; x++) if (tmp[rr + x] !== 0) col[x]--;
      }
      if (y + r + 1 < h) {
        const ra = (y + r + 1) * w;
        for (let x = 0; x < w; x++) if (tmp[ra + x] !== 0) col[x]++;
      }
    }
  }

  /** The full _detect_edges: median-based thresholds, Canny, dilation. */
  detect(lum: Uint8Array, w: number, h: number, out: Uint8Array): void {
    this.ensure(w, h);
    const sigma = 1.0 / 3.0;
    const median = medianU8(lum, w * h, this.hist);
    const low = Math.trunc(Math.max(0, (1.0 - sigma) * median));
    const high = Math.trunc(Math.min(255, (1.0 + sigma) * median));
    // Canny into `out`, then dilate in place (dilate reads its whole source before writing).
    this.canny(lum, w, h, low, high, out);
    const k = this.kernelSize ?? estimatedKernelSize(w, h);
    this.dilateBinary(out, w, h, k, out);
  }
}

// ---------------------------------------------------------------------------------------------
// Frame scorer (ContentDetector._calculate_frame_score)

function resolveWeights(weights: ComponentWeights, lumaOnly: boolean): ComponentWeights {
  const w = lumaOnly ? LUMA_ONLY_WEIGHTS : weights;
  if (!Array.isArray(w) || w.length !== 4 || w.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new TypeError(`weights must be 4 finite numbers [hue, sat, lum, edges], got ${JSON.stringify(w)}`);
  }
  const total = Math.abs(w[0]) + Math.abs(w[1]) + Math.abs(w[2]) + Math.abs(w[3]);
  if (!(total > 0)) throw new RangeError('weights must not all be zero');
  return [w[0], w[1], w[2], w[3]];
}

/**
 * Computes the content score of each frame against the previous one (ContentDetector's
 * _calculate_frame_score). Keeps only the previous frame's planes, in buffers reused across frames.
 */
export class ContentScorer {
  private readonly weights: ComponentWeights;
  private readonly denom: number;
  /** hue and saturation weights are 0: only V is needed */
  private readonly lumaOnlyPath: boolean;
  private readonly edges: EdgeMapper | null;
  private w = 0;
  private h = 0;
  private hasPrev = false;
  /** previous frame's HSV, interleaved (H,S,V per pixel); HSV path only */
  private prevHsv = new Uint8Array(0);
  /** current frame's V plane: the previous one too on the luma path; edges input otherwise */
  private lum = new Uint8Array(0);
  private prevE = new Uint8Array(0);
  private curE = new Uint8Array(0);
  private readonly sums: [number, number, number] = [0, 0, 0];
  /** components of the last score: [delta_hue, delta_sat, delta_lum, delta_edges] */
  readonly lastComponents: [number, number, number, number] = [0, 0, 0, 0];

  constructor(weights: ComponentWeights, lumaOnly: boolean, kernelSize: number | null = null) {
    this.weights = resolveWeights(weights, lumaOnly);
    const w = this.weights;
    // Python: sum(abs(weight) for weight in weights), left to right.
    this.denom = Math.abs(w[0]) + Math.abs(w[1]) + Math.abs(w[2]) + Math.abs(w[3]);
    this.lumaOnlyPath = w[0] === 0 && w[1] === 0;
    // PySceneDetect computes edges only when delta_edges > 0 (a negative weight leaves delta 0).
    this.edges = w[3] > 0 ? new EdgeMapper(kernelSize) : null;
  }

  /** Forget the previous frame (the next frame scores 0). */
  reset(): void {
    this.hasPrev = false;
  }

  score(rgb: Uint8Array, width: number, height: number): number {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new RangeError(`invalid frame size ${width}x${height}`);
    }
    const n = width * height;
    if (rgb.length < n * 3) {
      throw new RangeError(`frame buffer has ${rgb.length} bytes, expected ${n * 3} for ${width}x${height} RGB24`);
    }
    if (width !== this.w || height !== this.h) {
      if (this.hasPrev) {
        throw new Error(`frame size changed from ${this.w}x${this.h} to ${width}x${height} mid-stream`);
      }
      this.w = width;
      this.h = height;
      this.prevHsv = this.lumaOnlyPath ? new Uint8Array(0) : new Uint8Array(n * 3);
      this.lum = this.lumaOnlyPath || this.edges ? new Uint8Array(n) : new Uint8Array(0);
      if (this.edges) {
        this.prevE = new Uint8Array(n);
        this.curE = new Uint8Array(n);
      }
    }
    const first = !this.hasPrev;
    const sums = this.sums;
    if (this.lumaOnlyPath) {
      sums[0] = 0;
      sums[1] = 0;
      sums[2] = diffLuma(rgb, n, this.lum);
    } else {
      diffHsv(rgb, n, this.prevHsv, sums);
    }
    let dE = 0;
    if (this.edges) {
      const lum = this.lum;
      if (!this.lumaOnlyPath) {
        const hsv = this.prevHsv; // holds this frame now
        for (let i = 0, p = 2; i < n; i++, p += 3) lum[i] = hsv[p];
      }
      this.edges.detect(lum, width, height, this.curE);
      if (!first) {
        const a = this.curE;
        const b = this.prevE;
        let differing = 0;
        for (let i = 0; i < n; i++) if (a[i] !== b[i]) differing++;
        dE = differing * 255; // edge maps are 0/255
      }
      const t = this.prevE;
      this.prevE = this.curE;
      this.curE = t;
    }
    this.hasPrev = true;
    const comps = this.lastComponents;
    if (first) {
      comps.fill(0);
      return 0;
    }
    // numpy: sum(|a - b|) / num_pixels per component (exact integer sums, one division).
    comps[0] = sums[0] / n;
    comps[1] = sums[1] / n;
    comps[2] = sums[2] / n;
    comps[3] = dE / n;
    const w = this.weights;
    // Same summation order as Python's sum() over the weighted components.
    return (comps[0] * w[0] + comps[1] * w[1] + comps[2] * w[2] + comps[3] * w[3]) / this.denom;
  }
}

/**
 * Converts `rgb` to OpenCV HSV, adds sum|cur - prev| per channel into out[0..2] and leaves the
 * current frame in `prev` (interleaved H,S,V).
 */
function diffHsv(rgb: Uint8Array, n: number, prev: Uint8Array, out: [number, number, number]): void {
  const sdiv = SDIV;
  const hdiv = HDIV;
  let sh = 0;
  let ss = 0;
  let sv = 0;
  const end = n * 3;
  for (let p = 0; p < end; p += 3) {
    const r = rgb[p];
    const g = rgb[p + 1];
    const b = rgb[p + 2];
    let v = r > g ? r : g;
    if (b > v) v = b;
    let mn = r < g ? r : g;
    if (b < mn) mn = b;
    const diff = v - mn;
    let h = v === r ? g - b : v === g ? b - r + 2 * diff : r - g + 4 * diff;
    h = (h * hdiv[diff] + HSV_ROUND) >> HSV_SHIFT;
    if (h < 0) h += 180;
    const s = (diff * sdiv[v] + HSV_ROUND) >> HSV_SHIFT;
    sh += Math.abs(h - prev[p]);
    ss += Math.abs(s - prev[p + 1]);
    sv += Math.abs(v - prev[p + 2]);
    prev[p] = h;
    prev[p + 1] = s;
    prev[p + 2] = v;
  }
  out[0] = sh;
  out[1] = ss;
  out[2] = sv;
}

/** V-only variant: returns sum|V - prevV| and leaves the current V plane in `prevV`. */
function diffLuma(rgb: Uint8Array, n: number, prevV: Uint8Array): number {
  let sv = 0;
  for (let i = 0, p = 0; i < n; i++, p += 3) {
    const r = rgb[p];
    const g = rgb[p + 1];
    const b = rgb[p + 2];
    let v = r > g ? r : g;
    if (b > v) v = b;
    sv += Math.abs(v - prevV[i]);
    prevV[i] = v;
  }
  return sv;
}

// ---------------------------------------------------------------------------------------------
// FlashFilter (scenedetect.detector.FlashFilter, frame-number based as in 0.6.4)

export class FlashFilter {
  private lastAbove: number | null = null;
  private mergeEnabled = false;
  private mergeTriggered = false;
  private mergeStart: number | null = null;

  constructor(
    readonly mode: 'merge' | 'suppress',
    readonly length: number,
  ) {}

  filter(frameNum: number, aboveThreshold: boolean): number[] {
    if (!(this.length > 0)) return aboveThreshold ? [frameNum] : [];
    if (this.lastAbove === null) this.lastAbove = frameNum;
    return this.mode === 'merge' ? this.filterMerge(frameNum, aboveThreshold) : this.filterSuppress(frameNum, aboveThreshold);
  }

  private filterSuppress(frameNum: number, above: boolean): number[] {
    const minLengthMet = frameNum - (this.lastAbove as number) >= this.length;
    if (!(above && minLengthMet)) return [];
    this.lastAbove = frameNum;
    return [frameNum];
  }

  private filterMerge(frameNum: number, above: boolean): number[] {
    const minLengthMet = frameNum - (this.lastAbove as number) >= this.length;
    if (above) this.lastAbove = frameNum;
    if (this.mergeTriggered) {
      const merged = (this.lastAbove as number) - (this.mergeStart as number);
      if (minLengthMet && !above && merged >= this.length) {
        this.mergeTriggered = false;
        return [this.lastAbove as number];
      }
      return [];
    }
    if (!above) return [];
    if (minLengthMet) {
      this.mergeEnabled = true;
      return [frameNum];
    }
    if (this.mergeEnabled) {
      this.mergeTriggered = true;
      this.mergeStart = frameNum;
    }
    return [];
  }

  /**
   * A merge still in progress at end of stream. PySceneDetect never emits it (FlashFilter has no
   * flush and ContentDetector.post_process returns nothing), so the detectors do not either; this
   * is exposed for diagnostics only.
   */
  get pendingMerge(): number | null {
    return this.mergeTriggered ? this.lastAbove : null;
  }
}

// ---------------------------------------------------------------------------------------------
// Detectors

function checkNonNegInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
}

function checkFinite(name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number, got ${v}`);
}

class ContentDetectorImpl implements FrameDetector {
  private readonly scorer: ContentScorer;
  private readonly flash: FlashFilter;
  private readonly threshold: number;
  private score = 0;
  private finished = false;

  constructor(readonly params: ContentParams) {
    checkFinite('threshold', params.threshold);
    checkNonNegInt('min_scene_len', params.min_scene_len);
    if (params.filter_mode !== 'merge' && params.filter_mode !== 'suppress') {
      throw new RangeError(`filter_mode must be 'merge' or 'suppress', got ${String(params.filter_mode)}`);
    }
    this.threshold = params.threshold;
    this.scorer = new ContentScorer(params.weights, params.luma_only);
    this.flash = new FlashFilter(params.filter_mode, params.min_scene_len);
  }

  get lastScore(): number {
    return this.score;
  }

  processFrame(frameNum: number, rgb: Uint8Array, width: number, height: number): number[] {
    if (this.finished) throw new Error('processFrame called after finish()');
    this.score = this.scorer.score(rgb, width, height);
    return this.flash.filter(frameNum, this.score >= this.threshold);
  }

  finish(): number[] {
    // PySceneDetect's ContentDetector has nothing to flush: a merge still pending at the end of
    // the stream is dropped (see FlashFilter.pendingMerge).
    this.finished = true;
    return [];
  }
}

class AdaptiveDetectorImpl implements FrameDetector {
  private readonly scorer: ContentScorer;
  private readonly size: number;
  private readonly frames: Float64Array;
  private readonly scores: Float64Array;
  private count = 0;
  private lastCut: number | null = null;
  private score = 0;
  private ratio = 0;
  private finished = false;

  constructor(readonly params: AdaptiveParams) {
    checkFinite('adaptive_threshold', params.adaptive_threshold);
    checkFinite('min_content_val', params.min_content_val);
    checkNonNegInt('min_scene_len', params.min_scene_len);
    if (!Number.isInteger(params.window_width) || params.window_width < 1) {
      throw new RangeError(`window_width must be an integer >= 1, got ${params.window_width}`);
    }
    this.scorer = new ContentScorer(params.weights, params.luma_only);
    this.size = 2 * params.window_width + 1;
    this.frames = new Float64Array(this.size);
    this.scores = new Float64Array(this.size);
  }

  get lastScore(): number {
    return this.score;
  }

  /** adaptive_ratio of the last frame that reached the centre of the window. */
  get lastAdaptiveRatio(): number {
    return this.ratio;
  }

  processFrame(frameNum: number, rgb: Uint8Array, width: number, height: number): number[] {
    if (this.finished) throw new Error('processFrame called after finish()');
    const score = this.scorer.score(rgb, width, height);
    this.score = score;
    if (this.lastCut === null) this.lastCut = frameNum;
    const size = this.size;
    const slot = this.count % size;
    this.frames[slot] = frameNum;
    this.scores[slot] = score;
    this.count++;
    if (this.count < size) return [];
    const ww = this.params.window_width;
    const oldest = this.count % size; // position of buffer[0]
    let sum = 0;
    for (let k = 0; k < size; k++) if (k !== ww) sum += this.scores[(oldest + k) % size];
    const centre = (oldest + ww) % size;
    const targetFrame = this.frames[centre];
    const targetScore = this.scores[centre];
    const avg = sum / (2.0 * ww);
    let ratio = 0;
    if (!(Math.abs(avg) < 0.00001)) ratio = Math.min(targetScore / avg, 255.0);
    else if (targetScore >= this.params.min_content_val) ratio = 255.0;
    this.ratio = ratio;
    const thresholdMet = ratio >= this.params.adaptive_threshold && targetScore >= this.params.min_content_val;
    // As in PySceneDetect: the distance is measured from the *current* frame (not the centre one)
    // to the last cut, which starts at the first frame seen.
    const minLengthMet = frameNum - this.lastCut >= this.params.min_scene_len;
    if (thresholdMet && minLengthMet) {
      this.lastCut = targetFrame;
      return [targetFrame];
    }
    return [];
  }

  finish(): number[] {
    // Every cut is returned by the processFrame call that decides it. As in PySceneDetect
    // (AdaptiveDetector.post_process returns []), the last window_width frames never reach the
    // centre of a full window and so are never evaluated.
    this.finished = true;
    return [];
  }
}

export function createContentDetector(p: Partial<ContentParams> = {}): FrameDetector {
  const params: ContentParams = { ...CONTENT_DEFAULTS, ...stripUndefined(p) };
  params.weights = [...params.weights] as ComponentWeights;
  return new ContentDetectorImpl(params);
}

export function createAdaptiveDetector(p: Partial<AdaptiveParams> = {}): FrameDetector {
  const params: AdaptiveParams = { ...ADAPTIVE_DEFAULTS, ...stripUndefined(p) };
  params.weights = [...params.weights] as ComponentWeights;
  return new AdaptiveDetectorImpl(params);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
