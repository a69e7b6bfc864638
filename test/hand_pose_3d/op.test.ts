import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxGraph, f32 } from '../../src/onnx/writer.js';
import { resolveTool } from '../../src/ffmpeg.js';
import { TINY_HAND_POSE_3D, buildTinyHandPose3d, tinyHandPose3dReference, writeTinyHandPose3d, writeTinyModels } from '../../scripts/tiny-models.js';
import {
  boxFromKeypoints,
  cropSquare,
  cropTransform,
  fullImageFocal,
  mirrorAxisAngles,
  mirrorImage,
  postprocessHand,
  preprocessCrop,
  rotmatToAxisAngle,
  type RgbImage,
} from '../../operators/hand_pose_3d/geometry.js';
import { DEFAULT_PARAMS, estimateHandPoses, op, type FrameLike, type HandRow } from '../../operators/hand_pose_3d/index.js';
import { HandPose3dContractError, HandPose3dWeightsError, loadHandPose3dModel, type HandPose3dModel } from '../../operators/hand_pose_3d/model.js';
import { isPermanent, type ClipInfo, type TaskInput, type VideoInfo } from '../../operators/types.js';

const W = 320;
const H = 240;

function closeTo(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = ''): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol)) throw new Error(`${what} index ${i}: ${a[i]} vs ${b[i]} (tol ${tol})`);
  }
}

/** Frame with a bright, asymmetric "hand" blob (thumb to the right) on a gradient. */
function handFrame(): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 3;
      const palm = Math.hypot(x - 150, y - 130) < 28;
      const thumb = x > 165 && x < 200 && y > 105 && y < 122;
      const skin = palm || thumb;
      data[p] = skin ? 230 : (x * 90) / W;
      data[p + 1] = skin ? 180 : 40 + (y * 60) / H;
      data[p + 2] = skin ? 150 : 90;
    }
  }
  return { width: W, height: H, data };
}

/** 21 keypoints around the blob (x, y px), OpenPose order. */
function handKp(): number[] {
  const kp: number[] = [150, 160];
  for (let f = 0; f < 5; f++) {
    for (let s = 0; s < 4; s++) kp.push(f === 0 ? 170 + 8 * s : 125 + 12 * f, f === 0 ? 125 - 5 * s : 110 - 9 * s);
  }
  return kp;
}

const clip: ClipInfo = { clip_id: 'v1#0', video_id: 'v1', scene_index: 0, start_frame: 0, end_frame: 3, start_s: 0, end_s: 0.3, overlap_prev_frames: 0 };

let dir: string;
let modelPath: string;
let model: HandPose3dModel;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'egopipe-hp3d-'));
  modelPath = writeTinyHandPose3d(dir);
  model = await loadHandPose3dModel(modelPath, { threads: 1 });
});

