import { describe, expect, it } from 'vitest';
import { clusterRotations, guessTranslation, icosphereViews, lookAtOrigin, makeHypotheses, median, rotationGrid } from '../../operators/object_pose/hypotheses.js';
import { mulVec3, rotationDistance, rotationError, transpose3 } from '../../operators/object_pose/math.js';

const DEG = Math.PI / 180;

describe('rotation grid (FoundationPose make_rotation_grid)', () => {
  it('42 viewpoints on the unit sphere (icosphere with >= 40 vertices)', () => {
    const v = icosphereViews(40);
    expect(v).toHaveLength(42);
    for (const p of v) expect(Math.hypot(p[0], p[1], p[2])).toBeCloseTo(1, 12);
    expect(icosphereViews(12)).toHaveLength(12);
    expect(icosphereViews(100)).toHaveLength(162);
  });

  it('42 x 6 in-plane = 252 proper rotations, at least 30 deg apart (clustering drops none)', () => {
    const grid = rotationGrid();
    expect(grid).toHaveLength(252);
    expect(rotationGrid({ clusterDeg: 0 })).toHaveLength(252);
    let minDist = Infinity;
    for (let i = 0; i < grid.length; i++) {
      expect(rotationError(grid[i])).toBeLessThan(1e-12);
      for (let j = i + 1; j < grid.length; j++) minDist = Math.min(minDist, rotationDistance(grid[i], grid[j]));
    }
    expect(minDist).toBeGreaterThanOrEqual(30 * DEG);
    // a 12-step in-plane grid (30 deg) would be cut back by the 30 deg clustering
    expect(rotationGrid({ inplaneStepDeg: 30, clusterDeg: 0 })).toHaveLength(504);
  });

  it('each rotation is a camera on its viewpoint looking at the object origin, rotated in-plane by 60 deg steps', () => {
    const views = icosphereViews(40);
    const grid = rotationGrid({ clusterDeg: 0 });
    views.forEach((v, k) => {
      for (let r = 0; r < 6; r++) {
        const R = grid[k * 6 + r];
        // camera position in the object frame is v: the origin seen from it lies straight ahead (+z)
        const d = mulVec3(R, [-v[0], -v[1], -v[2]]);
        expect(d[0]).toBeCloseTo(0, 9);
        expect(d[1]).toBeCloseTo(0, 9);
        expect(d[2]).toBeCloseTo(1, 9);
        if (r > 0) expect(rotationDistance(R, grid[k * 6 + r - 1])).toBeCloseTo(60 * DEG, 9);
      }
    });
    // the viewpoint on the +z pole uses x = +x (up x z vanishes there)
    const pole = views.findIndex((p) => Math.abs(p[2] - 1) < 1e-12);
    expect(pole).toBeGreaterThanOrEqual(0);
    const C = lookAtOrigin(views[pole]);
    expect([C[0], C[3], C[6]]).toEqual([1, 0, 0]);
  });

  it('clusterRotations keeps the first of near-duplicates', () => {
    const g = rotationGrid({ clusterDeg: 0 }).slice(0, 6);
    const near = transpose3(transpose3(g[0]));
    near[0] += 1e-9;
    expect(clusterRotations([...g, near], 30)).toHaveLength(6);
  });

  it('makeHypotheses puts every rotation at the translation', () => {
    const h = makeHypotheses(rotationGrid(), [0.1, 0.2, 0.7]);
    expect(h).toHaveLength(252);
    expect(h[100].t).toEqual([0.1, 0.2, 0.7]);
  });
});

describe('translation guess (mask bbox centre + median depth)', () => {
  const W = 64, H = 48;
  const K = { fx: 100, fy: 110, cx: 31.5, cy: 23.5 };

  it('unprojects the mask bbox centre at the median depth of valid mask pixels', () => {
    const mask = new Uint8Array(W * H);
    const depth = new Float32Array(W * H).fill(2); // background depth must not count
    for (let y = 10; y <= 30; y++) {
      for (let x = 20; x <= 40; x++) {
        mask[y * W + x] = 1;
        depth[y * W + x] = x < 25 ? 0 : 0.5 + 0.001 * (x - 25); // some holes
      }
    }
    mask[5 * W + 50] = 1; // a stray pixel widens the bbox, without depth
    depth[5 * W + 50] = 0;
    const g = guessTranslation(mask, depth, W, H, K)!;
    expect(g.uv).toEqual([(20 + 50) / 2, (5 + 30) / 2]);
    expect(g.validPixels).toBe(16 * 21);
    expect(g.depth).toBeCloseTo(0.5 + 0.001 * 7.5, 6); // float32 depth
    expect(g.t[0]).toBeCloseTo(((35 - K.cx) * g.depth) / K.fx, 9);
    expect(g.t[1]).toBeCloseTo(((17.5 - K.cy) * g.depth) / K.fy, 9);
    expect(g.t[2]).toBe(g.depth);
  });

  it('null for an empty mask or a mask without depth', () => {
    const mask = new Uint8Array(W * H);
    const depth = new Float32Array(W * H);
    expect(guessTranslation(mask, depth, W, H, K)).toBeNull();
    mask[100] = 1;
    depth[100] = 0.05; // below min depth
    expect(guessTranslation(mask, depth, W, H, K)).toBeNull();
    expect(() => guessTranslation(mask, depth, W, H + 1, K)).toThrow();
  });

  it('median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
