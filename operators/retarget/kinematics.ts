/**
 * Kinematic model built from a parsed URDF: forward kinematics of every link and analytic
 * Jacobians of link positions with respect to the active joint vector q.
 *
 * Conventions
 * - Joint frames follow the URDF spec: T_child = T_parent * T_origin(xyz, rpy) * T_motion(q), where
 *   the rpy rotation is Rz(yaw) * Ry(pitch) * Rx(roll); a revolute/continuous joint rotates about
 *   its unit axis (in the joint frame) by q, a prismatic joint translates along it by q.
 * - The root link is the world frame (identity pose).
 * - "dof joints" are all movable joints (revolute, continuous, prismatic), mimic joints included, in
 *   depth-first order of the tree with children in document order (pinocchio's order).
 * - "active joints" are the dof joints that are not mimic joints: q has one entry per active joint.
 *   A mimic joint's value is multiplier * q[source] + offset (chains of mimic joints are resolved to
 *   their active source, multipliers and offsets composed). Pass `ignoreMimic` to treat every mimic
 *   joint as an independent active joint (dex-retargeting's ignore_mimic_joint).
 * - Continuous joints have infinite bounds.
 *
 * All per-call work uses preallocated Float64Arrays: fk(), jacobian() and addJacobianTransposeProduct()
 * allocate nothing.
 */
import type { UrdfRobot } from './urdf.js';

const T_FIXED = 0;
const T_REVOLUTE = 1;
const T_PRISMATIC = 2;

export class KinematicsError extends Error {
  override name = 'KinematicsError';
}

/** 3x3 row-major rotation from URDF roll, pitch, yaw: Rz(y) * Ry(p) * Rx(r). */
export function rpyToMatrix(roll: number, pitch: number, yaw: number, out: Float64Array = new Float64Array(9)): Float64Array {
  const cr = Math.cos(roll), sr = Math.sin(roll);
  const cp = Math.cos(pitch), sp = Math.sin(pitch);
  const cy = Math.cos(yaw), sy = Math.sin(yaw);
  out[0] = cy * cp;
  out[1] = cy * sp * sr - sy * cr;
  out[2] = cy * sp * cr + sy * sr;
  out[3] = sy * cp;
  out[4] = sy * sp * sr + cy * cr;
  out[5] = sy * sp * cr - cy * sr;
  out[6] = -sp;
  out[7] = cp * sr;
  out[8] = cp * cr;
  return out;
}

export interface KinematicModelOptions {
  /** treat mimic joints as independent active joints (default false) */
  ignoreMimic?: boolean;
}

export class KinematicModel {
  readonly robot: UrdfRobot;
  /** link names, in topological order (root first) */
  readonly linkNames: string[];
  /** movable joints (mimic included), depth-first order */
  readonly dofJointNames: string[];
  /** movable, non-mimic joints: the entries of q */
  readonly activeJointNames: string[];
  readonly nq: number;
  readonly ndof: number;
  /** bounds of q (URDF limits; +-Infinity for continuous joints) */
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  /** bounds of every dof joint, same order as dofJointNames */
  readonly dofLower: Float64Array;
  readonly dofUpper: Float64Array;
  /** per dof joint: index into q of its (resolved) source, multiplier and offset */
  readonly dofSource: Int32Array;
  readonly dofMultiplier: Float64Array;
  readonly dofOffset: Float64Array;

  // --- per joint, in topological order (k = 0..nj-1) ---
  private readonly nj: number;
  private readonly jType: Uint8Array;
  private readonly jParentLink: Int32Array;
  private readonly jChildLink: Int32Array;
  private readonly jOriginR: Float64Array; // 9 per joint
  private readonly jOriginT: Float64Array; // 3 per joint
  private readonly jAxis: Float64Array; // 3 per joint (joint frame)
  private readonly jDof: Int32Array; // dof index or -1
  // --- per link ---
  private readonly linkIdx = new Map<string, number>();
  /** movable ancestor joints (topological joint indices) of each link */
  private readonly ancestors: Int32Array[];
  // --- state written by fk() ---
  /** 12 numbers per link: row-major rotation (9) then position (3), in the root frame */
  readonly linkPose: Float64Array;
  /** world axis (3) and world origin (3) of each joint after the last fk() */
  private readonly jAxisW: Float64Array;
  private readonly jOriginW: Float64Array;
  /** dof values of the last fk() */
  readonly dofValues: Float64Array;
  private readonly tmpR = new Float64Array(9);
  private readonly tmpM = new Float64Array(9);

