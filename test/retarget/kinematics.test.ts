import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KinematicModel, rpyToMatrix } from '../../operators/retarget/kinematics.js';
import { loadUrdf, parseUrdf } from '../../operators/retarget/urdf.js';
import { HANDS_DIR, rng } from './helpers.js';

const LIM = '<limit lower="-3" upper="3" effort="1" velocity="1"/>';
const TINY = `<?xml version="1.0"?>
<robot name="tiny">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="tip"/><link name="slider"/>
  <link name="m1"/><link name="m2"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/><origin xyz="0 0 0.1"/><axis xyz="0 0 1"/>${LIM}</joint>
  <joint name="j2" type="revolute"><parent link="l1"/><child link="l2"/><origin xyz="0.2 0 0" rpy="0 0 0"/><axis xyz="0 1 0"/>${LIM}</joint>
  <joint name="tipj" type="fixed"><parent link="l2"/><child link="tip"/><origin xyz="0.3 0 0"/></joint>
  <joint name="p" type="prismatic"><parent link="base"/><child link="slider"/><origin xyz="0 0.5 0" rpy="1.5707963267948966 0 0"/><axis xyz="0 0 1"/><limit lower="0" upper="0.1" effort="1" velocity="1"/></joint>
  <joint name="mm1" type="revolute"><parent link="tip"/><child link="m1"/><origin xyz="0.05 0 0"/><axis xyz="0 0 1"/>${LIM}<mimic joint="j2" multiplier="2" offset="0.1"/></joint>
  <joint name="mm2" type="continuous"><parent link="m1"/><child link="m2"/><origin xyz="0.05 0 0"/><axis xyz="1 1 0"/><mimic joint="mm1" multiplier="-1" offset="0.2"/></joint>
</robot>`;

