/**
 * Prompt sources of object_masks -> detections per frame (pure), and the cross-clip link of
 * object ids over clip overlaps.
 *
 *  - hand_keypoints rows: bbox [x0, y0, x1, y1] (landmark box, padded by hand_box_pad), one
 *    continuity key per hand_index, label '<handedness>_hand', class 'hand';
 *  - detections rows (object_detect): clip_id, frame, label, score, bbox [x0,y0,x1,y1], and its
 *    mask (rle_counts, height, width) when present, used for the IoU association;
 *  - recipe prompts: params.prompts.objects = [{box?, points?, point_labels?, frame?, label?}];
 *  - previous clip: masks rows of the previous clip on this clip's overlap frames (warm start,
 *    keeps their object_id).
 */
import { decompressRle, rleIoU, type RleCounts } from '../../src/rle.js';
import { toNumbers, type Row } from '../types.js';
import { clipBox, padBox, type Box } from './image.js';
import type { Detection } from './tracker.js';

export type DetectionsByFrame = Map<number, Detection[]>;

function push(map: DetectionsByFrame, frame: number, d: Detection): void {
  const list = map.get(frame);
  if (list) list.push(d);
  else map.set(frame, [d]);
}

export interface FrameSize {
  width: number;
  height: number;
}

export function handLabel(handedness: unknown): string {
  const s = typeof handedness === 'string' ? handedness.trim().toLowerCase() : '';
  return s === 'left' || s === 'right' ? `${s}_hand` : 'hand';
}

/** One detection per hand_keypoints row (frames inside [start, end)). */
export function handDetections(rows: readonly Row[], size: FrameSize, opts: { pad?: number; minPresence?: number; start?: number; end?: number } = {}): DetectionsByFrame {
  const out: DetectionsByFrame = new Map();
  for (const r of rows) {
    const frame = Number(r.frame);
    if (!Number.isInteger(frame) || (opts.start !== undefined && frame < opts.start) || (opts.end !== undefined && frame >= opts.end)) continue;
    const presence = r.presence == null ? 1 : Number(r.presence);
    if (opts.minPresence !== undefined && !(presence >= opts.minPresence)) continue;
    const raw = toNumbers(r.bbox);
    const b = raw && raw.length >= 4 ? clipBox(padBox([raw[0], raw[1], raw[2], raw[3]], opts.pad ?? 0), size.width, size.height) : null;
    if (!b) continue;
    push(out, frame, {
      box: b,
      label: handLabel(r.handedness),
      cls: 'hand',
      score: Number.isFinite(presence) ? presence : 1,
      source: 'hand_keypoints',
      key: `hand:${Number(r.hand_index)}`,
      ref: r,
    });
  }
  return out;
}

/** Detector rows (clip_id, frame, label, score, bbox [x0,y0,x1,y1]) above minScore, optionally only some labels. */
export function detectorDetections(rows: readonly Row[], size: FrameSize, opts: { minScore?: number; labels?: readonly string[]; start?: number; end?: number } = {}): DetectionsByFrame {
  const out: DetectionsByFrame = new Map();
  const keep = opts.labels?.length ? new Set(opts.labels) : null;
  for (const r of rows) {
    const frame = Number(r.frame);
    if (!Number.isInteger(frame) || (opts.start !== undefined && frame < opts.start) || (opts.end !== undefined && frame >= opts.end)) continue;
    const label = r.label == null ? 'object' : String(r.label);
    if (keep && !keep.has(label)) continue;
    const score = r.score == null ? 1 : Number(r.score);
    if (!(score >= (opts.minScore ?? 0))) continue;
    const raw = toNumbers(r.bbox);
    const b = raw && raw.length >= 4 ? clipBox(raw, size.width, size.height) : null;
    if (!b) continue;
    const rle = typeof r.rle_counts === 'string' && Number(r.height) === size.height && Number(r.width) === size.width ? { size: [size.height, size.width] as [number, number], counts: r.rle_counts } : null;
    push(out, frame, { box: b, rle, label, cls: label, score, source: 'detections', ref: r });
  }
  return out;
}

