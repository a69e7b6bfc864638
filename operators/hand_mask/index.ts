/**
 * hand_mask: one binary mask per detected hand, stored as COCO RLE at the video's resolution.
 *
 * method 'landmarks' (the only one so far) needs no model and no decoding: it fills the convex
 * hull of the 21 keypoints of each hand_keypoints row and adds every bone of the MediaPipe hand
 * skeleton as a thick capsule (radius dilate_frac x hand size), which covers the fingers that stick
 * out of the hull. It is an approximation of the hand's silhouette, good for masking hands out of
 * frames or as a prompt for a segmentation model; 'sam2' (real segmentation, prompted by these
 * masks/keypoints) arrives with the model-worker pool.
 */
import { PermanentError, toNumbers, type OperatorSpec, type Row, type TableSpec, type TaskOutput } from '../types.js';
import { op as sam2Op, sam2HandMasks } from '../object_masks/index.js';
import type { Sam2Modules } from '../object_masks/sam2.js';
import { countsToString, encodeCountsColumnMajorWindow, rleArea, rleBbox } from '../../src/rle.js';
import { rasterizeHand, type HullMode } from './raster.js';
import { PROVIDERS_PARAM } from '../../src/onnx/providers.js';

export interface HandMaskParams {
  method: 'landmarks' | 'sam2';
  dilate_frac: number;
  hull: HullMode;
  /** sam2: folder of the four-module SAM 2.1 export (object_masks README); module paths after resolveModels */
  model_dir?: string;
  box_pad: number;
  providers: string[];
  threads: number;
  [k: string]: unknown;
}

const DEFAULTS: HandMaskParams = { method: 'landmarks', dilate_frac: 0.05, hull: 'hand', box_pad: 0.1, providers: ['auto'], threads: 0 };

export const handMasksTable: TableSpec = {
  name: 'hand_masks',
  description: 'One binary mask per hand_keypoints row, as COCO RLE (pycocotools-compatible) at the video resolution.',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    hand_index: 'INTEGER',
    handedness: 'VARCHAR',
    method: 'VARCHAR',
    bbox: 'FLOAT[]',
    area: 'BIGINT',
    rle_counts: 'VARCHAR',
    height: 'INTEGER',
    width: 'INTEGER',
  },
  docs: {
    frame: '0-based frame index in the video (same as hand_keypoints.frame)',
    hand_index: 'index of the hand in that frame (joins hand_keypoints on clip_id, frame, hand_index)',
    handedness: 'copied from hand_keypoints',
    method: "how the mask was made: 'landmarks' = keypoint hull + thick skeleton",
    bbox: 'tight box of the mask pixels, COCO [x, y, w, h] in pixels; [0,0,0,0] when empty',
    area: 'number of mask pixels',
    rle_counts: 'COCO compressed RLE counts string; {size: [height, width], counts: rle_counts} decodes with pycocotools.mask.decode',
    height: 'mask height = video height',
    width: 'mask width = video width',
  },
};


/** Masks for hand_keypoints rows of one clip at frame size width x height. */
export function handMaskRows(
  rows: readonly Row[],
  width: number,
  height: number,
  params: HandMaskParams,
): { rows: Row[]; skipped: number; pixels: number } {
  const out: Row[] = [];
  let skipped = 0;
  let pixels = 0;
  for (const r of rows) {
    const kp = toNumbers(r.kp2d);
    if (!kp || kp.length < 42 || !kp.slice(0, 42).every(Number.isFinite)) {
      skipped++;
      continue;
    }
    // column-major crop: COCO RLE's own order, encoded with native indexOf run search
    const { canvas } = rasterizeHand(kp.slice(0, 42), width, height, params.dilate_frac, params.hull, 'column');
    const counts = encodeCountsColumnMajorWindow(canvas.data, canvas.height, canvas.width, canvas.x0, canvas.y0, height, width);
    const rle = { size: [height, width] as [number, number], counts };
    const area = rleArea(rle);
    pixels += canvas.width * canvas.height;
    out.push({
      clip_id: r.clip_id,
      frame: Number(r.frame),
      hand_index: Number(r.hand_index),
      handedness: r.handedness == null ? null : String(r.handedness),
      method: params.method,
      bbox: rleBbox(rle),
      area,
      rle_counts: countsToString(counts),
      height,
      width,
    });
  }
  return { rows: out, skipped, pixels };
}

