/**
 * The three retargeting optimizers of dex-retargeting, with their cost functions and defaults,
 * solved by a box-constrained quasi-Newton method (solver.ts) with analytic gradients.
 *
 * Notation: x = the optimised joints (target joints), q = all active joints of the model (x plus
 * "fixed" active joints held at given values; mimic joints are driven by their source), p_l = the
 * position of link l in the robot root frame, h = SmoothL1 / Huber with parameter delta:
 *   h(r) = 0.5 r^2 / delta  if |r| < delta,   |r| - 0.5 delta  otherwise.
 *
 * - vector (VectorOptimizer): N vectors v_i = p_task_i - p_origin_i compared with the scaled human
 *   vectors s * (k[task_i] - k[origin_i]):  L = (1/N) sum_i h(|v_i - s t_i|).      ftol_abs 1e-6
 * - position (PositionOptimizer): N link positions against human keypoints, elementwise Huber,
 *   L = 1/(3N) sum_i sum_c h(p_ic - k_ic) (no scaling, as dex-retargeting).       ftol_abs 1e-5
 * - DexPilot (DexPilotOptimizer): for n fingertips, vectors between every fingertip pair and from the
 *   wrist to every fingertip. Thumb-finger pairs closer than project_dist (human) switch to
 *   "projected" (and leave that state only beyond escape_dist: hysteresis); their target becomes the
 *   unit direction times eta1 = 1e-4 with weight 200; a pair of two non-thumb fingers that are both
 *   projected with the thumb and closer than 0.03 m gets target direction * eta2 = 3e-2 and weight
 *   400. Other pair vectors: target s * t, weight 1; wrist vectors: weight (pairs + n).
 *   L = (1/M) sum_i w_i h(|v_i - ref_i|), M = number of vectors, delta 0.03.           ftol_abs 1e-6
 *
 * All three add norm_delta * |x - x_prev|^2 (x_prev = the previous frame's solution, also the warm
 * start). dex-retargeting adds this term's gradient but leaves it out of the reported value; here
 * value and gradient are consistent (a line search needs that).
 */
import type { KinematicModel } from './kinematics.js';
import { BoxQuasiNewton, type SolveResult, type SolveStatus } from './solver.js';
import { dexPilotLinkIndices, type RetargetingType } from './config.js';

export interface OptimizerOptions {
  /** optimised joints; null = every active joint of the model */
  targetJointNames: string[] | null;
  /** vector/DexPilot: [origin[], task[]]; position: [idx[]] */
  humanIndices: number[][];
  huberDelta: number;
  normDelta: number;
  /** false: bounds +-1e4 as dex-retargeting's has_joint_limits: false */
  hasJointLimits?: boolean;
  /** stop tolerance on the change of the objective per step; default per optimizer as dex-retargeting */
  ftolAbs?: number;
  maxIter?: number;
  /** start each solve's quasi-Newton matrix from a Gauss-Newton estimate (default true) */
  gaussNewtonStart?: boolean;
}

export interface OptimizeResult {
  /** task loss (Huber part, without the norm_delta term) at the solution */
  loss: number;
  /** mean Euclidean distance (m) between the robot's vectors / positions and their targets */
  meanError: number;
  /** objective value including the norm_delta term */
  objective: number;
  iterations: number;
  evaluations: number;
  status: SolveStatus;
}

const NO_GRADIENT = new Float64Array(0);
const KIND_NORM = 0; // weight * h(|e|)
const KIND_ELEMENTWISE = 1; // weight * sum_c h(e_c)

/** Shared machinery: a list of residual terms e_k = p_plus - p_minus - target_k. */
export abstract class RetargetOptimizer {
  abstract readonly type: RetargetingType;
  readonly model: KinematicModel;
  readonly targetJointNames: string[];
  /** x index -> q index */
  readonly idxTarget: Int32Array;
  /** q indices held fixed (active joints that are not optimised) */
  readonly idxFixed: Int32Array;
  readonly n: number;
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  readonly humanIndices: number[][];
  readonly huberDelta: number;
  readonly normDelta: number;
  ftolAbs: number;
  maxIter: number;
  gaussNewtonStart: boolean;

