import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DexPilotOptimizer, PositionOptimizer, VectorOptimizer, type RetargetOptimizer } from '../../operators/retarget/optimizers.js';
import { Retargeter } from '../../operators/retarget/retargeter.js';
import { BoxQuasiNewton } from '../../operators/retarget/solver.js';
import { CONFIG_DIR, HANDS_DIR, humanFrames, rng } from './helpers.js';

const huber = (r: number, d: number) => (Math.abs(r) < d ? (0.5 * r * r) / d : Math.abs(r) - 0.5 * d);

function randomX(opt: RetargetOptimizer, r: () => number): Float64Array {
  const x = new Float64Array(opt.n);
  for (let k = 0; k < opt.n; k++) {
    const lo = Math.max(opt.lower[k], -3), hi = Math.min(opt.upper[k], 3);
    x[k] = lo + r() * (hi - lo);
  }
  return x;
}

/** max |analytic - central FD| / (max |analytic| + tiny) over random points */
function gradientError(opt: RetargetOptimizer, seed: number, trials: number): number {
  const r = rng(seed);
  const g = new Float64Array(opt.n);
  const none = new Float64Array(0);
  let worst = 0;
  for (let t = 0; t < trials; t++) {
    const x = randomX(opt, r);
    opt.setPrevious(randomX(opt, r));
    opt.evaluate(x, g);
    let scale = 1e-12;
    for (let k = 0; k < opt.n; k++) scale = Math.max(scale, Math.abs(g[k]));
    const h = 1e-6;
    for (let k = 0; k < opt.n; k++) {
      const xk = x[k];
      x[k] = xk + h;
      const fp = opt.evaluate(x, none);
      x[k] = xk - h;
      const fm = opt.evaluate(x, none);
      x[k] = xk;
      worst = Math.max(worst, Math.abs((fp - fm) / (2 * h) - g[k]) / scale);
    }
  }
  return worst;
}

const build = (cfg: string) => Retargeter.fromConfig(path.join(CONFIG_DIR, cfg), HANDS_DIR);

describe('cost gradients vs finite differences', () => {
  const frames = humanFrames();

  it('vector optimizer (Allegro right, Inspire right with mimic joints)', () => {
    for (const cfg of ['teleop/allegro_hand_right.yml', 'teleop/inspire_hand_right.yml']) {
      const rt = build(cfg);
      const opt = rt.optimizer;
      expect(opt).toBeInstanceOf(VectorOptimizer);
      opt.setReference(frames[100]);
      expect(gradientError(opt, 11, 6)).toBeLessThan(1e-6);
    }
  });

  it('position optimizer with the dummy free joint (Allegro, Schunk)', () => {
    for (const cfg of ['offline/allegro_hand_right.yml', 'offline/schunk_svh_hand_right.yml']) {
      const rt = build(cfg);
      const opt = rt.optimizer;
      expect(opt).toBeInstanceOf(PositionOptimizer);
      expect(opt.targetJointNames.slice(0, 6)).toEqual([
        'dummy_x_translation_joint',
        'dummy_y_translation_joint',
        'dummy_z_translation_joint',
        'dummy_x_rotation_joint',
        'dummy_y_rotation_joint',
        'dummy_z_rotation_joint',
      ]);
      opt.setReference(frames[300]);
      expect(gradientError(opt, 12, 6)).toBeLessThan(1e-6);
    }
  });

  it('DexPilot optimizer, with and without projected fingertip pairs', () => {
    const rt = build('teleop/allegro_hand_right_dexpilot.yml');
    const opt = rt.optimizer as DexPilotOptimizer;
    expect(opt).toBeInstanceOf(DexPilotOptimizer);
    opt.resetState();
    opt.setReference(frames[0]);
    expect(gradientError(opt, 13, 4)).toBeLessThan(1e-6);
    // pinch: put the thumb tip between the index and middle tips -> projections switch on
    const k = Float64Array.from(frames[0]);
    for (let c = 0; c < 3; c++) k[12 + c] = 0.5 * (k[24 + c] + k[36 + c]);
    for (let c = 0; c < 3; c++) k[36 + c] = k[24 + c] + (c === 1 ? -0.02 : 0); // middle tip 2 cm from index tip
    opt.setReference(k);
    expect(Array.from(opt.projected)).toEqual([1, 1, 0, 1, 0, 0]);
    expect(gradientError(opt, 14, 4)).toBeLessThan(1e-6);
  });
});

