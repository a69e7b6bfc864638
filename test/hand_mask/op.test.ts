import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { op } from '../../operators/hand_mask/index.js';
import { convexHull, createCanvas, canvasArea, fillPolygon } from '../../operators/hand_mask/raster.js';
import type { Row, TaskInput } from '../../operators/types.js';
import { decodeMask, rleArea, rleBbox } from '../../src/rle.js';

const W = 1280;
const H = 720;
const shared = fileURLToPath(new URL('../../../shared/data', import.meta.url));

/** Real right-hand joints (metres, wrist frame) from ../shared, projected flat onto a 1280x720 image. */
function realHand(frame: number, cx: number, cy: number, scale = 2000): number[] {
  const { frames } = JSON.parse(fs.readFileSync(path.join(shared, 'hands/human_joint_right.json'), 'utf8')) as {
    frames: number[][][];
  };
  const kp: number[] = [];
  for (const [, y, z] of frames[frame]!) kp.push(cx + y! * scale, cy - z! * scale);
  return kp;
}

function kpRow(kp2d: unknown, frame: number, hand_index = 0, handedness = 'right'): Row {
  return {
    clip_id: 'clip0',
    frame,
    t_s: frame / 30,
    hand_index,
    handedness,
    handedness_score: 0.97,
    presence: 0.99,
    bbox: [0, 0, 1, 1],
    kp2d,
    kp3d_rel: new Array(63).fill(0),
  };
}

function task(rows: Row[], params: Record<string, unknown> = {}): TaskInput<any> {
  return {
    op: 'hand_mask',
    video: { video_id: 'v', path: '/dev/null', fps: 30, frame_count: 30, width: W, height: H, rotation: 0, vfr: false, duration_s: 1 },
    clip: { clip_id: 'clip0', video_id: 'v', scene_index: 0, start_frame: 0, end_frame: 30, start_s: 0, end_s: 1, overlap_prev_frames: 0 },
    params: { method: 'landmarks', dilate_frac: 0.05, ...params },
    upstream: { hand_keypoints: rows },
    attempt: 1,
    tools: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
  };
}

describe('hand_mask op (landmarks)', () => {
  it('declares the contract', () => {
    expect(op.name).toBe('hand_mask');
    expect(op.level).toBe('clip');
    expect(op.resources.pool).toBe('cpu');
    expect(op.needs).toEqual(['hand_keypoints']);
    expect(op.params.method!.values).toEqual(['landmarks', 'sam2']);
    expect(Object.keys(op.outputs[0]!.columns)).toEqual([
      'clip_id', 'frame', 'hand_index', 'handedness', 'method', 'bbox', 'area', 'rle_counts', 'height', 'width',
    ]);
  });

  it('masks a real hand pose: every keypoint inside, consistent bbox/area, frame-sized RLE', async () => {
    const kps = [realHand(0, 640, 500), realHand(300, 300, 450)];
    const out = await op.run(task([kpRow(kps[0], 0), kpRow(Float32Array.from(kps[1]!), 1, 1, 'left')]), { state: undefined });
    const rows = out.rows.hand_masks!;
    expect(rows).toHaveLength(2);
    rows.forEach((r, k) => {
      expect(r.clip_id).toBe('clip0');
      expect(r.frame).toBe(k);
      expect(r.hand_index).toBe(k);
      expect(r.handedness).toBe(k ? 'left' : 'right');
      expect(r.method).toBe('landmarks');
      expect([r.height, r.width]).toEqual([H, W]);
      const rle = { size: [H, W] as [number, number], counts: r.rle_counts as string };
      const mask = decodeMask(rle);
      expect(mask.length).toBe(W * H);
      const kp = kps[k]!;
      for (let i = 0; i < 21; i++) {
        expect(mask[Math.floor(kp[2 * i + 1]!) * W + Math.floor(kp[2 * i]!)], `keypoint ${i}`).toBe(1);
      }
      expect(r.area).toBe(rleArea(rle));
      expect(r.bbox).toEqual(rleBbox(rle));
      // more than the bare hull, but not absurdly more
      const hull = createCanvas(0, 0, W, H);
      fillPolygon(hull, convexHull(kp));
      const hullArea = canvasArea(hull);
      expect(r.area as number).toBeGreaterThan(hullArea);
      expect(r.area as number).toBeLessThan(hullArea * 2.5);
      // bbox encloses the keypoints
      const [bx, by, bw, bh] = r.bbox as number[];
      for (let i = 0; i < 21; i++) {
        expect(kp[2 * i]!).toBeGreaterThanOrEqual(bx!);
        expect(kp[2 * i]!).toBeLessThanOrEqual(bx! + bw!);
        expect(kp[2 * i + 1]!).toBeGreaterThanOrEqual(by!);
        expect(kp[2 * i + 1]!).toBeLessThanOrEqual(by! + bh!);
      }
    });
    expect(out.stats?.masks).toBe(2);
  });

  it('clips hands at the frame border and keeps hands outside the frame as empty masks', async () => {
    const edge = realHand(0, 20, 700); // wrist near the bottom-left corner, part of the hand outside
    const gone = realHand(0, -900, 300);
    const out = await op.run(task([kpRow(edge, 0), kpRow(gone, 0, 1)]), { state: undefined });
    const [a, b] = out.rows.hand_masks!;
    const ra = { size: [H, W] as [number, number], counts: a!.rle_counts as string };
    expect(rleArea(ra)).toBeGreaterThan(0);
    expect(a!.area).toBe(rleArea(ra));
    const [x, y, w, h] = a!.bbox as number[];
    expect(x! + w!).toBeLessThanOrEqual(W);
    expect(y! + h!).toBeLessThanOrEqual(H);
    expect(b!.area).toBe(0);
    expect(b!.bbox).toEqual([0, 0, 0, 0]);
    expect(decodeMask({ size: [H, W], counts: b!.rle_counts as string }).every((v) => v === 0)).toBe(true);
  });

  it('skips rows without 21 finite keypoints, and a clip without hands gives no rows', async () => {
    const bad = realHand(0, 640, 400);
    bad[7] = NaN;
    const out = await op.run(task([kpRow(bad, 0), kpRow([1, 2, 3], 1), kpRow(null, 2)]), { state: undefined });
    expect(out.rows.hand_masks).toEqual([]);
    expect(out.stats?.skipped_rows).toBe(3);
    const none = await op.run(task([]), { state: undefined });
    expect(none.rows.hand_masks).toEqual([]);
  });

  it('dilate_frac widens the mask', async () => {
    const kp = realHand(100, 640, 500);
    const thin = (await op.run(task([kpRow(kp, 0)], { dilate_frac: 0.02 }), { state: undefined })).rows.hand_masks![0]!;
    const thick = (await op.run(task([kpRow(kp, 0)], { dilate_frac: 0.1 }), { state: undefined })).rows.hand_masks![0]!;
    expect(thick.area as number).toBeGreaterThan(thin.area as number);
  });
});
