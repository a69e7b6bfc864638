/**
 * FoundationPose model-based pose estimation for one object in one RGB-D frame:
 *
 *   1. translation from the mask + depth (hypotheses.ts), 252 rotations (icosphere x in-plane)
 *   2. `refine_iterations` times: render every hypothesis into its 160x160 crop (crop ratio 1.2),
 *      crop the observation with the same window, run the refiner, apply its deltas (update.ts)
 *   3. render / crop all refined hypotheses again (crop ratio 1.1), score them all in one scorer
 *      call, keep the best
 *
 * The mesh is centred on its bounding-box centre for all of this (as FoundationPose and Isaac ROS
 * do); the returned pose is for the mesh as loaded.
 */
import { CHANNELS, CROP_SIZE, MIN_DEPTH, REFINE_CROP_RATIO, SCORE_CROP_RATIO, cropWindow, normalizeXyz, packRendered, warpDepthToXyzNearest, warpRgbBilinear, type DepthImage, type RgbImage } from './crop.js';
import { guessTranslation, makeHypotheses, rotationGrid, type TranslationGuess } from './hypotheses.js';
import type { Intrinsics, Mat3, Pose } from './math.js';
import { centerMesh, meshDiameter, type Mesh } from './mesh.js';
import type { FoundationPoseModels } from './model.js';
import { CropRenderer, allocRenderBuffers, type RenderBuffers, type RenderOptions } from './render.js';
import { ROT_NORMALIZER, applyRefinerBatch, bestIndex, uncenterPose } from './update.js';

export interface ObjectModel {
  label: string;
  /** the mesh centred on its bounding-box centre */
  mesh: Mesh;
  /** bounding-box centre of the mesh as loaded */
  center: [number, number, number];
  diameter: number;
  renderer: CropRenderer;
}

export function prepareObject(label: string, mesh: Mesh, render: Partial<RenderOptions> = {}): ObjectModel {
  const { mesh: centred, center } = centerMesh(mesh);
  const diameter = meshDiameter(centred);
  if (!(diameter > 0)) throw new RangeError(`mesh for "${label}" has zero size`);
  return { label, mesh: centred, center, diameter, renderer: new CropRenderer(centred, { width: CROP_SIZE, height: CROP_SIZE, ...render }) };
}

export interface Observation {
  rgb: RgbImage;
  /** same pixel grid as rgb */
  depth: DepthImage;
  K: Intrinsics;
}

export interface EstimateOptions {
  refineIterations: number;
  /** pairs per refiner call */
  refineBatch: number;
  /** hypothesis rotations (object -> camera); default: the 252-rotation grid */
  rotations?: Mat3[];
  refineCropRatio?: number;
  scoreCropRatio?: number;
  minDepth?: number;
  rotNormalizer?: number;
}

/** Reusable buffers (sized on first use). */
export class Workspace {
  rendered = new Float32Array(0);
  observed = new Float32Array(0);
  render: RenderBuffers = allocRenderBuffers(CROP_SIZE, CROP_SIZE, 1);
  ensure(pairs: number): void {
    const n = pairs * CROP_SIZE * CROP_SIZE * CHANNELS;
    if (this.rendered.length < n) {
      this.rendered = new Float32Array(n);
      this.observed = new Float32Array(n);
    }
  }
}

export interface PoseEstimate {
  /** pose of the mesh as loaded (object -> camera) */
  pose: Pose;
  /** pose of the centred mesh */
  poseCentered: Pose;
  score: number;
  best: number;
  hypotheses: number;
  /** every refined hypothesis (centred mesh) and its score, in grid order */
  candidates: Pose[];
  scores: Float32Array;
  guess: TranslationGuess;
  ms: { render: number; refine: number; score: number };
}

export type EstimateResult = PoseEstimate | { skip: 'empty_mask' | 'no_depth_in_mask' };

let defaultGrid: Mat3[] | null = null;
function defaultRotations(): Mat3[] {
  defaultGrid ??= rotationGrid();
  return defaultGrid;
}

/**
 * Fill pair slots [0, poses.length) of the workspace with rendered / observed crops. Returns a
 * flag per pose: false when its window could not be made (object behind the camera).
 */
