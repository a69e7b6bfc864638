/**
 * Sequential retargeting (dex-retargeting's SeqRetargeting): per frame, build the optimizer's
 * reference from the human keypoints, solve warm-started from the previous solution (the first
 * frame starts at the middle of the joint limits), expand mimic joints, low-pass filter the
 * output. The filter does not feed back: the next frame warm-starts from the unfiltered solution.
 */
import { loadRetargetingConfig, type RetargetingConfig } from './config.js';
import { LowPassFilter } from './filter.js';
import { KinematicModel } from './kinematics.js';
import { DexPilotOptimizer, PositionOptimizer, RetargetOptimizer, VectorOptimizer, type OptimizeResult } from './optimizers.js';
import type { SolveStatus } from './solver.js';

export interface RetargetResult {
  /** values of every movable joint (see Retargeter.jointNames), filtered */
  q: Float64Array;
  /** the optimizer's task loss at the solution (Huber cost as dex-retargeting defines it, without the norm_delta term) */
  residual: number;
  /** mean distance (m) between the robot's vectors / link positions and their targets */
  meanError: number;
  iterations: number;
  evaluations: number;
  status: SolveStatus;
}

export interface RetargeterOptions {
  /** override the optimizer's stop tolerance (default: dex-retargeting's per-optimizer ftol_abs) */
  ftolAbs?: number;
  maxIter?: number;
  /** start each frame's quasi-Newton matrix from a Gauss-Newton estimate (default true) */
  gaussNewtonStart?: boolean;
}

export type Keypoints = Float64Array | ArrayLike<ArrayLike<number>>;

export class Retargeter {
  readonly config: RetargetingConfig;
  readonly model: KinematicModel;
  readonly optimizer: RetargetOptimizer;
  /** every movable joint of the robot (mimic and dummy joints included), in q's order */
  readonly jointNames: string[];
  /** the joints the optimizer solves for */
  readonly targetJointNames: string[];
  /** URDF limits of jointNames (+-Infinity for continuous joints) */
  readonly lowerLimits: Float64Array;
  readonly upperLimits: Float64Array;
  private readonly filter: LowPassFilter | null;
  private readonly x: Float64Array;
  private readonly lastX: Float64Array;
  private readonly qActive: Float64Array;
  private readonly kp = new Float64Array(63);
  private frames = 0;

  static fromConfig(configPath: string, urdfDir: string, override?: Record<string, unknown>, opts?: RetargeterOptions): Retargeter {
    return new Retargeter(loadRetargetingConfig(configPath, urdfDir, override), opts);
  }

  constructor(config: RetargetingConfig, opts: RetargeterOptions = {}) {
    this.config = config;
    const model = (this.model = new KinematicModel(config.robot, { ignoreMimic: config.ignoreMimicJoint }));
    const common = {
      targetJointNames: config.targetJointNames,
      humanIndices: config.targetLinkHumanIndices,
      huberDelta: config.huberDelta,
      normDelta: config.normalDelta,
      hasJointLimits: config.hasJointLimits,
      ftolAbs: opts.ftolAbs,
      maxIter: opts.maxIter,
      gaussNewtonStart: opts.gaussNewtonStart,
    };
    if (config.type === 'vector') {
      this.optimizer = new VectorOptimizer(model, {
        ...common,
        originLinkNames: config.targetOriginLinkNames!,
        taskLinkNames: config.targetTaskLinkNames!,
        scaling: config.scalingFactor,
      });
    } else if (config.type === 'position') {
      this.optimizer = new PositionOptimizer(model, { ...common, linkNames: config.targetLinkNames! });
    } else {
      this.optimizer = new DexPilotOptimizer(model, {
        ...common,
        wristLinkName: config.wristLinkName!,
        fingerTipLinkNames: config.fingerTipLinkNames!,
        scaling: config.scalingFactor,
        projectDist: config.projectDist,
        escapeDist: config.escapeDist,
      });
    }
    this.jointNames = [...model.dofJointNames];
    this.targetJointNames = [...this.optimizer.targetJointNames];
    this.lowerLimits = Float64Array.from(model.dofLower);
    this.upperLimits = Float64Array.from(model.dofUpper);
    this.filter = LowPassFilter.create(config.lowPassAlpha);
    this.x = new Float64Array(this.optimizer.n);
    this.lastX = new Float64Array(this.optimizer.n);
    this.qActive = new Float64Array(model.nq);
    this.reset();
  }

  /** The unfiltered solution of the last frame (optimised joints, targetJointNames order). */
  get lastSolution(): Float64Array {
    return Float64Array.from(this.lastX);
  }

  /** Number of frames retargeted since the last reset. */
  get frameCount(): number {
    return this.frames;
  }

  /** Back to the initial state: warm start at the middle of the limits, empty filter. */
  reset(): void {
    const opt = this.optimizer;
    for (let k = 0; k < opt.n; k++) {
      const lo = opt.lower[k], hi = opt.upper[k];
      this.lastX[k] = Number.isFinite(lo) && Number.isFinite(hi) ? 0.5 * (lo + hi) : Math.min(hi, Math.max(lo, 0));
    }
    this.filter?.reset();
    opt.resetState();
    this.frames = 0;
  }

  /** Copy 21 x 3 keypoints (operator frame, metres) into the internal buffer, checking them. */
  private loadKeypoints(keypoints: Keypoints): Float64Array {
    const kp = this.kp;
    if (keypoints instanceof Float64Array) {
      if (keypoints.length !== 63) throw new RangeError(`expected 21 x 3 keypoints (63 numbers), got ${keypoints.length}`);
      kp.set(keypoints);
    } else {
      if (keypoints.length !== 21) throw new RangeError(`expected 21 keypoints, got ${keypoints.length}`);
      for (let i = 0; i < 21; i++) {
        const p = keypoints[i];
        if (!p || p.length !== 3) throw new RangeError(`keypoint ${i} must have 3 coordinates`);
        kp[3 * i] = p[0];
        kp[3 * i + 1] = p[1];
        kp[3 * i + 2] = p[2];
      }
    }
    for (let i = 0; i < 63; i++) {
      if (!Number.isFinite(kp[i])) throw new RangeError(`keypoint ${Math.floor(i / 3)} has a non-finite coordinate`);
    }
    return kp;
  }

  /**
   * Retarget one frame of 21 keypoints (MediaPipe order, operator frame, metres).
   * `fixedQ`: values of the active joints that are not optimised (optimizer.idxFixed order); by
   * default they stay at 0 clamped into their limits.
   */
  retarget(keypoints: Keypoints, fixedQ?: ArrayLike<number>): RetargetResult {
    const kp = this.loadKeypoints(keypoints);
    const opt = this.optimizer;
    if (fixedQ) opt.setFixedValues(fixedQ);
    opt.setReference(kp);
    const x = this.x;
    for (let k = 0; k < opt.n; k++) x[k] = Math.min(opt.upper[k], Math.max(opt.lower[k], this.lastX[k]));
    opt.setPrevious(x);
    const r: OptimizeResult = opt.solve(x);
    this.lastX.set(x);
    this.frames++;
    opt.fullQ(x, this.qActive);
    const dof = this.model.expand(this.qActive);
    const q = this.filter ? this.filter.next(dof) : dof;
    return { q, residual: r.loss, meanError: r.meanError, iterations: r.iterations, evaluations: r.evaluations, status: r.status };
  }
}