  constructor(robot: UrdfRobot, opts: KinematicModelOptions = {}) {
    this.robot = robot;
    const file = robot.file;
    const ignoreMimic = !!opts.ignoreMimic;
    const childrenOf = new Map<string, number[]>();
    robot.joints.forEach((j, i) => {
      const a = childrenOf.get(j.parent);
      if (a) a.push(i);
      else childrenOf.set(j.parent, [i]);
    });
    // depth-first traversal from the root, children in document order
    const order: number[] = [];
    const linkOrder: string[] = [robot.root];
    const stack: number[] = [...(childrenOf.get(robot.root) ?? [])].reverse();
    while (stack.length) {
      const ji = stack.pop()!;
      order.push(ji);
      const c = robot.joints[ji].child;
      linkOrder.push(c);
      const kids = childrenOf.get(c);
      if (kids) for (let t = kids.length - 1; t >= 0; t--) stack.push(kids[t]);
    }
    if (linkOrder.length !== robot.links.length) {
      throw new KinematicsError(`${file}: ${robot.links.length - linkOrder.length} links are not connected to the root '${robot.root}'`);
    }
    this.linkNames = linkOrder;
    linkOrder.forEach((n, i) => this.linkIdx.set(n, i));
    const nj = (this.nj = order.length);
    this.jType = new Uint8Array(nj);
    this.jParentLink = new Int32Array(nj);
    this.jChildLink = new Int32Array(nj);
    this.jOriginR = new Float64Array(9 * nj);
    this.jOriginT = new Float64Array(3 * nj);
    this.jAxis = new Float64Array(3 * nj);
    this.jDof = new Int32Array(nj).fill(-1);
    const dofNames: string[] = [];
    const dofJoints: number[] = [];
    const tmp = new Float64Array(9);
    for (let k = 0; k < nj; k++) {
      const j = robot.joints[order[k]];
      this.jType[k] = j.type === 'fixed' ? T_FIXED : j.type === 'prismatic' ? T_PRISMATIC : T_REVOLUTE;
      this.jParentLink[k] = this.linkIdx.get(j.parent)!;
      this.jChildLink[k] = this.linkIdx.get(j.child)!;
      rpyToMatrix(j.origin.rpy[0], j.origin.rpy[1], j.origin.rpy[2], tmp);
      this.jOriginR.set(tmp, 9 * k);
      this.jOriginT.set(j.origin.xyz, 3 * k);
      this.jAxis.set(j.axis, 3 * k);
      if (j.type !== 'fixed') {
        this.jDof[k] = dofNames.length;
        dofNames.push(j.name);
        dofJoints.push(order[k]);
      }
    }
    this.dofJointNames = dofNames;
    const ndof = (this.ndof = dofNames.length);
    this.dofLower = new Float64Array(ndof);
    this.dofUpper = new Float64Array(ndof);
    const dofIndexByName = new Map(dofNames.map((n, i) => [n, i]));
    const isMimic = (ji: number) => !ignoreMimic && !!robot.joints[ji].mimic;
    const active: string[] = [];
    const activeIndexOfDof = new Int32Array(ndof).fill(-1);
    for (let d = 0; d < ndof; d++) {
      const j = robot.joints[dofJoints[d]];
      this.dofLower[d] = j.limit ? j.limit.lower : -Infinity;
      this.dofUpper[d] = j.limit ? j.limit.upper : Infinity;
      if (!isMimic(dofJoints[d])) {
        activeIndexOfDof[d] = active.length;
        active.push(j.name);
      }
    }
    this.activeJointNames = active;
    const nq = (this.nq = active.length);
    this.lower = new Float64Array(nq);
    this.upper = new Float64Array(nq);
    for (let d = 0; d < ndof; d++) {
      const a = activeIndexOfDof[d];
      if (a >= 0) {
        this.lower[a] = this.dofLower[d];
        this.upper[a] = this.dofUpper[d];
      }
    }
    // resolve mimic chains: value = mult * q[src] + offset
    this.dofSource = new Int32Array(ndof);
    this.dofMultiplier = new Float64Array(ndof);
    this.dofOffset = new Float64Array(ndof);
    const jointByName = new Map(robot.joints.map((j) => [j.name, j]));
    for (let d = 0; d < ndof; d++) {
      let mult = 1;
      let off = 0;
      let name = dofNames[d];
      let guard = 0;
      for (;;) {
        const j = jointByName.get(name)!;
        if (ignoreMimic || !j.mimic) break;
        // value(name) = m * value(src) + o ; compose into the running affine map
        off = mult * j.mimic.offset + off;
        mult = mult * j.mimic.multiplier;
        name = j.mimic.joint;
        if (++guard > robot.joints.length) throw new KinematicsError(`${file}: joint '${dofNames[d]}': cyclic mimic chain`);
      }
      const srcDof = dofIndexByName.get(name);
      if (srcDof === undefined || activeIndexOfDof[srcDof] < 0) {
        throw new KinematicsError(`${file}: joint '${dofNames[d]}': mimic source '${name}' is not a movable joint`);
      }
      this.dofSource[d] = activeIndexOfDof[srcDof];
      this.dofMultiplier[d] = mult;
      this.dofOffset[d] = off;
    }
    // ancestors of each link (movable joints only)
    const parentJointOfLink = new Int32Array(linkOrder.length).fill(-1);
    for (let k = 0; k < nj; k++) parentJointOfLink[this.jChildLink[k]] = k;
    this.ancestors = linkOrder.map((_, li) => {
      const a: number[] = [];
      let cur = li;
      while (parentJointOfLink[cur] >= 0) {
        const k = parentJointOfLink[cur];
        if (this.jType[k] !== T_FIXED) a.push(k);
        cur = this.jParentLink[k];
      }
      return Int32Array.from(a.reverse());
    });
    this.linkPose = new Float64Array(12 * linkOrder.length);
    this.jAxisW = new Float64Array(3 * nj);
    this.jOriginW = new Float64Array(3 * nj);
    this.dofValues = new Float64Array(ndof);
    // identity pose everywhere until the first fk()
    for (let l = 0; l < linkOrder.length; l++) {
      this.linkPose[12 * l] = 1;
      this.linkPose[12 * l + 4] = 1;
      this.linkPose[12 * l + 8] = 1;
    }
  }

