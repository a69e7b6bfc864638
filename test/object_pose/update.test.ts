import { describe, expect, it } from 'vitest';
import { axisAngleToMatrix, composePose, invertPose, matrixToAxisAngle, mul3, rotationDistance, rotationError, transformPoint, transpose3, type Pose } from '../../operators/object_pose/math.js';
import { ROT_NORMALIZER, applyRefinerBatch, applyRefinerDelta, bestIndex, deltaRotation, uncenterPose } from '../../operators/object_pose/update.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-9) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(tol);
};

const p0: Pose = { R: axisAngleToMatrix([0.3, -0.2, 1.1]), t: [0.02, -0.03, 0.6] };

describe('rotation helpers', () => {
  it('axis-angle <-> matrix round trip, including near 0 and near pi', () => {
    for (const w of [[0.3, -0.2, 1.1], [1e-9, 0, 0], [0, 0, Math.PI - 1e-6], [Math.PI / Math.SQRT2, Math.PI / Math.SQRT2, 0], [-2, 0.5, 0.1]]) {
      const R = axisAngleToMatrix(w);
      expect(rotationError(R)).toBeLessThan(1e-12);
      const back = matrixToAxisAngle(R);
      expect(rotationDistance(axisAngleToMatrix(back), R)).toBeLessThan(1e-6);
    }
  });

  it('pose compose / invert', () => {
    const q: Pose = { R: axisAngleToMatrix([-0.5, 0.1, 0.2]), t: [0.1, 0, -0.2] };
    const x = [0.01, 0.02, 0.03];
    close(transformPoint(composePose(p0, q), x), transformPoint(p0, transformPoint(q, x)));
    close(transformPoint(composePose(invertPose(p0), p0), x), x);
  });
});

describe('refiner output -> pose (FoundationPose / Isaac ROS update)', () => {
  it('zero outputs keep the pose', () => {
    const p = applyRefinerDelta(p0, [0, 0, 0], [0, 0, 0], 0.2);
    close(p.R, p0.R, 1e-12);
    close(p.t, p0.t, 1e-15);
  });

  it('translation: t + trans * diameter / 2, in the camera frame', () => {
    const p = applyRefinerDelta(p0, [0.5, -1, 0.25], [0, 0, 0], 0.2);
    close(p.t, [0.02 + 0.05, -0.03 - 0.1, 0.6 + 0.025], 1e-12);
  });

  it('rotation: R\' = exp(tanh(rot) * 20 deg)^T R (egocentric, left-multiplied)', () => {
    const raw = [Math.atanh(0.5), 0, 0];
    const p = applyRefinerDelta(p0, [0, 0, 0], raw, 0.2);
    // the applied delta is a rotation about camera x by -0.5 * 20 deg
    const dR = mul3(p.R, transpose3(p0.R));
    close(dR, axisAngleToMatrix([-0.5 * ROT_NORMALIZER, 0, 0]), 1e-9);
    close(deltaRotation(raw), dR, 1e-9);
    expect(ROT_NORMALIZER).toBeCloseTo((20 * Math.PI) / 180, 12);
    // the camera-frame position of the object centre does not move with a pure rotation update
    close(p.t, p0.t, 0);
  });

  it('the rotation step is bounded by 20 deg however large the output (tanh)', () => {
    const p = applyRefinerDelta(p0, [0, 0, 0], [1e6, -1e6, 1e6], 0.2);
    expect(rotationDistance(p.R, p0.R)).toBeLessThanOrEqual(Math.sqrt(3) * ROT_NORMALIZER + 1e-9);
    const q = applyRefinerDelta(p0, [0, 0, 0], [0, 1e6, 0], 0.2);
    expect(rotationDistance(q.R, p0.R)).toBeCloseTo(ROT_NORMALIZER, 9);
  });

  it('iterations compose: n equal updates = the n-th power of the delta; rotations stay orthonormal', () => {
    const raw = [0.1, -0.3, 0.2];
    const trans = [0.01, 0.02, -0.03];
    let p = p0;
    for (let i = 0; i < 50; i++) p = applyRefinerDelta(p, trans, raw, 0.3);
    let want = p0.R;
    const d = deltaRotation(raw);
    for (let i = 0; i < 50; i++) want = mul3(d, want);
    close(p.R, want, 1e-9);
    close(p.t, [0.02 + 50 * 0.01 * 0.15, -0.03 + 50 * 0.02 * 0.15, 0.6 - 50 * 0.03 * 0.15], 1e-9);
    expect(rotationError(p.R)).toBeLessThan(1e-12);
  });

  it('batch update uses row i of the outputs for pose i', () => {
    const poses = [p0, { R: axisAngleToMatrix([0, 1, 0]), t: [0, 0, 1] as [number, number, number] }];
    const out = applyRefinerBatch(poses, [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0.5], 0.1);
    close(out[0].t, p0.t, 0);
    close(out[1].t, [0.05, 0, 1], 1e-12);
    close(out[1].R, mul3(deltaRotation([0, 0, 0.5]), poses[1].R), 1e-12);
    expect(() => applyRefinerBatch(poses, [0, 0, 0], [0, 0, 0], 0.1)).toThrow(/rows/);
  });
});

describe('selection and mesh centring', () => {
  it('bestIndex = argmax over finite scores, first on ties, -1 when none', () => {
    expect(bestIndex([0.1, 0.5, -1, 0.5])).toBe(1);
    expect(bestIndex([-Infinity, NaN, -3])).toBe(2);
    expect(bestIndex([-Infinity])).toBe(-1);
    expect(bestIndex([])).toBe(-1);
  });

  it('uncenterPose: the centred-mesh pose applied to (X - c) equals the returned pose applied to X', () => {
    const c = [0.01, -0.2, 0.05];
    const q = uncenterPose(p0, c);
    const X = [0.3, 0.1, -0.02];
    close(transformPoint(q, X), transformPoint(p0, [X[0] - c[0], X[1] - c[1], X[2] - c[2]]), 1e-12);
  });
});
