/**
 * Box-constrained quasi-Newton minimiser (projected BFGS with an active set), written for the
 * small (n <= ~40) smooth problems of hand retargeting.
 *
 * Each iteration:
 *  1. active set: variables at a bound whose gradient pushes outward are held fixed;
 *  2. direction: d_F = -B_FF^{-1} g_F on the free variables (dense Cholesky of the BFGS Hessian
 *     approximation B restricted to them); if B_FF is not positive definite, B is reset;
 *  3. projected backtracking line search: x(a) = clamp(x + a d), Armijo condition
 *     f(x(a)) <= f(x) + c1 * g.(x(a) - x), with quadratic-interpolation backtracking;
 *  4. damped BFGS update of B (Powell damping keeps B positive definite).
 * B starts from the caller's initial Hessian estimate when given (e.g. a Gauss-Newton matrix),
 * otherwise from the identity rescaled after the first step (Shanno-Phua).
 *
 * Stopping (as NLopt's SLSQP used by dex-retargeting, ftol_abs): an accepted step changed f by
 * less than ftolAbs (not tested on an unscaled identity-Hessian first step), or the projected
 * gradient's max-norm <= gtol, or the step's max-norm <= xtol, or maxIter iterations.
 * Nothing is allocated per call: all work arrays belong to the solver instance.
 */

export type Objective = (x: Float64Array, grad: Float64Array) => number;

export interface SolverOptions {
  /** stop when an accepted step improves f by less than this (dex-retargeting: 1e-6 vector/DexPilot, 1e-5 position) */
  ftolAbs?: number;
  /** stop when the projected gradient's max-norm is at most this */
  gtol?: number;
  /** stop when a step's max-norm is at most this */
  xtol?: number;
  /** iteration cap (a safety net; normal exits are ftol/gtol) */
  maxIter?: number;
  /** largest allowed change of one variable per iteration, in its units (rad or m) */
  maxStep?: number;
}

export type SolveStatus = 'ftol' | 'gtol' | 'xtol' | 'maxiter' | 'linesearch';

export interface SolveResult {
  f: number;
  iterations: number;
  evaluations: number;
  status: SolveStatus;
}

export class BoxQuasiNewton {
  readonly n: number;
  private readonly B: Float64Array;
  private readonly L: Float64Array;
  private readonly g: Float64Array;
  private readonly gNew: Float64Array;
  private readonly xNew: Float64Array;
  private readonly d: Float64Array;
  private readonly s: Float64Array;
  private readonly y: Float64Array;
  private readonly Bs: Float64Array;
  private readonly r: Float64Array;
  private readonly free: Int32Array;
  private readonly rhs: Float64Array;

  constructor(n: number) {
    this.n = n;
    this.B = new Float64Array(n * n);
    this.L = new Float64Array(n * n);
    this.g = new Float64Array(n);
    this.gNew = new Float64Array(n);
    this.xNew = new Float64Array(n);
    this.d = new Float64Array(n);
    this.s = new Float64Array(n);
    this.y = new Float64Array(n);
    this.Bs = new Float64Array(n);
    this.r = new Float64Array(n);
    this.free = new Int32Array(n);
    this.rhs = new Float64Array(n);
  }

  private setIdentity(scale: number): void {
    const n = this.n;
    this.B.fill(0);
    for (let i = 0; i < n; i++) this.B[i * n + i] = scale;
  }