  get numLinks(): number {
    return this.linkNames.length;
  }

  /** index of a link, or throws naming the robot file */
  linkIndex(name: string): number {
    const i = this.linkIdx.get(name);
    if (i === undefined) throw new KinematicsError(`${this.robot.file}: no link named '${name}'`);
    return i;
  }

  hasLink(name: string): boolean {
    return this.linkIdx.has(name);
  }

  /** index of an active joint in q, or -1 */
  activeIndex(name: string): number {
    return this.activeJointNames.indexOf(name);
  }

  /** is `name` a mimic joint (driven by another joint) in this model? */
  isMimic(name: string): boolean {
    return this.dofJointNames.includes(name) && !this.activeJointNames.includes(name);
  }

  /** Expand q (active joints) into the values of every dof joint (mimic joints driven). */
  expand(q: ArrayLike<number>, out: Float64Array = new Float64Array(this.ndof)): Float64Array {
    for (let d = 0; d < this.ndof; d++) out[d] = this.dofMultiplier[d] * q[this.dofSource[d]] + this.dofOffset[d];
    return out;
  }

  /** Forward kinematics of every link for active joint values q; results in linkPose. */
  fk(q: ArrayLike<number>): void {
    if (q.length !== this.nq) throw new KinematicsError(`${this.robot.file}: fk expects ${this.nq} joint values, got ${q.length}`);
    const dv = this.dofValues;
    for (let d = 0; d < this.ndof; d++) dv[d] = this.dofMultiplier[d] * q[this.dofSource[d]] + this.dofOffset[d];
    const P = this.linkPose;
    const oR = this.jOriginR, oT = this.jOriginT, ax = this.jAxis;
    const A = this.tmpR, M = this.tmpM;
    const aw = this.jAxisW, ow = this.jOriginW;
    for (let k = 0; k < this.nj; k++) {
      const pb = 12 * this.jParentLink[k];
      const cb = 12 * this.jChildLink[k];
      const r = 9 * k, t = 3 * k;
      // world origin of the joint: p_parent + R_parent * t_origin
      const tx = oT[t], ty = oT[t + 1], tz = oT[t + 2];
      const ox = P[pb + 9] + P[pb] * tx + P[pb + 1] * ty + P[pb + 2] * tz;
      const oy = P[pb + 10] + P[pb + 3] * tx + P[pb + 4] * ty + P[pb + 5] * tz;
      const oz = P[pb + 11] + P[pb + 6] * tx + P[pb + 7] * ty + P[pb + 8] * tz;
      // A = R_parent * R_origin
      for (let i = 0; i < 3; i++) {
        const p0 = P[pb + 3 * i], p1 = P[pb + 3 * i + 1], p2 = P[pb + 3 * i + 2];
        A[3 * i] = p0 * oR[r] + p1 * oR[r + 3] + p2 * oR[r + 6];
        A[3 * i + 1] = p0 * oR[r + 1] + p1 * oR[r + 4] + p2 * oR[r + 7];
        A[3 * i + 2] = p0 * oR[r + 2] + p1 * oR[r + 5] + p2 * oR[r + 8];
      }
      const type = this.jType[k];
      const a0 = ax[t], a1 = ax[t + 1], a2 = ax[t + 2];
      // world axis = A * axis (a rotation about the axis leaves it unchanged)
      const wx = A[0] * a0 + A[1] * a1 + A[2] * a2;
      const wy = A[3] * a0 + A[4] * a1 + A[5] * a2;
      const wz = A[6] * a0 + A[7] * a1 + A[8] * a2;
      aw[t] = wx; aw[t + 1] = wy; aw[t + 2] = wz;
      ow[t] = ox; ow[t + 1] = oy; ow[t + 2] = oz;
      if (type === T_FIXED) {
        for (let i = 0; i < 9; i++) P[cb + i] = A[i];
        P[cb + 9] = ox; P[cb + 10] = oy; P[cb + 11] = oz;
      } else if (type === T_PRISMATIC) {
        const v = dv[this.jDof[k]];
        for (let i = 0; i < 9; i++) P[cb + i] = A[i];
        P[cb + 9] = ox + wx * v; P[cb + 10] = oy + wy * v; P[cb + 11] = oz + wz * v;
      } else {
        // Rodrigues: Rm = c I + s [a]x + (1 - c) a a^T ; child R = A * Rm
        const th = dv[this.jDof[k]];
        const c = Math.cos(th), s = Math.sin(th), C = 1 - c;
        M[0] = c + C * a0 * a0; M[1] = C * a0 * a1 - s * a2; M[2] = C * a0 * a2 + s * a1;
        M[3] = C * a1 * a0 + s * a2; M[4] = c + C * a1 * a1; M[5] = C * a1 * a2 - s * a0;
        M[6] = C * a2 * a0 - s * a1; M[7] = C * a2 * a1 + s * a0; M[8] = c + C * a2 * a2;
        for (let i = 0; i < 3; i++) {
          const b0 = A[3 * i], b1 = A[3 * i + 1], b2 = A[3 * i + 2];
          P[cb + 3 * i] = b0 * M[0] + b1 * M[3] + b2 * M[6];
          P[cb + 3 * i + 1] = b0 * M[1] + b1 * M[4] + b2 * M[7];
          P[cb + 3 * i + 2] = b0 * M[2] + b1 * M[5] + b2 * M[8];
        }
        P[cb + 9] = ox; P[cb + 10] = oy; P[cb + 11] = oz;
      }
    }
  }