/** One object prompt given in the recipe. */
export interface RecipePrompt {
  box?: number[];
  points?: number[][];
  point_labels?: number[];
  /** video frame; default: the first processed frame of every clip */
  frame?: number;
  label?: string;
}

/** Problems in params.prompts (field paths relative to the op params). */
export function checkRecipePrompts(prompts: unknown): string[] {
  if (prompts == null) return [];
  if (typeof prompts !== 'object' || Array.isArray(prompts)) return ['prompts: expected a mapping {objects: [...]}'];
  const errs: string[] = [];
  const extra = Object.keys(prompts).filter((k) => k !== 'objects');
  if (extra.length) errs.push(`prompts: unknown key(s) ${extra.join(', ')} (expected: objects)`);
  const objs = (prompts as { objects?: unknown }).objects;
  if (objs === undefined) return errs;
  if (!Array.isArray(objs)) return [...errs, 'prompts.objects: expected a list of {box, points, point_labels, frame, label}'];
  objs.forEach((o, i) => {
    const at = `prompts.objects[${i}]`;
    if (!o || typeof o !== 'object' || Array.isArray(o)) {
      errs.push(`${at}: expected a mapping`);
      return;
    }
    const p = o as Record<string, unknown>;
    for (const k of Object.keys(p)) if (!['box', 'points', 'point_labels', 'frame', 'label'].includes(k)) errs.push(`${at}.${k}: unknown key (known: box, points, point_labels, frame, label)`);
    const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
    if (p.box !== undefined && !(Array.isArray(p.box) && p.box.length === 4 && p.box.every(num) && p.box[2] > p.box[0] && p.box[3] > p.box[1])) {
      errs.push(`${at}.box: expected [x0, y0, x1, y1] in pixels with x1 > x0 and y1 > y0`);
    }
    if (p.points !== undefined && !(Array.isArray(p.points) && p.points.every((q) => Array.isArray(q) && q.length === 2 && q.every(num)))) {
      errs.push(`${at}.points: expected a list of [x, y] pixel positions`);
    }
    if (p.point_labels !== undefined) {
      const n = Array.isArray(p.points) ? p.points.length : 0;
      if (!(Array.isArray(p.point_labels) && p.point_labels.length === n && p.point_labels.every((l) => l === 0 || l === 1))) {
        errs.push(`${at}.point_labels: expected one 1 (positive) or 0 (negative) per point`);
      }
    }
    if (p.box === undefined && !(Array.isArray(p.points) && p.points.length)) errs.push(`${at}: give a box and/or points`);
    if (p.frame !== undefined && !(Number.isInteger(p.frame) && (p.frame as number) >= 0)) errs.push(`${at}.frame: expected a frame number >= 0`);
    if (p.label !== undefined && typeof p.label !== 'string') errs.push(`${at}.label: expected a string`);
  });
  return errs;
}

/** Recipe prompts that fall into [start, end): at their frame, or at `start` when they have none. */
export function recipeDetections(prompts: { objects?: RecipePrompt[] } | undefined, size: FrameSize, start: number, end: number): DetectionsByFrame {
  const out: DetectionsByFrame = new Map();
  (prompts?.objects ?? []).forEach((p, i) => {
    const frame = p.frame ?? start;
    if (frame < start || frame >= end) return;
    const box = p.box ? clipBox(p.box, size.width, size.height) : null;
    const points = (p.points ?? []).map((q) => [Number(q[0]), Number(q[1])] as [number, number]);
    if (!box && !points.length) return;
    const label = p.label ?? 'object';
    push(out, frame, { box, points: points.length ? points : undefined, pointLabels: p.point_labels, label, cls: label, score: 1, source: 'recipe', key: `recipe:${i}` });
  });
  return out;
}

/** [x, y, w, h] (COCO) -> [x0, y0, x1, y1] */
export function cocoToBox(b: ArrayLike<number>): Box {
  return [b[0], b[1], b[0] + b[2], b[1] + b[3]];
}