function pos(m: KinematicModel, link: string): number[] {
  const p = new Float64Array(3);
  m.position(m.linkIndex(link), p);
  return Array.from(p);
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `index ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol);
}

describe('forward kinematics on a tiny URDF (hand-computed)', () => {
  const m = new KinematicModel(parseUrdf(TINY, 'tiny.urdf'));

  it('orders joints and separates mimic joints from q', () => {
    expect(m.dofJointNames).toEqual(['j1', 'j2', 'mm1', 'mm2', 'p']);
    expect(m.activeJointNames).toEqual(['j1', 'j2', 'p']);
    expect(m.nq).toBe(3);
    expect(Array.from(m.lower)).toEqual([-3, -3, 0]);
    expect(m.dofUpper[3]).toBe(Infinity);
  });

  it('matches closed-form link positions for random joint values', () => {
    const r = rng(1);
    for (let t = 0; t < 20; t++) {
      const a = 6 * r() - 3, b = 6 * r() - 3, d = 0.1 * r();
      m.fk([a, b, d]);
      const ca = Math.cos(a), sa = Math.sin(a), cb = Math.cos(b), sb = Math.sin(b);
      expectClose(pos(m, 'l1'), [0, 0, 0.1], 1e-14);
      expectClose(pos(m, 'l2'), [0.2 * ca, 0.2 * sa, 0.1], 1e-14);
      // tip = l2 + Rz(a) Ry(b) (0.3, 0, 0) = l2 + Rz(a) (0.3 cb, 0, -0.3 sb)
      expectClose(pos(m, 'tip'), [0.2 * ca + 0.3 * cb * ca, 0.2 * sa + 0.3 * cb * sa, 0.1 - 0.3 * sb], 1e-14);
      // slider: Rx(pi/2) maps the joint z axis to -y of the base
      expectClose(pos(m, 'slider'), [0, 0.5 - d, 0], 1e-14);
      // rotation of l2 = Rz(a) Ry(b)
      const R = m.pose(m.linkIndex('l2'));
      expectClose([R[0][0], R[0][1], R[0][2], R[1][0], R[1][1], R[1][2], R[2][0], R[2][1], R[2][2]], [ca * cb, -sa, ca * sb, sa * cb, ca, sa * sb, -sb, 0, cb], 1e-14);
    }
  });

  it('drives mimic joints (chains composed) from their source', () => {
    const b = 0.7;
    m.fk([0, b, 0]);
    const dv = m.dofValues;
    expect(dv[2]).toBeCloseTo(2 * b + 0.1, 14);
    expect(dv[3]).toBeCloseTo(-(2 * b + 0.1) + 0.2, 14);
    expect(m.dofSource[3]).toBe(1);
    expect(m.dofMultiplier[3]).toBe(-2);
    // with ignoreMimic every movable joint is active
    const free = new KinematicModel(parseUrdf(TINY, 'tiny.urdf'), { ignoreMimic: true });
    expect(free.activeJointNames).toEqual(['j1', 'j2', 'mm1', 'mm2', 'p']);
  });
});

describe('rpy composition', () => {
  it('is fixed-axis X, then Y, then Z: R = Rz(yaw) Ry(pitch) Rx(roll)', () => {
    // hand-checked: rpy (pi/2, 0, pi/2) maps x -> y, y -> z, z -> x
    const R = rpyToMatrix(Math.PI / 2, 0, Math.PI / 2);
    expectClose(R, [0, 0, 1, 1, 0, 0, 0, 1, 0], 1e-15);
    const r = rng(2);
    for (let t = 0; t < 10; t++) {
      const ro = 4 * r() - 2, pi = 4 * r() - 2, ya = 4 * r() - 2;
      const rx = [1, 0, 0, 0, Math.cos(ro), -Math.sin(ro), 0, Math.sin(ro), Math.cos(ro)];
      const ry = [Math.cos(pi), 0, Math.sin(pi), 0, 1, 0, -Math.sin(pi), 0, Math.cos(pi)];
      const rz = [Math.cos(ya), -Math.sin(ya), 0, Math.sin(ya), Math.cos(ya), 0, 0, 0, 1];
      const mul = (A: number[], B: number[]) => A.map((_, k) => { const i = Math.floor(k / 3), j = k % 3; return A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j]; });
      expectClose(rpyToMatrix(ro, pi, ya), mul(rz, mul(ry, rx)), 1e-14);
    }
  });

  it('composes nested origins: a child frame rotated by rpy then translated', () => {
    const u = parseUrdf(`<robot name="r"><link name="a"/><link name="b"/><link name="c"/>
      <joint name="f1" type="fixed"><parent link="a"/><child link="b"/><origin xyz="1 2 3" rpy="1.5707963267948966 0 1.5707963267948966"/></joint>
      <joint name="f2" type="fixed"><parent link="b"/><child link="c"/><origin xyz="0.1 0.2 0.3"/></joint></robot>`);
    const m = new KinematicModel(u);
    m.fk([]);
    // R(b) maps x->y, y->z, z->x, so (0.1, 0.2, 0.3) in b is (0.3, 0.1, 0.2) in a
    expectClose(pos(m, 'c'), [1.3, 2.1, 3.2], 1e-14);
  });
});

function checkJacobian(file: string, seed: number, trials: number): number {
  const m = new KinematicModel(loadUrdf(path.join(HANDS_DIR, file)));
  const r = rng(seed);
  const J = new Float64Array(3 * m.nq);
  const p1 = new Float64Array(3), p2 = new Float64Array(3);
  let worst = 0;
  for (let t = 0; t < trials; t++) {
    const q = new Float64Array(m.nq);
    for (let i = 0; i < m.nq; i++) q[i] = m.lower[i] + r() * (m.upper[i] - m.lower[i]);
    for (let l = 0; l < m.numLinks; l++) {
      m.fk(q);
      m.jacobian(l, J);
      // also check J^T g against the explicit Jacobian
      const g = [r() - 0.5, r() - 0.5, r() - 0.5];
      const jtg = new Float64Array(m.nq);
      m.addJacobianTransposeProduct(l, g[0], g[1], g[2], jtg);
      for (let i = 0; i < m.nq; i++) {
        const ref = J[i] * g[0] + J[m.nq + i] * g[1] + J[2 * m.nq + i] * g[2];
        expect(Math.abs(jtg[i] - ref)).toBeLessThan(1e-14);
      }
      const h = 1e-6;
      for (let i = 0; i < m.nq; i++) {
        const qi = q[i];
        q[i] = qi + h;
        m.fk(q);
        m.position(l, p1);
        q[i] = qi - h;
        m.fk(q);
        m.position(l, p2);
        q[i] = qi;
        for (let c = 0; c < 3; c++) {
          const fd = (p1[c] - p2[c]) / (2 * h);
          worst = Math.max(worst, Math.abs(fd - J[c * m.nq + i]));
        }
      }
    }
  }
  return worst;
}

describe('analytic position Jacobians vs central finite differences (every link, random q)', () => {
  it('Allegro right (16 revolute joints)', () => {
    expect(checkJacobian('allegro_hand/allegro_hand_right.urdf', 3, 4)).toBeLessThan(1e-8);
  });
  it('Shadow right (24 joints incl. the wrist; this URDF has no mimic joints)', () => {
    expect(checkJacobian('shadow_hand/shadow_hand_right.urdf', 4, 3)).toBeLessThan(1e-8);
  });
  it('Inspire right (6 mimic joints, chain rule through multipliers)', () => {
    const m = new KinematicModel(loadUrdf(path.join(HANDS_DIR, 'inspire_hand/inspire_hand_right.urdf')));
    expect(m.nq).toBe(6);
    expect(m.ndof).toBe(12);
    expect(checkJacobian('inspire_hand/inspire_hand_right.urdf', 5, 4)).toBeLessThan(1e-8);
  });
  it('Schunk SVH left (11 mimic joints) and the Panda gripper (prismatic + mimic)', () => {
    expect(checkJacobian('schunk_hand/schunk_svh_hand_left.urdf', 6, 3)).toBeLessThan(1e-8);
    expect(checkJacobian('panda_gripper/panda_gripper_glb.urdf', 7, 3)).toBeLessThan(1e-8);
  });
  it('the tiny URDF with a mimic chain and a continuous joint', () => {
    const m = new KinematicModel(parseUrdf(TINY));
    const J = new Float64Array(9);
    const q = [0.3, -0.4, 0.05];
    m.fk(q);
    m.jacobian(m.linkIndex('m2'), J);
    const h = 1e-6;
    for (let i = 0; i < 3; i++) {
      const a = [...q], b = [...q];
      a[i] += h;
      b[i] -= h;
      m.fk(a);
      const pa = pos(m, 'm2');
      m.fk(b);
      const pb = pos(m, 'm2');
      for (let c = 0; c < 3; c++) expect(Math.abs((pa[c] - pb[c]) / (2 * h) - J[3 * c + i])).toBeLessThan(1e-8);
    }
  });
});