  // terms
  protected nTerms = 0;
  protected termKind = 0;
  protected termPlus!: Int32Array;
  protected termMinus!: Int32Array;
  protected termWeight!: Float64Array;
  protected target!: Float64Array;
  /** unique links used by the terms and their gradient accumulators */
  protected uniqueLinks!: Int32Array;
  protected termPlusU!: Int32Array;
  protected termMinusU!: Int32Array;
  protected gLink!: Float64Array;

  protected readonly q: Float64Array;
  protected readonly gq: Float64Array;
  protected readonly xPrev: Float64Array;
  private readonly solver: BoxQuasiNewton;
  private readonly lastX: Float64Array;
  private lastLoss = 0;
  private lastMeanErr = 0;
  private lastObjective = 0;
  private jacA!: Float64Array;
  private jacB!: Float64Array;
  private jacE!: Float64Array;
  /** the objective handed to the solver */
  readonly objective: (x: Float64Array, grad: Float64Array) => number;
  private readonly hessianInit: (x: Float64Array, B: Float64Array) => void;

  constructor(model: KinematicModel, opts: OptimizerOptions, defaultFtol: number) {
    this.model = model;
    const names = opts.targetJointNames ?? model.activeJointNames;
    const idx: number[] = [];
    for (const name of names) {
      const i = model.activeIndex(name);
      if (i < 0) {
        const why = model.isMimic(name) ? 'is a mimic joint' : 'is not a movable joint of the robot';
        throw new Error(`${model.robot.file}: target joint '${name}' ${why}`);
      }
      idx.push(i);
    }
    this.targetJointNames = [...names];
    this.idxTarget = Int32Array.from(idx);
    const targetSet = new Set(idx);
    this.idxFixed = Int32Array.from([...Array(model.nq).keys()].filter((i) => !targetSet.has(i)));
    const n = (this.n = idx.length);
    this.lower = new Float64Array(n);
    this.upper = new Float64Array(n);
    const limits = opts.hasJointLimits ?? true;
    for (let k = 0; k < n; k++) {
      this.lower[k] = limits ? model.lower[idx[k]] : -1e4;
      this.upper[k] = limits ? model.upper[idx[k]] : 1e4;
    }
    this.humanIndices = opts.humanIndices.map((r) => [...r]);
    this.huberDelta = opts.huberDelta;
    this.normDelta = opts.normDelta;
    this.ftolAbs = opts.ftolAbs ?? defaultFtol;
    this.maxIter = opts.maxIter ?? 200;
    this.gaussNewtonStart = opts.gaussNewtonStart ?? true;
    this.q = new Float64Array(model.nq);
    // fixed joints start at 0 clamped into their limits
    for (const i of this.idxFixed) this.q[i] = Math.min(model.upper[i], Math.max(model.lower[i], 0));
    this.gq = new Float64Array(model.nq);
    this.xPrev = new Float64Array(n);
    this.lastX = new Float64Array(n).fill(NaN);
    this.solver = new BoxQuasiNewton(n);
    this.objective = (x, grad) => this.evaluate(x, grad);
    this.hessianInit = (x, B) => this.gaussNewtonHessian(x, B);
  }

  /** Define the residual terms (called once by subclasses). */
  protected setupTerms(kind: number, plusLinks: number[], minusLinks: number[], weights: number[]): void {
    const m = plusLinks.length;
    this.nTerms = m;
    this.termKind = kind;
    this.termPlus = Int32Array.from(plusLinks);
    this.termMinus = Int32Array.from(minusLinks);
    this.termWeight = Float64Array.from(weights);
    this.target = new Float64Array(3 * m);
    const uniq: number[] = [];
    const pos = new Map<number, number>();
    const u = (l: number) => {
      if (l < 0) return -1;
      let i = pos.get(l);
      if (i === undefined) {
        i = uniq.length;
        uniq.push(l);
        pos.set(l, i);
      }
      return i;
    };
    this.termPlusU = Int32Array.from(plusLinks.map(u));
    this.termMinusU = Int32Array.from(minusLinks.map(u));
    this.uniqueLinks = Int32Array.from(uniq);
    this.gLink = new Float64Array(3 * uniq.length);
    const nq = this.model.nq;
    this.jacA = new Float64Array(3 * nq);
    this.jacB = new Float64Array(3 * nq);
    this.jacE = new Float64Array(3 * this.n);
  }

