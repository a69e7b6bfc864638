import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTool } from '../../src/ffmpeg.js';
import { OnnxGraph, f32 } from '../../src/onnx/writer.js';
import { encodeMask } from '../../src/rle.js';
import { CHANNELS, CROP_SIZE } from '../../operators/object_pose/crop.js';
import { Workspace, estimatePose, fillPairs, prepareObject } from '../../operators/object_pose/estimate.js';
import { rotationGrid } from '../../operators/object_pose/hypotheses.js';
import { DEFAULT_PARAMS, createState, op, resolveParams, type ObjectPoseState } from '../../operators/object_pose/index.js';
import { mul3, rotationDistance, type Pose } from '../../operators/object_pose/math.js';
import { loadObj } from '../../operators/object_pose/mesh.js';
import { FoundationPoseContractError, FoundationPoseWeightsError, loadFoundationPose, type FoundationPoseModels } from '../../operators/object_pose/model.js';
import { tinyScoreReference, writeTinyFoundationPose } from '../../operators/object_pose/tiny.js';
import { deltaRotation } from '../../operators/object_pose/update.js';
import { isPermanent, type ClipInfo, type TaskInput } from '../../operators/types.js';
import { GRID_INDEX, H, K, W, renderScene, sceneMesh, toObj, truePose } from './scene.js';

const DEG = Math.PI / 180;
let dir: string;
let refiner: string;
let scorer: string;
let meshFile: string;
let models: FoundationPoseModels;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'egopipe-objpose-'));
  [refiner, scorer] = writeTinyFoundationPose(dir);
  meshFile = path.join(dir, 'box.obj');
  writeFileSync(meshFile, toObj(sceneMesh()));
  models = await loadFoundationPose(refiner, scorer, { threads: 1 });
});

