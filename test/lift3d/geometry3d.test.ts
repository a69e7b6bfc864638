import { describe, expect, it } from 'vitest';
import {
  applyAlignment,
  backproject,
  fitPlane,
  fitPlaneRansac,
  focalFromHfov,
  hfovFromFocal,
  kabsch,
  mad,
  mat3Det,
  mat3Mul,
  mat3Transpose,
  median,
  project,
  quantile,
  ransacAlign,
  rng,
  robustCloudStats,
  rotationAngleDeg,
  rotationFromVector,
  scaleIntrinsics,
  svd3,
  symmetricEigen3,
  trimmedMean,
  umeyama,
  vectorFromRotation,
  type Mat3,
} from '../../src/geometry3d.js';

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = ''): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= tol)) throw new Error(`${what}[${i}]: ${a[i]} vs ${b[i]} (tol ${tol})`);
}

function diag(s: number[]): Mat3 {
  return [s[0], 0, 0, 0, s[1], 0, 0, 0, s[2]];
}

describe('robust statistics', () => {
  it('median, quantile (numpy linear), MAD, trimmed mean; NaN ignored', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5, Infinity, 1])).toBe(3);
    expect(Number.isNaN(median([]))).toBe(true);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10, 0], 0.1)).toBeCloseTo(1, 12);
    expect(mad([1, 2, 3, 4, 100])).toBe(1);
    expect(trimmedMean([1, 2, 3, 4, 1000], 0.2)).toBe(3);
    const big = Float64Array.from({ length: 1001 }, (_, i) => (i * 7919) % 1001);
    expect(median(big)).toBe(500);
  });

  it('robust cloud stats drop background pixels behind an object', () => {
    const pts: number[] = [];
    for (let i = 0; i < 90; i++) pts.push(0.01 * (i % 10), 0.01 * Math.floor(i / 10), 1 + 0.001 * (i % 3));
    for (let i = 0; i < 10; i++) pts.push(0.05, 0.05, 3); // edge pixels hitting the wall
    const s = robustCloudStats(pts)!;
    expect(s.inliers).toBe(90);
    close(s.centroid, [0.045, 0.04, 1.001], 1e-9);
    expect(s.extent[2]).toBeLessThan(0.01);
  });
});

describe('pinhole camera', () => {
  const K = { fx: 500, fy: 480, cx: 319.5, cy: 239.5 };
  it('back-projection and projection invert each other', () => {
    const p = backproject(100, 50, 2.5, K);
    close(project(p, K)!, [100, 50], 1e-9);
    expect(project([0, 0, -1], K)).toBeNull();
  });
  it('intrinsics scale with the image (pixel-centre convention) and hfov <-> focal', () => {
    const s = scaleIntrinsics(K, 640, 480, 320, 240);
    close([s.fx, s.fy, s.cx, s.cy], [250, 240, 159.5, 119.5], 1e-12);
    expect(focalFromHfov(90, 640)).toBeCloseTo(320, 9);
    expect(hfovFromFocal(320, 640)).toBeCloseTo(90, 9);
  });
});

