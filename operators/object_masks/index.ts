/**
 * object_masks: SAM 2.1 video object masks per clip, prompted by hand boxes (hand_keypoints),
 * detector boxes and masks (the `detections` table of object_detect) and/or boxes and clicks
 * given in the recipe; tracked through the clip with SAM 2's memory (DeepStream four-module ONNX
 * export, README.md). Writes one COCO-RLE mask per visible object and frame (`masks`) and one
 * row per object (`objects`). Never produces masks without real weights.
 */
import path from 'node:path';
import { DecodeError, decodeFrames, setToolPaths, type DecodedFrame, type DecodeOptions } from '../../src/ffmpeg.js';
import { isAssetRef, resolveAssetRef } from '../../src/models.js';
import { countsToString } from '../../src/rle.js';
import { PermanentError, type OperatorSpec, type Row, type TableSpec, type TaskInput, type TaskOutput } from '../types.js';
import { MODULES, type ModuleName } from './contract.js';
import {
  checkRecipePrompts,
  detectorDetections,
  handDetections,
  mergeDetections,
  previousClipDetections,
  recipeDetections,
  type DetectionsByFrame,
  type RecipePrompt,
} from './prompts.js';
import { Sam2WeightsError, WEIGHTS_HELP, loadSam2, resolveSam2Paths, type Sam2Modules } from './sam2.js';
import { VideoObjectTracker, type TrackerOptions } from './tracker.js';
import { PROVIDERS_PARAM } from '../../src/onnx/providers.js';

export interface ObjectMasksParams {
  model_dir: string;
  image_encoder: string;
  mask_decoder: string;
  memory_attention: string;
  memory_encoder: string;
  prompt_sources: string[];
  prompts: { objects?: RecipePrompt[] };
  hand_box_pad: number;
  min_hand_presence: number;
  min_detection_score: number;
  detection_labels: string[];
  object_score_threshold: number;
  mask_threshold: number;
  min_mask_score: number;
  match_iou: number;
  reprompt_iou: number;
  max_objects: number;
  max_absent_frames: number;
  max_cond_frames: number;
  step: number;
  providers: string[];
  threads: number;
}

export const DEFAULT_PARAMS: ObjectMasksParams = {
  model_dir: '',
  image_encoder: '',
  mask_decoder: '',
  memory_attention: '',
  memory_encoder: '',
  prompt_sources: ['hand_keypoints', 'detections', 'recipe', 'previous_clip'],
  prompts: {},
  hand_box_pad: 0.1,
  min_hand_presence: 0,
  min_detection_score: 0.3,
  detection_labels: [],
  object_score_threshold: 0,
  mask_threshold: 0,
  min_mask_score: 0,
  match_iou: 0.3,
  reprompt_iou: 0.1,
  max_objects: 16,
  max_absent_frames: 90,
  max_cond_frames: 4,
  step: 1,
  providers: ['auto'],
  threads: 0,
};

const SOURCES = ['hand_keypoints', 'detections', 'recipe', 'previous_clip'] as const;

export const masksTable: TableSpec = {
  name: 'masks',
  description: 'One SAM 2.1 mask per tracked object and frame where it is visible, as COCO RLE at the video resolution.',
  columns: {
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
  },
  docs: {
    frame: '0-based frame number in the video',
    object_id: 'first 16 hex of sha256(video_id:scene_index:class:first prompt frame:prompt box); joins objects',
    label: "the object's label: '<left|right>_hand' for hand prompts (majority over the track), the detector / recipe label otherwise",
    score: "SAM's predicted IoU of the mask (0..1)",
    bbox: 'tight box of the mask pixels, COCO [x, y, w, h] in pixels',
    area: 'number of mask pixels',
    rle_counts: 'COCO compressed RLE counts string; {size: [height, width], counts: rle_counts} decodes with pycocotools.mask.decode',
    height: 'mask height = video height',
    width: 'mask width = video width',
  },
};

export const objectsTable: TableSpec = {
  name: 'objects',
  description: 'One row per object tracked by object_masks in a clip (objects never visible are left out).',
  columns: {
    object_id: 'VARCHAR',
    clip_id: 'VARCHAR',
    label: 'VARCHAR',
    first_frame: 'INTEGER',
    last_frame: 'INTEGER',
    source: 'VARCHAR',
  },
  docs: {
    object_id: 'joins masks.object_id',
    label: 'as in masks',
    first_frame: 'first frame with a mask',
    last_frame: 'last frame with a mask',
    source: "what prompted the object first: 'hand_keypoints', 'detections', 'recipe' or 'previous_clip'",
  },
};