afterAll(async () => {
  await models?.release();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('object_pose refuses to run without weights', () => {
  const clip: ClipInfo = { clip_id: 'c0', video_id: 'v', scene_index: 0, start_frame: 0, end_frame: 3, start_s: 0, end_s: 0.3, overlap_prev_frames: 0 };
  const task = (params: Record<string, unknown>): TaskInput => ({
    op: 'object_pose',
    video: { video_id: 'v', path: '/nonexistent.mp4', fps: 10, frame_count: 3, width: W, height: H, rotation: 0, vfr: false, duration_s: 0.3 },
    clip,
    params,
    upstream: {},
    attempt: 1,
    tools: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
  });

  it('validate, resolveModels, setup and run all refuse with a clear, permanent error', async () => {
    const missing = path.join(tmpdir(), 'definitely-missing-refine_model.onnx');
    for (const params of [{ meshes: { box: meshFile } }, { meshes: { box: meshFile }, refiner_model: missing, scorer_model: scorer }, { meshes: { box: meshFile }, refiner_model: refiner }]) {
      const errs = op.validate!(params);
      expect(errs.length).toBeGreaterThanOrEqual(1);
      expect(errs.join('\n')).toMatch(/refiner_model|scorer_model/);
      const resolved = await op.resolveModels!(params).then(
        () => null,
        (e: Error) => e,
      );
      expect(resolved).toBeInstanceOf(FoundationPoseWeightsError);
      expect(isPermanent(resolved)).toBe(true);
      expect(resolved!.message).toMatch(/refine_model\.onnx/);
      expect(resolved!.message).toMatch(/never produces poses without real weights/);
      await expect(Promise.resolve().then(() => op.setup!(params))).rejects.toThrow(FoundationPoseWeightsError);
      const err = await op.run(task(params), { state: undefined as never }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(FoundationPoseWeightsError);
      expect(isPermanent(err)).toBe(true);
    }
  });

  it('checks meshes: required, readable', async () => {
    expect(op.validate!({ refiner_model: refiner, scorer_model: scorer })).toEqual([expect.stringMatching(/meshes/)]);
    expect(op.validate!({ meshes: {}, refiner_model: refiner, scorer_model: scorer })[0]).toMatch(/at least one/);
    expect(op.validate!({ meshes: { box: meshFile }, refiner_model: refiner, scorer_model: scorer })).toEqual([]);
    const bad = await op.resolveModels!({ meshes: { box: path.join(dir, 'nope.obj') }, refiner_model: refiner, scorer_model: scorer }).then(
      () => null,
      (e: Error) => e,
    );
    expect(isPermanent(bad)).toBe(true);
    expect(bad!.message).toMatch(/meshes\.box/);
    const ok = await op.resolveModels!({ meshes: { box: meshFile }, refiner_model: refiner, scorer_model: scorer });
    expect(ok.files.map((f) => f.name)).toEqual(['foundationpose_refiner', 'foundationpose_scorer', 'mesh:box']);
    expect(path.isAbsolute(ok.params.meshes!.box)).toBe(true);
  });

  it('declares its contract', () => {
    expect(op.name).toBe('object_pose');
    expect(op.level).toBe('clip');
    expect(op.resources.pool).toBe('gpu');
    expect(op.outputs[0].name).toBe('object_poses');
    expect(op.outputs[0].columns).toEqual({ clip_id: 'VARCHAR', frame: 'INTEGER', object_id: 'VARCHAR', label: 'VARCHAR', R: 'FLOAT[9]', t: 'FLOAT[3]', score: 'FLOAT' });
    expect(resolveParams({}).refine_iterations).toBe(DEFAULT_PARAMS.refine_iterations);
  });
});

describe('ONNX contract', () => {
  it('the tiny models have the Isaac ROS names, dtypes and ranks', () => {
    for (const s of [models.refiner, models.scorer]) {
      expect(s.inputNames).toEqual(['input1', 'input2']);
      for (const m of s.inputMetadata) expect(m.isTensor && m.shape).toEqual(['batch', CROP_SIZE, CROP_SIZE, CHANNELS]);
    }
    expect(models.refiner.outputNames).toEqual(['output1', 'output2']);
    expect(models.scorer.outputNames).toEqual(['output1']);
    const shapes = Object.fromEntries(models.scorer.outputMetadata.map((m) => [m.name, m.isTensor ? m.shape : null]));
    expect(shapes.output1).toEqual(['batch', 1]);
  });

  it('tiny scorer = -mean |input1 - input2|; tiny refiner = its constants', async () => {
    const per = CROP_SIZE * CROP_SIZE * CHANNELS;
    const a = new Float32Array(3 * per).map((_, i) => Math.sin(i));
    const b = new Float32Array(3 * per).map((_, i) => Math.cos(i * 0.5) * (i < per ? 0 : 1));
    const s = await models.score(a, b, 3);
    for (let i = 0; i < 3; i++) expect(s[i]).toBeCloseTo(tinyScoreReference(a, b, i), 5);
    const r = await models.refine(a, b, 2);
    expect(Array.from(r.trans)).toEqual([0, 0, 0, 0, 0, 0]);
    const [rf] = writeTinyFoundationPose(path.join(dir, 'k'), { trans: [1, 2, 3], rot: [0.5, 0, -0.5] });
    const m2 = await loadFoundationPose(rf, scorer, { threads: 1 });
    const r2 = await m2.refine(a, b, 2);
    expect(Array.from(r2.trans)).toEqual([1, 2, 3, 1, 2, 3]);
    expect(Array.from(r2.rot)).toEqual([0.5, 0, -0.5, 0.5, 0, -0.5]);
    await m2.release();
  });

  it('rejects a model with other names or shapes, listing the problems', async () => {
    const g = new OnnxGraph('wrong')
      .input('image', 'float32', ['b', 6, 160, 160])
      .initializer('k', f32([1]), [1])
      .node('Mul', ['image', 'k'], ['score'])
      .output('score', 'float32', ['b', 6, 160, 160]);
    const p = path.join(dir, 'wrong.onnx');
    writeFileSync(p, g.toBytes());
    const err = await loadFoundationPose(refiner, p).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(FoundationPoseContractError);
    expect(err!.message).toMatch(/input 'input1' is missing/);
    expect(err!.message).toMatch(/output 'output1' is missing/);
    expect(err!.message).toMatch(/scorer/);
  });
});

describe('end to end with the tiny models on a synthetic RGB-D scene', () => {
  const mesh = sceneMesh();
  const truth = truePose();
  const scene = renderScene(mesh, truth);
  const obs = { rgb: { width: W, height: H, data: scene.rgb }, depth: { width: W, height: H, data: scene.depth }, K };

  it('the best-scoring hypothesis is the grid rotation nearest to the true rotation', async () => {
    const obj = prepareObject('box', loadObj(meshFile));
    const grid = rotationGrid();
    const nearest = grid.map((R) => rotationDistance(R, truth.R)).reduce((bi, d, i, a) => (d < a[bi] ? i : bi), 0);
    expect(nearest).toBe(GRID_INDEX);
    const r = await estimatePose(obj, obs, scene.mask, models, { refineIterations: 1, refineBatch: 42 }, new Workspace());
    if ('skip' in r) throw new Error(`skipped: ${r.skip}`);
    expect(r.hypotheses).toBe(252);
    expect(r.best).toBe(GRID_INDEX);
    expect(rotationDistance(r.pose.R, truth.R)).toBeLessThan(5 * DEG);
    // translation: the initial guess (mask centre at the median depth), mapped back to the uncentred mesh
    const err = Math.hypot(r.pose.t[0] - truth.t[0], r.pose.t[1] - truth.t[1], r.pose.t[2] - truth.t[2]);
    expect(err).toBeLessThan(0.04);
    // scores are the tiny scorer's: -mean |rendered - observed| of the score crops
    const ws = new Workspace();
    fillPairs(obj, obs, [r.candidates[r.best]], 1.1, ws);
    expect(r.score).toBeCloseTo(tinyScoreReference(ws.rendered, ws.observed, 0), 5);
    // the winner beats the runner-up clearly
    const sorted = Array.from(r.scores).sort((a, b) => b - a);
    expect(sorted[0] - sorted[1]).toBeGreaterThan(1e-3);
  });

  it('refiner outputs are applied every iteration (constant tiny deltas)', async () => {
    const [rf] = writeTinyFoundationPose(path.join(dir, 'delta'), { trans: [0, 0, 0.2], rot: [0, 0, 0.3] });
    const m = await loadFoundationPose(rf, scorer, { threads: 1 });
    try {
      const obj = prepareObject('box', loadObj(meshFile));
      const rots = rotationGrid().slice(0, 12);
      const r = await estimatePose(obj, obs, scene.mask, m, { refineIterations: 2, refineBatch: 5, rotations: rots });
      if ('skip' in r) throw new Error(r.skip);
      const d = deltaRotation([0, 0, 0.3]);
      r.candidates.forEach((p: Pose, i) => {
        const want = mul3(d, mul3(d, rots[i]));
        expect(rotationDistance(p.R, want)).toBeLessThan(1e-6);
        expect(p.t[2] - r.guess.t[2]).toBeCloseTo(2 * 0.2 * (obj.diameter / 2), 6);
      });
    } finally {
      await m.release();
    }
  });

  it('op.run: decodes the clip, reads masks + depth rows, skips labels without a mesh and frames without depth', async () => {
    // a 3-frame lossless video of the scene
    const video = path.join(dir, 'scene.mkv');
    const raw = Buffer.concat([scene.rgb, scene.rgb, scene.rgb].map((b) => Buffer.from(b)));
    const enc = spawnSync(resolveTool('ffmpeg').path, ['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', '10', '-i', 'pipe:0', '-c:v', 'ffv1', '-y', video], { input: raw });
    expect(enc.status, enc.stderr?.toString()).toBe(0);
    const rle = encodeMask(scene.mask, H, W);
    const maskRow = (frame: number, object_id: number, label: string) => ({ clip_id: 'c0', frame, object_id, label, bbox: [0, 0, 1, 1], rle_counts: rle.counts, height: H, width: W });
    // frame 2: depth at half resolution with its own intrinsics
    const half = new Float32Array((W / 2) * (H / 2));
    for (let y = 0; y < H / 2; y++) for (let x = 0; x < W / 2; x++) half[y * (W / 2) + x] = scene.depth[(2 * y) * W + 2 * x];
    const depthRows = [
      { clip_id: 'c0', frame: 0, fx: K.fx, fy: K.fy, cx: K.cx, cy: K.cy, width: W, height: H, depth: Array.from(scene.depth) },
      { clip_id: 'c0', frame: 2, fx: K.fx / 2, fy: K.fy / 2, cx: (K.cx + 0.5) / 2 - 0.5, cy: (K.cy + 0.5) / 2 - 0.5, width: W / 2, height: H / 2, depth: Array.from(half) },
    ];
    const params = { meshes: { box: meshFile }, refiner_model: refiner, scorer_model: scorer, refine_iterations: 1, threads: 1 };
    const resolved = (await op.resolveModels!(params)).params;
    const state: ObjectPoseState = await createState(resolved);
    try {
      const ff = resolveTool('ffmpeg').path;
      const out = await op.run(
        {
          op: 'object_pose',
          video: { video_id: 'v', path: video, fps: 10, frame_count: 3, width: W, height: H, rotation: 0, vfr: false, duration_s: 0.3 },
          clip: { clip_id: 'c0', video_id: 'v', scene_index: 0, start_frame: 0, end_frame: 3, start_s: 0, end_s: 0.3, overlap_prev_frames: 0 },
          params: resolved,
          upstream: { masks: [maskRow(0, 1, 'box'), maskRow(1, 1, 'box'), maskRow(1, 2, 'ghost'), maskRow(2, 1, 'box'), { ...maskRow(0, 3, 'box'), clip_id: 'other' }], depth: depthRows },
          attempt: 1,
          tools: { ffmpeg: ff, ffprobe: ff },
        },
        { state },
      );
      const rows = out.rows.object_poses;
      expect(rows.map((r) => [r.frame, r.object_id, r.label])).toEqual([[0, '1', 'box'], [2, '1', 'box']]);
      for (const r of rows) {
        expect(r.clip_id).toBe('c0');
        expect((r.R as number[]).length).toBe(9);
        expect((r.t as number[]).length).toBe(3);
        expect(rotationDistance(r.R as number[], truth.R)).toBeLessThan(5 * DEG);
        expect(Math.hypot(...(r.t as number[]).map((v, i) => v - truth.t[i]))).toBeLessThan(0.04);
        expect(typeof r.score).toBe('number');
      }
      expect(out.stats).toMatchObject({ masks_in: 4, poses_out: 2, skipped_no_mesh: 1, 'skipped_no_mesh.ghost': 1, skipped_no_depth: 1, frames: 2 });
    } finally {
      await state.models.release();
    }
  });
});
