/**
 * object_detect with the tiny SAM 3 stand-ins: contract checks, refusal without weights, the
 * text-embedding cache, and the op end to end on the first frames of a real video.
 */
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTool } from '../../src/ffmpeg.js';
import { OnnxGraph } from '../../src/onnx/writer.js';
import { decodeMask, rleBbox } from '../../src/rle.js';
import { isPermanent, type ClipInfo, type TaskInput, type VideoInfo } from '../../operators/types.js';
import {
  ObjectDetectWeightsError,
  detectKeyframes,
  keyframeDecodeOptions,
  op,
  resolveModelFiles,
  resolveParams,
  type ObjectDetectParams,
  type ObjectDetectState,
} from '../../operators/object_detect/index.js';
import { Sam3ContractError, Sam3Runtime, imageToTensor, releaseSam3Runtimes, sigmoid } from '../../operators/object_detect/sam3.js';
import { ClipTokenizer } from '../../operators/object_detect/tokenizer.js';
import { TINY_PROMPT_IDS, TINY_SAM3, tinySam3Reference, writeTinySam3 } from '../../operators/object_detect/tiny.js';

const VIDEO = path.resolve(__dirname, '..', '..', '..', 'shared', 'data', 'videos', '02_cups.mp4');
const video: VideoInfo = { video_id: 'cups', path: VIDEO, fps: 30000 / 1001, frame_count: 300, width: 1280, height: 720, rotation: 0, vfr: false, duration_s: 10.01 };
const clipA: ClipInfo = { clip_id: 'cups#0', video_id: 'cups', scene_index: 0, start_frame: 0, end_frame: 20, start_s: 0, end_s: 0.667, overlap_prev_frames: 0 };
const clipB: ClipInfo = { clip_id: 'cups#20', video_id: 'cups', scene_index: 0, start_frame: 20, end_frame: 35, start_s: 0.667, end_s: 1.168, overlap_prev_frames: 0 };
const PROMPTS = ['hand', 'cup', 'knife', 'bowl'];

let root: string;
let dir: string; // v2 layout, 1008
let small: string; // v1 layout, 112, no masks

function task(params: Partial<ObjectDetectParams>, clip: ClipInfo = clipA): TaskInput<Partial<ObjectDetectParams>> {
  let ffmpeg = 'ffmpeg';
  try {
    ffmpeg = resolveTool('ffmpeg').path;
  } catch {
    /* refusal tests do not decode */
  }
  return { op: 'object_detect', video, clip, params, upstream: {}, attempt: 1, tools: { ffmpeg, ffprobe: 'ffprobe' } };
}

/** Expected detections of the tiny model for one prompt (query, score, normalised box). */
function expected(prompt: string, threshold: number) {
  const ref = tinySam3Reference(TINY_PROMPT_IDS[prompt]);
  const pres = sigmoid(ref.presence);
  return ref.logits
    .map((l, q) => ({ q, score: sigmoid(l) * pres, box: ref.boxes[q] }))
    .filter((d) => d.score > threshold)
    .sort((a, b) => b.score - a.score);
}

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'egopipe-sam3-'));
  dir = path.join(root, 'sam3');
  small = path.join(root, 'sam3-small');
  writeTinySam3(dir);
  writeTinySam3(small, { imageSize: 112, decoderInputs: 'v1', noMasks: true });
});

