/**
 * The SAM 2.1 runtime on the tiny four-module stand-ins (operators/object_masks/tiny.ts):
 * contract checks, masks that equal the prompted box, the memory bank during tracking,
 * occlusion, IoU association, and the refusal without weights.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxGraph, f32 } from '../../src/onnx/writer.js';
import { validateParams } from '../../src/params.js';
import { ROOT } from '../helpers/fixtures.js';
import { decodeMask, encodeMask } from '../../src/rle.js';
import { isPermanent, type TaskInput } from '../../operators/types.js';
import { CONTRACT, MODULES, MODULE_FILES, checkModule } from '../../operators/object_masks/contract.js';
import { loadSam2, resolveSam2Paths, Sam2ContractError, Sam2WeightsError, type Sam2Onnx } from '../../operators/object_masks/sam2.js';
import { writeTinySam2 } from '../../operators/object_masks/tiny.js';
import { VideoObjectTracker, type Detection } from '../../operators/object_masks/tracker.js';
import { clipDetections, op, resolveParams } from '../../operators/object_masks/index.js';
import type { Box } from '../../operators/object_masks/image.js';

let dir: string;
let sam: Sam2Onnx;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'egopipe-sam2-'));
  writeTinySam2(dir);
  sam = await loadSam2(resolveSam2Paths({ model_dir: dir }), { threads: 1 });
});
afterAll(async () => {
  await sam?.release();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function grey(W: number, H: number, v = 128): Uint8Array {
  return new Uint8Array(W * H * 3).fill(v);
}

/** What the tiny decoder + SAM 2 upsampling give for a box: signed distance at 256-grid cell centres, bilinear, > 0. */
function expectedTinyMask(b: Box, W: number, H: number): Uint8Array {
  const s = [(b[0] / W) * 1024, (b[1] / H) * 1024, (b[2] / W) * 1024, (b[3] / H) * 1024].map(Math.fround);
  const L = (u: number, v: number) => {
    const cx = 4 * u + 2;
    const cy = 4 * v + 2;
    return Math.min(cx - s[0], s[2] - cx, cy - s[1], s[3] - cy);
  };
  const out = new Uint8Array(W * H);
  const src = (o: number, n: number) => Math.max(0, ((o + 0.5) * 256) / n - 0.5);
  for (let y = 0; y < H; y++) {
    const sy = src(y, H);
    const y0 = Math.min(Math.floor(sy), 255);
    const y1 = Math.min(y0 + 1, 255);
    const ly = sy - y0;
    for (let x = 0; x < W; x++) {
      const sx = src(x, W);
      const x0 = Math.min(Math.floor(sx), 255);
      const x1 = Math.min(x0 + 1, 255);
      const lx = sx - x0;
      const v = (1 - ly) * ((1 - lx) * L(x0, y0) + lx * L(x1, y0)) + ly * ((1 - lx) * L(x0, y1) + lx * L(x1, y1));
      out[y * W + x] = v > 0 ? 1 : 0;
    }
  }
  return out;
}

/** Pixels whose centres are inside the box. */
function boxRegion(b: Box, W: number, H: number): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) m[y * W + x] = x + 0.5 > b[0] && x + 0.5 < b[2] && y + 0.5 > b[1] && y + 0.5 < b[3] ? 1 : 0;
  return m;
}

const det = (box: Box, extra: Partial<Detection> = {}): Detection => ({ box, label: 'cup', cls: 'cup', score: 1, source: 'recipe', ...extra });