export function resolveParams(p: Partial<ObjectMasksParams> | undefined): ObjectMasksParams {
  return { ...DEFAULT_PARAMS, ...Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined && v !== null)) } as ObjectMasksParams;
}

export interface ObjectMasksState {
  modules: Sam2Modules;
}

export interface ClipMasksInput {
  clipId: string;
  videoId: string;
  sceneIndex: number;
  width: number;
  height: number;
  /** processed frames, in order */
  frames: AsyncIterable<{ index: number; width: number; height: number; data: Uint8Array }>;
  detections: DetectionsByFrame;
  tracker?: Partial<TrackerOptions>;
  minMaskScore?: number;
}

export interface ClipMasksResult {
  masks: Row[];
  objects: Row[];
  stats: Record<string, number>;
}

const f32 = (a: ArrayLike<number>): number[] => Array.from(a, (v) => Math.fround(v));

/**
 * Everything but decoding and model loading: run the tracker over the frames with the
 * detections as prompts and build the `masks` / `objects` rows. Frames before the first prompt
 * are skipped (nothing can be tracked yet).
 */
export async function objectMasksForClip(modules: Sam2Modules, input: ClipMasksInput): Promise<ClipMasksResult> {
  const { width: W, height: H } = input;
  const tracker = new VideoObjectTracker(modules, { width: W, height: H, idSeed: `${input.videoId}:${input.sceneIndex}`, ...input.tracker });
  const first = Math.min(...input.detections.keys());
  const masks: Row[] = [];
  let framesSeen = 0;
  let masksBelowScore = 0;
  if (Number.isFinite(first)) {
    for await (const f of input.frames) {
      framesSeen++;
      if (f.index < first) continue;
      const r = await tracker.step(f, input.detections.get(f.index) ?? []);
      for (const o of r.objects) {
        if (!o.present || !o.mask || o.mask.area === 0) continue;
        if (o.iou < (input.minMaskScore ?? 0)) {
          masksBelowScore++;
          continue;
        }
        masks.push({
          clip_id: input.clipId,
          frame: f.index,
          object_id: o.objectId,
          label: null,
          score: Math.fround(o.iou),
          bbox: f32(o.mask.bbox),
          area: o.mask.area,
          rle_counts: o.mask.rle.counts,
          height: H,
          width: W,
        });
      }
    }
  }
  const summaries = tracker.summaries();
  const labels = new Map(summaries.map((s) => [s.objectId, s.label]));
  for (const m of masks) m.label = labels.get(m.object_id as string) ?? null;
  const objects: Row[] = summaries
    .filter((s) => s.firstFrame !== null)
    .map((s) => ({ object_id: s.objectId, clip_id: input.clipId, label: s.label, first_frame: s.firstFrame, last_frame: s.lastFrame, source: s.source }));
  masks.sort((a, b) => (a.frame as number) - (b.frame as number) || String(a.object_id).localeCompare(String(b.object_id)));
  const st = tracker.stats;
  return {
    masks,
    objects,
    stats: {
      frames: st.frames,
      frames_decoded: framesSeen,
      objects: objects.length,
      objects_created: st.objects_created,
      objects_never_visible: summaries.length - objects.length,
      reprompts: st.reprompts,
      matched_detections: st.matched,
      skipped_max_objects: st.skipped_max_objects,
      absent_object_frames: st.absent_object_frames,
      masks: masks.length,
      masks_below_score: masksBelowScore,
      preprocess_ms: Math.round(st.preprocess_ms),
      postprocess_ms: Math.round(st.rle_ms),
      ...(modules.timings?.() ?? {}),
    },
  };
}

/** The detections of one clip task from its upstream rows and params. */
export function clipDetections(task: Pick<TaskInput, 'video' | 'clip' | 'upstream'>, p: ObjectMasksParams): DetectionsByFrame {
  const clip = task.clip!;
  const size = { width: task.video.width, height: task.video.height };
  const range = { start: clip.start_frame, end: clip.end_frame };
  const mine = (rows: Row[] | undefined) => (rows ?? []).filter((r) => r.clip_id === undefined || r.clip_id === clip.clip_id);
  const on = new Set(p.prompt_sources);
  const maps: DetectionsByFrame[] = [];
  if (on.has('hand_keypoints')) maps.push(handDetections(mine(task.upstream.hand_keypoints), size, { pad: p.hand_box_pad, minPresence: p.min_hand_presence, ...range }));
  if (on.has('detections')) maps.push(detectorDetections(mine(task.upstream.detections), size, { minScore: p.min_detection_score, labels: p.detection_labels, ...range }));
  if (on.has('recipe')) maps.push(recipeDetections(p.prompts, size, clip.start_frame, clip.end_frame));
  if (on.has('previous_clip') && clip.overlap_prev_frames > 0) {
    // the previous clip's masks on this clip's first frame, when the orchestrator hands them over
    const prev = [...(task.upstream.previous_masks ?? []), ...(task.upstream.masks ?? []).filter((r) => r.clip_id !== clip.clip_id)];
    if (prev.length) maps.push(previousClipDetections(prev, clip.clip_id, clip.start_frame, size));
  }
  // processed frames only
  const all = mergeDetections(...maps);
  if (p.step > 1) for (const f of [...all.keys()]) if ((f - clip.start_frame) % p.step !== 0) all.delete(f);
  return all;
}

