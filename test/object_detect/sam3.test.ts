/** Pure SAM 3 pre/post-processing: keyframes, thresholds, scores, box and mask mapping, image tensor. */
import { describe, expect, it } from 'vitest';
import {
  boxToPixels,
  imageToTensor,
  keyframeIndices,
  logit,
  maskLogitsToRle,
  postprocess,
  resizeRgbBilinear,
  resolveThresholds,
  scoreQueries,
  sigmoid,
  type RawDetections,
} from '../../operators/object_detect/sam3.js';
import { decodeMask, rleBbox } from '../../src/rle.js';

describe('keyframes', () => {
  it('first frame of the clip, then every stride frames, end exclusive', () => {
    expect(keyframeIndices(0, 100, 30)).toEqual([0, 30, 60, 90]);
    expect(keyframeIndices(270, 300, 30)).toEqual([270]);
    expect(keyframeIndices(5, 9, 1)).toEqual([5, 6, 7, 8]);
    expect(keyframeIndices(10, 11, 50)).toEqual([10]);
    expect(keyframeIndices(10, 10, 5)).toEqual([]);
  });
});

describe('thresholds', () => {
  it('per-label entries override the default; a number applies to all', () => {
    const t = resolveThresholds(['hand', 'cup', 'knife'], 0.5, { cup: 0.3 });
    expect([...t]).toEqual([
      ['hand', 0.5],
      ['cup', 0.3],
      ['knife', 0.5],
    ]);
    expect([...resolveThresholds(['a', 'b'], 0.5, 0.2).values()]).toEqual([0.2, 0.2]);
    expect([...resolveThresholds(['a'], 0.4, undefined).values()]).toEqual([0.4]);
  });
});

describe('scores', () => {
  const raw = (logits: number[], presence: number | null, boxes?: number[]): RawDetections => ({
    count: logits.length,
    logits: Float32Array.from(logits),
    boxes: Float32Array.from(boxes ?? logits.flatMap((_, i) => [0.1 * i, 0.1, 0.1 * i + 0.2, 0.5])),
    presence,
  });

  it('score = sigmoid(logit) x sigmoid(presence), strictly above the threshold, best first', () => {
    const r = raw([2, 0, -1, 3], 1);
    const s = scoreQueries(r, 0.3, 10);
    const pres = sigmoid(1);
    expect(s.map((q) => q.query)).toEqual([3, 0, 1]); // sigmoid(-1) * 0.73 = 0.196 is dropped
    expect(s[0].score).toBeCloseTo(sigmoid(3) * pres, 6);
    expect(s[1].score).toBeCloseTo(sigmoid(2) * pres, 6);
    expect(s[2].prob).toBeCloseTo(0.5, 6);
    expect(s[2].presence).toBeCloseTo(pres, 6);
    // presence gates everything: a low presence removes even confident boxes
    expect(scoreQueries(raw([4, 4], -3), 0.3, 10)).toEqual([]);
    // no presence output: the box probability alone
    expect(scoreQueries(raw([0.5], null), 0.3, 10)[0].score).toBeCloseTo(sigmoid(0.5), 6);
  });

  it('max detections keeps the highest scores; equal scores keep query order', () => {
    const s = scoreQueries(raw([1, 3, 2, 3], 5), 0, 2);
    expect(s.map((q) => q.query)).toEqual([1, 3]);
  });

  it('the threshold is exclusive (as the Hugging Face post-processing)', () => {
    expect(scoreQueries(raw([0], null), 0.5, 10)).toEqual([]);
    expect(scoreQueries(raw([0.001], null), 0.5, 10)).toHaveLength(1);
  });

  it('cxcywh boxes are converted to xyxy', () => {
    const s = scoreQueries(raw([3], null, [0.5, 0.5, 0.2, 0.4]), 0.1, 5, 'cxcywh');
    expect(s[0].box.map((v) => +v.toFixed(6))).toEqual([0.4, 0.3, 0.6, 0.7]);
  });

  it('logit / sigmoid', () => {
    expect(logit(0.5)).toBe(0);
    expect(sigmoid(logit(0.8))).toBeCloseTo(0.8, 12);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(800)).toBe(1);
  });
});

describe('boxes back to the original resolution', () => {
  it('normalised xyxy of the stretched input scale by (W, H) and clip to the image', () => {
    expect(boxToPixels([0.25, 0.5, 0.75, 1.0], 1280, 720)).toEqual([320, 360, 960, 720]);
    expect(boxToPixels([-0.1, 0.2, 1.2, 0.4], 640, 480)).toEqual([0, 96, 640, 192]);
  });
});