describe('tiny SAM 2.1 modules', () => {
  it('follow the DeepStream export contract: names, float32, ranks and fixed sizes', () => {
    for (const m of MODULES) {
      const s = sam.sessions[m];
      expect(s.inputNames, m).toEqual(CONTRACT[m].inputs.map((t) => t.name));
      expect(s.outputNames, m).toEqual(CONTRACT[m].outputs.map((t) => t.name));
      expect(checkModule(m, s.inputMetadata, s.outputMetadata), m).toEqual([]);
      for (const md of [...s.inputMetadata, ...s.outputMetadata]) {
        const want = [...CONTRACT[m].inputs, ...CONTRACT[m].outputs].find((t) => t.name === md.name)!;
        expect(md.isTensor && md.shape.length, `${m}.${md.name}`).toBe(want.dims.length);
        if (md.isTensor) want.dims.forEach((d, i) => typeof d === 'number' && expect(md.shape[i], `${m}.${md.name}[${i}]`).toBe(d));
      }
    }
  });

  it('a module with other names is refused, listing the problems', async () => {
    const bad = path.join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    for (const m of MODULES) copyFileSync(path.join(dir, MODULE_FILES[m]), path.join(bad, MODULE_FILES[m]));
    const g = new OnnxGraph('wrong')
      .input('points', 'float32', ['b', 'p', 2])
      .initializer('k', f32([2]), [1])
      .node('Mul', ['points', 'k'], ['masks'])
      .output('masks', 'float32', ['b', 'p', 2]);
    writeFileSync(path.join(bad, MODULE_FILES.mask_decoder), g.toBytes());
    const err = await loadSam2(resolveSam2Paths({ model_dir: bad })).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Sam2ContractError);
    expect(isPermanent(err)).toBe(true);
    expect(err!.message).toMatch(/mask_decoder: input 'point_coords' is missing/);
    expect(err!.message).toMatch(/mask_decoder: output 'occ_logit' is missing/);
    expect(err!.message).toMatch(/unexpected input\(s\) points/);
  });
});

