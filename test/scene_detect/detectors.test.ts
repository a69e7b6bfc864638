import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ADAPTIVE_DEFAULTS,
  CONTENT_DEFAULTS,
  ContentScorer,
  EdgeMapper,
  createAdaptiveDetector,
  createContentDetector,
  cutsToScenes,
  downscaleSize,
  estimatedKernelSize,
  medianU8,
  pyRound,
  rgbFrameToHsv,
  rgbToHsv,
  type FrameDetector,
} from '../../operators/scene_detect/detectors.js';
import { decodeFrames } from '../../src/ffmpeg.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TEST_VIDEO = path.resolve(repoRoot, '../shared/data/videos/testvideo.mp4');

// ---------------------------------------------------------------------------------------------
// Synthetic frames

const W = 32;
const H = 18;
type RGB = [number, number, number];

function solid(c: RGB, w = W, h = H): Uint8Array {
  const f = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) f.set(c, i * 3);
  return f;
}

/** Deterministic noise frame (xorshift32). */
function noise(seed: number, w = W, h = H): Uint8Array {
  const f = new Uint8Array(w * h * 3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < f.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    f[i] = x & 255;
  }
  return f;
}

/** Runs a detector over frames; records which processFrame call returned each cut. */
function run(det: FrameDetector, frames: Uint8Array[], w = W, h = H) {
  const cuts: number[] = [];
  const decidedAt: Array<[number, number]> = [];
  const scores: number[] = [];
  frames.forEach((f, i) => {
    for (const c of det.processFrame(i, f, w, h)) {
      cuts.push(c);
      decidedAt.push([c, i]);
    }
    scores.push(det.lastScore);
  });
  const tail = det.finish();
  cuts.push(...tail);
  return { cuts, decidedAt, scores, tail };
}

