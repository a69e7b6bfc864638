import { describe, expect, it } from 'vitest';
import { LowPassFilter } from '../../operators/retarget/filter.js';
import { estimateWristFrame, mirrorOperatorFrame, OPERATOR2MANO_LEFT, OPERATOR2MANO_RIGHT, toOperatorFrame } from '../../operators/retarget/mano.js';
import { humanFrames, rng } from './helpers.js';

/** random proper rotation (row-major) from a random unit quaternion */
function randomRotation(r: () => number): number[] {
  let w = r() - 0.5, x = r() - 0.5, y = r() - 0.5, z = r() - 0.5;
  const n = Math.hypot(w, x, y, z);
  w /= n; x /= n; y /= n; z /= n;
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  ];
}

/** p_cam = R p_op + t for every keypoint */
function toCamera(k: Float64Array, R: number[], t: number[]): Float64Array {
  const out = new Float64Array(63);
  for (let p = 0; p < 21; p++) {
    for (let i = 0; i < 3; i++) out[3 * p + i] = R[3 * i] * k[3 * p] + R[3 * i + 1] * k[3 * p + 1] + R[3 * i + 2] * k[3 * p + 2] + t[i];
  }
  return out;
}

const det3 = (m: ArrayLike<number>) => m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);

describe('MediaPipe -> operator frame (dex-retargeting SingleHandDetector convention)', () => {
  const frames = humanFrames();

  it('the operator-to-MANO matrices are proper rotations', () => {
    expect(det3(OPERATOR2MANO_RIGHT)).toBe(1);
    expect(det3(OPERATOR2MANO_LEFT)).toBe(1);
  });

  it('recovers the recorded operator-frame joints from any rigid camera pose (right hand)', () => {
    const r = rng(31);
    let worst = 0;
    for (let t = 0; t < 40; t++) {
      const k = frames[Math.floor(r() * frames.length)];
      const cam = toCamera(k, randomRotation(r), [r() - 0.5, r() - 0.5, 1 + r()]);
      const { joints, wristFrame } = toOperatorFrame(cam, 'right');
      expect(det3(wristFrame)).toBeCloseTo(1, 12);
      for (let i = 0; i < 63; i++) worst = Math.max(worst, Math.abs(joints[i] - k[i]));
    }
    // the recording is stored with 6 decimals, so its frame is exact to about 1e-6 m
    expect(worst).toBeLessThan(2e-5);
  });

  it('the operator frame has z along the middle finger and y towards the index side', () => {
    const cam = toCamera(frames[10], randomRotation(rng(32)), [0.1, 0.2, 0.5]);
    const { joints } = toOperatorFrame(cam, 'right');
    // middle MCP on +z, index MCP in the y-z plane with y > 0
    expect(Math.abs(joints[27])).toBeLessThan(1e-9);
    expect(Math.abs(joints[28])).toBeLessThan(1e-9);
    expect(joints[29]).toBeGreaterThan(0.05);
    expect(Math.abs(joints[15])).toBeLessThan(1e-9);
    expect(joints[16]).toBeGreaterThan(0.01);
  });

  it('a mirrored (left) hand comes out as the right hand with y negated', () => {
    const r = rng(33);
    for (let t = 0; t < 10; t++) {
      const cam = toCamera(frames[Math.floor(r() * frames.length)], randomRotation(r), [0, 0, 1]);
      const mirrored = Float64Array.from(cam);
      for (let p = 0; p < 21; p++) mirrored[3 * p] = -mirrored[3 * p];
      const right = toOperatorFrame(cam, 'right').joints;
      const left = toOperatorFrame(mirrored, 'left').joints;
      const expected = mirrorOperatorFrame(right);
      for (let i = 0; i < 63; i++) expect(left[i]).toBeCloseTo(expected[i], 12);
    }
  });

  it('is pure, accepts nested arrays and rejects degenerate palms', () => {
    const cam = toCamera(frames[5], randomRotation(rng(34)), [0, 0, 1]);
    const copy = Float64Array.from(cam);
    const nested = Array.from({ length: 21 }, (_, p) => [cam[3 * p], cam[3 * p + 1], cam[3 * p + 2]]);
    const a = toOperatorFrame(cam, 'left').joints;
    const b = toOperatorFrame(nested, 'left').joints;
    expect(Array.from(cam)).toEqual(Array.from(copy));
    expect(Array.from(a)).toEqual(Array.from(b));
    const flat = new Float64Array(63); // all points at the origin
    expect(() => estimateWristFrame(flat)).toThrowError(/collinear/);
    expect(() => toOperatorFrame(new Float64Array(60), 'right')).toThrowError(/63/);
  });
});

describe('low-pass filter (dex-retargeting LPFilter)', () => {
  it('starts at the first sample, then y += alpha (x - y)', () => {
    const f = new LowPassFilter(0.2);
    expect(Array.from(f.next([1, 2]))).toEqual([1, 2]);
    const y = f.next([2, 0]);
    expect(y[0]).toBeCloseTo(1.2, 15);
    expect(y[1]).toBeCloseTo(1.6, 15);
    const z = f.next([2, 0]);
    expect(z[0]).toBeCloseTo(1.2 + 0.2 * 0.8, 15);
    f.reset();
    expect(Array.from(f.next([5, 5]))).toEqual([5, 5]);
  });

  it('alpha 1 passes through, alpha 0 freezes, outside [0, 1] means no filter', () => {
    const one = new LowPassFilter(1);
    one.next([0]);
    expect(one.next([3])[0]).toBe(3);
    const zero = new LowPassFilter(0);
    zero.next([1]);
    expect(zero.next([9])[0]).toBe(1);
    expect(LowPassFilter.create(1.5)).toBeNull();
    expect(LowPassFilter.create(-1)).toBeNull();
    expect(() => new LowPassFilter(2)).toThrowError(RangeError);
  });
});