  /** Build this frame's targets from 21 x 3 keypoints (row-major Float64Array of 63). */
  abstract setReference(keypoints: Float64Array): void;

  /** Forget per-sequence state (DexPilot's projection flags). */
  resetState(): void {}

  /** Values of the active joints that are not optimised (same order as idxFixed). */
  setFixedValues(values: ArrayLike<number>): void {
    if (values.length !== this.idxFixed.length) {
      throw new Error(`expected ${this.idxFixed.length} fixed joint values, got ${values.length}`);
    }
    for (let k = 0; k < this.idxFixed.length; k++) this.q[this.idxFixed[k]] = values[k];
  }

  /** Full active-joint vector for optimised values x (fixed joints at their set values). */
  fullQ(x: ArrayLike<number>, out: Float64Array = new Float64Array(this.model.nq)): Float64Array {
    out.set(this.q);
    for (let k = 0; k < this.n; k++) out[this.idxTarget[k]] = x[k];
    return out;
  }

  /** Set the anchor of the norm_delta term (the previous solution). */
  setPrevious(xPrev: ArrayLike<number>): void {
    this.xPrev.set(xPrev);
  }

  /** Objective value and gradient (grad may have length 0 to skip it). */
  evaluate(x: Float64Array, grad: Float64Array): number {
    const model = this.model;
    const q = this.q;
    const n = this.n;
    for (let k = 0; k < n; k++) q[this.idxTarget[k]] = x[k];
    model.fk(q);
    const P = model.linkPose;
    const wantGrad = grad.length > 0;
    const gL = this.gLink;
    if (wantGrad) gL.fill(0);
    const delta = this.huberDelta;
    const inv = 1 / delta;
    const T = this.target;
    let loss = 0;
    let errSum = 0;
    for (let t = 0; t < this.nTerms; t++) {
      const pb = 12 * this.termPlus[t] + 9;
      const mi = this.termMinus[t];
      let ex = P[pb] - T[3 * t], ey = P[pb + 1] - T[3 * t + 1], ez = P[pb + 2] - T[3 * t + 2];
      if (mi >= 0) {
        const mb = 12 * mi + 9;
        ex -= P[mb];
        ey -= P[mb + 1];
        ez -= P[mb + 2];
      }
      const w = this.termWeight[t];
      let gx: number, gy: number, gz: number;
      const r = Math.sqrt(ex * ex + ey * ey + ez * ez);
      errSum += r;
      if (this.termKind === KIND_NORM) {
        let c: number;
        if (r < delta) {
          loss += w * 0.5 * r * r * inv;
          c = w * inv;
        } else {
          loss += w * (r - 0.5 * delta);
          c = w / r;
        }
        gx = c * ex;
        gy = c * ey;
        gz = c * ez;
      } else {
        const ax = Math.abs(ex), ay = Math.abs(ey), az = Math.abs(ez);
        loss += w * ((ax < delta ? 0.5 * ax * ax * inv : ax - 0.5 * delta) + (ay < delta ? 0.5 * ay * ay * inv : ay - 0.5 * delta) + (az < delta ? 0.5 * az * az * inv : az - 0.5 * delta));
        gx = w * (ax < delta ? ex * inv : Math.sign(ex));
        gy = w * (ay < delta ? ey * inv : Math.sign(ey));
        gz = w * (az < delta ? ez * inv : Math.sign(ez));
      }
      if (wantGrad) {
        const pu = 3 * this.termPlusU[t];
        gL[pu] += gx;
        gL[pu + 1] += gy;
        gL[pu + 2] += gz;
        const mu = this.termMinusU[t];
        if (mu >= 0) {
          gL[3 * mu] -= gx;
          gL[3 * mu + 1] -= gy;
          gL[3 * mu + 2] -= gz;
        }
      }
    }
    let reg = 0;
    const nd = this.normDelta;
    const xp = this.xPrev;
    for (let k = 0; k < n; k++) {
      const dx = x[k] - xp[k];
      reg += dx * dx;
    }
    const f = loss + nd * reg;
    if (wantGrad) {
      const gq = this.gq;
      gq.fill(0);
      const U = this.uniqueLinks;
      for (let u = 0; u < U.length; u++) {
        const gx = gL[3 * u], gy = gL[3 * u + 1], gz = gL[3 * u + 2];
        if (gx !== 0 || gy !== 0 || gz !== 0) model.addJacobianTransposeProduct(U[u], gx, gy, gz, gq);
      }
      for (let k = 0; k < n; k++) grad[k] = gq[this.idxTarget[k]] + 2 * nd * (x[k] - xp[k]);
    }
    this.lastX.set(x);
    this.lastLoss = loss;
    this.lastMeanErr = this.nTerms ? errSum / this.nTerms : 0;
    this.lastObjective = f;
    return f;
  }

