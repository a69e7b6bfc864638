/**
 * The SAM 2 memory bank of one object, and the memory_attention inputs built from it (pure).
 *
 * What SAM2Base._prepare_memory_conditioned_features selects for frame t (times are processed
 * frame indices of the clip):
 * - spatial memories: every conditioning frame (a frame with a prompt), temporal code index
 *   NUM_MASKMEM - 1 = 6; then the non-conditioning frames t-6 .. t-1 that exist (oldest first),
 *   temporal code index t_rel - 1 (t_rel = frames back);
 * - object pointers: the conditioning frame's, at temporal position t - t_cond, then those of
 *   t-1, t-2, ... up to MAX_OBJ_PTRS in all, at positions 1, 2, ...
 *
 * The DeepStream memory_attention graph computes the pointers' temporal encoding itself from
 * `cond_frame_id_diff` and the pointers' order ([cond_frame_id_diff, 1, 2, ..., N-1]), so memory_0
 * must hold exactly one conditioning pointer followed by consecutive previous frames: the
 * pointer list stops at the first frame that has no non-conditioning memory.
 */
import { FEAT_TOKENS, HIDDEN_DIM, MAX_OBJ_PTRS, MEM_DIM, NUM_MASKMEM, PTR_TOKENS } from './contract.js';

export interface MemoryEntry {
  /** processed frame index */
  t: number;
  /** maskmem_features, MEM_DIM x 64 x 64 (null once the entry is too old for spatial memory) */
  features: Float32Array | null;
  /** maskmem_pos_enc, 4096 x MEM_DIM */
  posEnc: Float32Array | null;
  /** object pointer, HIDDEN_DIM */
  objPtr: Float32Array;
  /** the object was present (object score above threshold) on this frame */
  present: boolean;
}

export interface MemoryBankOptions {
  /** spatial non-conditioning memories kept (num_maskmem - 1 = 6) */
  maxNonCond?: number;
  /** object pointers used (max_obj_ptrs_in_encoder = 16, the conditioning one included) */
  maxPointers?: number;
  /** conditioning frames kept (the most recent ones); SAM 2 keeps all (-1), this bounds memory */
  maxCond?: number;
}

export interface MemorySelection {
  /** spatial memories in memory_1 order, with their temporal code index */
  spatial: Array<{ entry: MemoryEntry; tpos: number; kind: 'cond' | 'non_cond' }>;
  /** pointers in memory_0 order, with their temporal distance to t */
  pointers: Array<{ entry: MemoryEntry; tdiff: number }>;
  /** t minus the conditioning frame of pointer 0 */
  condFrameIdDiff: number;
}

export interface MemoryInputs {
  /** [1, N, 256] */
  memory0: Float32Array;
  /** [1, M, 64, 64, 64] */
  memory1: Float32Array;
  /** [1, M*4096 + 4N, 64] */
  memoryPosEmbed: Float32Array;
  condFrameIdDiff: number;
  numPointers: number;
  numMemories: number;
}

export class MemoryBank {
  readonly maxNonCond: number;
  readonly maxPointers: number;
  readonly maxCond: number;
  /** conditioning frames, ascending t */
  readonly cond: MemoryEntry[] = [];
  /** non-conditioning frames, ascending t (pointers kept for maxPointers - 1 frames, features for maxNonCond) */
  readonly nonCond: MemoryEntry[] = [];

  constructor(opts: MemoryBankOptions = {}) {
    this.maxNonCond = opts.maxNonCond ?? NUM_MASKMEM - 1;
    this.maxPointers = opts.maxPointers ?? MAX_OBJ_PTRS;
    this.maxCond = opts.maxCond ?? 4;
  }

  get size(): number {
    return this.cond.length + this.nonCond.length;
  }

  /** Latest frame with an entry. */
  get lastT(): number {
    const a = this.cond.length ? this.cond[this.cond.length - 1].t : -Infinity;
    const b = this.nonCond.length ? this.nonCond[this.nonCond.length - 1].t : -Infinity;
    return Math.max(a, b);
  }

  /** Store the memory of a prompted frame (replaces a non-conditioning entry of the same frame). */
  addCond(e: MemoryEntry): void {
    this.removeAt(e.t);
    this.cond.push(e);
    this.cond.sort((a, b) => a.t - b.t);
    while (this.maxCond > 0 && this.cond.length > this.maxCond) this.cond.shift();
  }