afterAll(async () => {
  await model?.release();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('hand_pose_3d refuses to run without weights', () => {
  const task = (params: Record<string, unknown>): TaskInput => ({
    op: 'hand_pose_3d',
    video: { video_id: 'v1', path: '/nonexistent.mp4', fps: 10, frame_count: 3, width: W, height: H, rotation: 0, vfr: false, duration_s: 0.3 },
    clip,
    params,
    upstream: { hand_keypoints: [{ clip_id: clip.clip_id, frame: 0, hand_index: 0, handedness: 'right', bbox: [100, 100, 200, 200], kp2d: handKp() }] },
    attempt: 1,
    tools: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
  });

  it('validate() reports it, setup() and run() throw a clear error (no model, missing file)', async () => {
    for (const params of [{}, { model: '' }, { model: path.join(tmpdir(), 'definitely-missing-hand-model.onnx') }]) {
      const errs = op.validate!(params);
      expect(errs).toHaveLength(1);
      expect(errs[0]).toMatch(/weights|model/i);
      await expect(Promise.resolve().then(() => op.setup!(params))).rejects.toThrow(HandPose3dWeightsError);
      const err = await op.run(task(params), { state: undefined as never }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(HandPose3dWeightsError);
      expect(isPermanent(err)).toBe(true); // dead-lettered at once, never retried
      expect(err!.message).toMatch(/never produces output without real weights/);
      expect(err!.message).toMatch(/torch\.onnx\.export/);
      expect(err!.message).toMatch(/hamer|wilor/i);
    }
  });

  it('declares its contract', () => {
    expect(op.name).toBe('hand_pose_3d');
    expect(op.level).toBe('clip');
    expect(op.resources.pool).toBe('gpu');
    expect(op.needs).toEqual(['hand_keypoints']);
    expect(op.outputs[0].name).toBe('hand_pose_3d');
    expect(op.outputs[0].columns.joints_cam).toBe('FLOAT[]');
    expect(op.validate!({ model: modelPath })).toEqual([]);
  });
});

describe('model contract checks', () => {
  it('the tiny model has the contract names, dtypes and ranks', async () => {
    const s = model.session;
    expect(s.inputNames).toEqual(['img']);
    expect(s.outputNames).toEqual(['pred_keypoints_3d', 'pred_cam', 'global_orient', 'hand_pose', 'betas', 'pred_vertices']);
    const shapes = Object.fromEntries(s.outputMetadata.map((m) => [m.name, m.isTensor ? m.shape : null]));
    expect(shapes.pred_keypoints_3d).toEqual(['batch', 21, 3]);
    expect(shapes.global_orient).toEqual(['batch', 1, 3, 3]);
    expect(s.inputMetadata[0].isTensor && s.inputMetadata[0].shape).toEqual(['batch', 3, 256, 256]);
    expect(model.outputs).toEqual({ globalOrient: true, handPose: true, betas: true, vertices: true });
    expect(Buffer.from(buildTinyHandPose3d()).equals(readFileSync(modelPath))).toBe(true);
  });

  it('rejects a model with other output names, with the list of problems', async () => {
    const g = new OnnxGraph('wrong')
      .input('image', 'float32', ['b', 3, 256, 256])
      .initializer('k', f32([1]), [1])
      .node('Mul', ['image', 'k'], ['joints'])
      .output('joints', 'float32', ['b', 3, 256, 256]);
    const p = path.join(dir, 'wrong.onnx');
    writeFileSync(p, g.toBytes());
    const err = await loadHandPose3dModel(p).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(HandPose3dContractError);
    expect(err!.message).toMatch(/input 'img' is missing/);
    expect(err!.message).toMatch(/output 'pred_keypoints_3d' is missing/);
  });

  it('writeTinyModels writes every registered model', () => {
    const out = path.join(dir, 'all');
    const files = writeTinyModels(out);
    expect(files.map((f) => path.basename(f))).toContain('hand_pose_3d.tiny.onnx');
    expect(() => writeTinyModels(out, ['nope'])).toThrow(/unknown tiny model/);
  });
});

describe('pre-processing -> tiny model -> post-processing', () => {
  const frame = handFrame();
  const kp = handKp();
  const params = { ...DEFAULT_PARAMS, model: 'tiny' };

  it('matches the predicted outputs of the tiny model for a right hand', async () => {
    const hands: HandRow[] = [{ clip_id: 'c', frame: 5, hand_index: 0, handedness: 'right', bbox: null, kp2d: kp }];
    const { rows, stats } = await estimateHandPoses([{ ...frame, index: 5 }], hands, model, params);
    expect(stats.hands_out).toBe(1);
    expect(rows).toHaveLength(1);
    const r = rows[0];

    // the same steps, by hand
    const box = boxFromKeypoints(kp)!;
    expect(box).toEqual({ x0: 137, y0: 83, x1: 194, y1: 160 });
    const t = cropTransform(cropSquare(box, 2.0, 'hamer'), false);
    expect(t.cx).toBe(165.5);
    expect(t.cy).toBe(121.5);
    // padded 114 x 154: taller than 192:256, so the side is the padded height
    expect(t.size).toBe(Math.max(2 * 77, (4 / 3) * 2 * 57)); // = 154
    const crop = preprocessCrop(frame, t);
    const ref = tinyHandPose3dReference(crop);
    expect(Math.abs(ref.d)).toBeGreaterThan(0.05); // the crop is asymmetric: a missing flip would show
    const focal = fullImageFocal(W, H);
    const want = postprocessHand({ keypoints3d: ref.keypoints3d, cam: ref.cam }, t, true, W, H, focal);

    expect(r.handedness).toBe('right');
    expect(r.focal).toBe(focal);
    closeTo(r.cam_t as number[], want.camT, 1e-4 * want.camT[2], 'cam_t');
    closeTo(r.joints_cam as number[], want.jointsCam, 1e-3, 'joints_cam');
    closeTo(r.joints_2d as number[], want.joints2d, 0.05, 'joints_2d');
    closeTo(r.crop_box as number[], [165.5, 121.5, 154], 1e-4);
    // root-relative joints are exactly the network joints
    const rel = (r.joints_cam as number[]).map((v, i) => v - (r.cam_t as number[])[i % 3]);
    closeTo(rel, ref.keypoints3d, 1e-4, 'relative joints');
    // MANO parameters come back as axis-angle
    closeTo(r.mano_global_orient as number[], TINY_HAND_POSE_3D.globalOrientAA, 1e-5);
    closeTo(r.mano_hand_pose as number[], TINY_HAND_POSE_3D.handPoseAA, 1e-5);
    closeTo(r.mano_betas as number[], TINY_HAND_POSE_3D.betas, 0);
    expect(r.vertices_cam).toBeNull(); // save_vertices is off by default
    expect(typeof r.kp2d_err_px).toBe('number');
  });

  it('a left hand in the mirrored frame gives the mirror of the right-hand result', async () => {
    const mirrored = mirrorImage(frame);
    const kpM = kp.map((v, i) => (i % 2 === 0 ? W - 1 - v : v));
    const p = { ...params, save_vertices: true };
    const right = (await estimateHandPoses([{ ...frame, index: 0 }], [{ clip_id: 'c', frame: 0, hand_index: 0, handedness: 'right', kp2d: kp }], model, p)).rows[0];
    const left = (await estimateHandPoses([{ ...mirrored, index: 0 }], [{ clip_id: 'c', frame: 0, hand_index: 0, handedness: 'left', kp2d: kpM }], model, p)).rows[0];
    expect(left.handedness).toBe('left');
    const rt = right.cam_t as number[];
    const lt = left.cam_t as number[];
    // network joints mirrored exactly: x -> -x
    const relR = (right.joints_cam as number[]).map((v, i) => v - rt[i % 3]);
    const relL = (left.joints_cam as number[]).map((v, i) => v - lt[i % 3]);
    closeTo(relL, relR.map((v, i) => (i % 3 === 0 ? -v : v)), 1e-5, 'mirrored joints');
    // camera: tx mirrored about the principal point W/2 (pixel-centre coordinates mirror as x -> W-1-x,
    // so the box centre moves by one more pixel: 2/bs with bs = size * s = 2 f / tz)
    const bs = (2 * fullImageFocal(W, H)) / rt[2];
    closeTo([lt[0], lt[1], lt[2]], [-rt[0] - 2 / bs, rt[1], rt[2]], 1e-5 * rt[2], 'cam_t');
    // 2D: pixel mirror x -> W-1-x (up to the joints' depth spread), y unchanged
    const r2 = right.joints_2d as number[];
    const l2 = left.joints_2d as number[];
    closeTo(l2.filter((_, i) => i % 2 === 0), r2.filter((_, i) => i % 2 === 0).map((x) => W - 1 - x), 0.05, '2d x');
    closeTo(l2.filter((_, i) => i % 2 === 1), r2.filter((_, i) => i % 2 === 1), 1e-3, '2d y');
    // MANO: rotations mirrored, betas unchanged; vertices mirrored like the joints
    closeTo(left.mano_global_orient as number[], mirrorAxisAngles(right.mano_global_orient as number[]), 1e-6);
    closeTo(left.mano_hand_pose as number[], mirrorAxisAngles(right.mano_hand_pose as number[]), 1e-6);
    closeTo(left.mano_betas as number[], right.mano_betas as number[], 0);
    const vR = (right.vertices_cam as number[]).map((v, i) => v - rt[i % 3]);
    const vL = (left.vertices_cam as number[]).map((v, i) => v - lt[i % 3]);
    expect(vL.length).toBe(778 * 3);
    closeTo(vL, vR.map((v, i) => (i % 3 === 0 ? -v : v)), 1e-5, 'vertices');

    // without the input flip the tiny model would see the opposite asymmetry: the un-flipped result would differ
    const t = cropTransform(cropSquare(boxFromKeypoints(kpM)!, 2, 'hamer'), false);
    const unflippedInput = tinyHandPose3dReference(preprocessCrop(mirrored, t));
    const flippedInput = tinyHandPose3dReference(preprocessCrop(mirrored, { ...t, flip: true }));
    // (mirroring about u = 128 is not exactly a swap of the two halves: one column differs)
    expect(Math.abs(unflippedInput.d + flippedInput.d)).toBeLessThan(0.25 * Math.abs(flippedInput.d));
    expect(Math.abs(unflippedInput.d - flippedInput.d)).toBeGreaterThan(0.1);
  });

  it('batches across frames, skips unusable rows and reports missing frames', async () => {
    const frames: FrameLike[] = [0, 1, 2].map((index) => ({ ...frame, index }));
    const hands: HandRow[] = [];
    for (let f = 0; f < 3; f++) {
      hands.push({ clip_id: 'c', frame: f, hand_index: 1, handedness: 'left', kp2d: kp });
      hands.push({ clip_id: 'c', frame: f, hand_index: 0, handedness: 'Right', kp2d: kp });
    }
    hands.push({ clip_id: 'c', frame: 1, hand_index: 2, handedness: 'both?', kp2d: kp });
    hands.push({ clip_id: 'c', frame: 1, hand_index: 3, handedness: 'right', kp2d: [1, 2], bbox: null });
    hands.push({ clip_id: 'c', frame: 1, hand_index: 4, handedness: 'right', kp2d: [1, 2], bbox: [100, 80, 200, 160] });
    hands.push({ clip_id: 'c', frame: 9, hand_index: 0, handedness: 'right', kp2d: kp });
    const { rows, stats } = await estimateHandPoses(frames, hands, model, { ...params, batch_size: 4 });
    expect(stats).toMatchObject({ hands_out: 7, hands_skipped_handedness: 1, hands_skipped_box: 1, hands_missing_frame: 1, frames_used: 3, batches: 2 });
    expect(rows.map((r) => [r.frame, r.hand_index])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1], [1, 4], [2, 0], [2, 1]]);
    // identical inputs give identical outputs whatever the batch slot
    expect(rows[0].joints_cam).toEqual(rows[5].joints_cam);
    expect(rows[1].joints_cam).toEqual(rows[6].joints_cam);
    closeTo(rows[4].crop_box as number[], [150, 120, 200 * (4 / 3)], 1e-4);
  });

  it('uses focal_px when given', async () => {
    const hands: HandRow[] = [{ clip_id: 'c', frame: 0, hand_index: 0, handedness: 'right', kp2d: kp }];
    const a = (await estimateHandPoses([{ ...frame, index: 0 }], hands, model, params)).rows[0];
    const b = (await estimateHandPoses([{ ...frame, index: 0 }], hands, model, { ...params, focal_px: 400 })).rows[0];
    expect(b.focal).toBe(400);
    expect((b.cam_t as number[])[2] / (a.cam_t as number[])[2]).toBeCloseTo(400 / fullImageFocal(W, H), 5);
    // the 2D projection changes only through perspective effects of the joints' depth spread
    // (tz drops from ~9.5 m to ~0.9 m with this short focal)
    closeTo(b.joints_2d as number[], a.joints_2d as number[], 2);
  });
});

describe('op.run end to end (ffmpeg-decoded lossless video)', () => {
  let ffmpeg: string | undefined;
  try {
    ffmpeg = resolveTool('ffmpeg').path;
  } catch {
    ffmpeg = undefined;
  }

  it.skipIf(!ffmpeg)('decodes the clip, crops, runs the tiny model and returns hand_pose_3d rows', async () => {
    const frame = handFrame();
    const frames = [frame, mirrorImage(frame), frame];
    const video = path.join(dir, 'hands.mkv');
    const raw = Buffer.concat(frames.map((f) => Buffer.from(f.data)));
    const enc = spawnSync(ffmpeg!, ['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', '10', '-i', 'pipe:0', '-c:v', 'ffv1', '-pix_fmt', 'bgr0', '-y', video], { input: raw });
    expect(enc.status, enc.stderr?.toString()).toBe(0);

    const kp = handKp();
    const kpM = kp.map((v, i) => (i % 2 === 0 ? W - 1 - v : v));
    const upstream = [
      { clip_id: clip.clip_id, frame: 0, hand_index: 0, handedness: 'right', bbox: [120, 80, 200, 165], kp2d: kp },
      { clip_id: clip.clip_id, frame: 1, hand_index: 0, handedness: 'left', bbox: null, kp2d: kpM },
      { clip_id: clip.clip_id, frame: 2, hand_index: 0, handedness: 'right', bbox: null, kp2d: kp },
      { clip_id: 'other#1', frame: 2, hand_index: 0, handedness: 'right', bbox: null, kp2d: kp },
    ];
    const video_info: VideoInfo = { video_id: 'v1', path: video, fps: 10, frame_count: 3, width: W, height: H, rotation: 0, vfr: false, duration_s: 0.3 };
    const params = { model: modelPath, threads: 1 };
    const state = await op.setup!(params);
    try {
      const out = await op.run({ op: 'hand_pose_3d', video: video_info, clip, params, upstream: { hand_keypoints: upstream }, attempt: 1, tools: { ffmpeg: ffmpeg!, ffprobe: ffmpeg! } }, { state });
      const rows = out.rows.hand_pose_3d;
      expect(rows.map((r) => [r.frame, r.handedness])).toEqual([[0, 'right'], [1, 'left'], [2, 'right']]);
      // same as running the pure pipeline on the source frames (the codec is lossless)
      const direct = await estimateHandPoses(
        frames.map((f, index) => ({ ...f, index })),
        upstream.filter((u) => u.clip_id === clip.clip_id),
        model,
        { ...DEFAULT_PARAMS, model: modelPath },
      );
      for (let i = 0; i < 3; i++) {
        closeTo(rows[i].joints_cam as number[], direct.rows[i].joints_cam as number[], 1e-4, `row ${i}`);
        closeTo(rows[i].joints_2d as number[], direct.rows[i].joints_2d as number[], 1e-2, `row ${i}`);
      }
      expect(out.stats?.hands_out).toBe(3);
    } finally {
      await state.model.release();
    }
  });
});

describe('tiny model reference', () => {
  it('tinyHandPose3dReference agrees with onnxruntime on random crops', async () => {
    const batch = new Float32Array(2 * 3 * 65536);
    let s = 1;
    for (let i = 0; i < batch.length; i++) {
      s = (Math.imul(s, 48271) + 11) >>> 0;
      batch[i] = (s / 2 ** 32) * 4 - 2 + (i % 256 < 128 ? 0.3 : 0);
    }
    const res = await model.session.run({ img: new ort.Tensor('float32', batch, [2, 3, 256, 256]) });
    for (let b = 0; b < 2; b++) {
      const ref = tinyHandPose3dReference(batch, b * 3 * 65536);
      closeTo((res.pred_keypoints_3d.data as Float32Array).subarray(b * 63, b * 63 + 63), ref.keypoints3d, 1e-5);
      closeTo((res.pred_cam.data as Float32Array).subarray(b * 3, b * 3 + 3), ref.cam, 1e-5);
      const go = res.global_orient.data as Float32Array;
      closeTo(rotmatToAxisAngle(go, b * 9), TINY_HAND_POSE_3D.globalOrientAA, 1e-5);
    }
  });
});