describe('masks back to the original resolution', () => {
  /** logits +5 inside [x0,x1) x [y0,y1) cells, -5 elsewhere */
  const grid = (m: number, x0: number, y0: number, x1: number, y1: number) => {
    const d = new Float32Array(m * m).fill(-5);
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) d[y * m + x] = 5;
    return d;
  };

  it('bilinear (align_corners=False) resize then threshold, as COCO RLE at the video size', () => {
    const m = 8;
    const d = grid(m, 2, 1, 6, 5); // cells x 2..5, y 1..4
    const { rle, area } = maskLogitsToRle(d, 0, m, m, 80, 160, 0);
    expect(rle.size).toEqual([80, 160]);
    const mask = decodeMask(rle);
    // each cell is 20 x 10 px; the 0-crossing sits halfway between cell centres = cell edges
    const [bx, by, bw, bh] = rleBbox(rle);
    expect(bx).toBe(40);
    expect(by).toBe(10);
    expect(bw).toBe(80);
    expect(bh).toBe(40);
    // bilinear interpolation rounds the corners a little
    expect(area).toBeLessThanOrEqual(80 * 40);
    expect(area).toBeGreaterThan(0.95 * 80 * 40);
    expect(mask.reduce((a, b) => a + b, 0)).toBe(area);
  });

  it('matches a full-frame reference resize (windowed resampling loses nothing)', () => {
    const m = 16;
    const d = new Float32Array(m * m);
    for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) d[y * m + x] = 3 - Math.hypot(x - 4.3, y - 11.2);
    const H = 75;
    const W = 101;
    const { rle } = maskLogitsToRle(d, 0, m, m, H, W, 0.2);
    const got = decodeMask(rle);
    const ref = new Uint8Array(H * W);
    const src = (o: number, n: number, out: number) => Math.max(0, (o + 0.5) * (n / out) - 0.5);
    for (let y = 0; y < H; y++) {
      const sy = src(y, m, H);
      const y0 = Math.min(m - 1, Math.floor(sy));
      const y1 = Math.min(m - 1, y0 + 1);
      for (let x = 0; x < W; x++) {
        const sx = src(x, m, W);
        const x0 = Math.min(m - 1, Math.floor(sx));
        const x1 = Math.min(m - 1, x0 + 1);
        const top = d[y0 * m + x0] + (d[y0 * m + x1] - d[y0 * m + x0]) * (sx - x0);
        const bot = d[y1 * m + x0] + (d[y1 * m + x1] - d[y1 * m + x0]) * (sx - x0);
        ref[y * W + x] = top + (bot - top) * (sy - y0) > 0.2 ? 1 : 0;
      }
    }
    expect(Array.from(got)).toEqual(Array.from(ref));
  });

  it('an empty mask and a mask touching the borders', () => {
    const m = 4;
    expect(maskLogitsToRle(new Float32Array(m * m).fill(-1), 0, m, m, 10, 10, 0).area).toBe(0);
    const full = maskLogitsToRle(new Float32Array(m * m).fill(1), 0, m, m, 10, 12, 0);
    expect(full.area).toBe(120);
  });

  it('postprocess: scores, pixel boxes and one mask per kept query', () => {
    const m = 8;
    const masks = new Float32Array(2 * m * m);
    masks.set(grid(m, 0, 0, 4, 4), 0);
    masks.set(grid(m, 4, 4, 8, 8), m * m);
    const r: RawDetections = { count: 2, logits: Float32Array.from([3, -4]), boxes: Float32Array.from([0, 0, 0.5, 0.5, 0.5, 0.5, 1, 1]), presence: 2, masks: { data: masks, height: m, width: m } };
    const d = postprocess(r, 'cup', 200, 100, { threshold: 0.5, maxDetections: 10 });
    expect(d).toHaveLength(1);
    expect(d[0].label).toBe('cup');
    expect(d[0].bbox).toEqual([0, 0, 100, 50]);
    expect(d[0].score).toBeCloseTo(sigmoid(3) * sigmoid(2), 6);
    expect(rleBbox(d[0].rle!)).toEqual([0, 0, 100, 50]);
    const noMask = postprocess(r, 'cup', 200, 100, { threshold: 0.5, maxDetections: 10, masks: false });
    expect(noMask[0].rle).toBeNull();
    const low = postprocess(r, 'cup', 200, 100, { threshold: 0.0001, maxDetections: 10 });
    expect(low.map((x) => x.query)).toEqual([0, 1]);
    expect(rleBbox(low[1].rle!)).toEqual([100, 50, 100, 50]);
  });
});

describe('image to encoder input', () => {
  it('normalises to x / 127.5 - 1, NCHW; same-size frames are not resampled', () => {
    const img = { width: 2, height: 1, data: Uint8Array.from([0, 127.5 | 0, 255, 255, 0, 51]) };
    const t = imageToTensor(img, 2, 1);
    expect(Array.from(t).map((v) => +v.toFixed(4))).toEqual([-1, 1, 127 / 127.5 - 1, -1, 1, 51 / 127.5 - 1].map((v) => +v.toFixed(4)));
  });

  it('stretches to the input size (aspect not kept) with an antialiased bilinear filter', () => {
    // 8 x 4 image: left half black, right half white -> 4 x 4: columns 0,1 black, 2,3 white
    const W = 8;
    const H = 4;
    const data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 4; x < 8; x++) data.fill(255, (y * W + x) * 3, (y * W + x) * 3 + 3);
    const out = resizeRgbBilinear({ width: W, height: H, data }, 4, 4);
    const col = (x: number) => out[(1 * 4 + x) * 3];
    expect(col(0)).toBe(0);
    expect(col(3)).toBe(255);
    expect(col(1)).toBeLessThan(64);
    expect(col(2)).toBeGreaterThan(191);
    // a constant image stays constant at any size
    const flat = { width: 37, height: 23, data: new Uint8Array(37 * 23 * 3).fill(200) };
    expect(new Set(resizeRgbBilinear(flat, 16, 16))).toEqual(new Set([200]));
    expect(new Set(resizeRgbBilinear(flat, 64, 50))).toEqual(new Set([200]));
    const t = imageToTensor(flat, 16, 16);
    expect(t).toHaveLength(3 * 256);
    expect(t[0]).toBeCloseTo(200 / 127.5 - 1, 6);
  });
});