  /**
   * Gauss-Newton / IRLS estimate of the Hessian at x: sum_k w_k c_k J_k^T J_k + 2 norm_delta I,
   * with c_k = h'(r)/r (1/delta near the target, 1/r beyond), J_k = d e_k / d x.
   */
  private gaussNewtonHessian(x: Float64Array, B: Float64Array): void {
    const n = this.n;
    const model = this.model;
    const nq = model.nq;
    for (let k = 0; k < n; k++) this.q[this.idxTarget[k]] = x[k];
    model.fk(this.q);
    B.fill(0);
    const P = model.linkPose;
    const T = this.target;
    const delta = this.huberDelta;
    const JA = this.jacA, JB = this.jacB, JE = this.jacE;
    for (let t = 0; t < this.nTerms; t++) {
      const pl = this.termPlus[t], mi = this.termMinus[t];
      model.jacobian(pl, JA);
      if (mi >= 0) model.jacobian(mi, JB);
      for (let r = 0; r < 3; r++) {
        for (let k = 0; k < n; k++) {
          const c = this.idxTarget[k];
          JE[r * n + k] = JA[r * nq + c] - (mi >= 0 ? JB[r * nq + c] : 0);
        }
      }
      const pb = 12 * pl + 9;
      let ex = P[pb] - T[3 * t], ey = P[pb + 1] - T[3 * t + 1], ez = P[pb + 2] - T[3 * t + 2];
      if (mi >= 0) {
        const mb = 12 * mi + 9;
        ex -= P[mb];
        ey -= P[mb + 1];
        ez -= P[mb + 2];
      }
      const w = this.termWeight[t];
      if (this.termKind === KIND_NORM) {
        const r = Math.sqrt(ex * ex + ey * ey + ez * ez);
        const c = w * (r < delta ? 1 / delta : 1 / r);
        for (let i = 0; i < n; i++) {
          const a0 = JE[i], a1 = JE[n + i], a2 = JE[2 * n + i];
          if (a0 === 0 && a1 === 0 && a2 === 0) continue;
          for (let j = 0; j < n; j++) B[i * n + j] += c * (a0 * JE[j] + a1 * JE[n + j] + a2 * JE[2 * n + j]);
        }
      } else {
        const e = [ex, ey, ez];
        for (let r = 0; r < 3; r++) {
          const a = Math.abs(e[r]);
          const c = w * (a < delta ? 1 / delta : 1 / a);
          for (let i = 0; i < n; i++) {
            const ai = JE[r * n + i];
            if (ai === 0) continue;
            for (let j = 0; j < n; j++) B[i * n + j] += c * ai * JE[r * n + j];
          }
        }
      }
    }
    let maxDiag = 0;
    for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, B[i * n + i]);
    const ridge = 2 * this.normDelta + 1e-6 * Math.max(maxDiag, 1e-3);
    for (let i = 0; i < n; i++) B[i * n + i] += ridge;
  }

  /**
   * Solve one frame: x holds the warm start on entry and the solution on return; the norm_delta
   * anchor is the value given to setPrevious() (the retargeter passes the previous solution).
   */
  solve(x: Float64Array): OptimizeResult {
    const res: SolveResult = this.solver.minimize(
      this.objective,
      x,
      this.lower,
      this.upper,
      { ftolAbs: this.ftolAbs, maxIter: this.maxIter },
      this.gaussNewtonStart ? this.hessianInit : undefined,
    );
    let same = true;
    for (let k = 0; k < this.n; k++) if (this.lastX[k] !== x[k]) same = false;
    let evaluations = res.evaluations;
    if (!same) {
      this.evaluate(x, NO_GRADIENT);
      evaluations++;
    }
    return {
      loss: this.lastLoss,
      meanError: this.lastMeanErr,
      objective: this.lastObjective,
      iterations: res.iterations,
      evaluations,
      status: res.status,
    };
  }

  /** Targets of the current frame (3 per term), for inspection. */
  get targets(): Float64Array {
    return this.target;
  }

  get numTerms(): number {
    return this.nTerms;
  }
}