  /**
   * Minimise fn over lo <= x <= hi starting from x (overwritten with the solution).
   * `initialHessian`, when given, fills B (n x n row-major, symmetric positive definite) at the
   * starting point.
   */
  minimize(
    fn: Objective,
    x: Float64Array,
    lo: Float64Array,
    hi: Float64Array,
    opts: SolverOptions = {},
    initialHessian?: (x: Float64Array, B: Float64Array) => void,
  ): SolveResult {
    const n = this.n;
    const ftolAbs = opts.ftolAbs ?? 1e-6;
    const gtol = opts.gtol ?? 1e-10;
    const xtol = opts.xtol ?? 1e-12;
    const maxIter = opts.maxIter ?? 200;
    const maxStep = opts.maxStep ?? 0.5;
    const { B, g, gNew, xNew, d, s, y, Bs, r, free, rhs } = this;

    for (let i = 0; i < n; i++) x[i] = Math.min(hi[i], Math.max(lo[i], x[i]));
    let f = fn(x, g);
    let evals = 1;
    let scaled: boolean;
    if (initialHessian) {
      initialHessian(x, B);
      scaled = true;
    } else {
      this.setIdentity(1);
      scaled = false;
    }
    let status: SolveStatus = 'maxiter';
    let it = 0;
    for (; it < maxIter; it++) {
      // ---- active set and projected gradient
      let nf = 0;
      let pg = 0;
      for (let i = 0; i < n; i++) {
        const gi = g[i];
        const atLo = x[i] <= lo[i] && gi > 0;
        const atHi = x[i] >= hi[i] && gi < 0;
        if (!atLo && !atHi) {
          free[nf++] = i;
          const a = Math.abs(gi);
          if (a > pg) pg = a;
        }
      }
      if (pg <= gtol) {
        status = 'gtol';
        break;
      }
      // ---- direction on the free set: solve B_FF d_F = -g_F
      if (!this.cholSolve(nf)) {
        // B lost definiteness (should not happen with damping): restart from a scaled identity
        let diag = 0;
        for (let i = 0; i < n; i++) diag = Math.max(diag, Math.abs(B[i * n + i]));
        this.setIdentity(diag > 0 && Number.isFinite(diag) ? diag : 1);
        if (!this.cholSolve(nf)) {
          status = 'linesearch';
          break;
        }
      }
      d.fill(0);
      let dmax = 0;
      for (let a = 0; a < nf; a++) {
        const v = rhs[a];
        d[free[a]] = v;
        if (Math.abs(v) > dmax) dmax = Math.abs(v);
      }
      if (dmax > maxStep) {
        const k = maxStep / dmax;
        for (let i = 0; i < n; i++) d[i] *= k;
      }
      // ---- projected backtracking line search
      let alpha = 1;
      let fNew = 0;
      let accepted = false;
      for (let ls = 0; ls < 30; ls++) {
        let gd = 0;
        let smax = 0;
        for (let i = 0; i < n; i++) {
          const xi = Math.min(hi[i], Math.max(lo[i], x[i] + alpha * d[i]));
          xNew[i] = xi;
          const si = xi - x[i];
          gd += g[i] * si;
          if (Math.abs(si) > smax) smax = Math.abs(si);
        }
        if (smax <= xtol) break;
        fNew = fn(xNew, gNew);
        evals++;
        if (fNew <= f + 1e-4 * gd && Number.isFinite(fNew)) {
          accepted = true;
          break;
        }
        // quadratic interpolation along the (projected) path, safeguarded to [0.1, 0.5] * alpha
        const denom = 2 * (fNew - f - gd);
        let next = denom > 0 ? (-gd * alpha) / denom : 0.5 * alpha;
        if (!(next >= 0.1 * alpha)) next = 0.1 * alpha;
        if (next > 0.5 * alpha) next = 0.5 * alpha;
        alpha = next;
      }
      if (!accepted) {
        if (scaled) {
          // the quasi-Newton model is bad here: fall back to a scaled steepest-descent restart
          this.setIdentity(1);
          scaled = false;
          continue;
        }
        status = 'xtol';
        break;
      }
      // ---- BFGS update
      let sy = 0, smax = 0;
      for (let i = 0; i < n; i++) {
        s[i] = xNew[i] - x[i];
        y[i] = gNew[i] - g[i];
        sy += s[i] * y[i];
        if (Math.abs(s[i]) > smax) smax = Math.abs(s[i]);
      }
      const firstUnscaled = !scaled;
      if (!scaled) {
        let yy = 0;
        for (let i = 0; i < n; i++) yy += y[i] * y[i];
        this.setIdentity(sy > 0 && yy > 0 ? yy / sy : 1);
        scaled = true;
      }
      let sBs = 0;
      for (let i = 0; i < n; i++) {
        let v = 0;
        const row = i * n;
        for (let j = 0; j < n; j++) v += B[row + j] * s[j];
        Bs[i] = v;
        sBs += s[i] * v;
      }
      if (sBs > 0) {
        let theta = 1;
        if (sy < 0.2 * sBs) theta = (0.8 * sBs) / (sBs - sy);
        let sr = 0;
        for (let i = 0; i < n; i++) {
          r[i] = theta * y[i] + (1 - theta) * Bs[i];
          sr += s[i] * r[i];
        }
        if (sr > 0) {
          for (let i = 0; i < n; i++) {
            const ri = r[i] / sr, bi = Bs[i] / sBs;
            const row = i * n;
            for (let j = 0; j < n; j++) B[row + j] += ri * r[j] - bi * Bs[j];
          }
        }
      }
      const df = f - fNew;
      for (let i = 0; i < n; i++) {
        x[i] = xNew[i];
        g[i] = gNew[i];
      }
      f = fNew;
      if (!firstUnscaled && df < ftolAbs) {
        status = 'ftol';
        it++;
        break;
      }
      if (smax <= xtol) {
        status = 'xtol';
        it++;
        break;
      }
    }
    return { f, iterations: it, evaluations: evals, status };
  }

  /** Cholesky-solve B_FF z = -g_F into rhs[0..nf); false when B_FF is not positive definite. */
  private cholSolve(nf: number): boolean {
    const { B, L, g, free, rhs } = this;
    const n = this.n;
    for (let a = 0; a < nf; a++) {
      const ia = free[a];
      for (let b = 0; b <= a; b++) {
        const ib = free[b];
        let sum = B[ia * n + ib];
        for (let k = 0; k < b; k++) sum -= L[a * n + k] * L[b * n + k];
        if (a === b) {
          if (!(sum > 1e-300)) return false;
          L[a * n + a] = Math.sqrt(sum);
        } else {
          L[a * n + b] = sum / L[b * n + b];
        }
      }
    }
    // forward: L z = -g_F
    for (let a = 0; a < nf; a++) {
      let sum = -g[free[a]];
      for (let k = 0; k < a; k++) sum -= L[a * n + k] * rhs[k];
      rhs[a] = sum / L[a * n + a];
    }
    // backward: L^T d = z
    for (let a = nf - 1; a >= 0; a--) {
      let sum = rhs[a];
      for (let k = a + 1; k < nf; k++) sum -= L[k * n + a] * rhs[k];
      rhs[a] = sum / L[a * n + a];
    }
    return true;
  }
}