describe('tracking with the tiny modules', () => {
  it('the mask of a prompted box is the box at the original resolution (odd sizes), on the prompt frame and while tracked', async () => {
    for (const [W, H, box] of [
      [333, 251, [40.3, 30.7, 200.2, 150.9]],
      [1001, 667, [123.4, 77.7, 640.1, 501.3]],
      [97, 301, [0, 10.5, 60.2, 300]],
    ] as Array<[number, number, Box]>) {
      const tr = new VideoObjectTracker(sam, { width: W, height: H, idSeed: 'v:0' });
      const want = expectedTinyMask(box, W, H);
      const ideal = boxRegion(box, W, H);
      for (let f = 0; f < 3; f++) {
        const r = await tr.step({ width: W, height: H, data: grey(W, H), index: f }, f === 0 ? [det(box)] : []);
        expect(r.objects).toHaveLength(1);
        const o = r.objects[0];
        expect(o.present).toBe(true);
        expect(o.prompted).toBe(f === 0);
        // exactly what SAM 2's upsampling of the tiny logits gives ...
        expect(o.mask!.rle).toEqual(encodeMask(want, H, W));
        // ... which is the box region, except where bilinear upsampling rounds a box corner
        const got = decodeMask(o.mask!.rle);
        const cellX = Math.max(1, W / 256);
        const cellY = Math.max(1, H / 256);
        let diff = 0;
        for (let y = 0; y < H; y++) {
          for (let x = 0; x < W; x++) {
            if (got[y * W + x] === ideal[y * W + x]) continue;
            diff++;
            const nearCorner = [box[0], box[2]].some((cx) => Math.abs(x + 0.5 - cx) <= cellX + 0.5) && [box[1], box[3]].some((cy) => Math.abs(y + 0.5 - cy) <= cellY + 0.5);
            expect(nearCorner, `${W}x${H} pixel ${x},${y}`).toBe(true);
          }
        }
        if (f === 0) console.log(`[object_masks] tiny mask vs box region ${W}x${H}: ${diff} of ${o.mask!.area} pixels differ (all at box corners)`);
      }
    }
  });

  it('memory bank during tracking: the conditioning frame + the last 6 frames, at most 16 pointers', async () => {
    const W = 161;
    const H = 121;
    const tr = new VideoObjectTracker(sam, { width: W, height: H, idSeed: 'v:0' });
    const before = sam.timings();
    let id = '';
    for (let f = 0; f < 24; f++) {
      const r = await tr.step({ width: W, height: H, data: grey(W, H), index: 100 + f }, f === 0 ? [det([20, 20, 90, 80])] : []);
      id ||= r.objects[0].objectId;
      const bank = tr.bank(id)!;
      const sel = bank.select(f + 1);
      expect(bank.cond.map((e) => e.t)).toEqual([0]);
      expect(sel.spatial.length).toBe(1 + Math.min(6, f));
      expect(sel.pointers.length).toBe(Math.min(16, f + 1));
      expect(bank.nonCond.filter((e) => e.features).length).toBeLessThanOrEqual(6);
    }
    const after = sam.timings();
    const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
    console.log(`[object_masks] ${W}x${H}, 24 frames, 1 object: module ms/calls ${JSON.stringify(delta)}, preprocess ${(tr.stats.preprocess_ms / 24).toFixed(1)} ms/frame`);
  });

  it('occlusion: an absent object gets no mask and an empty memory, and is found again', async () => {
    const W = 201;
    const H = 151;
    const tr = new VideoObjectTracker(sam, { width: W, height: H, idSeed: 'v:0' });
    const box: Box = [30, 40, 120, 110];
    const seen: Array<{ present: boolean; area: number }> = [];
    let id = '';
    for (let f = 0; f < 12; f++) {
      const dark = f >= 5 && f <= 7; // the region goes black: the tiny object score drops below 0
      const r = await tr.step({ width: W, height: H, data: grey(W, H, dark ? 0 : 140), index: f }, f === 0 ? [det(box)] : []);
      id ||= r.objects[0].objectId;
      const o = r.objects.find((x) => x.objectId === id)!;
      seen.push({ present: o.present, area: o.mask?.area ?? 0 });
      if (dark) {
        expect(o.present).toBe(false);
        expect(o.objectScore).toBeLessThan(0);
        expect(o.mask).toBeNull();
        // stored, but as an absent frame with an empty mask (tiny memory encoder: pooled mask_for_mem = -10 everywhere)
        const e = tr.bank(id)!.nonCond.find((x) => x.t === f)!;
        expect(e.present).toBe(false);
        expect(e.features!.every((v) => v === -10)).toBe(true);
      } else {
        expect(o.present).toBe(true);
        const e = f === 0 ? tr.bank(id)!.cond[0] : tr.bank(id)!.nonCond.find((x) => x.t === f)!;
        expect(e.present).toBe(true);
        expect(e.features!.some((v) => v > 0)).toBe(true); // a visible mask is in the memory
      }
    }
    expect(seen.map((s) => s.present)).toEqual([true, true, true, true, true, false, false, false, true, true, true, true]);
    expect(seen[11].area).toBe(seen[0].area);
    expect(tr.summaries()).toHaveLength(1);
    expect(tr.summaries()[0]).toMatchObject({ objectId: id, firstFrame: 0, lastFrame: 11, framesPresent: 9 });
  });

  it('a detection overlapping a tracked mask joins it (IoU); others start new objects; a continuing hand that moved is re-prompted', async () => {
    const W = 321;
    const H = 241;
    const tr = new VideoObjectTracker(sam, { width: W, height: H, idSeed: 'v:3', matchIou: 0.3 });
    const frame = (i: number) => ({ width: W, height: H, data: grey(W, H), index: i });
    const r0 = await tr.step(frame(0), [det([20, 20, 100, 100]), det([200, 20, 300, 100], { label: 'left_hand', cls: 'hand', key: 'hand:0', source: 'hand_keypoints' })]);
    expect(r0.assignments.map((a) => a.action)).toEqual(['new', 'new']);
    const [cup, hand] = r0.assignments.map((a) => a.objectId!);
    // frame 1: the same cup, slightly shifted -> matched; a new cup elsewhere -> new; the hand (same key) where it was -> matched
    const r1 = await tr.step(frame(1), [det([24, 22, 104, 104]), det([20, 150, 100, 230]), det([202, 22, 298, 98], { label: 'left_hand', cls: 'hand', key: 'hand:0' })]);
    const byAction = r1.assignments.map((a) => [a.action, a.objectId]);
    expect(byAction).toContainEqual(['matched', cup]);
    expect(byAction).toContainEqual(['matched', hand]);
    const created = r1.assignments.filter((a) => a.action === 'new');
    expect(created).toHaveLength(1);
    expect(r1.assignments.find((a) => a.objectId === cup)!.iou).toBeGreaterThan(0.8);
    expect(tr.liveObjects).toBe(3);
    // frame 2: the hand (same key) jumped to a place its mask does not cover -> re-prompted, mask follows, same id
    const r2 = await tr.step(frame(2), [det([200, 140, 300, 230], { label: 'left_hand', cls: 'hand', key: 'hand:0' })]);
    expect(r2.assignments[0]).toMatchObject({ action: 'reprompted', objectId: hand });
    const h = r2.objects.find((o) => o.objectId === hand)!;
    expect(h.prompted).toBe(true);
    expect(h.mask!.bbox).toEqual([200, 140, 100, 90]);
    expect(tr.bank(hand)!.cond.map((e) => e.t)).toEqual([0, 2]);
    // a cup detection of another class never joins the hand
    const r3 = await tr.step(frame(3), [det([200, 140, 300, 230])]);
    expect(r3.assignments[0].action).toBe('new');
    // ids are deterministic: same seed, class, frame and box
    const again = new VideoObjectTracker(sam, { width: W, height: H, idSeed: 'v:3' });
    const a0 = await again.step(frame(0), [det([20, 20, 100, 100])]);
    expect(a0.assignments[0].objectId).toBe(cup);
    expect(tr.summaries().find((s) => s.objectId === hand)!.label).toBe('left_hand');
  });

  it('click prompts: a positive click starts an object; a later click inside its mask joins it', async () => {
    const W = 256;
    const H = 128;
    const tr = new VideoObjectTracker(sam, { width: W, height: H, idSeed: 'p' });
    const frame = (i: number) => ({ width: W, height: H, data: grey(W, H), index: i });
    const click = (x: number, y: number): Detection => ({ points: [[x, y]], label: 'knob', cls: 'knob', score: 1, source: 'recipe' });
    const r0 = await tr.step(frame(0), [click(100, 60)]);
    expect(r0.assignments[0].action).toBe('new');
    // the tiny decoder turns a click into a 64x64 box in input pixels: 16 x 8 video pixels here
    expect(r0.objects[0].mask!.bbox).toEqual([92, 56, 16, 8]);
    const r1 = await tr.step(frame(1), [click(101, 59), click(200, 20)]);
    expect(r1.assignments.map((a) => a.action)).toEqual(['matched', 'new']);
  });

  it("a detector's own mask is matched by mask IoU (the box alone would not match)", async () => {
    const W = 200;
    const H = 100;
    const tr = new VideoObjectTracker(sam, { width: W, height: H, idSeed: 'm' });
    const frame = (i: number) => ({ width: W, height: H, data: grey(W, H), index: i });
    const r0 = await tr.step(frame(0), [det([20, 20, 80, 80])]);
    const mask = r0.objects[0].mask!.rle;
    // a loose box (IoU with the mask < 0.3) carrying a mask equal to the tracked one
    const r1 = await tr.step(frame(1), [det([0, 0, 200, 100], { rle: mask })]);
    expect(r1.assignments[0]).toMatchObject({ action: 'matched', objectId: r0.objects[0].objectId, iou: 1 });
    const r2 = await tr.step(frame(2), [det([0, 0, 200, 100])]);
    expect(r2.assignments[0].action).toBe('new');
  });

  it('max_objects caps the tracked objects', async () => {
    const tr = new VideoObjectTracker(sam, { width: 200, height: 100, idSeed: 'x', maxObjects: 2 });
    const r = await tr.step({ width: 200, height: 100, data: grey(200, 100), index: 0 }, [det([0, 0, 40, 40]), det([60, 0, 100, 40]), det([120, 0, 160, 40])]);
    expect(r.assignments.map((a) => a.action)).toEqual(['new', 'new', 'skipped']);
    expect(tr.stats.skipped_max_objects).toBe(1);
  });
});

