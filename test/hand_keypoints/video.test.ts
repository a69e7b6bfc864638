/**
 * Real models on real video (CPU, onnxruntime-node, 1 thread).
 * human_hand_video.mp4: one right hand visible in nearly every frame (621 frames, 30 fps).
 * 02_cups.mp4: two hands moving cups (reported, not asserted strictly).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/ffmpeg.js';
import type { Row, VideoInfo } from '../../operators/types.js';
import { handKeypointsForRange, op } from '../../operators/hand_keypoints/index.js';
import { ModelFileMissingError, loadHandModels, type HandModels } from '../../operators/hand_keypoints/models.js';

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const shared = path.resolve(root, '../shared/data');
const PALM = path.join(shared, 'models/palm_detection_128.onnx');
const LANDMARK = path.join(shared, 'models/hand_landmark_224.onnx');
const HAND_VIDEO = path.join(shared, 'videos/human_hand_video.mp4');
const CUPS_VIDEO = path.join(shared, 'videos/02_cups.mp4');

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

async function videoInfo(file: string): Promise<VideoInfo> {
  const p = await probe(file);
  return {
    video_id: path.basename(file),
    path: file,
    fps: p.fps!,
    frame_count: p.frame_count!,
    width: p.width!,
    height: p.height!,
    rotation: p.rotation,
    vfr: p.vfr,
    duration_s: p.duration_s!,
  };
}

function byFrame(rows: Row[]): Map<number, Row[]> {
  const m = new Map<number, Row[]>();
  for (const r of rows) {
    const f = r.frame as number;
    m.set(f, [...(m.get(f) ?? []), r]);
  }
  return m;
}

describe('hand_keypoints on real video', () => {
  let models: HandModels;
  beforeAll(async () => {
    expect(existsSync(PALM) && existsSync(LANDMARK), `models under ${shared}/models`).toBe(true);
    models = await loadHandModels({ palmPath: PALM, landmarkPath: LANDMARK, threads: 1 });
  });
  afterAll(async () => {
    await models?.release();
  });

  it('finds the right hand in human_hand_video.mp4 on >= 90% of all 621 frames, smoothly tracked', async () => {
    const v = await videoInfo(HAND_VIDEO);
    const { rows, stats } = await handKeypointsForRange(
      { path: v.path, width: v.width, height: v.height, fps: v.fps, startFrame: 0, endFrame: v.frame_count, step: 1, clipId: 'hh' },
      models,
      { maxHands: 2 },
    );
    expect(stats.frames).toBe(621);
    const frames = byFrame(rows);
    const detectionRate = frames.size / stats.frames;
    // the best hand of each frame
    const best = [...frames.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([f, rs]) => ({ f, r: rs.reduce((a, b) => ((a.presence as number) >= (b.presence as number) ? a : b)) }));
    const rightRate = best.filter((b) => b.r.handedness === 'right').length / best.length;
    // wrist jump between consecutive frames, relative to the hand's box diagonal
    const jumps: number[] = [];
    for (let i = 1; i < best.length; i++) {
      if (best[i].f !== best[i - 1].f + 1) continue;
      const a = best[i - 1].r.kp2d as number[];
      const b = best[i].r.kp2d as number[];
      const bb = best[i].r.bbox as number[];
      jumps.push(Math.hypot(b[0] - a[0], b[1] - a[1]) / Math.hypot(bb[2] - bb[0], bb[3] - bb[1]));
    }
    const medJump = median(jumps);
    const row = best[0].r;
    console.log(
      `[hand_keypoints] human_hand_video: hand on ${frames.size}/${stats.frames} frames (${(100 * detectionRate).toFixed(1)}%), ` +
        `right ${(100 * rightRate).toFixed(1)}%, median wrist jump ${(100 * medJump).toFixed(2)}% of the hand box diagonal, ` +
        `palm runs ${stats.palm_runs}, landmark runs ${stats.landmark_runs}, ${((1000 * stats.frames) / stats.total_ms).toFixed(1)} frames/s`,
    );
    expect(detectionRate).toBeGreaterThanOrEqual(0.9);
    expect(rightRate).toBeGreaterThanOrEqual(0.9);
    // bound: the wrist moves less than 3% of the hand size per frame (median); measured ~0.4%
    expect(medJump).toBeLessThan(0.03);
    // row shape
    expect((row.kp2d as number[]).length).toBe(42);
    expect((row.kp3d_rel as number[]).length).toBe(63);
    expect((row.bbox as number[]).length).toBe(4);
    expect(row.t_s).toBeCloseTo((row.frame as number) / v.fps);
    expect(row.presence as number).toBeGreaterThanOrEqual(0.5);
    // the hand is in the right half of the frame, its box a plausible size
    const bb = row.bbox as number[];
    expect((bb[0] + bb[2]) / 2).toBeGreaterThan(600);
    expect(bb[2] - bb[0]).toBeGreaterThan(80);
    expect(bb[2] - bb[0]).toBeLessThan(600);
    // the wrist (0) is below the middle fingertip (12) in this upright, waving hand
    const kp = row.kp2d as number[];
    expect(kp[1]).toBeGreaterThan(kp[25]);
    // 2 hands are never reported for this single-hand video on more than a few frames
    expect([...frames.values()].filter((r) => r.length > 1).length).toBeLessThan(stats.frames * 0.05);
  });

  it('tracks instead of re-detecting when max_hands hands are found', async () => {
    const v = await videoInfo(HAND_VIDEO);
    const { rows, stats } = await handKeypointsForRange(
      { path: v.path, width: v.width, height: v.height, fps: v.fps, startFrame: 200, endFrame: 300, step: 1, clipId: 'hh' },
      models,
      { maxHands: 1 },
    );
    expect(stats.frames).toBe(100);
    expect(byFrame(rows).size).toBeGreaterThanOrEqual(95);
    expect(stats.palm_runs).toBeLessThanOrEqual(5);
    expect(rows.every((r) => r.hand_index === 0)).toBe(true);
  });

  it('reports how often two hands are found in 02_cups.mp4', async () => {
    const v = await videoInfo(CUPS_VIDEO);
    const { rows, stats } = await handKeypointsForRange(
      { path: v.path, width: v.width, height: v.height, fps: v.fps, startFrame: 0, endFrame: v.frame_count, step: 1, clipId: 'cups' },
      models,
      { maxHands: 2 },
    );
    const frames = byFrame(rows);
    const two = [...frames.values()].filter((r) => r.length === 2).length;
    const one = [...frames.values()].filter((r) => r.length === 1).length;
    console.log(
      `[hand_keypoints] 02_cups: ${stats.frames} frames, 2 hands on ${two} (${((100 * two) / stats.frames).toFixed(1)}%), ` +
        `1 hand on ${one}, none on ${stats.frames - frames.size}`,
    );
    expect(stats.frames).toBe(300);
    // loose: hands are found on most frames and two hands on some
    expect(frames.size).toBeGreaterThan(stats.frames * 0.5);
    expect(two).toBeGreaterThan(0);
    expect([...frames.values()].every((r) => r.length <= 2)).toBe(true);
  });

  it('runs as an operator on a clip with sample_fps', async () => {
    const video = await videoInfo(HAND_VIDEO);
    const params = { palm_model: PALM, landmark_model: LANDMARK, sample_fps: 10 };
    expect(op.validate?.(params)).toEqual([]);
    const state = await op.setup!(params);
    try {
      const out = await op.run(
        {
          op: 'hand_keypoints',
          video,
          clip: { clip_id: 'c1', video_id: video.video_id, scene_index: 0, start_frame: 300, end_frame: 360, start_s: 10, end_s: 12, overlap_prev_frames: 0 },
          params,
          upstream: {},
          attempt: 1,
          tools: { ffmpeg: '', ffprobe: '' },
        },
        { state },
      );
      const rows = out.rows.hand_keypoints;
      expect(out.stats?.frames).toBe(20); // every 3rd frame of 60
      const frames = [...new Set(rows.map((r) => r.frame as number))];
      expect(frames.length).toBeGreaterThanOrEqual(18);
      expect(frames.every((f) => f >= 300 && f < 360 && (f - 300) % 3 === 0)).toBe(true);
      expect(rows.every((r) => r.clip_id === 'c1')).toBe(true);
      expect(Object.keys(rows[0]).sort()).toEqual(Object.keys(op.outputs[0].columns).sort());
    } finally {
      await state.models.release();
    }
  });

  it('refuses to run without a model file and says how to get it', async () => {
    const missing = path.join(root, 'no-such-dir/hand_landmark_224.onnx');
    await expect(op.setup!({ palm_model: PALM, landmark_model: missing })).rejects.toThrow(ModelFileMissingError);
    await expect(op.setup!({ palm_model: PALM, landmark_model: missing })).rejects.toThrow(/egopipe models pull hand_landmark/);
    await expect(op.setup!({ palm_model: PALM, landmark_model: missing })).rejects.toThrow(missing);
  });
});