describe('3x3 SVD (one-sided Jacobi) and symmetric eigen', () => {
  it('reconstructs random matrices with orthogonal factors and sorted singular values', () => {
    const r = rng(3);
    for (let t = 0; t < 200; t++) {
      const A = Array.from({ length: 9 }, () => r() * 2 - 1);
      const { U, S, V } = svd3(A);
      expect(S[0]).toBeGreaterThanOrEqual(S[1]);
      expect(S[1]).toBeGreaterThanOrEqual(S[2]);
      expect(S[2]).toBeGreaterThanOrEqual(0);
      close(mat3Mul(mat3Mul(U, diag(S)), mat3Transpose(V)), A, 1e-10, 'USV^T');
      close(mat3Mul(mat3Transpose(U), U), diag([1, 1, 1]), 1e-10, 'U^T U');
      close(mat3Mul(mat3Transpose(V), V), diag([1, 1, 1]), 1e-10, 'V^T V');
    }
  });

  it('handles rank-deficient and zero matrices', () => {
    for (const A of [
      [1, 2, 3, 2, 4, 6, 3, 6, 9],
      [1, 0, 0, 0, 1, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]) {
      const { U, S, V } = svd3(A);
      close(mat3Mul(mat3Mul(U, diag(S)), mat3Transpose(V)), A, 1e-10);
      close(mat3Mul(mat3Transpose(U), U), diag([1, 1, 1]), 1e-10);
    }
  });

  it('eigen-decomposition of a symmetric matrix', () => {
    const R = rotationFromVector([0.3, -0.5, 0.8]);
    const A = mat3Mul(mat3Mul(R, diag([3, 1, 2])), mat3Transpose(R));
    const { values, vectors } = symmetricEigen3(A);
    close(values, [1, 2, 3], 1e-10);
    close(mat3Mul(mat3Mul(vectors, diag(values)), mat3Transpose(vectors)), A, 1e-10);
  });
});

describe('rotations', () => {
  it('Rodrigues round trip, including angles near 0 and pi', () => {
    for (const w of [
      [0.1, 0.2, -0.3],
      [1e-9, 0, 0],
      [0, Math.PI - 1e-6, 0],
      [Math.PI / Math.sqrt(3), Math.PI / Math.sqrt(3), -Math.PI / Math.sqrt(3)],
      [2, -1, 0.5],
    ]) {
      const R = rotationFromVector(w);
      expect(mat3Det(R)).toBeCloseTo(1, 12);
      close(rotationFromVector(vectorFromRotation(R)), R, 1e-7, `w=${w}`);
    }
    expect(rotationAngleDeg(rotationFromVector([0, 0, Math.PI / 2]))).toBeCloseTo(90, 9);
  });
});

/** n random points in a 0.3 m box around (0, 0, 1). */
function cloud(n: number, seed: number): number[] {
  const r = rng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((r() - 0.5) * 0.3, (r() - 0.5) * 0.3, 1 + (r() - 0.5) * 0.3);
  return out;
}

function transform(src: number[], R: Mat3, t: number[], s = 1): number[] {
  const out: number[] = [];
  for (let i = 0; i < src.length / 3; i++) out.push(...applyAlignment({ R, t: t as [number, number, number], s }, src, i * 3));
  return out;
}

describe('Kabsch / Umeyama', () => {
  const R = rotationFromVector([0.2, -0.4, 0.9]);
  const t = [0.05, -0.1, 0.3];

  it('recovers rotation, translation (and scale) exactly from clean correspondences', () => {
    const src = cloud(50, 1);
    const k = kabsch(src, transform(src, R, t))!;
    close(k.R, R, 1e-10);
    close(k.t, t, 1e-10);
    expect(k.s).toBe(1);
    expect(k.rmsd).toBeLessThan(1e-10);
    const u = umeyama(src, transform(src, R, t, 1.7), { withScale: true })!;
    expect(u.s).toBeCloseTo(1.7, 10);
    close(u.R, R, 1e-10);
    close(u.t, t, 1e-10);
  });

  it('never returns a reflection (planar, mirrored data)', () => {
    const src = [0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1];
    const dst = [0, 0, 1, -1, 0, 1, 0, 1, 1, -1, 1, 1]; // x mirrored
    const k = kabsch(src, dst)!;
    expect(mat3Det(k.R)).toBeCloseTo(1, 10);
  });

  it('RANSAC recovers a known rotation and translation with 30% outliers and noise', () => {
    const n = 100;
    const src = cloud(n, 7);
    const dst = transform(src, R, t);
    const r = rng(11);
    const outlier = new Set<number>();
    while (outlier.size < 30) outlier.add(Math.floor(r() * n));
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < 3; a++) dst[i * 3 + a] += (r() - 0.5) * 0.002; // +-1 mm noise
      if (outlier.has(i)) for (let a = 0; a < 3; a++) dst[i * 3 + a] += (r() - 0.5) * 0.6;
    }
    // plain Kabsch is pulled away by the outliers
    const plain = kabsch(src, dst)!;
    expect(rotationAngleDeg(mat3Mul(mat3Transpose(plain.R), R))).toBeGreaterThan(1);
    const res = ransacAlign(src, dst, { threshold: 0.01, seed: 5 })!;
    expect(rotationAngleDeg(mat3Mul(mat3Transpose(res.R), R))).toBeLessThan(0.3);
    close(res.t, t, 0.003);
    for (const i of outlier) expect(res.inliers[i]).toBe(0);
    expect(res.inlierCount).toBeGreaterThanOrEqual(68);
    expect(res.inlierCount).toBeLessThanOrEqual(70);
    // with scale
    const scaled = transform(src, R, t, 0.8);
    for (const i of outlier) for (let a = 0; a < 3; a++) scaled[i * 3 + a] += 0.3;
    const rs = ransacAlign(src, scaled, { threshold: 0.005, withScale: true })!;
    expect(rs.s).toBeCloseTo(0.8, 6);
  });

  it('returns null when there is no consistent motion', () => {
    expect(ransacAlign([0, 0, 1, 1, 0, 1], [0, 0, 1, 1, 0, 1], { threshold: 0.01 })).toBeNull();
  });
});

describe('plane fit', () => {
  it('least squares and RANSAC planes of a tilted table with clutter', () => {
    const n0 = [0, -0.8, -0.6];
    const d = 0.6; // n . p + d = 0
    const r = rng(2);
    const pts: number[] = [];
    for (let i = 0; i < 200; i++) {
      const x = (r() - 0.5) * 0.8;
      const z = 0.6 + r() * 0.8;
      const y = (-d - n0[0] * x - n0[2] * z) / n0[1];
      pts.push(x, y, z);
    }
    const ls = fitPlane(pts)!;
    close(ls.normal, n0, 1e-9);
    expect(ls.d).toBeCloseTo(d, 9);
    for (let i = 0; i < 60; i++) pts.push((r() - 0.5) * 0.2, (r() - 0.5) * 0.2, 0.8 + r() * 0.1); // an object on it
    const rp = fitPlaneRansac(pts, 0.005, 300)!;
    close(rp.normal, n0, 1e-6);
    expect(rp.inlierCount).toBeGreaterThanOrEqual(200);
  });
});
