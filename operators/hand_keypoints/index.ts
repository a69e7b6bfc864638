/**
 * hand_keypoints: 21 hand landmarks per hand and frame from the MediaPipe palm detector + hand
 * landmark models (ONNX, CPU). MediaPipe-style tracking inside a clip: palms are detected on the
 * full frame, each hand is then followed from frame to frame through the ROI its landmarks give,
 * and the palm detector runs again only while fewer than max_hands hands are tracked.
 * Conventions (normalisation, handedness, coordinates) are documented in tracker.ts and README.md.
 */
import { decodeFrames, setToolPaths } from '../../src/ffmpeg.js';
import type { OperatorSpec, Row, TableSpec, TaskInput, TaskOutput } from '../types.js';
import { loadHandModels, type HandModels } from './models.js';
import { modelFile } from '../../src/models.js';
import { DEFAULT_TRACKER_OPTIONS, HandTracker, type HandObservation, type TrackerOptions } from './tracker.js';

export interface HandKeypointsParams {
  /** frames per second to process; undefined/0 = every frame */
  sample_fps?: number;
  max_hands: number;
  min_detection_score: number;
  min_presence: number;
  redetect_every: number;
  palm_model: string;
  landmark_model: string;
  mirrored: boolean;
}

export const DEFAULT_PARAMS: HandKeypointsParams = {
  max_hands: 2,
  min_detection_score: 0.5,
  min_presence: 0.5,
  redetect_every: 1,
  palm_model: '',
  landmark_model: '',
  mirrored: false,
};

export const handKeypointsTable: TableSpec = {
  name: 'hand_keypoints',
  description: 'One row per detected hand and processed frame: 21 MediaPipe hand landmarks in image pixels.',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    t_s: 'DOUBLE',
    hand_index: 'INTEGER',
    handedness: 'VARCHAR',
    handedness_score: 'FLOAT',
    presence: 'FLOAT',
    bbox: 'FLOAT[]',
    kp2d: 'FLOAT[]',
    kp3d_rel: 'FLOAT[]',
  },
  docs: {
    frame: '0-based frame number in the video (all frames of the clip range, overlap frames included)',
    t_s: 'frame / video fps, seconds from the start of the video',
    hand_index: 'track slot of the hand, stable while the hand is tracked without a gap (0..max_hands-1)',
    handedness: "'left' or 'right' as seen in the (un-mirrored) image; set mirrored: true for selfie footage",
    handedness_score: 'probability of the reported handedness (0.5..1)',
    presence: 'hand presence probability from the landmark model (rows below min_presence are dropped)',
    bbox: 'tight box of the 21 landmarks [x0, y0, x1, y1], image pixels',
    kp2d: '21 x (x, y) flattened, image pixels (MediaPipe order: 0 wrist, 1-4 thumb, 5-8 index, 9-12 middle, 13-16 ring, 17-20 little)',
    kp3d_rel: '21 x (x, y, z) flattened: x, y as kp2d; z = the model relative depth (wrist-relative, smaller = closer to the camera) in the same pixel scale as x',
  },
};

export interface HandKeypointsState {
  models: HandModels;
}

export function resolveParams(p: Partial<HandKeypointsParams>): HandKeypointsParams {
  const defined = Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined && v !== null));
  return { ...DEFAULT_PARAMS, ...defined } as HandKeypointsParams;
}

/** Frame step for a sampling rate: every round(fps / sample_fps)-th frame, at least 1. */
export function frameStep(videoFps: number, sampleFps: number | undefined): number {
  if (!sampleFps || sampleFps <= 0 || !(videoFps > 0)) return 1;
  return Math.max(1, Math.round(videoFps / sampleFps));
}

export function trackerOptions(p: HandKeypointsParams): Partial<TrackerOptions> {
  return {
    maxHands: p.max_hands,
    minDetectionScore: p.min_detection_score,
    minPresence: p.min_presence,
    redetectEvery: p.redetect_every,
    mirroredInput: p.mirrored,
  };
}

const f32 = (a: ArrayLike<number>): number[] => Array.from(a, (v) => Math.fround(v));

export function observationRow(clipId: string, frame: number, fps: number, h: HandObservation): Row {
  return {
    clip_id: clipId,
    frame,
    t_s: fps > 0 ? frame / fps : null,
    hand_index: h.handIndex,
    handedness: h.handedness,
    handedness_score: Math.fround(h.handednessScore),
    presence: Math.fround(h.presence),
    bbox: f32(h.bbox),
    kp2d: f32(h.kp2d),
    kp3d_rel: f32(h.kp3d),
  };
}

export interface RangeInput {
  path: string;
  width: number;
  height: number;
  fps: number;
  /** variable frame rate: select frames by decode index instead of seeking */
  vfr?: boolean;
  startFrame: number;
  endFrame: number;
  step: number;
  clipId: string;
  signal?: AbortSignal;
}