export function fillPairs(obj: ObjectModel, obs: Observation, poses: readonly Pose[], cropRatio: number, ws: Workspace, minDepth = MIN_DEPTH): boolean[] {
  ws.ensure(poses.length);
  const S = CROP_SIZE;
  const px = S * S;
  const per = px * CHANNELS;
  const ok: boolean[] = [];
  // the observed crop depends only on t (window and normalisation): hypotheses sharing t (all of
  // them before the first refinement) reuse the previous slot's crop
  let prevT: readonly number[] | null = null;
  let prevOff = -1;
  for (let i = 0; i < poses.length; i++) {
    const p = poses[i];
    const off = i * per;
    let win;
    try {
      win = cropWindow(p.t, obs.K, obj.diameter, cropRatio, S);
    } catch {
      ws.rendered.fill(0, off, off + per);
      ws.observed.fill(0, off, off + per);
      ok.push(false);
      continue;
    }
    obj.renderer.render(p, obs.K, win, ws.render, 0);
    packRendered(ws.render.rgb, ws.render.xyz, 0, S, ws.rendered, i);
    normalizeXyz(ws.rendered, px, p.t, obj.diameter, off + 3, CHANNELS, minDepth);
    if (prevT && prevT[0] === p.t[0] && prevT[1] === p.t[1] && prevT[2] === p.t[2]) {
      ws.observed.copyWithin(off, prevOff, prevOff + per);
    } else {
      warpRgbBilinear(obs.rgb, win, S, ws.observed, off, CHANNELS);
      warpDepthToXyzNearest(obs.depth, obs.K, win, S, ws.observed, off + 3, CHANNELS, minDepth);
      normalizeXyz(ws.observed, px, p.t, obj.diameter, off + 3, CHANNELS, minDepth);
    }
    prevT = p.t;
    prevOff = off;
    ok.push(true);
  }
  return ok;
}

/** Refine `poses` (centred mesh) `iterations` times. */
export async function refinePoses(obj: ObjectModel, obs: Observation, poses: Pose[], models: FoundationPoseModels, opts: EstimateOptions, ws: Workspace, ms = { render: 0, refine: 0 }): Promise<Pose[]> {
  const batch = Math.max(1, Math.floor(opts.refineBatch));
  let cur = poses;
  for (let it = 0; it < opts.refineIterations; it++) {
    const next: Pose[] = [];
    for (let b = 0; b < cur.length; b += batch) {
      const chunk = cur.slice(b, b + batch);
      const t0 = performance.now();
      const ok = fillPairs(obj, obs, chunk, opts.refineCropRatio ?? REFINE_CROP_RATIO, ws, opts.minDepth);
      const t1 = performance.now();
      const { trans, rot } = await models.refine(ws.rendered, ws.observed, chunk.length);
      ms.render += t1 - t0;
      ms.refine += performance.now() - t1;
      const upd = applyRefinerBatch(chunk, trans, rot, obj.diameter, opts.rotNormalizer ?? ROT_NORMALIZER);
      // a pose whose window failed keeps its value (it will score -inf)
      next.push(...upd.map((p, i) => (ok[i] ? p : chunk[i])));
    }
    cur = next;
  }
  return cur;
}

/** Score all poses in one scorer call; invalid ones get -Infinity. */
export async function scorePoses(obj: ObjectModel, obs: Observation, poses: Pose[], models: FoundationPoseModels, opts: EstimateOptions, ws: Workspace, ms = { render: 0, score: 0 }): Promise<Float32Array> {
  const t0 = performance.now();
  const ok = fillPairs(obj, obs, poses, opts.scoreCropRatio ?? SCORE_CROP_RATIO, ws, opts.minDepth);
  const t1 = performance.now();
  const raw = await models.score(ws.rendered, ws.observed, poses.length);
  ms.render += t1 - t0;
  ms.score += performance.now() - t1;
  const scores = Float32Array.from(raw);
  ok.forEach((v, i) => {
    if (!v) scores[i] = -Infinity;
  });
  return scores;
}

/** The full estimate for one object: hypotheses, refinement, scoring, best pose. */
export async function estimatePose(obj: ObjectModel, obs: Observation, mask: Uint8Array, models: FoundationPoseModels, opts: EstimateOptions, ws = new Workspace()): Promise<EstimateResult> {
  const { width, height } = obs.rgb;
  if (obs.depth.width !== width || obs.depth.height !== height) throw new RangeError('depth and rgb must share the pixel grid');
  let any = false;
  for (let i = 0; i < mask.length && !any; i++) any = mask[i] !== 0;
  if (!any) return { skip: 'empty_mask' };
  const guess = guessTranslation(mask, obs.depth.data, width, height, obs.K, opts.minDepth ?? MIN_DEPTH);
  if (!guess) return { skip: 'no_depth_in_mask' };
  const rotations = opts.rotations ?? defaultRotations();
  const hyps = makeHypotheses(rotations, guess.t);
  const ms = { render: 0, refine: 0, score: 0 };
  const refined = await refinePoses(obj, obs, hyps, models, opts, ws, ms);
  const scores = await scorePoses(obj, obs, refined, models, opts, ws, ms);
  const best = bestIndex(scores);
  if (best < 0) return { skip: 'no_depth_in_mask' };
  const poseCentered = refined[best];
  return {
    pose: uncenterPose(poseCentered, obj.center),
    poseCentered,
    score: scores[best],
    best,
    hypotheses: hyps.length,
    candidates: refined,
    scores,
    guess,
    ms,
  };
}