/**
 * Warm start: masks rows of the previous clip of the same scene on `frame` (this clip's first
 * frame, inside the overlap) become prompts that keep their object_id. Score 2: they are
 * associated before any other detection.
 */
export function previousClipDetections(rows: readonly Row[], clipId: string, frame: number, size: FrameSize): DetectionsByFrame {
  const out: DetectionsByFrame = new Map();
  for (const r of rows) {
    if (r.clip_id === clipId || Number(r.frame) !== frame || r.object_id == null) continue;
    const bb = toNumbers(r.bbox);
    if (!bb || bb.length < 4 || !(bb[2] > 0 && bb[3] > 0)) continue;
    const box = clipBox(cocoToBox(bb), size.width, size.height);
    if (!box) continue;
    const label = r.label == null ? 'object' : String(r.label);
    push(out, frame, {
      box,
      label,
      cls: /(^|_)hand$/.test(label) ? 'hand' : label,
      score: 2,
      source: 'previous_clip',
      objectId: String(r.object_id),
      ref: r,
    });
  }
  return out;
}

/** Union of detection maps. */
export function mergeDetections(...maps: DetectionsByFrame[]): DetectionsByFrame {
  const out: DetectionsByFrame = new Map();
  for (const m of maps) for (const [f, list] of m) for (const d of list) push(out, f, d);
  return out;
}

function rowRle(r: Row): RleCounts | null {
  const h = Number(r.height);
  const w = Number(r.width);
  if (typeof r.rle_counts !== 'string' || !(h > 0 && w > 0)) return null;
  return decompressRle({ size: [h, w], counts: r.rle_counts });
}

/**
 * Links the objects of two clips of the same scene over the frames they share (the next clip's
 * overlap): for every pair (next object, previous object) the mean mask IoU over the shared
 * frames where either has a mask; pairs are taken greedily, best first, when at least `minIoU`.
 * Returns next object_id -> previous object_id. Use it to carry ids across a scene after the
 * fact (the clips of a scene run independently, see README).
 */
export function linkObjectsAcrossClips(prevRows: readonly Row[], nextRows: readonly Row[], minIoU = 0.5): Map<string, string> {
  const index = (rows: readonly Row[]) => {
    const m = new Map<string, Map<number, RleCounts>>();
    for (const r of rows) {
      const rle = rowRle(r);
      if (!rle || r.object_id == null) continue;
      const id = String(r.object_id);
      if (!m.has(id)) m.set(id, new Map());
      m.get(id)!.set(Number(r.frame), rle);
    }
    return m;
  };
  const prev = index(prevRows);
  const next = index(nextRows);
  const prevFrames = new Set<number>();
  for (const fr of prev.values()) for (const f of fr.keys()) prevFrames.add(f);
  const nextFrames = new Set<number>();
  for (const fr of next.values()) for (const f of fr.keys()) nextFrames.add(f);
  const shared = [...prevFrames].filter((f) => nextFrames.has(f));
  const pairs: Array<{ n: string; p: string; iou: number }> = [];
  for (const [n, nf] of next) {
    for (const [p, pf] of prev) {
      let sum = 0;
      let cnt = 0;
      for (const f of shared) {
        const a = nf.get(f);
        const b = pf.get(f);
        if (!a && !b) continue;
        cnt++;
        if (a && b) sum += rleIoU(a, b);
      }
      if (cnt) pairs.push({ n, p, iou: sum / cnt });
    }
  }
  pairs.sort((a, b) => b.iou - a.iou || a.n.localeCompare(b.n) || a.p.localeCompare(b.p));
  const out = new Map<string, string>();
  const takenP = new Set<string>();
  for (const { n, p, iou } of pairs) {
    if (iou < minIoU) break;
    if (out.has(n) || takenP.has(p)) continue;
    out.set(n, p);
    takenP.add(p);
  }
  return out;
}