describe('object_masks refuses to run without weights', () => {
  const task = (params: Record<string, unknown>): TaskInput => ({
    op: 'object_masks',
    video: { video_id: 'v1', path: '/nonexistent.mp4', fps: 10, frame_count: 3, width: 64, height: 48, rotation: 0, vfr: false, duration_s: 0.3 },
    clip: { clip_id: 'c1', video_id: 'v1', scene_index: 0, start_frame: 0, end_frame: 3, start_s: 0, end_s: 0.3, overlap_prev_frames: 0 },
    params,
    upstream: { hand_keypoints: [{ clip_id: 'c1', frame: 0, hand_index: 0, handedness: 'right', bbox: [10, 10, 30, 30] }] },
    attempt: 1,
    tools: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
  });

  it('resolveModels names every missing file and how to get it; setup and run refuse; validate wants a model folder', async () => {
    const missing = path.join(tmpdir(), 'definitely-missing-sam2');
    for (const params of [{ model_dir: missing }, {}, { model_dir: dir, memory_encoder: path.join(missing, 'x.onnx') }]) {
      const err = await op.resolveModels!(params).then(
        () => null,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Sam2WeightsError);
      expect(isPermanent(err)).toBe(true);
      expect(err!.message).toMatch(/memory_encoder/);
      expect(err!.message).toMatch(/NVIDIA-AI-IOT\/deepstream_tools/);
      expect(err!.message).toMatch(/export_sam2_onnx\.py/);
      expect(err!.message).toMatch(/never produces masks without real weights/);
      await expect(Promise.resolve().then(() => op.setup!(params))).rejects.toThrow(Sam2WeightsError);
      const runErr = await op.run(task(params), { state: undefined as never }).then(
        () => null,
        (e: Error) => e,
      );
      expect(isPermanent(runErr)).toBe(true);
    }
    const all = await op.resolveModels!({ model_dir: missing }).catch((e: Error) => e.message);
    for (const m of MODULES) expect(all).toContain(path.join(missing, MODULE_FILES[m]));
    expect(op.validate!({})[0]).toMatch(/model_dir/);
    expect(op.validate!({ model_dir: dir })).toEqual([]);
    expect(op.validate!({ model_dir: dir, prompt_sources: ['hands'] })[0]).toMatch(/unknown "hands"/);
    const ok = await op.resolveModels!({ model_dir: dir });
    expect(ok.files.map((f) => f.name)).toEqual(MODULES.map((m) => `sam2_${m}`));
    expect(ok.params.mask_decoder).toBe(path.join(dir, 'mask_decoder.onnx'));
  });

  it('collects prompts of one clip from hand rows, detector rows and the recipe, on processed frames only', () => {
    const t = task({});
    t.clip = { ...t.clip!, end_frame: 10 };
    t.upstream = {
      hand_keypoints: [
        { clip_id: 'c1', frame: 2, hand_index: 0, handedness: 'right', presence: 0.9, bbox: [10, 10, 30, 30] },
        { clip_id: 'other', frame: 2, hand_index: 0, handedness: 'right', presence: 0.9, bbox: [10, 10, 30, 30] },
        { clip_id: 'c1', frame: 3, hand_index: 0, handedness: 'right', presence: 0.9, bbox: [10, 10, 30, 30] },
      ],
      detections: [{ clip_id: 'c1', frame: 4, label: 'cup', score: 0.9, bbox: [1, 1, 20, 20] }],
    };
    const p = resolveParams({ prompts: { objects: [{ box: [5, 5, 40, 40], label: 'tray' }] }, step: 2 });
    const d = clipDetections(t, p);
    expect([...d.keys()].sort((a, b) => a - b)).toEqual([0, 2, 4]);
    expect(d.get(0)!.map((x) => x.label)).toEqual(['tray']);
    expect(d.get(2)!.map((x) => x.source)).toEqual(['hand_keypoints']);
    expect(d.get(4)!.map((x) => x.label)).toEqual(['cup']);
    const onlyHands = clipDetections(t, resolveParams({ prompt_sources: ['hand_keypoints'] }));
    expect([...onlyHands.keys()]).toEqual([2, 3]);
    const frames = op.frames!({ ...t, params: { prompt_sources: ['detections'] } });
    expect(frames).toMatchObject({ startFrame: 4, endFrame: 10, width: 64, height: 48, pixFmt: 'rgb24' });
  });

  it('declares its contract', () => {
    expect(op.level).toBe('clip');
    expect(op.resources.pool).toBe('gpu');
    expect(op.outputs.map((t) => t.name)).toEqual(['masks', 'objects']);
    expect(op.outputs[0].columns).toEqual({
      clip_id: 'VARCHAR',
      frame: 'INTEGER',
      object_id: 'VARCHAR',
      label: 'VARCHAR',
      score: 'FLOAT',
      bbox: 'FLOAT[]',
      area: 'BIGINT',
      rle_counts: 'VARCHAR',
      height: 'INTEGER',
      width: 'INTEGER',
    });
    expect(Object.keys(op.outputs[1].columns)).toEqual(['object_id', 'clip_id', 'label', 'first_frame', 'last_frame', 'source']);
  });

  it('recipes/masks-tiny.yaml: object_masks params pass the op schema and validate()', () => {
    const recipe = parseYaml(readFileSync(path.join(ROOT, 'recipes/masks-tiny.yaml'), 'utf8')) as { ops: Array<{ op: string; params?: Record<string, unknown> }>; models: Record<string, { path: string }> };
    const entry = recipe.ops.find((o) => o.op === 'object_masks')!;
    expect(recipe.ops.map((o) => o.op)).toEqual(['probe', 'scene_detect', 'clips', 'hand_keypoints', 'object_masks']);
    const r = validateParams(op.params, entry.params, ['ops', 4, 'params']);
    expect(r.errors).toEqual([]);
    expect(entry.params!.model_dir).toBe('model:sam2');
    expect(recipe.models.sam2.path).toBe('../fixtures/generated/tiny-models/sam2');
    expect(op.validate!({ ...r.params, model_dir: dir })).toEqual([]);
  });
});