  /** Store the memory of a tracked frame. */
  addNonCond(e: MemoryEntry): void {
    this.removeAt(e.t);
    this.nonCond.push(e);
    this.nonCond.sort((a, b) => a.t - b.t);
    this.prune(e.t);
  }

  private removeAt(t: number): void {
    for (const list of [this.cond, this.nonCond]) {
      const i = list.findIndex((x) => x.t === t);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** Drop what frame `now` and later can no longer use. */
  private prune(now: number): void {
    const ptrHorizon = now - (this.maxPointers - 1) + 1; // frames >= this can still be t-1..t-15 of a later frame
    while (this.nonCond.length && this.nonCond[0].t < ptrHorizon) this.nonCond.shift();
    const featHorizon = now - this.maxNonCond + 1;
    for (const e of this.nonCond) {
      if (e.t < featHorizon) {
        e.features = null;
        e.posEnc = null;
      }
    }
  }

  /** What memory attention gets at frame t (see the file comment). */
  select(t: number): MemorySelection {
    const spatial: MemorySelection['spatial'] = [];
    const conds = this.cond.filter((e) => e.t <= t);
    for (const e of conds) if (e.features) spatial.push({ entry: e, tpos: NUM_MASKMEM - 1, kind: 'cond' });
    for (let tRel = this.maxNonCond; tRel >= 1; tRel--) {
      const e = this.nonCond.find((x) => x.t === t - tRel);
      if (e?.features) spatial.push({ entry: e, tpos: tRel - 1, kind: 'non_cond' });
    }
    const pointers: MemorySelection['pointers'] = [];
    let condFrameIdDiff = 0;
    const lastCond = conds[conds.length - 1];
    if (lastCond) {
      pointers.push({ entry: lastCond, tdiff: t - lastCond.t });
      condFrameIdDiff = t - lastCond.t;
    }
    for (let d = 1; pointers.length < this.maxPointers; d++) {
      const e = this.nonCond.find((x) => x.t === t - d);
      if (!e) break; // the graph assumes consecutive frames after the conditioning pointer
      pointers.push({ entry: e, tdiff: d });
    }
    return { spatial, pointers, condFrameIdDiff };
  }
}

/**
 * memory_attention inputs from a selection: memory_0 = pointers; memory_1 = spatial features;
 * memory_pos_embed = per spatial memory its maskmem_pos_enc plus temporal_code[tpos] (broadcast
 * over the 4096 tokens), then 4 zero rows per pointer (the graph writes the pointers' temporal
 * encoding there).
 */
export function buildMemoryInputs(sel: MemorySelection, temporalCode: Float32Array): MemoryInputs {
  const N = sel.pointers.length;
  const M = sel.spatial.length;
  if (!N || !M) throw new Error(`memory attention needs at least one pointer and one spatial memory (have ${N} and ${M})`);
  if (temporalCode.length < NUM_MASKMEM * MEM_DIM) throw new RangeError(`temporal_code must hold ${NUM_MASKMEM}x${MEM_DIM} values, has ${temporalCode.length}`);
  const memory0 = new Float32Array(N * HIDDEN_DIM);
  sel.pointers.forEach((p, i) => memory0.set(p.entry.objPtr.subarray(0, HIDDEN_DIM), i * HIDDEN_DIM));
  const per = MEM_DIM * FEAT_TOKENS;
  const memory1 = new Float32Array(M * per);
  const memoryPosEmbed = new Float32Array((M * FEAT_TOKENS + PTR_TOKENS * N) * MEM_DIM);
  sel.spatial.forEach((s, i) => {
    memory1.set(s.entry.features!.subarray(0, per), i * per);
    const pos = s.entry.posEnc!;
    const code = temporalCode.subarray(s.tpos * MEM_DIM, (s.tpos + 1) * MEM_DIM);
    const base = i * FEAT_TOKENS * MEM_DIM;
    for (let k = 0; k < FEAT_TOKENS; k++) {
      const o = base + k * MEM_DIM;
      const po = k * MEM_DIM;
      for (let c = 0; c < MEM_DIM; c++) memoryPosEmbed[o + c] = pos[po + c] + code[c];
    }
  });
  return { memory0, memory1, memoryPosEmbed, condFrameIdDiff: sel.condFrameIdDiff, numPointers: N, numMemories: M };
}