describe('cost values follow dex-retargeting definitions', () => {
  const frames = humanFrames();

  it('vector: (1/N) sum huber(|p_task - p_origin - s * (k_task - k_origin)|)', () => {
    const rt = build('teleop/allegro_hand_right.yml');
    const opt = rt.optimizer as VectorOptimizer;
    const m = rt.model;
    const k = frames[200];
    opt.setReference(k);
    const x = randomX(opt, rng(21));
    opt.setPrevious(x); // norm term vanishes
    const f = opt.evaluate(x, new Float64Array(0));
    m.fk(opt.fullQ(x));
    const [oi, ti] = rt.config.targetLinkHumanIndices;
    let ref = 0;
    for (let i = 0; i < oi.length; i++) {
      const po = new Float64Array(3), pt = new Float64Array(3);
      m.position(m.linkIndex(opt.originLinkNames[i]), po);
      m.position(m.linkIndex(opt.taskLinkNames[i]), pt);
      const e = [0, 1, 2].map((c) => pt[c] - po[c] - 1.6 * (k[3 * ti[i] + c] - k[3 * oi[i] + c]));
      ref += huber(Math.hypot(...e), 0.02) / oi.length;
    }
    expect(f).toBeCloseTo(ref, 14);
    // the norm_delta term: 4e-3 * |x - x_prev|^2
    const prev = Float64Array.from(x, (v) => v + 0.1);
    opt.setPrevious(prev);
    expect(opt.evaluate(x, new Float64Array(0)) - ref).toBeCloseTo(4e-3 * 0.01 * opt.n, 12);
  });

  it('position: elementwise huber averaged over links and coordinates', () => {
    const rt = build('offline/inspire_hand_right.yml');
    const opt = rt.optimizer as PositionOptimizer;
    const m = rt.model;
    const k = frames[50];
    opt.setReference(k);
    const x = randomX(opt, rng(22));
    opt.setPrevious(x);
    const f = opt.evaluate(x, new Float64Array(0));
    m.fk(opt.fullQ(x));
    const idx = rt.config.targetLinkHumanIndices[0];
    let ref = 0;
    opt.linkNames.forEach((name, i) => {
      const p = new Float64Array(3);
      m.position(m.linkIndex(name), p);
      for (let c = 0; c < 3; c++) ref += huber(p[c] - k[3 * idx[i] + c], 0.02) / (3 * idx.length);
    });
    expect(f).toBeCloseTo(ref, 14);
  });

  it('DexPilot: pair layout, default human indices, weights and hysteresis', () => {
    const rt = build('teleop/allegro_hand_right_dexpilot.yml');
    const opt = rt.optimizer as DexPilotOptimizer;
    expect(opt.originLinkNames).toEqual(['link_3.0_tip', 'link_7.0_tip', 'link_11.0_tip', 'link_7.0_tip', 'link_11.0_tip', 'link_11.0_tip', 'wrist', 'wrist', 'wrist', 'wrist']);
    expect(opt.taskLinkNames).toEqual(['link_15.0_tip', 'link_15.0_tip', 'link_15.0_tip', 'link_3.0_tip', 'link_3.0_tip', 'link_7.0_tip', ...['link_15.0_tip', 'link_3.0_tip', 'link_7.0_tip', 'link_11.0_tip']]);
    expect(rt.config.targetLinkHumanIndices).toEqual([
      [8, 12, 16, 12, 16, 16, 0, 0, 0, 0],
      [4, 4, 4, 8, 8, 12, 4, 8, 12, 16],
    ]);
    expect(rt.config.huberDelta).toBe(0.03);
    // thumb-index human distance sweeps 10 cm -> 2 cm -> 4 cm -> 6 cm: projected only after < 3 cm, kept at 4 cm, released at 6 cm
    const base = Float64Array.from(humanFrames()[0]);
    const setThumbIndexDist = (d: number) => {
      const k = Float64Array.from(base);
      for (let c = 0; c < 3; c++) k[12 + c] = k[24 + c] + (c === 0 ? d : 0);
      return k;
    };
    opt.resetState();
    const states: number[] = [];
    for (const d of [0.1, 0.04, 0.02, 0.04, 0.06]) {
      opt.setReference(setThumbIndexDist(d));
      states.push(opt.projected[0]);
    }
    expect(states).toEqual([0, 0, 1, 1, 0]);
    // projected pair: target = direction * 1e-4; wrist vectors: weight (6 + 4) relative to 1
    opt.setReference(setThumbIndexDist(0.02));
    const t = opt.targets;
    expect(Math.hypot(t[0], t[1], t[2])).toBeCloseTo((1e-4 * 0.02) / (0.02 + 1e-6), 15); // dex-retargeting divides by (dist + 1e-6)
    const x = randomX(opt, rng(23));
    opt.setPrevious(x);
    const f = opt.evaluate(x, new Float64Array(0));
    const m = rt.model;
    m.fk(opt.fullQ(x));
    let ref = 0;
    for (let i = 0; i < 10; i++) {
      const po = new Float64Array(3), pt = new Float64Array(3);
      m.position(m.linkIndex(opt.originLinkNames[i]), po);
      m.position(m.linkIndex(opt.taskLinkNames[i]), pt);
      const r = Math.hypot(pt[0] - po[0] - t[3 * i], pt[1] - po[1] - t[3 * i + 1], pt[2] - po[2] - t[3 * i + 2]);
      const w = i === 0 ? 200 : i < 6 ? 1 : 10;
      ref += (w * huber(r, 0.03)) / 10;
    }
    expect(f).toBeCloseTo(ref, 12);
  });
});

