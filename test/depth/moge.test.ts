import { describe, expect, it } from 'vitest';
import { focalNormalised, focalPx, mogeDepth, nearestIndices, solveFocalShift, solveSamples, viewPlaneUv } from '../../operators/depth/moge.js';
import { depthAnythingSize, mogeSize, rgbToNchw } from '../../operators/depth/image.js';

/** Affine point map of a tilted plane seen with normalised focal F, divided by s, z shifted by -shift. */
function planeMap(W: number, H: number, F: number, s: number, shift: number, noise = 0) {
  const { u, v } = viewPlaneUv(W, H);
  const pts = new Float32Array(W * H * 3);
  const Z = new Float64Array(W * H);
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff - 0.5) * 2;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const z = 1 / (0.5 + 0.2 * u[x] - 0.1 * v[y]);
      const p = y * W + x;
      Z[p] = z;
      pts[p * 3] = (z * u[x]) / F / s;
      pts[p * 3 + 1] = (z * v[y]) / F / s;
      pts[p * 3 + 2] = z / s - shift + noise * rnd();
    }
  }
  return { pts, Z };
}

describe('MoGe view plane and solve', () => {
  it('uv grid: pixel centres in half-diagonal units, symmetric, spans W/D and H/D at the edges', () => {
    const { u, v, halfDiag } = viewPlaneUv(4, 3);
    expect(halfDiag).toBe(2.5);
    expect(Array.from(u)).toEqual([-1.5 / 2.5, -0.5 / 2.5, 0.5 / 2.5, 1.5 / 2.5]);
    expect(v[1]).toBe(0);
    // MoGe: linspace(-span_x (W-1)/W, span_x (W-1)/W, W), span_x = W / D
    expect(u[0]).toBeCloseTo(-(4 / 5) * (3 / 4), 12);
  });

  it("nearest indices follow torch's floor(i * in / out)", () => {
    expect(Array.from(nearestIndices(10, 4))).toEqual([0, 2, 5, 7]);
    expect(Array.from(nearestIndices(3, 6))).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('recovers focal and shift of a plane exactly, with and without a mask', () => {
    const W = 160;
    const H = 90;
    const F = 0.9;
    const { pts, Z } = planeMap(W, H, F, 2.5, 0.7);
    const fs = solveFocalShift(solveSamples(pts, null, W, H));
    expect(fs.focal).toBeCloseTo(F, 5);
    expect(fs.shift).toBeCloseTo(0.7, 5);
    expect(fs.mse).toBeLessThan(1e-10);
    // mask out the left half: same answer from fewer samples
    const mask = new Float32Array(W * H);
    for (let i = 0; i < W * H; i++) mask[i] = i % W >= W / 2 ? 0.8 : 0.2;
    const s2 = solveSamples(pts, mask, W, H);
    expect(s2.n).toBe(64 * 32);
    const fs2 = solveFocalShift(s2);
    expect(fs2.focal).toBeCloseTo(F, 5);
    const depth = mogeDepth(pts, mask, W, H, fs2.shift, 2.5);
    expect(Number.isNaN(depth[0])).toBe(true);
    const p = 45 * W + 120;
    expect(depth[p]).toBeCloseTo(Z[p], 4);
    // focal in pixels and back
    expect(focalNormalised(focalPx(F, W, H), W, H)).toBeCloseTo(F, 12);
  });

  it('known focal: only the shift is solved; noise moves it little', () => {
    const W = 96;
    const H = 96;
    const { pts } = planeMap(W, H, 1.4, 1, 0.25, 0.002);
    const fs = solveFocalShift(solveSamples(pts, null, W, H), 1.4);
    expect(fs.focal).toBe(1.4);
    expect(fs.shift).toBeCloseTo(0.25, 2);
    const free = solveFocalShift(solveSamples(pts, null, W, H));
    expect(free.focal).toBeCloseTo(1.4, 1);
  });

  it('falls back like MoGe with fewer than 2 valid samples', () => {
    const { pts } = planeMap(8, 8, 1, 1, 0);
    const fs = solveFocalShift(solveSamples(pts, new Float32Array(64), 8, 8));
    expect(fs).toMatchObject({ focal: 1, shift: 0, fallback: true });
  });
});

describe('input sizes and tensors', () => {
  it("Depth Anything lower-bound resize to multiples of 14 (its Resize(..., 'lower_bound'))", () => {
    expect(depthAnythingSize(1280, 720, 518)).toEqual({ width: 924, height: 518 });
    expect(depthAnythingSize(720, 1280, 518)).toEqual({ width: 518, height: 924 });
    expect(depthAnythingSize(160, 120, 518)).toEqual({ width: 686, height: 518 });
    expect(depthAnythingSize(518, 518, 518)).toEqual({ width: 518, height: 518 });
  });

  it('MoGe size never upscales and keeps even sides', () => {
    expect(mogeSize(1920, 1080, 512)).toEqual({ width: 512, height: 288 });
    expect(mogeSize(320, 240, 512)).toEqual({ width: 320, height: 240 });
  });

  it('rgbToNchw: planes, /255, ImageNet normalisation, bilinear resize of a constant stays constant', () => {
    const rgb = new Uint8Array(4 * 2 * 3);
    for (let p = 0; p < 8; p++) rgb.set([255, 0, 128], p * 3);
    const t = rgbToNchw(rgb, 4, 2);
    expect(t[0]).toBe(1);
    expect(t[8]).toBe(0);
    expect(t[16]).toBeCloseTo(128 / 255, 6);
    const n = rgbToNchw(rgb, 4, 2, 3, 5, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(n.length).toBe(45);
    expect(n[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(n[14]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(n[15]).toBeCloseTo(-0.456 / 0.224, 5);
    expect(n[44]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 5);
  });
});