  /** Position of link `link` (index) after fk(), written into out[off..off+2]. */
  position(link: number, out: Float64Array, off = 0): Float64Array {
    const b = 12 * link;
    out[off] = this.linkPose[b + 9];
    out[off + 1] = this.linkPose[b + 10];
    out[off + 2] = this.linkPose[b + 11];
    return out;
  }

  /** 4x4 row-major homogeneous transform of a link after fk() (allocates; for tests and tools). */
  pose(link: number): number[][] {
    const b = 12 * link;
    const P = this.linkPose;
    return [
      [P[b], P[b + 1], P[b + 2], P[b + 9]],
      [P[b + 3], P[b + 4], P[b + 5], P[b + 10]],
      [P[b + 6], P[b + 7], P[b + 8], P[b + 11]],
      [0, 0, 0, 1],
    ];
  }

  /**
   * Jacobian of the position of `link` w.r.t. q at the last fk(): 3 x nq, row-major, into out
   * (length >= 3*nq). Mimic joints contribute multiplier * column to their source's column.
   */
  jacobian(link: number, out: Float64Array): Float64Array {
    const nq = this.nq;
    out.fill(0, 0, 3 * nq);
    const anc = this.ancestors[link];
    const pb = 12 * link;
    const px = this.linkPose[pb + 9], py = this.linkPose[pb + 10], pz = this.linkPose[pb + 11];
    for (let t = 0; t < anc.length; t++) {
      const k = anc[t];
      const d = this.jDof[k];
      const col = this.dofSource[d];
      const m = this.dofMultiplier[d];
      const w = 3 * k;
      const wx = this.jAxisW[w], wy = this.jAxisW[w + 1], wz = this.jAxisW[w + 2];
      if (this.jType[k] === T_PRISMATIC) {
        out[col] += m * wx;
        out[nq + col] += m * wy;
        out[2 * nq + col] += m * wz;
      } else {
        const rx = px - this.jOriginW[w], ry = py - this.jOriginW[w + 1], rz = pz - this.jOriginW[w + 2];
        out[col] += m * (wy * rz - wz * ry);
        out[nq + col] += m * (wz * rx - wx * rz);
        out[2 * nq + col] += m * (wx * ry - wy * rx);
      }
    }
    return out;
  }

