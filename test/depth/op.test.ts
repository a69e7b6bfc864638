import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTool } from '../../src/ffmpeg.js';
import { makeCutVideo } from '../../src/fixtures.js';
import { OnnxGraph, f32 } from '../../src/onnx/writer.js';
import { DEPTH_TABLE, DepthConfigError, estimateDepth, op, type FrameLike } from '../../operators/depth/index.js';
import { decodeDepthRow } from '../../operators/depth/map.js';
import { DepthContractError, DepthWeightsError, loadDepthModel, type DepthModel, type MogeModel } from '../../operators/depth/model.js';
import { TINY_MOGE, tinyDepthAnythingDepth, tinyMogeDepth, writeTinyDepthAnything, writeTinyMoge } from '../../operators/depth/tiny.js';
import { isPermanent, type ClipInfo, type TaskInput } from '../../operators/types.js';

let dir: string;
let mogePath: string;
let daPath: string;
let moge: DepthModel;
let da: DepthModel;

const GREY = 100;

function frames(n: number, w: number, h: number, step = 1): FrameLike[] {
  return Array.from({ length: n }, (_, i) => ({ index: i * step, width: w, height: h, data: new Uint8Array(w * h * 3).fill(GREY) }));
}

function daInputMean(v: number): number {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  return mean.reduce((s, m, c) => s + (v / 255 - m) / std[c], 0) / 3;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'egopipe-depth-'));
  mogePath = writeTinyMoge(dir);
  daPath = writeTinyDepthAnything(dir);
  moge = await loadDepthModel(mogePath, { threads: 1, backend: 'moge2' });
  da = await loadDepthModel(daPath, { threads: 1, backend: 'depth_anything_v2' });
});