function checkKeypoints(k: Float64Array): void {
  if (k.length !== 63) throw new Error(`expected 21 x 3 keypoints (63 numbers), got ${k.length}`);
}

export class VectorOptimizer extends RetargetOptimizer {
  readonly type = 'vector' as const;
  readonly scaling: number;
  readonly originLinkNames: string[];
  readonly taskLinkNames: string[];

  constructor(model: KinematicModel, opts: OptimizerOptions & { originLinkNames: string[]; taskLinkNames: string[]; scaling: number }) {
    super(model, opts, 1e-6);
    if (opts.originLinkNames.length !== opts.taskLinkNames.length) throw new Error('vector optimizer: origin and task link lists differ in length');
    const [o, t] = opts.humanIndices;
    if (opts.humanIndices.length !== 2 || o.length !== opts.originLinkNames.length || t.length !== o.length) {
      throw new Error(`vector optimizer: human indices must have shape [2, ${opts.originLinkNames.length}]`);
    }
    this.scaling = opts.scaling;
    this.originLinkNames = [...opts.originLinkNames];
    this.taskLinkNames = [...opts.taskLinkNames];
    const m = o.length;
    this.setupTerms(
      KIND_NORM,
      opts.taskLinkNames.map((nm) => model.linkIndex(nm)),
      opts.originLinkNames.map((nm) => model.linkIndex(nm)),
      new Array(m).fill(1 / m),
    );
  }

  setReference(k: Float64Array): void {
    checkKeypoints(k);
    const [o, t] = this.humanIndices;
    const s = this.scaling;
    for (let i = 0; i < o.length; i++) {
      for (let c = 0; c < 3; c++) this.target[3 * i + c] = s * (k[3 * t[i] + c] - k[3 * o[i] + c]);
    }
  }
}

export class PositionOptimizer extends RetargetOptimizer {
  readonly type = 'position' as const;
  readonly linkNames: string[];

  constructor(model: KinematicModel, opts: OptimizerOptions & { linkNames: string[] }) {
    super(model, opts, 1e-5);
    const idx = opts.humanIndices.length === 1 ? opts.humanIndices[0] : opts.humanIndices.flat();
    if (idx.length !== opts.linkNames.length) throw new Error(`position optimizer: ${opts.linkNames.length} links but ${idx.length} human indices`);
    this.linkNames = [...opts.linkNames];
    const m = idx.length;
    this.setupTerms(
      KIND_ELEMENTWISE,
      opts.linkNames.map((nm) => model.linkIndex(nm)),
      new Array(m).fill(-1),
      new Array(m).fill(1 / (3 * m)),
    );
  }

  setReference(k: Float64Array): void {
    checkKeypoints(k);
    const idx = this.humanIndices.length === 1 ? this.humanIndices[0] : this.humanIndices.flat();
    for (let i = 0; i < idx.length; i++) {
      for (let c = 0; c < 3; c++) this.target[3 * i + c] = k[3 * idx[i] + c];
    }
  }
}

/** DexPilot's hard-coded distance under which two non-thumb fingers may be projected together. */
const DEXPILOT_S2_DIST = 0.03;

export class DexPilotOptimizer extends RetargetOptimizer {
  readonly type = 'dexpilot' as const;
  readonly scaling: number;
  readonly numFingers: number;
  readonly projectDist: number;
  readonly escapeDist: number;
  readonly eta1: number;
  readonly eta2: number;
  readonly originLinkNames: string[];
  readonly taskLinkNames: string[];
  /** projection state per fingertip pair (persists across frames: hysteresis) */
  readonly projected: Uint8Array;
  private readonly lenProj: number;
  private readonly lenS1: number;
  private readonly s2Origin: Int32Array;
  private readonly s2Task: Int32Array;
  private readonly dist: Float64Array;