/** frames[i] = the colour of the segment i falls in; segments given as [startFrame, colour]. */
function segments(total: number, segs: Array<[number, RGB | Uint8Array]>): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < total; i++) {
    let cur = segs[0][1];
    for (const [start, c] of segs) if (i >= start) cur = c;
    frames.push(cur instanceof Uint8Array ? cur : solid(cur));
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------

describe('OpenCV-compatible HSV', () => {
  it('matches hand-computed cv2.cvtColor(COLOR_RGB2HSV) values', () => {
    const cases: Array<[RGB, RGB]> = [
      [[255, 0, 0], [0, 255, 255]], // red
      [[0, 255, 0], [60, 255, 255]], // green
      [[0, 0, 255], [120, 255, 255]], // blue
      [[255, 255, 0], [30, 255, 255]], // yellow
      [[255, 0, 255], [150, 255, 255]], // magenta
      [[128, 128, 128], [0, 0, 128]], // grey
      [[0, 0, 0], [0, 0, 0]], // black
      [[255, 255, 255], [0, 0, 255]], // white
      [[10, 200, 100], [74, 242, 200]], // 148.4 deg -> 74; 190/200*255 = 242.25
      [[50, 100, 150], [105, 170, 150]], // 210 deg -> 105
      [[255, 0, 128], [165, 255, 255]], // 329.9 deg -> 164.94 -> 165
      [[101, 100, 101], [150, 3, 101]], // red max (tie with blue): g-b < 0 wraps to 150; 255/101 = 2.52 -> 3
    ];
    for (const [rgb, hsv] of cases) expect(rgbToHsv(...rgb), `rgb ${rgb}`).toEqual(hsv);
  });

  it('stays within 1 of the float HSV definition and in range for many colours', () => {
    const floatHsv = (r: number, g: number, b: number): RGB => {
      const v = Math.max(r, g, b);
      const d = v - Math.min(r, g, b);
      const s = v === 0 ? 0 : (255 * d) / v;
      let h = 0;
      if (d > 0) {
        if (v === r) h = (60 * (g - b)) / d;
        else if (v === g) h = 120 + (60 * (b - r)) / d;
        else h = 240 + (60 * (r - g)) / d;
        if (h < 0) h += 360;
      }
      return [h / 2, s, v];
    };
    const bad: string[] = [];
    for (let r = 0; r < 256; r += 5) {
      for (let g = 0; g < 256; g += 7) {
        for (let b = 0; b < 256; b += 11) {
          const [h, s, v] = rgbToHsv(r, g, b);
          const [fh, fs, fv] = floatHsv(r, g, b);
          const dh = Math.min(Math.abs(h - fh), 180 - Math.abs(h - fh)); // hue is circular
          if (!(h >= 0 && h < 180 && dh <= 1 && Math.abs(s - fs) <= 1 && v === fv)) bad.push(`${[r, g, b]} -> ${[h, s, v]}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('frame conversion equals the per-pixel conversion', () => {
    const f = noise(7);
    const n = W * H;
    const hh = new Uint8Array(n);
    const ss = new Uint8Array(n);
    const vv = new Uint8Array(n);
    rgbFrameToHsv(f, n, hh, ss, vv);
    for (let i = 0; i < n; i++) {
      expect([hh[i], ss[i], vv[i]]).toEqual(rgbToHsv(f[3 * i], f[3 * i + 1], f[3 * i + 2]));
    }
  });
});

describe('frame score', () => {
  it('is 0 on the first frame and the weighted mean of channel deltas afterwards', () => {
    const sc = new ContentScorer([1, 1, 1, 0], false);
    expect(sc.score(solid([255, 0, 0]), W, H)).toBe(0);
    // red -> blue: dH = 120, dS = 0, dV = 0
    expect(sc.score(solid([0, 0, 255]), W, H)).toBeCloseTo(40, 12);
    expect(sc.lastComponents).toEqual([120, 0, 0, 0]);
    // blue -> grey 100: dH 120, dS 255, dV 155
    expect(sc.score(solid([100, 100, 100]), W, H)).toBeCloseTo((120 + 255 + 155) / 3, 12);
    // same frame again
    expect(sc.score(solid([100, 100, 100]), W, H)).toBe(0);
  });

  it('hue differences are not wrapped around', () => {
    const sc = new ContentScorer([1, 0, 0, 0], false);
    expect(rgbToHsv(255, 0, 1)[0]).toBe(0);
    sc.score(solid([255, 0, 1]), W, H);
    expect(rgbToHsv(255, 0, 8)[0]).toBe(179);
    expect(sc.score(solid([255, 0, 8]), W, H)).toBe(179); // 0 -> 179 counts as 179, not 1
  });

  it('uses sum(w*delta)/sum(|w|) and luma_only overrides weights', () => {
    const a = solid([200, 0, 0]);
    const b = solid([0, 0, 100]); // dH 120, dS 0, dV 100
    const s1 = new ContentScorer([2, 1, -1, 0], false);
    s1.score(a, W, H);
    expect(s1.score(b, W, H)).toBeCloseTo((2 * 120 - 100) / 4, 12);
    const s2 = new ContentScorer([1, 1, 1, 0], true);
    s2.score(a, W, H);
    expect(s2.score(b, W, H)).toBeCloseTo(100, 12);
  });

  it('rejects bad input', () => {
    expect(() => new ContentScorer([0, 0, 0, 0], false)).toThrow(/zero/);
    const sc = new ContentScorer([1, 1, 1, 0], false);
    expect(() => sc.score(new Uint8Array(10), W, H)).toThrow(/bytes/);
    sc.score(solid([1, 2, 3]), W, H);
    expect(() => sc.score(solid([1, 2, 3], 16, 9), 16, 9)).toThrow(/size changed/);
  });
});

describe('edges component', () => {
  it('Canny marks a vertical step on its last dark column (OpenCV NMS tie rule)', () => {
    const w = 20;
    const h = 10;
    const lum = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 10; x < w; x++) lum[y * w + x] = 200;
    const em = new EdgeMapper();
    const out = new Uint8Array(w * h);
    em.canny(lum, w, h, 66, 133, out);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) expect(out[y * w + x], `(${x},${y})`).toBe(x === 9 ? 255 : 0);
    }
    // _detect_edges: median (0+200)/2 = 100 -> thresholds 66/133; kernel 4+round(0.07)=4 -> 5
    expect(medianU8(lum, w * h)).toBe(100);
    expect(estimatedKernelSize(w, h)).toBe(5);
    em.detect(lum, w, h, out);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) expect(out[y * w + x]).toBe(x >= 7 && x <= 11 ? 255 : 0);
    }
  });

  it('weak edges survive only when connected to a strong one (output checked against cv2.Canny)', () => {
    const w = 12;
    const h = 12;
    const lum = new Uint8Array(w * h);
    // strong step (0 -> 200) on rows 0..5, weak step (0 -> 30) on rows 6..11, both at x = 6
    for (let y = 0; y < h; y++) for (let x = 6; x < w; x++) lum[y * w + x] = y < 6 ? 200 : 30;
    const em = new EdgeMapper();
    const out = new Uint8Array(w * h);
    const draw = () =>
      Array.from({ length: h }, (_, y) =>
        Array.from(out.subarray(y * w, y * w + w), (v) => (v ? '#' : '.')).join(''),
      );
    const strong = ['.....#......', '.....#......', '.....#......', '.....#......', '.....#......', '......######', '......#.....'];
    // weak magnitude 120 > low 50: the weak run is linked to the strong one through (6, 6)
    em.canny(lum, w, h, 50, 300, out);
    expect(draw()).toEqual([...strong, ...Array(5).fill('.....#......')]);
    // low 130: the weak run is no longer a candidate
    em.canny(lum, w, h, 130, 300, out);
    expect(draw()).toEqual([...strong, ...Array(5).fill('............')]);
    // high above any L1 magnitude (max 4*255*2 = 2040): no seed, nothing survives
    em.canny(lum, w, h, 50, 2100, out);
    expect(out.every((v) => v === 0)).toBe(true);
  });

  it('an edges-only score sees a moved shape and ignores a flat colour change', () => {
    const w = 64;
    const h = 36;
    const square = (x0: number, c: RGB, bg: RGB) => {
      const f = solid(bg, w, h);
      for (let y = 10; y < 26; y++) for (let x = x0; x < x0 + 16; x++) f.set(c, (y * w + x) * 3);
      return f;
    };
    const sc = new ContentScorer([0, 0, 0, 1], false);
    expect(sc.score(square(10, [255, 255, 255], [0, 0, 0]), w, h)).toBe(0);
    expect(sc.score(square(10, [255, 255, 255], [0, 0, 0]), w, h)).toBe(0);
    expect(sc.score(square(40, [255, 255, 255], [0, 0, 0]), w, h)).toBeGreaterThan(20);
    const det = createContentDetector({ weights: [1, 1, 1, 1] });
    expect(det.processFrame(0, solid([0, 0, 0]), W, H)).toEqual([]);
  });
});

describe('ContentDetector', () => {
  it('exposes the PySceneDetect defaults', () => {
    expect(CONTENT_DEFAULTS).toEqual({
      threshold: 27,
      min_scene_len: 15,
      weights: [1, 1, 1, 0],
      luma_only: false,
      filter_mode: 'merge',
    });
  });

  it('finds hard cuts exactly, not the small per-frame jitter', () => {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 120; i++) {
      const j = i % 3; // +-1 jitter keeps scores tiny
      if (i < 40) frames.push(solid([200 + j, 30, 30]));
      else if (i < 80) frames.push(noise(1234));
      else frames.push(solid([20, 40, 180 + j]));
    }
    const { cuts, decidedAt, scores } = run(createContentDetector(), frames);
    expect(cuts).toEqual([40, 80]);
    expect(decidedAt).toEqual([
      [40, 40],
      [80, 80],
    ]);
    expect(scores[0]).toBe(0);
    expect(scores[40]).toBeGreaterThan(27);
    expect(Math.max(...scores.slice(1, 40))).toBeLessThan(2);
  });

  it('score exactly at the threshold is a cut (>=)', () => {
    // red -> blue scores exactly 40
    const frames = segments(40, [[0, [255, 0, 0]], [20, [0, 0, 255]]]);
    expect(run(createContentDetector({ threshold: 40 }), frames).cuts).toEqual([20]);
    expect(run(createContentDetector({ threshold: 40.0001 }), frames).cuts).toEqual([]);
    // luma_only: same V, no cut
    expect(run(createContentDetector({ luma_only: true }), frames).cuts).toEqual([]);
  });

  it('min_scene_len counts from the first frame (a cut before it is dropped)', () => {
    const frames = segments(80, [[0, [10, 10, 10]], [10, [250, 250, 250]], [40, [10, 200, 10]]]);
    expect(run(createContentDetector(), frames).cuts).toEqual([40]);
    expect(run(createContentDetector({ filter_mode: 'suppress' }), frames).cuts).toEqual([40]);
    expect(run(createContentDetector({ min_scene_len: 0 }), frames).cuts).toEqual([10, 40]);
  });

  it('a single flash: cut kept, the return cut filtered, in both modes', () => {
    const a: RGB = [60, 60, 60];
    const frames = segments(100, [[0, a], [50, [255, 255, 255]], [55, a]]);
    expect(run(createContentDetector(), frames).cuts).toEqual([50]);
    expect(run(createContentDetector({ filter_mode: 'suppress' }), frames).cuts).toEqual([50]);
    expect(run(createContentDetector({ min_scene_len: 0 }), frames).cuts).toEqual([50, 55]);
  });

  it('rapid cuts: MERGE emits the last one after the burst, late; SUPPRESS the first one past min_scene_len', () => {
    const B: RGB = [255, 255, 255];
    const C: RGB = [0, 0, 255];
    const frames = segments(120, [
      [0, [30, 30, 30]],
      [50, B],
      [55, C],
      [60, B],
      [65, C],
      [70, [0, 200, 0]],
    ]);
    const merge = run(createContentDetector(), frames);
    expect(merge.cuts).toEqual([50, 70]);
    // 70 is decided once min_scene_len frames below threshold have passed since it
    expect(merge.decidedAt).toEqual([
      [50, 50],
      [70, 85],
    ]);
    const suppress = run(createContentDetector({ filter_mode: 'suppress' }), frames);
    expect(suppress.cuts).toEqual([50, 65]);
    expect(suppress.decidedAt).toEqual([
      [50, 50],
      [65, 65],
    ]);
  });

  it('after a merged flash, the next real cut is delayed by min_scene_len frames (FlashFilter quirk)', () => {
    const A: RGB = [60, 60, 60];
    const frames = segments(140, [[0, A], [50, [255, 255, 255]], [55, A], [100, [0, 0, 200]]]);
    const r = run(createContentDetector(), frames);
    expect(r.decidedAt).toEqual([
      [50, 50],
      [100, 115],
    ]);
    const s = run(createContentDetector({ filter_mode: 'suppress' }), frames);
    expect(s.decidedAt).toEqual([
      [50, 50],
      [100, 100],
    ]);
  });

  it('a merge still pending at end of stream is dropped, like PySceneDetect', () => {
    const frames = segments(65, [[0, [30, 30, 30]], [50, [255, 255, 255]], [55, [0, 0, 255]], [58, [0, 200, 0]]]);
    const r = run(createContentDetector(), frames);
    expect(r.cuts).toEqual([50]);
    expect(r.tail).toEqual([]);
  });

  it('validates parameters', () => {
    expect(() => createContentDetector({ min_scene_len: -1 })).toThrow();
    expect(() => createContentDetector({ filter_mode: 'x' as 'merge' })).toThrow();
    expect(() => createContentDetector({ weights: [0, 0, 0, 0] })).toThrow();
    const d = createContentDetector();
    d.finish();
    expect(() => d.processFrame(0, solid([0, 0, 0]), W, H)).toThrow(/finish/);
  });
});

describe('AdaptiveDetector', () => {
  it('exposes the PySceneDetect defaults', () => {
    expect(ADAPTIVE_DEFAULTS).toEqual({
      adaptive_threshold: 3,
      min_scene_len: 15,
      window_width: 2,
      min_content_val: 15,
      weights: [1, 1, 1, 0],
      luma_only: false,
    });
  });

  it('no cut on a slow fade; the hard cut inside it is found, reported window_width frames late', () => {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 120; i++) {
      const t = i < 60 ? i : i - 60;
      frames.push(i < 60 ? solid([2 * t, 0, 255 - 2 * t]) : solid([40 + t, 200, 40]));
    }
    const fadeOnly = run(createAdaptiveDetector(), frames.slice(0, 60));
    expect(fadeOnly.cuts).toEqual([]);
    expect(run(createContentDetector(), frames.slice(0, 60)).cuts).toEqual([]);
    const r = run(createAdaptiveDetector(), frames);
    expect(r.decidedAt).toEqual([[60, 62]]);
    const r3 = run(createAdaptiveDetector({ window_width: 3 }), frames);
    expect(r3.decidedAt).toEqual([[60, 63]]);
  });

  it('ignores sustained large changes (fast motion); ContentDetector SUPPRESS cuts every min_scene_len, MERGE never', () => {
    const frames = Array.from({ length: 90 }, (_, i) => noise(1000 + i));
    const suppress = run(createContentDetector({ filter_mode: 'suppress' }), frames);
    expect(Math.min(...suppress.scores.slice(1))).toBeGreaterThan(27);
    expect(suppress.cuts).toEqual([15, 30, 45, 60, 75]);
    // MERGE advances last_above on every frame above threshold, so min_scene_len is never met
    expect(run(createContentDetector(), frames).cuts).toEqual([]);
    expect(run(createAdaptiveDetector(), frames).cuts).toEqual([]);
  });

  it('needs min_content_val even when the ratio is high', () => {
    const frames = segments(60, [[0, [100, 100, 100]], [30, [130, 130, 130]]]); // score 30/3 = 10
    expect(run(createAdaptiveDetector(), frames).cuts).toEqual([]);
    expect(run(createAdaptiveDetector({ min_content_val: 10 }), frames).cuts).toEqual([30]);
  });

  it('min_scene_len is measured from the current (not the centre) frame to the last cut, which starts at frame 0', () => {
    const mk = (at: number) => segments(40, [[0, [0, 0, 0]], [at, [255, 255, 255]]]);
    // centre frame 13 is evaluated at frame 15: 15 - 0 >= 15
    expect(run(createAdaptiveDetector(), mk(13)).cuts).toEqual([13]);
    // centre frame 12 is evaluated at frame 14: too early
    expect(run(createAdaptiveDetector(), mk(12)).cuts).toEqual([]);
    // two cuts 13 frames apart: the second is evaluated 15 frames after the first
    const two = segments(80, [[0, [0, 0, 0]], [20, [255, 255, 255]], [33, [0, 0, 255]], [60, [0, 255, 0]]]);
    expect(run(createAdaptiveDetector(), two).cuts).toEqual([20, 33, 60]);
    const two2 = segments(80, [[0, [0, 0, 0]], [20, [255, 255, 255]], [32, [0, 0, 255]], [60, [0, 255, 0]]]);
    expect(run(createAdaptiveDetector(), two2).cuts).toEqual([20, 60]);
  });

  it('the last window_width frames are never a window centre (PySceneDetect has no flush)', () => {
    const frames = segments(50, [[0, [0, 0, 0]], [48, [255, 255, 255]]]);
    const r = run(createAdaptiveDetector(), frames);
    expect(r.cuts).toEqual([]);
    expect(r.tail).toEqual([]);
    const r2 = run(createAdaptiveDetector(), frames.concat([frames[49], frames[49]]));
    expect(r2.cuts).toEqual([48]);
  });

  it('validates parameters', () => {
    expect(() => createAdaptiveDetector({ window_width: 0 })).toThrow();
    expect(() => createAdaptiveDetector({ min_scene_len: 1.5 })).toThrow();
  });
});

describe('helpers', () => {
  it('cutsToScenes covers [0, frameCount) with exclusive ends', () => {
    expect(cutsToScenes([], 100)).toEqual([[0, 100]]);
    expect(cutsToScenes([30, 180, 394], 720)).toEqual([
      [0, 30],
      [30, 180],
      [180, 394],
      [394, 720],
    ]);
    expect(cutsToScenes([50, 10, 50, 0, 100, 250], 100)).toEqual([
      [0, 10],
      [10, 50],
      [50, 100],
    ]);
    expect(cutsToScenes([5], 0)).toEqual([]);
  });

  it('downscaleSize follows PySceneDetect 0.6 (integer factor, Python rounding)', () => {
    expect(downscaleSize(1280, 720)).toEqual({ width: 256, height: 144, factor: 5 });
    expect(downscaleSize(1920, 1080)).toEqual({ width: 274, height: 154, factor: 7 });
    expect(downscaleSize(3840, 2160)).toEqual({ width: 256, height: 144, factor: 15 });
    expect(downscaleSize(640, 480)).toEqual({ width: 320, height: 240, factor: 2 });
    expect(downscaleSize(200, 100)).toEqual({ width: 200, height: 100, factor: 1 });
    expect(downscaleSize(600, 145)).toEqual({ width: 300, height: 72, factor: 2 }); // 72.5 -> 72
    expect(downscaleSize(1280, 720, 128)).toEqual({ width: 128, height: 72, factor: 10 });
    expect([pyRound(0.5), pyRound(1.5), pyRound(2.5), pyRound(2.6), pyRound(-1.5)]).toEqual([0, 2, 2, 3, -2]);
  });
});

// ---------------------------------------------------------------------------------------------
// Real video golden

describe('testvideo.mp4 golden', () => {
  it('ContentDetector defaults find 30, 180, 394; AdaptiveDetector the same', async () => {
    expect(existsSync(TEST_VIDEO), `test video missing: ${TEST_VIDEO}`).toBe(true);
    const size = downscaleSize(1280, 720);
    expect(size).toEqual({ width: 256, height: 144, factor: 5 });
    const content = createContentDetector();
    const adaptive = createAdaptiveDetector();
    const contentCuts: number[] = [];
    const adaptiveCuts: number[] = [];
    let frames = 0;
    let busyMs = 0;
    let maxScore = 0;
    for await (const f of decodeFrames({ path: TEST_VIDEO, width: size.width, height: size.height, pixFmt: 'rgb24' })) {
      const t0 = performance.now();
      contentCuts.push(...content.processFrame(f.index, f.data, size.width, size.height));
      busyMs += performance.now() - t0;
      adaptiveCuts.push(...adaptive.processFrame(f.index, f.data, size.width, size.height));
      maxScore = Math.max(maxScore, content.lastScore);
      frames++;
    }
    contentCuts.push(...content.finish());
    adaptiveCuts.push(...adaptive.finish());
    console.log(
      `testvideo: ${frames} frames at ${size.width}x${size.height}; content cuts ${JSON.stringify(contentCuts)}, ` +
        `adaptive cuts ${JSON.stringify(adaptiveCuts)}; ContentDetector ${(busyMs / frames).toFixed(3)} ms/frame (one-off, not asserted)`,
    );
    expect(frames).toBeGreaterThan(700);
    expect(maxScore).toBeGreaterThan(27);
    const near = (cuts: number[], golden: number[]) => {
      expect(cuts.length, JSON.stringify(cuts)).toBe(golden.length);
      golden.forEach((g, i) => expect(Math.abs(cuts[i] - g), `cut ${cuts[i]} vs ${g}`).toBeLessThanOrEqual(1));
    };
    near(contentCuts, [30, 180, 394]);
    near(adaptiveCuts, [30, 180, 394]);
    expect(cutsToScenes(contentCuts, frames)).toHaveLength(4);
  });
});
