import { describe, expect, it } from 'vitest';
import { CHANNELS, applyAffine, cropWindow, invertAffine, normalizeXyz, packRendered, warpDepthToXyzNearest, warpRgbBilinear, type RgbImage } from '../../operators/object_pose/crop.js';

const K = { fx: 600, fy: 590, cx: 319.5, cy: 239.5 };

describe('crop window (FoundationPose box_3d)', () => {
  it('is the rounded square of radius max(fx, fy) r / z around the projected centre, scaled to 160', () => {
    const t = [0.05, -0.02, 0.8];
    const w = cropWindow(t, K, 0.2, 1.2);
    // r = 0.2 * 1.2 / 2 = 0.12 m -> 600 * 0.12 / 0.8 = 90 px; centre (357, 224.75)
    expect([w.left, w.right, w.top, w.bottom]).toEqual([Math.round(357 - 90), Math.round(357 + 90), Math.round(224.75 - 90), Math.round(224.75 + 90)]);
    expect(w.a).toBeCloseTo(160 / 180, 12);
    expect(w.e).toBeCloseTo(160 / 180, 12);
    // window corners map to crop 0 and 160
    expect(applyAffine(w, w.left, w.top)).toEqual([0, 0]);
    const [u, v] = applyAffine(w, w.right, w.bottom);
    expect(u).toBeCloseTo(160, 9);
    expect(v).toBeCloseTo(160, 9);
    // the projected centre lands near the crop centre
    const c = applyAffine(w, 357, 224.75);
    expect(Math.abs(c[0] - 80)).toBeLessThan(1);
    expect(Math.abs(c[1] - 80)).toBeLessThan(1);
    expect(() => cropWindow([0, 0, -1], K, 0.2, 1.2)).toThrow(/in front/);
  });

  it('invertAffine round trip', () => {
    const w = cropWindow([0.01, 0.02, 0.5], K, 0.15, 1.1);
    const inv = invertAffine(w);
    for (const [x, y] of [[0, 0], [313.25, 100.5], [-5, 900]]) {
      const [u, v] = applyAffine(w, x, y);
      const [x2, y2] = applyAffine(inv, u, v);
      expect(x2).toBeCloseTo(x, 9);
      expect(y2).toBeCloseTo(y, 9);
    }
  });
});

function gradientImage(W: number, H: number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 3;
      data[p] = x % 256;
      data[p + 1] = y % 256;
      data[p + 2] = (x + 2 * y) % 256;
    }
  }
  return { width: W, height: H, data };
}