  constructor(
    model: KinematicModel,
    opts: OptimizerOptions & {
      wristLinkName: string;
      fingerTipLinkNames: string[];
      scaling: number;
      projectDist?: number;
      escapeDist?: number;
      eta1?: number;
      eta2?: number;
    },
  ) {
    super(model, opts, 1e-6);
    const nf = opts.fingerTipLinkNames.length;
    if (nf < 2 || nf > 5) throw new Error(`DexPilot needs 2 to 5 fingertips, got ${nf}`);
    this.numFingers = nf;
    this.scaling = opts.scaling;
    this.projectDist = opts.projectDist ?? 0.03;
    this.escapeDist = opts.escapeDist ?? 0.05;
    this.eta1 = opts.eta1 ?? 1e-4;
    this.eta2 = opts.eta2 ?? 3e-2;
    const { origin, task } = dexPilotLinkIndices(nf);
    const names = [opts.wristLinkName, ...opts.fingerTipLinkNames];
    this.originLinkNames = origin.map((i) => names[i]);
    this.taskLinkNames = task.map((i) => names[i]);
    const m = origin.length;
    if (opts.humanIndices.length !== 2 || opts.humanIndices[0].length !== m || opts.humanIndices[1].length !== m) {
      throw new Error(`DexPilot: human indices must have shape [2, ${m}]`);
    }
    this.lenProj = (nf * (nf - 1)) / 2;
    const s2o: number[] = [];
    const s2t: number[] = [];
    for (let i = 0; i < nf - 2; i++) {
      for (let j = i + 1; j < nf - 1; j++) {
        s2o.push(j);
        s2t.push(i);
      }
    }
    this.s2Origin = Int32Array.from(s2o);
    this.s2Task = Int32Array.from(s2t);
    this.lenS1 = this.lenProj - s2o.length;
    this.projected = new Uint8Array(this.lenProj);
    this.dist = new Float64Array(m);
    this.setupTerms(
      KIND_NORM,
      this.taskLinkNames.map((nm) => model.linkIndex(nm)),
      this.originLinkNames.map((nm) => model.linkIndex(nm)),
      new Array(m).fill(1 / m),
    );
  }

  override resetState(): void {
    this.projected.fill(0);
  }

  setReference(k: Float64Array): void {
    checkKeypoints(k);
    const [o, t] = this.humanIndices;
    const m = o.length;
    const lp = this.lenProj, ls1 = this.lenS1;
    const tv = this.target; // raw human vectors first, then overwritten with the references
    const dist = this.dist;
    for (let i = 0; i < m; i++) {
      let ss = 0;
      for (let c = 0; c < 3; c++) {
        const v = k[3 * t[i] + c] - k[3 * o[i] + c];
        tv[3 * i + c] = v;
        ss += v * v;
      }
      dist[i] = Math.sqrt(ss);
    }
    const pr = this.projected;
    for (let i = 0; i < ls1; i++) {
      if (dist[i] < this.projectDist) pr[i] = 1;
      if (dist[i] > this.escapeDist) pr[i] = 0;
    }
    for (let i = ls1; i < lp; i++) {
      const a = this.s2Origin[i - ls1], b = this.s2Task[i - ls1];
      pr[i] = pr[a] && pr[b] && dist[i] <= DEXPILOT_S2_DIST ? 1 : 0;
    }
    const w = this.termWeight;
    for (let i = 0; i < m; i++) {
      let weight: number;
      if (i < lp) weight = pr[i] ? (i < ls1 ? 200 : 400) : 1;
      else weight = lp + this.numFingers;
      w[i] = weight / m;
      if (i < lp && pr[i]) {
        const eta = i < ls1 ? this.eta1 : this.eta2;
        const inv = eta / (dist[i] + 1e-6);
        for (let c = 0; c < 3; c++) tv[3 * i + c] *= inv;
      } else {
        for (let c = 0; c < 3; c++) tv[3 * i + c] *= this.scaling;
      }
    }
  }
}