afterAll(async () => {
  await releaseSam3Runtimes();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('refuses to run without weights', () => {
  it('validate, resolveModels, setup and run name the missing files', async () => {
    const missing = path.join(root, 'no-such-model');
    for (const params of [{ prompts: PROMPTS }, { prompts: PROMPTS, model_dir: missing }, { prompts: PROMPTS, model_dir: dir, decoder: path.join(missing, 'decoder.onnx') }]) {
      const errs = op.validate!(params);
      expect(errs.join('\n')).toMatch(/SAM 3 model files missing/);
      await expect(op.resolveModels!(params)).rejects.toThrow(ObjectDetectWeightsError);
      await expect(Promise.resolve().then(() => op.setup!(params))).rejects.toThrow(ObjectDetectWeightsError);
      const err = await op.run(task(params), { state: undefined as never }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(ObjectDetectWeightsError);
      expect(isPermanent(err)).toBe(true);
      expect(err!.message).toMatch(/never produces output without real weights/);
      expect(err!.message).toMatch(/export_v2\.py/);
    }
    const e = (() => {
      try {
        resolveModelFiles({ prompts: PROMPTS, model_dir: missing });
      } catch (x) {
        return (x as Error).message;
      }
      return '';
    })();
    for (const what of ['image_encoder: none of vision-encoder.onnx', 'text_encoder: none of text-encoder.onnx', 'decoder: none of decoder.onnx', 'tokenizer: none of vocab.json + merges.txt']) expect(e).toContain(what);
  });

  it('a folder without the tokenizer is refused', async () => {
    const d = path.join(root, 'no-tokenizer');
    const files = writeTinySam3(d, { imageSize: 112 });
    for (const f of files.filter((x) => /vocab|merges/.test(x))) unlinkSync(f);
    await expect(op.resolveModels!({ prompts: PROMPTS, model_dir: d })).rejects.toThrow(/tokenizer: none of/);
  });

  it('checks prompts and thresholds', () => {
    expect(op.validate!({ prompts: [], model_dir: dir }).join()).toMatch(/at least one text prompt/);
    expect(op.validate!({ prompts: ['cup', 'cup'], model_dir: dir }).join()).toMatch(/listed twice/);
    expect(op.validate!({ prompts: ['cup'], model_dir: dir, thresholds: { knife: 0.3 } }).join()).toMatch(/not one of the prompts/);
    expect(op.validate!({ prompts: ['cup'], model_dir: dir, thresholds: { cup: 2 } }).join()).toMatch(/\[0, 1\]/);
    expect(op.validate!({ prompts: ['cup'], model_dir: dir, thresholds: { cup: 0.2 } })).toEqual([]);
  });

  it('resolveModels returns absolute paths and every file for the runs table', async () => {
    const r = await op.resolveModels!({ prompts: PROMPTS, model_dir: dir });
    expect(r.files.map((f) => f.name)).toEqual(['sam3_image_encoder', 'sam3_text_encoder', 'sam3_decoder', 'sam3_tokenizer:vocab.json', 'sam3_tokenizer:merges.txt']);
    for (const f of r.files) expect(path.isAbsolute(f.path) && existsSync(f.path)).toBe(true);
    expect(r.params.decoder).toBe(path.join(dir, 'decoder.onnx'));
    // the resolved params alone (no model_dir) still find everything
    const again = resolveModelFiles({ ...r.params, model_dir: undefined });
    expect(again.tokenizer.files).toEqual([path.join(dir, 'vocab.json'), path.join(dir, 'merges.txt')]);
  });

  it('declares its contract', () => {
    expect(op.name).toBe('object_detect');
    expect(op.level).toBe('clip');
    expect(op.resources.pool).toBe('gpu');
    expect(op.outputs[0].name).toBe('detections');
    expect(op.outputs[0].columns).toEqual({ clip_id: 'VARCHAR', frame: 'INTEGER', label: 'VARCHAR', score: 'FLOAT', bbox: 'FLOAT[]', rle_counts: 'VARCHAR', height: 'INTEGER', width: 'INTEGER' });
    expect(op.params.prompts.required).toBe(true);
  });
});

describe('ONNX contract', () => {
  const files = (d: string) => ({ imageEncoder: path.join(d, 'vision-encoder.onnx'), textEncoder: path.join(d, 'text-encoder.onnx'), decoder: path.join(d, 'decoder.onnx') });

  it('the tiny modules follow it and behave as documented (both decoder layouts)', async () => {
    for (const d of [dir, small]) {
      const rt = await Sam3Runtime.load(files(d), ClipTokenizer.fromPath(d), { threads: 1 });
      try {
        const img = new Float32Array(3 * rt.inputWidth * rt.inputHeight);
        const feats = await rt.encodeImage(img);
        for (const prompt of PROMPTS) {
          const ref = tinySam3Reference(TINY_PROMPT_IDS[prompt]);
          const raw = await rt.decode(feats, await rt.encodeText(prompt));
          expect(raw.count).toBe(TINY_SAM3.queries);
          expect(Array.from(raw.logits)).toEqual(ref.logits.map(Math.fround));
          expect(raw.presence).toBeCloseTo(ref.presence, 5);
          for (let q = 0; q < raw.count; q++) ref.boxes[q].forEach((v, k) => expect(raw.boxes[q * 4 + k]).toBeCloseTo(v, 6));
          if (d === dir) expect(raw.masks?.height).toBe(TINY_SAM3.maskSize);
          else expect(raw.masks).toBeUndefined();
        }
        // a longer prompt has more real tokens: the decoder sees the mask
        const two = await rt.decode(feats, await rt.encodeText('hand cup'));
        expect(two.presence).toBeCloseTo(tinySam3Reference(TINY_PROMPT_IDS.hand, 4).presence, 5);
      } finally {
        await rt.release();
      }
    }
  });

  it('presence_logits is optional: the score is then the box probability alone', async () => {
    const d = path.join(root, 'no-presence');
    writeTinySam3(d, { imageSize: 112, noPresence: true, noMasks: true });
    const rt = await Sam3Runtime.load(files(d), ClipTokenizer.fromPath(d), { threads: 1 });
    try {
      const raw = await rt.decode(await rt.encodeImage(new Float32Array(3 * 112 * 112)), await rt.encodeText('cup'));
      expect(raw.presence).toBeNull();
      const p = resolveParams({ prompts: ['cup'], threshold: 0.4, image_size: 112 });
      const r = await detectKeyframes([{ index: 3, width: 112, height: 112, data: new Uint8Array(112 * 112 * 3) }], rt, p, { clip_id: 'x', width: 100, height: 50 });
      const ref = tinySam3Reference(TINY_PROMPT_IDS.cup);
      expect(r.rows.map((x) => x.score as number)).toEqual(ref.logits.map(sigmoid).filter((s) => s > 0.4).map(Math.fround));
    } finally {
      await rt.release();
    }
  });

  it('refuses ONNX files that do not follow it, listing every problem', async () => {
    const bad = path.join(root, 'bad');
    writeTinySam3(bad, { imageSize: 112 });
    // a "decoder" that outputs none of the contract names and takes an unknown input
    const g = new OnnxGraph('wrong');
    g.input('fpn_feat_2', 'float32', [1, 3, 4, 4]);
    g.input('text_features', 'float32', [1, 32, 4]);
    g.input('text_mask', 'bool', [1, 32]);
    g.input('mystery', 'float32', [1]);
    g.node('Identity', ['mystery'], ['scores']);
    g.output('scores', 'float32', [1]);
    writeFileSync(path.join(bad, 'decoder.onnx'), g.toBytes());
    const err = await Sam3Runtime.load(files(bad), ClipTokenizer.fromPath(bad)).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Sam3ContractError);
    expect(isPermanent(err)).toBe(true);
    expect(err!.message).toMatch(/decoder: input 'mystery'/);
    expect(err!.message).toMatch(/decoder output 'pred_boxes' is missing/);
    expect(err!.message).toMatch(/decoder output 'pred_logits' is missing/);
    // a file that is not ONNX at all
    writeFileSync(path.join(bad, 'decoder.onnx'), 'not onnx');
    await expect(Sam3Runtime.load(files(bad), ClipTokenizer.fromPath(bad))).rejects.toThrow(/cannot load the SAM 3 decoder/);
  });
});

describe('text embeddings are computed once per prompt and cached per worker', () => {
  it('the text encoder runs once per prompt, however many keyframes and clips follow', async () => {
    const params: Partial<ObjectDetectParams> = { model_dir: small, prompts: PROMPTS, image_size: 112, threads: 1 };
    const state = (await op.setup!(params)) as ObjectDetectState;
    const rt = state.runtime;
    const before = rt.counters.textEncoderRuns;
    const p = resolveParams(params);
    const frames = (n: number, start: number) => Array.from({ length: n }, (_, i) => ({ index: start + i, width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(90) }));
    const r1 = await detectKeyframes(frames(3, 0), rt, p, { clip_id: 'a', width: 640, height: 480 });
    const r2 = await detectKeyframes(frames(2, 10), rt, p, { clip_id: 'b', width: 640, height: 480 });
    expect(r1.stats.text_encoder_runs).toBe(PROMPTS.length);
    expect(r2.stats.text_encoder_runs).toBe(0);
    expect(rt.counters.textEncoderRuns - before).toBe(PROMPTS.length);
    expect(r1.stats.decoder_runs).toBe(3 * PROMPTS.length);
    expect(r1.stats.keyframes).toBe(3);
    // a second setup with the same model (another param set) shares the runtime and its cache
    const state2 = (await op.setup!({ ...params, prompts: ['cup'], threshold: 0.1 })) as ObjectDetectState;
    expect(state2.runtime).toBe(rt);
    await detectKeyframes(frames(1, 0), state2.runtime, resolveParams({ ...params, prompts: ['cup'] }), { clip_id: 'c', width: 640, height: 480 });
    expect(rt.counters.textEncoderRuns - before).toBe(PROMPTS.length);
  });
});

describe('end to end on 02_cups.mp4', () => {
  const haveVideo = existsSync(VIDEO);

  it.skipIf(!haveVideo)('keyframes of two clips: known boxes, scores, per-label thresholds and masks at 1280x720', async () => {
    const params: Partial<ObjectDetectParams> = { model_dir: dir, prompts: PROMPTS, keyframe_stride: 10, threshold: 0.5, thresholds: { cup: 0.4, knife: 0.3 }, threads: 1 };
    expect(op.validate!(params)).toEqual([]);
    const resolved = await op.resolveModels!(params);
    const state = (await op.setup!(resolved.params)) as ObjectDetectState;
    const textBefore = state.runtime.counters.textEncoderRuns;
    const outA = await op.run(task(resolved.params, clipA), { state });
    const outB = await op.run(task(resolved.params, clipB), { state });
    expect(outA.stats?.text_encoder_runs).toBe(PROMPTS.length);
    expect(outB.stats?.text_encoder_runs).toBe(0);
    expect(state.runtime.counters.textEncoderRuns - textBefore).toBe(PROMPTS.length);
    expect(outA.stats?.keyframes).toBe(2); // frames 0 and 10
    expect(outB.stats?.keyframes).toBe(2); // frames 20 and 30

    const rowsA = outA.rows.detections;
    const rowsB = outB.rows.detections;
    expect(new Set(rowsA.map((r) => r.frame))).toEqual(new Set([0, 10]));
    expect(new Set(rowsB.map((r) => r.frame))).toEqual(new Set([20, 30]));
    const thr: Record<string, number> = { hand: 0.5, cup: 0.4, knife: 0.3, bowl: 0.5 };
    for (const [rows, clip, frames] of [
      [rowsA, clipA, [0, 10]],
      [rowsB, clipB, [20, 30]],
    ] as const) {
      for (const frame of frames) {
        const got = rows.filter((r) => r.frame === frame);
        const want = PROMPTS.flatMap((label) => expected(label, thr[label]).map((d) => ({ label, ...d })));
        expect(got.map((r) => r.label)).toEqual(want.map((w) => w.label));
        want.forEach((w, i) => {
          const r = got[i];
          expect(r.clip_id).toBe(clip.clip_id);
          expect(r.height).toBe(720);
          expect(r.width).toBe(1280);
          expect(r.score as number).toBeCloseTo(w.score, 5);
          const px = [w.box[0] * 1280, w.box[1] * 720, w.box[2] * 1280, w.box[3] * 720];
          (r.bbox as number[]).forEach((v, k) => expect(v).toBeCloseTo(px[k], 2));
          // the mask is the box rasterised on the 32 x 32 grid: within one grid cell of the box
          const rle = { size: [720, 1280] as [number, number], counts: r.rle_counts as string };
          const [mx, my, mw, mh] = rleBbox(rle);
          expect(Math.abs(mx - px[0])).toBeLessThanOrEqual(1280 / 32);
          expect(Math.abs(my - px[1])).toBeLessThanOrEqual(720 / 32);
          expect(Math.abs(mx + mw - px[2])).toBeLessThanOrEqual(1280 / 32);
          expect(Math.abs(my + mh - px[3])).toBeLessThanOrEqual(720 / 32);
          expect(decodeMask(rle)).toHaveLength(720 * 1280);
        });
      }
    }
    // what the thresholds did: hand passes 0.5; cup (0.455) only with its 0.4; knife (0.311) with 0.3; bowl (0.189) never
    expect(new Set(rowsA.map((r) => r.label))).toEqual(new Set(['hand', 'cup', 'knife']));
    // boxes differ per prompt (the tiny decoder places them by the prompt's token)
    const boxes = new Set(rowsA.filter((r) => r.frame === 0).map((r) => JSON.stringify(r.bbox)));
    expect(boxes.size).toBe(3);
  });

  it.skipIf(!haveVideo)('masks: false and a decoder without masks give null rle_counts; decode options follow keyframe_stride', async () => {
    const params: Partial<ObjectDetectParams> = { model_dir: dir, prompts: ['hand'], keyframe_stride: 7, masks: false, threads: 1 };
    const state = (await op.setup!(params)) as ObjectDetectState;
    const out = await op.run(task(params, clipB), { state });
    const rows = out.rows.detections;
    expect(rows.map((r) => r.frame)).toEqual([20, 27, 34]);
    expect(rows.every((r) => r.rle_counts === null)).toBe(true);
    const o = keyframeDecodeOptions(task(params, clipB));
    expect([o.startFrame, o.endFrame, o.step, o.width, o.height]).toEqual([20, 35, 7, 1008, 1008]);

    const p2: Partial<ObjectDetectParams> = { model_dir: small, prompts: ['hand'], keyframe_stride: 50, image_size: 112, threads: 1 };
    const s2 = (await op.setup!(p2)) as ObjectDetectState;
    const out2 = await op.run(task(p2, clipA), { state: s2 });
    expect(out2.rows.detections.map((r) => [r.frame, r.rle_counts])).toEqual([[0, null]]);
  });

  it('frames handed over by the worker (ctx.frames) are used as they are, resized when needed', async () => {
    const params: Partial<ObjectDetectParams> = { model_dir: small, prompts: ['hand', 'cup'], keyframe_stride: 5, image_size: 112, threshold: 0.2, threads: 1 };
    const state = (await op.setup!(params)) as ObjectDetectState;
    const W = 200;
    const H = 100;
    async function* frames() {
      for (const index of [0, 5, 10, 15]) yield { index, width: W, height: H, channels: 3, data: Buffer.alloc(W * H * 3, 128) };
    }
    const t = task(params, clipA);
    t.video = { ...video, path: '/nonexistent.mp4', width: 640, height: 360 };
    const out = await op.run(t, { state, frames: frames() });
    expect(new Set(out.rows.detections.map((r) => r.frame))).toEqual(new Set([0, 5, 10, 15]));
    expect(out.rows.detections.every((r) => r.width === 640 && r.height === 360)).toBe(true);
    // the same tensor either way: frames are stretched to the encoder input
    const a = imageToTensor({ width: W, height: H, data: new Uint8Array(W * H * 3).fill(128) }, 112, 112);
    expect(a[0]).toBeCloseTo(128 / 127.5 - 1, 6);
  });
});