describe('observed crops', () => {
  it('RGB is bilinear at crop^-1 (u, v) (exact on a linear image), / 255, black outside', () => {
    const img = gradientImage(200, 150);
    const win = cropWindow([0, 0, 1], { fx: 100, fy: 100, cx: 100.3, cy: 70.6 }, 1, 1.2); // 120 px window
    const out = new Float32Array(160 * 160 * CHANNELS);
    warpRgbBilinear(img, win, 160, out, 0, CHANNELS);
    const inv = invertAffine(win);
    let inside = 0;
    for (let v = 0; v < 160; v += 7) {
      for (let u = 0; u < 160; u += 5) {
        const [x, y] = applyAffine(inv, u, v);
        const o = (v * 160 + u) * CHANNELS;
        if (x >= 0 && y >= 0 && x <= 199 && y <= 149 && x + 2 * y < 250) {
          inside++;
          expect(out[o]).toBeCloseTo(x / 255, 5);
          expect(out[o + 1]).toBeCloseTo(y / 255, 5);
          expect(out[o + 2]).toBeCloseTo((x + 2 * y) / 255, 5);
        } else if (x < -1 || y < -1) {
          expect(out[o] + out[o + 1] + out[o + 2]).toBe(0);
        }
      }
    }
    expect(inside).toBeGreaterThan(100);
    // xyz channels untouched
    expect(out[3] + out[4] + out[5]).toBe(0);
  });

  it('crop -> un-crop round trip restores a smooth image', () => {
    const W = 240, H = 180;
    const data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 3;
      data[p] = Math.round(127 + 100 * Math.sin(x / 13) * Math.cos(y / 17));
      data[p + 1] = Math.round(127 + 100 * Math.cos(x / 19));
      data[p + 2] = Math.round(127 + 100 * Math.sin(y / 11));
    }
    const img = { width: W, height: H, data };
    const KK = { fx: 200, fy: 200, cx: 119.5, cy: 89.5 };
    const win = cropWindow([0.01, 0.01, 1], KK, 0.5, 1.2); // 120 px window -> 160: upsampled
    const crop = new Float32Array(160 * 160 * 3);
    warpRgbBilinear(img, win, 160, crop, 0, 3);
    // back: image pixel (x, y) samples the crop at win(x, y)
    const cropImg = { width: 160, height: 160, data: Uint8Array.from(crop, (v) => Math.round(v * 255)) };
    const back = new Float32Array(80 * 80 * 3);
    // un-crop the central 80x80 image pixels: map output pixel -> image pixel (x0 + u) -> crop
    const x0 = win.left + 20, y0 = win.top + 20;
    const uncrop = { a: 1 / win.a, b: 0, c: -(win.c + win.a * x0) / win.a, d: 0, e: 1 / win.e, f: -(win.f + win.e * y0) / win.e };
    warpRgbBilinear(cropImg, uncrop, 80, back, 0, 3);
    let maxErr = 0;
    for (let v = 0; v < 80; v++) for (let u = 0; u < 80; u++) for (let c = 0; c < 3; c++) {
      const want = data[((y0 + v) * W + x0 + u) * 3 + c] / 255;
      maxErr = Math.max(maxErr, Math.abs(back[(v * 80 + u) * 3 + c] - want));
    }
    expect(maxErr).toBeLessThan(6 / 255);
  });

  it('XYZ is the nearest depth pixel unprojected with K; 0 without depth or outside', () => {
    const W = 64, H = 48;
    const KK = { fx: 80, fy: 80, cx: 31.5, cy: 23.5 };
    const depth = new Float32Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) depth[y * W + x] = x < 5 ? 0 : 1 + 0.01 * x;
    const win = cropWindow([0, 0, 1], KK, 1, 1.2); // 96 px window on a 64 px image: border outside
    const out = new Float32Array(160 * 160 * 3);
    warpDepthToXyzNearest({ width: W, height: H, data: depth }, KK, win, 160, out, 0, 3);
    const inv = invertAffine(win);
    for (let v = 0; v < 160; v += 3) {
      for (let u = 0; u < 160; u += 3) {
        const [x, y] = applyAffine(inv, u, v);
        const xi = Math.round(x), yi = Math.round(y);
        const o = (v * 160 + u) * 3;
        if (xi < 5 || yi < 0 || xi >= W || yi >= H) {
          expect([out[o], out[o + 1], out[o + 2]]).toEqual([0, 0, 0]);
        } else {
          const z = 1 + 0.01 * xi;
          expect(out[o + 2]).toBeCloseTo(z, 6);
          expect(out[o]).toBeCloseTo(((xi - KK.cx) * z) / KK.fx, 6);
          expect(out[o + 1]).toBeCloseTo(((yi - KK.cy) * z) / KK.fy, 6);
        }
      }
    }
  });

  it('normalizeXyz: (xyz - t) / (d / 2), zero where z < min depth or |.| >= 2', () => {
    const t = [0.1, 0, 1];
    const d = 0.2; // radius 0.1
    const buf = Float32Array.from([
      0.1, 0, 1, // centre -> 0
      0.15, -0.05, 1.1, // -> (0.5, -0.5, 1)
      0.31, 0, 1, // x -> 2.1: out
      0, 0, 0.05, // no depth
      0.1, 0, 0.81, // z -> -1.9: in
    ]);
    normalizeXyz(buf, 5, t, d);
    const r = Array.from(buf, (v) => +v.toFixed(5));
    expect(r).toEqual([0, 0, 0, 0.5, -0.5, 1, 0, 0, 0, 0, 0, 0, 0, 0, -1.9]);
  });

  it('packRendered interleaves rgb and xyz into the 6-channel layout', () => {
    const S = 160;
    const rgb = new Float32Array(2 * S * S * 3).map((_, i) => i);
    const xyz = new Float32Array(2 * S * S * 3).map((_, i) => -i);
    const out = new Float32Array(3 * S * S * 6);
    packRendered(rgb, xyz, 1, S, out, 2);
    const px = 17;
    const d = (2 * S * S + px) * 6;
    const s = (S * S + px) * 3;
    expect(Array.from(out.slice(d, d + 6))).toEqual([s, s + 1, s + 2, -s, -s - 1, -s - 2]);
  });
});