/** Smallest gap between two frames of the same hand_index (the hand_keypoints sampling step). */
function handRowStep(rows: readonly Row[] | undefined): number {
  const last = new Map<number, number>();
  let step = Infinity;
  for (const r of [...(rows ?? [])].sort((a, b) => Number(a.frame) - Number(b.frame))) {
    const k = Number(r.hand_index);
    const f = Number(r.frame);
    const prev = last.get(k);
    if (prev !== undefined && f > prev) step = Math.min(step, f - prev);
    last.set(k, f);
  }
  return Number.isFinite(step) ? step : 1;
}

/** Frames to decode: from the first prompted frame (nothing can be tracked before it) to the clip end. */
function decodeOptions(task: Pick<TaskInput, 'video' | 'clip'>, p: ObjectMasksParams, detections?: DetectionsByFrame): DecodeOptions {
  const v = task.video;
  const first = detections?.size ? Math.min(...detections.keys()) : task.clip!.start_frame;
  return {
    path: v.path,
    width: v.width,
    height: v.height,
    startFrame: Math.max(task.clip!.start_frame, first),
    endFrame: task.clip!.end_frame,
    step: p.step,
    fps: v.vfr ? undefined : v.fps,
    pixFmt: 'rgb24',
  };
}

async function resolvePath(v: string): Promise<string> {
  return isAssetRef(v) ? resolveAssetRef(v) : path.resolve(v);
}

// ---------------------------------------------------------------------------------------------
// hand_mask's future `sam2` method

export interface Sam2HandMasksOptions {
  width: number;
  height: number;
  videoId: string;
  sceneIndex?: number;
  /** box padding, fraction of the landmark box per side */
  pad?: number;
  tracker?: Partial<TrackerOptions>;
}

/**
 * Masks for hand_keypoints rows with SAM 2.1, in the `hand_masks` row shape (method 'sam2'):
 * one SAM 2 object per hand track (hand_index continuity, else mask IoU), prompted by the
 * padded landmark box; each input row gets the mask of its object on its frame (an empty mask
 * when SAM 2 says the hand is absent). `frames` must cover the rows' frames, in order.
 */
export async function sam2HandMasks(modules: Sam2Modules, rows: readonly Row[], frames: AsyncIterable<{ index: number; width: number; height: number; data: Uint8Array }>, o: Sam2HandMasksOptions): Promise<{ rows: Row[]; stats: Record<string, number> }> {
  const dets = handDetections(rows, o, { pad: o.pad ?? 0.1 });
  const tracker = new VideoObjectTracker(modules, { width: o.width, height: o.height, idSeed: `${o.videoId}:${o.sceneIndex ?? 0}`, keyMaxGap: handRowStep(rows), ...o.tracker });
  const out: Row[] = [];
  const emptyMask = { rle: { size: [o.height, o.width] as [number, number], counts: countsToString([o.width * o.height]) }, bbox: [0, 0, 0, 0] as [number, number, number, number], area: 0 };
  const lastFrame = Math.max(...dets.keys());
  const first = Math.min(...dets.keys());
  let missing = rows.length;
  if (Number.isFinite(first)) {
    for await (const f of frames) {
      if (f.index < first) continue;
      if (f.index > lastFrame) break;
      const r = await tracker.step(f, dets.get(f.index) ?? []);
      const byId = new Map(r.objects.map((x) => [x.objectId, x]));
      for (const a of r.assignments) {
        const row = a.detection.ref as Row;
        const res = a.objectId ? byId.get(a.objectId) : undefined;
        const mask = res?.present && res.mask && res.mask.area > 0 ? res.mask : emptyMask;
        out.push({
          clip_id: row.clip_id,
          frame: Number(row.frame),
          hand_index: Number(row.hand_index),
          handedness: row.handedness == null ? null : String(row.handedness),
          method: 'sam2',
          bbox: f32(mask.bbox),
          area: mask.area,
          rle_counts: mask.rle.counts,
          height: o.height,
          width: o.width,
          object_id: a.objectId,
        });
        missing--;
      }
    }
  }
  out.sort((a, b) => (a.frame as number) - (b.frame as number) || (a.hand_index as number) - (b.hand_index as number));
  return { rows: out, stats: { hands_in: rows.length, hands_out: out.length, hands_without_frame: missing, ...tracker.stats } };
}