export const op: OperatorSpec<HandMaskParams> = {
  name: 'hand_mask',
  description: 'Binary hand masks (COCO RLE) from hand keypoints: keypoint hull + thick skeleton.',
  level: 'clip',
  needs: ['hand_keypoints'],
  params: {
    method: {
      type: 'enum',
      values: ['landmarks', 'sam2'],
      default: DEFAULTS.method,
      description:
        "'landmarks': a filled convex hull (see hull) plus the skeleton bones as capsules (no model, CPU pool). " +
        "'sam2': SAM 2.1 video segmentation prompted by the hand boxes and tracked through the clip (model workers; needs model_dir).",
    },
    model_dir: {
      type: 'string',
      description: "sam2: folder with the SAM 2.1 four-module ONNX export (image_encoder, mask_decoder, memory_attention, memory_encoder; see operators/object_masks/README.md); a path, model:<name> or asset: reference",
    },
    box_pad: { type: 'number', default: DEFAULTS.box_pad, min: 0, max: 2, description: 'sam2: padding of the hand box prompt, fraction of the keypoint box per side' },
    providers: { ...PROVIDERS_PARAM, default: [...PROVIDERS_PARAM.default] },
    threads: { type: 'integer', default: DEFAULTS.threads, min: 0, description: 'sam2: onnxruntime intra-op threads (0 = default)' },
    dilate_frac: {
      type: 'number',
      default: DEFAULTS.dilate_frac,
      min: 0,
      max: 0.5,
      description:
        'radius of the capsule drawn around each bone (half the finger thickness), as a fraction of the hand size ' +
        '(diagonal of the keypoints box, at least 2x the wrist-to-middle-knuckle length)',
    },
    hull: {
      type: 'enum',
      values: ['hand', 'palm'],
      default: DEFAULTS.hull,
      description:
        "filled convex hull under the skeleton: 'hand' = hull of all 21 keypoints (also fills the gaps between spread " +
        "fingers), 'palm' = hull of the palm landmarks only (spread fingers stay separate)",
    },
  },
  outputs: [handMasksTable],
  resources: { pool: 'cpu', poolFor: (p) => (p.method === 'sam2' ? 'gpu' : 'cpu') },
  validate(p) {
    return p.method === 'sam2' && !p.model_dir ? ['method sam2 needs model_dir (the SAM 2.1 four-module ONNX export folder)'] : [];
  },
  async resolveModels(p) {
    if (p.method !== 'sam2') return { params: p, files: [] };
    const r = await sam2Op.resolveModels!({ model_dir: p.model_dir });
    return { params: { ...p, ...(r.params as object) }, files: r.files };
  },
  async setup(p) {
    if (p.method !== 'sam2') return undefined;
    return (await sam2Op.setup!({ ...p, providers: p.providers, threads: p.threads })) as { modules: Sam2Modules };
  },
  frames(task) {
    if (task.params.method !== 'sam2' || !task.clip) return undefined;
    const v = task.video;
    return { path: v.path, width: v.width, height: v.height, startFrame: task.clip.start_frame, endFrame: task.clip.end_frame, fps: v.vfr ? undefined : v.fps, pixFmt: 'rgb24' };
  },
  cost: (task) => (task.clip ? task.clip.end_frame - task.clip.start_frame : task.video.frame_count) / 10,
  async run(task, ctx): Promise<TaskOutput> {
    const t0 = performance.now();
    const { width, height } = task.video;
    const kps = task.upstream.hand_keypoints ?? [];
    if (task.params.method === 'sam2') {
      const state = ctx.state as { modules: Sam2Modules } | undefined;
      if (!state?.modules || !ctx.frames) throw new PermanentError('hand_mask: method sam2 needs the SAM 2.1 models (setup did not load them)');
      const r = await sam2HandMasks(state.modules, kps, ctx.frames, {
        width,
        height,
        videoId: task.video.video_id,
        sceneIndex: task.clip?.scene_index,
        pad: task.params.box_pad,
      });
      return { rows: { hand_masks: r.rows }, stats: { masks: r.rows.length, ...r.stats, ms: performance.now() - t0 } };
    }
    const { rows, skipped, pixels } = handMaskRows(kps, width, height, { ...DEFAULTS, ...task.params });
    return {
      rows: { hand_masks: rows },
      stats: { masks: rows.length, skipped_rows: skipped, raster_pixels: pixels, ms: performance.now() - t0 },
    };
  },
};
