/**
 * object_masks end to end on 02_cups.mp4 with the tiny SAM 2.1 modules, prompted by real
 * hand_keypoints rows (MediaPipe models from shared/data): two overlapping clips, warm start
 * across the overlap, the cross-clip id link, and the hand_mask `sam2` helper.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrames, probe, resolveTool } from '../../src/ffmpeg.js';
import { rleArea, rleBbox } from '../../src/rle.js';
import type { ClipInfo, Row, TaskInput, VideoInfo } from '../../operators/types.js';
import { handKeypointsForRange } from '../../operators/hand_keypoints/index.js';
import { loadHandModels, type HandModels } from '../../operators/hand_keypoints/models.js';
import { writeTinySam2 } from '../../operators/object_masks/tiny.js';
import { op, sam2HandMasks, type ObjectMasksState } from '../../operators/object_masks/index.js';
import { linkObjectsAcrossClips } from '../../operators/object_masks/prompts.js';
import { SHARED } from '../helpers/fixtures.js';

const PALM = path.join(SHARED, 'models/palm_detection_128.onnx');
const LANDMARK = path.join(SHARED, 'models/hand_landmark_224.onnx');
const CUPS = path.join(SHARED, 'videos/02_cups.mp4');

const have = existsSync(PALM) && existsSync(LANDMARK) && existsSync(CUPS);

describe.skipIf(!have)('object_masks on 02_cups.mp4 (tiny SAM 2.1, real hand boxes)', () => {
  let dir: string;
  let video: VideoInfo;
  let hands: HandModels;
  let state: ObjectMasksState;
  let clipA: ClipInfo;
  let clipB: ClipInfo;
  let handsA: Row[];
  let handsB: Row[];
  let outA: { rows: Record<string, Row[]> } | undefined;
  const tools = () => ({ ffmpeg: resolveTool('ffmpeg').path, ffprobe: resolveTool('ffprobe').path });
  const params = () => ({ model_dir: dir, threads: 1 });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'egopipe-sam2-video-'));
    writeTinySam2(dir);
    const p = await probe(CUPS);
    video = { video_id: 'cups', path: CUPS, fps: p.fps!, frame_count: p.frame_count!, width: p.width!, height: p.height!, rotation: p.rotation, vfr: p.vfr, duration_s: p.duration_s! };
    const clip = (id: string, start: number, end: number, overlap: number): ClipInfo => ({
      clip_id: id,
      video_id: 'cups',
      scene_index: 0,
      start_frame: start,
      end_frame: end,
      start_s: start / video.fps,
      end_s: end / video.fps,
      overlap_prev_frames: overlap,
    });
    clipA = clip('clipA', 110, 140, 0);
    clipB = clip('clipB', 130, 145, 10);
    hands = await loadHandModels({ palmPath: PALM, landmarkPath: LANDMARK, threads: 1 });
    const range = (c: ClipInfo) => ({ path: CUPS, width: video.width, height: video.height, fps: video.fps, startFrame: c.start_frame, endFrame: c.end_frame, step: 1, clipId: c.clip_id });
    handsA = (await handKeypointsForRange(range(clipA), hands, { maxHands: 2 })).rows;
    handsB = (await handKeypointsForRange(range(clipB), hands, { maxHands: 2 })).rows;
    state = await op.setup!(params());
  });
  afterAll(async () => {
    await hands?.release();
    await (state?.modules as { release?: () => Promise<void> })?.release?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const task = (clip: ClipInfo, upstream: Record<string, Row[]>): TaskInput => ({ op: 'object_masks', video, clip, params: params(), upstream, attempt: 1, tools: tools() });

  function checkRows(masks: Row[], objects: Row[], clip: ClipInfo): void {
    const { width: W, height: H } = video;
    for (const r of masks) {
      expect(r.clip_id).toBe(clip.clip_id);
      expect(r.frame as number).toBeGreaterThanOrEqual(clip.start_frame);
      expect(r.frame as number).toBeLessThan(clip.end_frame);
      expect([r.height, r.width]).toEqual([H, W]);
      const rle = { size: [H, W] as [number, number], counts: r.rle_counts as string };
      expect(r.area).toBe(rleArea(rle));
      expect(r.area as number).toBeGreaterThan(0);
      expect(r.bbox).toEqual(rleBbox(rle));
      const [x, y, w, h] = r.bbox as number[];
      expect(x >= 0 && y >= 0 && x + w <= W && y + h <= H).toBe(true);
      expect(r.score as number).toBeGreaterThan(0);
      expect(typeof r.label).toBe('string');
    }
    const ids = new Set(masks.map((r) => r.object_id));
    expect(new Set(objects.map((o) => o.object_id))).toEqual(ids);
    for (const o of objects) {
      const mine = masks.filter((r) => r.object_id === o.object_id);
      expect(o.first_frame).toBe(Math.min(...mine.map((r) => r.frame as number)));
      expect(o.last_frame).toBe(Math.max(...mine.map((r) => r.frame as number)));
      expect(mine.every((r) => r.label === o.label)).toBe(true);
      expect(o.source).toEqual(clip === clipA ? 'hand_keypoints' : expect.any(String));
    }
  }

  it('hand boxes of real hand_keypoints rows become tracked objects with consistent mask rows', async () => {
    expect(handsA.length).toBeGreaterThan(20);
    const t0 = performance.now();
    const out = await op.run(task(clipA, { hand_keypoints: handsA }), { state });
    outA = out;
    const ms = performance.now() - t0;
    const masks = out.rows.masks;
    const objects = out.rows.objects;
    checkRows(masks, objects, clipA);
    const handTracks = new Set(handsA.map((r) => r.hand_index)).size;
    // a hand_index continues an object only without a gap; after a gap the box must overlap the
    // object's mask (the tiny masks do not follow a moving hand), else a new object starts
    const segments = new Set<string>();
    const lastSeen = new Map<unknown, number>();
    let seg = 0;
    for (const r of [...handsA].sort((a, b) => (a.frame as number) - (b.frame as number))) {
      if (lastSeen.get(r.hand_index) !== (r.frame as number) - 1) seg++;
      lastSeen.set(r.hand_index, r.frame as number);
      segments.add(`${r.hand_index}:${seg}`);
    }
    expect(objects.length).toBeGreaterThanOrEqual(Math.min(2, handTracks));
    expect(objects.length).toBeLessThanOrEqual(segments.size);
    expect(objects.every((o) => /^(left|right)_hand$|^hand$/.test(o.label as string))).toBe(true);
    // every frame that has a hand row has at least one mask (the tiny model keeps objects present)
    const handFrames = new Set(handsA.map((r) => r.frame as number));
    const maskFrames = new Set(masks.map((r) => r.frame as number));
    for (const f of handFrames) expect(maskFrames.has(f), `frame ${f}`).toBe(true);
    // the hand box and the mask of its object overlap on most rows
    console.log(
      `[object_masks] 02_cups frames 110-139: ${handsA.length} hand rows (${handTracks} hand_index, ${segments.size} runs), ${objects.length} objects, ${masks.length} mask rows, ` +
        `${(ms / out.stats!.frames).toFixed(0)} ms/frame (tiny modules, 1280x720), stats ${JSON.stringify(out.stats)}`,
    );
  });

  it('warm start: the next clip keeps the object ids over the overlap; without it, ids are linked by IoU afterwards', async () => {
    const a = outA ?? (await op.run(task(clipA, { hand_keypoints: handsA }), { state }));
    // the orchestrator does not hand the previous clip over today: `previous_masks` is what it would pass
    const warm = await op.run(task(clipB, { hand_keypoints: handsB, previous_masks: a.rows.masks }), { state });
    checkRows(warm.rows.masks, warm.rows.objects, clipB);
    const idsAtStart = new Set(a.rows.masks.filter((r) => r.frame === clipB.start_frame).map((r) => r.object_id));
    const warmIds = new Set(warm.rows.objects.map((o) => o.object_id));
    expect(idsAtStart.size).toBeGreaterThan(0);
    for (const id of idsAtStart) expect(warmIds.has(id), `object ${id} continues`).toBe(true);
    expect(warm.rows.objects.filter((o) => idsAtStart.has(o.object_id)).every((o) => o.source === 'previous_clip')).toBe(true);

    const cold = await op.run(task(clipB, { hand_keypoints: handsB }), { state });
    checkRows(cold.rows.masks, cold.rows.objects, clipB);
    const link = linkObjectsAcrossClips(a.rows.masks, cold.rows.masks, 0.3);
    console.log(`[object_masks] overlap frames 130-139 (clip B 130-144): warm start kept ${idsAtStart.size} ids; IoU link ${JSON.stringify(Object.fromEntries(link))}`);
    expect(link.size).toBeGreaterThan(0);
    for (const prev of link.values()) expect(new Set(a.rows.masks.map((r) => r.object_id)).has(prev)).toBe(true);
  });

  it('hand_mask sam2 helper: one mask per hand row in the hand_masks shape', async () => {
    const end = clipA.start_frame + 15;
    const handRows = handsA.filter((r) => (r.frame as number) < end);
    const frames = decodeFrames({ path: CUPS, width: video.width, height: video.height, startFrame: clipA.start_frame, endFrame: end, fps: video.fps, pixFmt: 'rgb24' });
    const { rows, stats } = await sam2HandMasks(state.modules, handRows, frames, { width: video.width, height: video.height, videoId: 'cups' });
    expect(rows).toHaveLength(handRows.length);
    expect(stats.hands_out).toBe(handRows.length);
    for (const r of rows) {
      expect(r.method).toBe('sam2');
      const rle = { size: [video.height, video.width] as [number, number], counts: r.rle_counts as string };
      expect(r.area).toBe(rleArea(rle));
      expect(r.bbox).toEqual(rleBbox(rle));
    }
    // every row joins its hand_keypoints row
    const key = (r: Row) => `${r.frame}:${r.hand_index}`;
    expect(new Set(rows.map(key))).toEqual(new Set(handRows.map(key)));
    expect(rows.filter((r) => (r.area as number) > 0).length).toBeGreaterThan(0.9 * rows.length);
  });
});