// ---------------------------------------------------------------------------------------------
// the op

function modelFilesGiven(p: ObjectMasksParams): boolean {
  return !!p.model_dir || MODULES.every((m) => !!p[m]);
}

export const op: OperatorSpec<Partial<ObjectMasksParams>, ObjectMasksState> = {
  name: 'object_masks',
  description:
    'SAM 2.1 video object masks (COCO RLE) per clip, prompted by hand boxes, detector boxes and/or recipe boxes/clicks, tracked with SAM 2 memory (DeepStream four-module ONNX export); needs real weights.',
  level: 'clip',
  sequential: 'scene',
  // clips of a scene wait for each other only for the warm start; without it they run in parallel
  sequentialFor: (p) => ((p.prompt_sources ?? DEFAULT_PARAMS.prompt_sources).includes('previous_clip') ? 'scene' : undefined),
  needs: [],
  reads: ['hand_keypoints', 'object_detect'],
  params: {
    model_dir: {
      type: 'string',
      description:
        'Folder with image_encoder.onnx, mask_decoder.onnx, memory_attention.onnx, memory_encoder.onnx (NVIDIA deepstream_tools sam2-onnx-tensorrt export, checkpoints/<model>/). Required unless all four paths are given.',
      default: '',
    },
    image_encoder: { type: 'string', description: 'Path to image_encoder.onnx (overrides model_dir).', default: '' },
    mask_decoder: { type: 'string', description: 'Path to mask_decoder.onnx (overrides model_dir).', default: '' },
    memory_attention: { type: 'string', description: 'Path to memory_attention.onnx (overrides model_dir).', default: '' },
    memory_encoder: { type: 'string', description: 'Path to memory_encoder.onnx (overrides model_dir).', default: '' },
    prompt_sources: {
      type: 'string[]',
      description: "Where prompts come from: 'hand_keypoints' (hand boxes), 'detections' (object_detect boxes), 'recipe' (the prompts param), 'previous_clip' (warm start when the previous clip's masks are handed over).",
      default: DEFAULT_PARAMS.prompt_sources,
    },
    prompts: {
      type: 'object',
      description: 'Recipe prompts: {objects: [{box: [x0,y0,x1,y1], points: [[x,y],...], point_labels: [1|0,...], frame: N, label: name}]} in video pixels; without frame a prompt applies at the first frame of every clip.',
      default: {},
    },
    hand_box_pad: { type: 'number', description: 'Hand prompt box = landmark bbox grown by this fraction of its size on each side (landmarks sit inside the hand outline).', default: 0.1, min: 0, max: 2 },
    min_hand_presence: { type: 'number', description: 'hand_keypoints rows below this presence are not used as prompts.', default: 0, min: 0, max: 1 },
    min_detection_score: { type: 'number', description: 'Detector boxes below this score are not used as prompts.', default: 0.3, min: 0, max: 1 },
    detection_labels: { type: 'string[]', description: 'Track only these detector labels (empty = all).', default: [] },
    object_score_threshold: { type: 'number', description: "Object score logit above which an object counts as present (SAM 2: 0); absent objects get no mask row and an empty memory.", default: 0 },
    mask_threshold: { type: 'number', description: 'Mask logit threshold after upsampling to the video size (SAM 2: 0).', default: 0 },
    min_mask_score: { type: 'number', description: "Masks whose predicted IoU is below this are not written (tracking continues).", default: 0, min: 0, max: 1 },
    match_iou: { type: 'number', description: 'Mask IoU between a prompt box and a tracked object above which they are the same object (no new track).', default: 0.3, min: 0, max: 1 },
    reprompt_iou: { type: 'number', description: 'A hand whose hand_index continues but whose SAM mask overlaps its box less than this (or is absent) is prompted again.', default: 0.1, min: 0, max: 1 },
    max_objects: { type: 'integer', description: 'Most objects tracked at once per clip.', default: 16, min: 1, max: 256 },
    max_absent_frames: { type: 'integer', description: 'Stop tracking an object after this many processed frames without it.', default: 90, min: 0 },
    max_cond_frames: { type: 'integer', description: 'Prompted (conditioning) frames kept in an object memory (the most recent).', default: 4, min: 1, max: 64 },
    step: { type: 'integer', description: 'Process every step-th frame of the clip (1 = all; SAM 2 memory positions count processed frames).', default: 1, min: 1, max: 1000 },
    providers: { ...PROVIDERS_PARAM, default: [...PROVIDERS_PARAM.default] },
    threads: { type: 'integer', description: 'onnxruntime intra-op threads (0 = onnxruntime default).', default: 0, min: 0, max: 256 },
  },
  outputs: [masksTable, objectsTable],
  resources: { pool: 'gpu', concurrency: 1 },
  models: ['sam2_image_encoder', 'sam2_mask_decoder', 'sam2_memory_attention', 'sam2_memory_encoder'],
  validate(params) {
    const p = resolveParams(params);
    const errs: string[] = [];
    if (!modelFilesGiven(p)) errs.push(`model_dir: set the folder of the SAM 2.1 ONNX modules (or all four paths). ${WEIGHTS_HELP}`);
    const bad = p.prompt_sources.filter((s) => !(SOURCES as readonly string[]).includes(s));
    if (bad.length) errs.push(`prompt_sources: unknown ${bad.map((b) => `"${b}"`).join(', ')} (known: ${SOURCES.join(', ')})`);
    errs.push(...checkRecipePrompts(params.prompts));
    return errs;
  },
  async resolveModels(params) {
    const p = resolveParams(params);
    const given: Partial<Record<ModuleName | 'model_dir', string>> = {};
    if (p.model_dir) given.model_dir = await resolvePath(p.model_dir);
    for (const m of MODULES) if (p[m]) given[m] = await resolvePath(p[m]);
    const paths = resolveSam2Paths(given);
    return {
      params: { ...params, ...paths },
      files: MODULES.map((m) => ({ name: `sam2_${m}`, path: paths[m] })),
    };
  },
  async setup(params) {
    const p = resolveParams(params);
    const paths = resolveSam2Paths(p);
    return { modules: await loadSam2(paths, { providers: p.providers, threads: p.threads }) };
  },
  frames: (task) => {
    const p = resolveParams(task.params);
    return decodeOptions(task, p, clipDetections(task, p));
  },
  cost(task) {
    const p = resolveParams(task.params);
    const n = task.clip ? task.clip.end_frame - task.clip.start_frame : task.video.frame_count;
    return Math.ceil(n / p.step);
  },
  async run(task: TaskInput<Partial<ObjectMasksParams>>, ctx): Promise<TaskOutput> {
    const p = resolveParams(task.params);
    const modules = ctx.state?.modules;
    // no weights, no masks: refuse (also when setup was skipped)
    if (!modules) {
      resolveSam2Paths(p);
      throw new Sam2WeightsError(`object_masks: the SAM 2.1 modules were not loaded (setup did not run). ${WEIGHTS_HELP}`);
    }
    const clip = task.clip;
    if (!clip) throw new Error('object_masks is a clip-level op and needs task.clip');
    const detections = clipDetections(task, p);
    if (!detections.size) {
      return { rows: { masks: [], objects: [] }, stats: { frames: 0, objects: 0, prompts: 0 } };
    }
    if (task.tools) setToolPaths({ ffmpeg: task.tools.ffmpeg, ffprobe: task.tools.ffprobe });
    const frames: AsyncIterable<DecodedFrame> = ctx.frames ?? decodeFrames({ ...decodeOptions(task, p, detections), signal: ctx.signal });
    try {
      const res = await objectMasksForClip(modules, {
        clipId: clip.clip_id,
        videoId: task.video.video_id,
        sceneIndex: clip.scene_index,
        width: task.video.width,
        height: task.video.height,
        frames,
        detections,
        minMaskScore: p.min_mask_score,
        tracker: {
          maxObjects: p.max_objects,
          objectScoreThreshold: p.object_score_threshold,
          maskThreshold: p.mask_threshold,
          matchIou: p.match_iou,
          repromptIou: p.reprompt_iou,
          maxAbsentFrames: p.max_absent_frames,
          maxCondFrames: p.max_cond_frames,
          keyMaxGap: Math.max(p.step, handRowStep(task.upstream.hand_keypoints)),
        },
      });
      let prompts = 0;
      for (const l of detections.values()) prompts += l.length;
      return { rows: { masks: res.masks, objects: res.objects }, stats: { ...res.stats, prompts } };
    } catch (e) {
      if (e instanceof DecodeError && e.permanent) throw new PermanentError(e.message);
      throw e;
    }
  },
};

export default op;