/** Decode [startFrame, endFrame) every `step` frames and track hands through it. */
export async function handKeypointsForRange(
  input: RangeInput,
  models: HandModels,
  options: Partial<TrackerOptions> = {},
): Promise<{ rows: Row[]; stats: Record<string, number> }> {
  const tracker = new HandTracker(models, { ...DEFAULT_TRACKER_OPTIONS, ...options });
  const rows: Row[] = [];
  let framesWithHands = 0;
  let waitMs = 0;
  const t0 = performance.now();
  const frames = decodeFrames({
    path: input.path,
    width: input.width,
    height: input.height,
    startFrame: input.startFrame,
    endFrame: input.endFrame,
    step: input.step,
    fps: input.vfr ? undefined : input.fps,
    signal: input.signal,
  });
  let tw = performance.now();
  for await (const f of frames) {
    waitMs += performance.now() - tw;
    const hands = await tracker.process({ data: f.data, width: f.width, height: f.height });
    if (hands.length) framesWithHands++;
    for (const h of hands) rows.push(observationRow(input.clipId, f.index, input.fps, h));
    tw = performance.now();
  }
  const s = tracker.stats;
  return {
    rows,
    stats: {
      frames: s.frames,
      frames_with_hands: framesWithHands,
      hands: rows.length,
      palm_runs: s.palmRuns,
      landmark_runs: s.landmarkRuns,
      palm_ms: Math.round(s.palmMs),
      landmark_ms: Math.round(s.landmarkMs),
      preprocess_ms: Math.round(s.preprocessMs),
      decode_wait_ms: Math.round(waitMs),
      total_ms: Math.round(performance.now() - t0),
    },
  };
}

export const op: OperatorSpec<Partial<HandKeypointsParams>, HandKeypointsState> = {
  name: 'hand_keypoints',
  description:
    '21 hand landmarks per hand and frame (MediaPipe palm detector + hand landmark ONNX models on CPU, tracked through each clip), with handedness and presence.',
  level: 'clip',
  needs: [],
  params: {
    sample_fps: {
      type: 'number',
      description: 'Frames per second to process (every round(fps / sample_fps)-th frame); leave out to process every frame.',
      min: 0,
    },
    max_hands: { type: 'integer', description: 'Most hands per frame (MediaPipe max_num_hands).', default: 2, min: 1, max: 8 },
    min_detection_score: {
      type: 'number',
      description: 'Palm detector score threshold (MediaPipe min_detection_confidence, default 0.5).',
      default: 0.5,
      min: 0,
      max: 1,
    },
    min_presence: {
      type: 'number',
      description: 'Hand presence threshold below which a hand is dropped and re-detected (MediaPipe min_tracking_confidence, default 0.5).',
      default: 0.5,
      min: 0,
      max: 1,
    },
    redetect_every: {
      type: 'integer',
      description:
        'While some but fewer than max_hands hands are tracked, run the palm detector only every N-th processed frame to look for more (1 = every frame, as MediaPipe). With no hand tracked, or after a hand is lost, it runs on the next frame regardless.',
      default: 1,
      min: 1,
      max: 1000,
    },
    palm_model: {
      type: 'string',
      description: 'Path to palm_detection_128.onnx; empty = the palm_detection asset from the model store (cache, $EGOPIPE_MIRROR, or download: `egopipe models pull palm_detection`).',
      default: DEFAULT_PARAMS.palm_model,
    },
    landmark_model: {
      type: 'string',
      description: 'Path to hand_landmark_224.onnx; empty = the hand_landmark asset from the model store (`egopipe models pull hand_landmark`).',
      default: DEFAULT_PARAMS.landmark_model,
    },
    mirrored: {
      type: 'boolean',
      description: 'The video is mirrored (selfie camera): swaps the handedness labels.',
      default: false,
    },
  },
  outputs: [handKeypointsTable],
  resources: { pool: 'cpu' },
  models: ['palm_detection', 'hand_landmark'],
  validate(p) {
    const errors: string[] = [];
    const r = resolveParams(p);
    if (p.sample_fps !== undefined && p.sample_fps !== null && !(Number(p.sample_fps) >= 0)) {
      errors.push(`sample_fps: must be a number >= 0 (got ${String(p.sample_fps)}); leave it out to process every frame`);
    }
    if (!Number.isInteger(r.max_hands) || r.max_hands < 1) errors.push(`max_hands: must be an integer >= 1 (got ${String(r.max_hands)})`);
    for (const k of ['palm_model', 'landmark_model'] as const) {
      if (typeof r[k] !== 'string') errors.push(`${k}: must be a path to the ONNX file (or empty for the model store)`);
    }
    return errors;
  },
  async resolveModels(p) {
    const r = resolveParams(p);
    const palm = await modelFile(r.palm_model, 'palm_detection');
    const landmark = await modelFile(r.landmark_model, 'hand_landmark');
    return {
      params: { ...p, palm_model: palm, landmark_model: landmark },
      files: [
        { name: 'palm_detection', path: palm },
        { name: 'hand_landmark', path: landmark },
      ],
    };
  },
  async setup(p) {
    const r = resolveParams(p);
    return { models: await loadHandModels({ palmPath: r.palm_model, landmarkPath: r.landmark_model, threads: 1 }) };
  },
  cost(task) {
    const r = resolveParams(task.params);
    const start = task.clip?.start_frame ?? 0;
    const end = task.clip?.end_frame ?? task.video.frame_count;
    return Math.ceil(Math.max(0, end - start) / frameStep(task.video.fps, r.sample_fps));
  },
  async run(task: TaskInput<Partial<HandKeypointsParams>>, ctx): Promise<TaskOutput> {
    const r = resolveParams(task.params);
    if (task.tools) setToolPaths(task.tools);
    const v = task.video;
    const clip = task.clip;
    const { rows, stats } = await handKeypointsForRange(
      {
        path: v.path,
        width: v.width,
        height: v.height,
        fps: v.fps,
        vfr: v.vfr,
        startFrame: clip?.start_frame ?? 0,
        endFrame: clip?.end_frame ?? v.frame_count,
        step: frameStep(v.fps, r.sample_fps),
        clipId: clip?.clip_id ?? v.video_id,
        signal: ctx.signal,
      },
      ctx.state.models,
      trackerOptions(r),
    );
    return { rows: { hand_keypoints: rows }, stats };
  },
};