describe('box-constrained quasi-Newton solver', () => {
  it('solves a bound-constrained separable quadratic exactly (solution = clamp(centre))', () => {
    const n = 8;
    const s = new BoxQuasiNewton(n);
    const c = Float64Array.from({ length: n }, (_, i) => (i % 2 ? 2 : -2) * (i + 1) * 0.1);
    const a = Float64Array.from({ length: n }, (_, i) => 1 + i);
    const lo = new Float64Array(n).fill(-0.3), hi = new Float64Array(n).fill(0.5);
    const x = new Float64Array(n);
    const res = s.minimize(
      (y, g) => {
        let f = 0;
        for (let i = 0; i < n; i++) {
          f += a[i] * (y[i] - c[i]) ** 2;
          if (g.length) g[i] = 2 * a[i] * (y[i] - c[i]);
        }
        return f;
      },
      x,
      lo,
      hi,
      { ftolAbs: 1e-14 },
    );
    for (let i = 0; i < n; i++) expect(x[i]).toBeCloseTo(Math.min(0.5, Math.max(-0.3, c[i])), 7);
    expect(res.iterations).toBeLessThan(50);
  });

  it('finds the Rosenbrock minimum, and the constrained one on the bound x <= 0.5 (at (0.5, 0.25))', () => {
    const f = (y: Float64Array, g: Float64Array) => {
      const [u, v] = y;
      if (g.length) {
        g[0] = -2 * (1 - u) - 400 * u * (v - u * u);
        g[1] = 200 * (v - u * u);
      }
      return (1 - u) ** 2 + 100 * (v - u * u) ** 2;
    };
    const s = new BoxQuasiNewton(2);
    const x = Float64Array.from([-1.2, 1]);
    s.minimize(f, x, Float64Array.from([-5, -5]), Float64Array.from([5, 5]), { ftolAbs: 1e-16, maxIter: 500, maxStep: 10 });
    expect(x[0]).toBeCloseTo(1, 4);
    expect(x[1]).toBeCloseTo(1, 4);
    const y = Float64Array.from([-1.2, 1]);
    const res = s.minimize(f, y, Float64Array.from([-5, -5]), Float64Array.from([0.5, 5]), { ftolAbs: 1e-16, maxIter: 500, maxStep: 10 });
    expect(y[0]).toBe(0.5);
    expect(y[1]).toBeCloseTo(0.25, 6);
    expect(res.f).toBeCloseTo(0.25, 8);
  });
});
