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
import { toNumbers, type OperatorSpec, type Row, type TableSpec } from '../types.js';
import { countsToString, encodeCountsColumnMajorWindow, rleArea, rleBbox } from '../../src/rle.js';
import { rasterizeHand, type HullMode } from './raster.js';

export interface HandMaskParams {
  method: 'landmarks';
  dilate_frac: number;
  hull: HullMode;
}

const DEFAULTS: HandMaskParams = { method: 'landmarks', dilate_frac: 0.05, hull: 'hand' };

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
      values: ['landmarks'],
      default: DEFAULTS.method,
      description:
        "'landmarks': a filled convex hull (see hull) plus the skeleton bones as capsules (no model). " +
        "'sam2' (segmentation prompted by the keypoints) arrives with the model-worker pool.",
    },
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
  resources: { pool: 'cpu' },
  cost: (task) => (task.clip ? task.clip.end_frame - task.clip.start_frame : task.video.frame_count) / 10,
  async run(task) {
    const t0 = performance.now();
    const { width, height } = task.video;
    const kps = task.upstream.hand_keypoints ?? [];
    const { rows, skipped, pixels } = handMaskRows(kps, width, height, { ...DEFAULTS, ...task.params });
    return {
      rows: { hand_masks: rows },
      stats: { masks: rows.length, skipped_rows: skipped, raster_pixels: pixels, ms: performance.now() - t0 },
    };
  },
};