afterAll(async () => {
  await moge?.release();
  await da?.release();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('depth refuses to run without weights', () => {
  const clip: ClipInfo = { clip_id: 'c1', video_id: 'v1', scene_index: 0, start_frame: 0, end_frame: 4, start_s: 0, end_s: 0.4, overlap_prev_frames: 0 };
  const task = (params: Record<string, unknown>): TaskInput => ({
    op: 'depth',
    video: { video_id: 'v1', path: '/nonexistent.mp4', fps: 10, frame_count: 4, width: 64, height: 48, rotation: 0, vfr: false, duration_s: 0.4 },
    clip,
    params,
    upstream: {},
    attempt: 1,
    tools: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
  });

  it('validate() reports it; resolveModels, setup() and run() throw a permanent error that says where to get weights', async () => {
    for (const params of [{}, { model: '' }, { model: path.join(tmpdir(), 'no-such-depth-model.onnx') }]) {
      const errs = op.validate!(params);
      expect(errs.length).toBeGreaterThanOrEqual(1);
      expect(errs.join('\n')).toMatch(/model/);
      await expect(op.resolveModels!(params)).rejects.toThrow(DepthWeightsError);
      await expect(Promise.resolve().then(() => op.setup!(params))).rejects.toThrow(DepthWeightsError);
      const err = await op.run(task(params), { state: undefined as never }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(DepthWeightsError);
      expect(isPermanent(err)).toBe(true);
      expect(err!.message).toMatch(/never produces output without real weights/);
      expect(err!.message).toMatch(/moge-2-vits-normal-onnx/);
    }
  });

  it('validate() checks the intrinsics options', () => {
    expect(op.validate!({ model: mogePath })).toEqual([]);
    expect(op.validate!({ model: daPath, backend: 'depth_anything_v2' }).join()).toMatch(/depth only/);
    expect(op.validate!({ model: daPath, backend: 'depth_anything_v2', hfov_deg: 90 })).toEqual([]);
    expect(op.validate!({ model: daPath, backend: 'depth_anything_v2', intrinsics_model: mogePath })).toEqual([]);
    expect(op.validate!({ model: mogePath, fy: 500 }).join()).toMatch(/without fx/);
    expect(op.validate!({ model: mogePath, fx: 500, hfov_deg: 60 }).join()).toMatch(/either/);
  });

  it('declares its contract', () => {
    expect(op.level).toBe('clip');
    expect(op.resources.pool).toBe('gpu');
    expect(DEPTH_TABLE.columns.depth_png).toBe('VARCHAR');
    expect(Object.keys(DEPTH_TABLE.columns)).toEqual(expect.arrayContaining(['clip_id', 'frame', 'fx', 'fy', 'cx', 'cy', 'scale_source', 'width', 'height']));
  });
});

describe('ONNX contracts (tiny models with the real names)', () => {
  it('tiny MoGe-2 has the official export names and a dynamic size', () => {
    const m = moge as MogeModel;
    expect(m.kind).toBe('moge2');
    expect(m.hasNumTokens).toBe(true);
    expect(m.staticHeight).toBeNull();
    expect(m.session.inputNames).toEqual(['image', 'num_tokens']);
    expect([...m.session.outputNames].sort()).toEqual(['mask', 'metric_scale', 'normal', 'points']);
  });

  it('a Depth Anything file loaded as MoGe, or a MoGe without metric_scale, is refused with every problem listed', async () => {
    const err = await loadDepthModel(daPath, { backend: 'moge2' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(DepthContractError);
    expect(err!.message).toMatch(/input 'image' is missing/);
    expect(err!.message).toMatch(/output 'points' is missing/);
    expect(err!.message).toMatch(/metric_scale/);
    // MoGe-1 style: points + mask, no metric scale
    const g = new OnnxGraph('moge1_like');
    g.input('image', 'float32', ['b', 3, 'h', 'w']);
    g.initializer('z', f32([0]), []);
    g.node('Transpose', ['image'], ['points'], { perm: [0, 2, 3, 1] });
    g.node('ReduceMean', ['image'], ['mask'], { axes: [1], keepdims: 0 });
    g.output('points', 'float32', ['b', 'h', 'w', 3]).output('mask', 'float32', ['b', 'h', 'w']);
    const file = path.join(dir, 'moge1.onnx');
    (await import('node:fs')).writeFileSync(file, g.toBytes());
    await expect(loadDepthModel(file, { backend: 'moge2' })).rejects.toThrow(/not a metric MoGe-2 export/);
  });
});

describe('MoGe-2: focal, shift and metric depth of a known plane', () => {
  const W = 160;
  const H = 120;
  const mean = GREY / 255;

  function checkDepth(row: Record<string, unknown>, videoW: number, videoH: number) {
    const map = decodeDepthRow(row);
    expect(map.width).toBe(W);
    expect(map.height).toBe(H);
    let checked = 0;
    for (let y = 0; y < H; y += 7) {
      for (let x = 0; x < W; x += 5) {
        const want = tinyMogeDepth(x, y, W, H, mean);
        const got = map.depth[y * W + x];
        if (Number.isNaN(want)) expect(Number.isNaN(got)).toBe(true);
        else {
          expect(Math.abs(got - want)).toBeLessThanOrEqual(0.0006); // 1 mm quantisation
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
    expect(map.imageWidth).toBe(videoW);
    expect(map.imageHeight).toBe(videoH);
  }

  it('clip_median: recovers the focal (px) of the plane camera and the depth, per sampled frame', async () => {
    const { rows, stats } = await estimateDepth(frames(3, W, H, 5), { model: moge }, { model: mogePath, num_tokens: 1200 }, { clipId: 'c1', video: { width: W, height: H, fps: 10 } });
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => r.frame)).toEqual([0, 5, 10]);
    const fpx = (TINY_MOGE.F * Math.hypot(W, H)) / 2; // 120 px
    for (const r of rows) {
      expect(r.fx).toBeCloseTo(fpx, 3);
      expect(r.fy).toBeCloseTo(fpx, 3);
      expect(r.cx).toBeCloseTo((W - 1) / 2, 9);
      expect(r.cy).toBeCloseTo((H - 1) / 2, 9);
      expect(r.intrinsics_source).toBe('moge2_clip_median');
      expect(r.scale_source).toBe('moge2_metric_scale');
      expect(r.model).toBe('moge2');
      expect(r.t_s).toBeCloseTo((r.frame as number) / 10, 9);
      checkDepth(r, W, H);
    }
    // the left strip (u < -0.5) is masked
    const invalidCols = Array.from({ length: W }, (_, x) => x).filter((x) => (x + 0.5 - W / 2) / (Math.hypot(W, H) / 2) < TINY_MOGE.U_MASK).length;
    expect(rows[0].valid_frac).toBeCloseTo(1 - invalidCols / W, 6);
    expect(stats.frames).toBe(3);
    expect(stats.focal_px).toBeCloseTo(fpx, 3);
  });

  it('frames decoded smaller than the video: intrinsics are reported in video pixels', async () => {
    const { rows } = await estimateDepth(frames(1, W, H), { model: moge }, { model: mogePath, focal_mode: 'per_frame' }, { clipId: 'c1', video: { width: 2 * W, height: 2 * H, fps: 30 } });
    expect(rows[0].intrinsics_source).toBe('moge2_frame');
    expect(rows[0].fx).toBeCloseTo(TINY_MOGE.F * Math.hypot(W, H), 3);
    expect(rows[0].cx).toBeCloseTo(W - 0.5, 9);
    expect(rows[0].image_width).toBe(2 * W);
    checkDepth(rows[0], 2 * W, 2 * H);
  });

  it('recipe intrinsics override: the shift is solved with the given focal', async () => {
    const fpx = (TINY_MOGE.F * Math.hypot(W, H)) / 2;
    const { rows } = await estimateDepth(frames(1, W, H), { model: moge }, { model: mogePath, fx: fpx, cx: 80, cy: 60 }, { clipId: 'c1', video: { width: W, height: H, fps: 30 } });
    expect(rows[0]).toMatchObject({ fx: fpx, fy: fpx, cx: 80, cy: 60, intrinsics_source: 'recipe' });
    checkDepth(rows[0], W, H);
    const h = await estimateDepth(frames(1, W, H), { model: moge }, { model: mogePath, hfov_deg: 90 }, { clipId: 'c1', video: { width: W, height: H, fps: 30 } });
    expect(h.rows[0].fx).toBeCloseTo(W / 2, 9);
    expect(h.rows[0].intrinsics_source).toBe('recipe_hfov');
  });
});

describe('Depth Anything V2 metric: depth from the model, intrinsics from the recipe or MoGe', () => {
  const W = 98;
  const H = 70;

  it('recipe hfov; ImageNet-normalised input (the tiny model adds 0.01 x its input mean)', async () => {
    const { rows } = await estimateDepth(frames(2, W, H), { model: da }, { model: daPath, backend: 'depth_anything_v2', hfov_deg: 60 }, { clipId: 'c2', video: { width: W, height: H, fps: 25 } });
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ model: 'depth_anything_v2', scale_source: 'depth_anything_v2_metric', intrinsics_source: 'recipe_hfov' });
    expect(rows[0].fx).toBeCloseTo(W / 2 / Math.tan(Math.PI / 6), 9);
    const map = decodeDepthRow(rows[0]);
    const m = daInputMean(GREY);
    for (const [x, y] of [
      [0, 0],
      [50, 30],
      [97, 69],
    ]) {
      expect(map.depth[y * W + x]).toBeCloseTo(tinyDepthAnythingDepth(x, y, W, H, m), 3);
    }
  });

  it('intrinsics from a MoGe-2 model (clip median over intrinsics_frames)', async () => {
    const { rows, stats } = await estimateDepth(
      frames(4, W, H),
      { model: da, intrinsicsModel: moge as MogeModel },
      { model: daPath, backend: 'depth_anything_v2', intrinsics_model: mogePath, intrinsics_frames: 2 },
      { clipId: 'c2', video: { width: W, height: H, fps: 25 } },
    );
    expect(rows).toHaveLength(4);
    expect(stats.intrinsics_frames).toBe(2);
    for (const r of rows) {
      expect(r.intrinsics_source).toBe('moge2_clip_median');
      expect(r.fx).toBeCloseTo((TINY_MOGE.F * Math.hypot(W, H)) / 2, 3);
    }
  });

  it('refuses without any intrinsics source', async () => {
    await expect(estimateDepth(frames(1, W, H), { model: da }, { model: daPath, backend: 'depth_anything_v2' }, { clipId: 'c2', video: { width: W, height: H, fps: 25 } })).rejects.toThrow(
      DepthConfigError,
    );
  });

  it('a static-size export gets the frame resized to its input size', async () => {
    const file = writeTinyDepthAnything(dir, { staticSize: [56, 84] });
    const m = await loadDepthModel(file, { backend: 'depth_anything_v2', threads: 1 });
    try {
      expect(m.staticHeight).toBe(56);
      const { rows } = await estimateDepth(frames(1, W, H), { model: m }, { model: file, backend: 'depth_anything_v2', fx: 100 }, { clipId: 'c3', video: { width: W, height: H, fps: 25 } });
      expect(rows[0]).toMatchObject({ width: 84, height: 56, image_width: W, image_height: H, fx: 100 });
    } finally {
      await m.release();
    }
  });
});

describe('depth op end to end on a decoded video', () => {
  it('decodes the sampled frames of the clip and writes one row per frame', async () => {
    const video = makeCutVideo(path.join(dir, 'black.mp4'), [{ src: 'color', frames: 12 }], { fps: 10, size: '160x120' });
    const params = { model: mogePath, sample_fps: 5, num_tokens: 1200, threads: 1 };
    const resolved = await op.resolveModels!(params);
    expect(resolved.files[0].path).toBe(mogePath);
    const state = await op.setup!(resolved.params);
    const clip: ClipInfo = { clip_id: 'e2e', video_id: 'v', scene_index: 0, start_frame: 2, end_frame: 11, start_s: 0.2, end_s: 1.1, overlap_prev_frames: 0 };
    const task: TaskInput = {
      op: 'depth',
      video: { video_id: 'v', path: video.file, fps: 10, frame_count: 12, width: 160, height: 120, rotation: 0, vfr: false, duration_s: 1.2 },
      clip,
      params: resolved.params,
      upstream: {},
      attempt: 1,
      tools: { ffmpeg: resolveTool('ffmpeg').path, ffprobe: resolveTool('ffprobe').path },
    };
    expect(op.frames!(task)).toMatchObject({ startFrame: 2, endFrame: 11, step: 2, width: 160, height: 120 });
    const out = await op.run(task, { state });
    const rows = out.rows.depth;
    expect(rows.map((r) => r.frame)).toEqual([2, 4, 6, 8, 10]);
    const map = decodeDepthRow(rows[2]);
    // black frames: image mean 0, metric scale S0
    expect(map.depth[60 * 160 + 100]).toBeCloseTo(tinyMogeDepth(100, 60, 160, 120, 0), 3);
    await state.models.model.release();
  });
});