  /**
   * out[i] += sum_r J[r][i] * g[r]: the gradient contribution of dL/dp_link = (gx, gy, gz) for the
   * position of `link` at the last fk(). This is what the optimizers use (no Jacobian is formed).
   */
  addJacobianTransposeProduct(link: number, gx: number, gy: number, gz: number, out: Float64Array): void {
    const anc = this.ancestors[link];
    const pb = 12 * link;
    const px = this.linkPose[pb + 9], py = this.linkPose[pb + 10], pz = this.linkPose[pb + 11];
    const AW = this.jAxisW, OW = this.jOriginW;
    for (let t = 0; t < anc.length; t++) {
      const k = anc[t];
      const d = this.jDof[k];
      const w = 3 * k;
      const wx = AW[w], wy = AW[w + 1], wz = AW[w + 2];
      let v: number;
      if (this.jType[k] === T_PRISMATIC) {
        v = wx * gx + wy * gy + wz * gz;
      } else {
        // (w x r) . g = w . (r x g)
        const rx = px - OW[w], ry = py - OW[w + 1], rz = pz - OW[w + 2];
        v = wx * (ry * gz - rz * gy) + wy * (rz * gx - rx * gz) + wz * (rx * gy - ry * gx);
      }
      out[this.dofSource[d]] += this.dofMultiplier[d] * v;
    }
  }

  /** Midpoint of the bounds of each active joint (0 for unbounded joints), as dex-retargeting starts. */
  midpoint(out: Float64Array = new Float64Array(this.nq)): Float64Array {
    for (let i = 0; i < this.nq; i++) {
      const lo = this.lower[i], hi = this.upper[i];
      out[i] = Number.isFinite(lo) && Number.isFinite(hi) ? 0.5 * (lo + hi) : Number.isFinite(lo) ? Math.max(lo, 0) : Number.isFinite(hi) ? Math.min(hi, 0) : 0;
    }
    return out;
  }
}
