/**
 * scene_detect: PySceneDetect-compatible ContentDetector / AdaptiveDetector on downscaled frames.
 * Runs on the CPU pool: the worker spawns ffmpeg on the video itself (a path, never frames from
 * another process), streams RGB frames into the detector (backpressure through the pipe keeps
 * memory flat) and returns the scenes. Frame numbers are 0-based, end exclusive.
 */
import { decodeFrames, DecodeError, setToolPaths } from '../../src/ffmpeg.js';
import { PermanentError, type OperatorSpec, type TableSpec } from '../types.js';
import {
  ADAPTIVE_DEFAULTS,
  CONTENT_DEFAULTS,
  createAdaptiveDetector,
  createContentDetector,
  cutsToScenes,
  downscaleSize,
  type FrameDetector,
} from './detectors.js';

export interface SceneParams {
  detector: 'content' | 'adaptive';
  threshold: number;
  min_scene_len: number;
  weights: number[];
  luma_only: boolean;
  filter_mode: 'merge' | 'suppress';
  adaptive_threshold: number;
  window_width: number;
  min_content_val: number;
  downscale: number | 'auto';
  decode_threads: number;
  hwaccel: string;
}

export const scenesTable: TableSpec = {
  name: 'scenes',
  description: 'Scenes found by scene_detect. Frames are 0-based, end exclusive; [start_s, end_s) = frames / fps.',
  columns: {
    video_id: 'VARCHAR',
    scene_index: 'INTEGER',
    start_frame: 'INTEGER',
    end_frame: 'INTEGER',
    start_s: 'DOUBLE',
    end_s: 'DOUBLE',
    detector: 'VARCHAR',
  },
  docs: {
    scene_index: '0-based, in time order',
    start_frame: 'first frame of the scene (a cut frame), 0-based',
    end_frame: 'first frame after the scene (exclusive)',
    start_s: 'start_frame / fps',
    end_s: 'end_frame / fps',
    detector: '"content" or "adaptive" with its main parameter, e.g. content(threshold=27,min_scene_len=15)' },
};

export const op: OperatorSpec<SceneParams> = {
  name: 'scene_detect',
  description: 'Cut each video into scenes (PySceneDetect ContentDetector / AdaptiveDetector semantics).',
  level: 'video',
  needs: ['probe'],
  params: {
    detector: { type: 'enum', values: ['content', 'adaptive'], default: 'content', description: 'which detector' },
    threshold: { type: 'number', default: CONTENT_DEFAULTS.threshold, min: 0, max: 255, description: 'content: cut when the HSV score >= threshold' },
    min_scene_len: { type: 'integer', default: CONTENT_DEFAULTS.min_scene_len, min: 0, description: 'minimum scene length in frames' },
    weights: { type: 'number[]', default: [...CONTENT_DEFAULTS.weights], description: 'weights of delta hue, sat, lum, edges' },
    luma_only: { type: 'boolean', default: false, description: 'use only the luma (V) channel' },
    filter_mode: { type: 'enum', values: ['merge', 'suppress'], default: 'merge', description: 'content: how min_scene_len treats fast cuts (PySceneDetect FlashFilter)' },
    adaptive_threshold: { type: 'number', default: ADAPTIVE_DEFAULTS.adaptive_threshold, min: 0, description: 'adaptive: ratio of a frame score to its neighbours' },
    window_width: { type: 'integer', default: ADAPTIVE_DEFAULTS.window_width, min: 1, description: 'adaptive: frames on each side of the rolling window' },
    min_content_val: { type: 'number', default: ADAPTIVE_DEFAULTS.min_content_val, min: 0, description: 'adaptive: minimum content score for a cut' },
    downscale: { type: 'integer', orString: 'auto', default: 'auto', min: 1, description: 'downscale factor; auto = width // 256 like PySceneDetect' },
    decode_threads: { type: 'integer', default: 1, min: 0, description: 'ffmpeg decoder threads per video (0 = ffmpeg decides)' },
    hwaccel: { type: 'string', default: '', description: 'ffmpeg -hwaccel value (e.g. cuda); empty = software decoding' },
  },
  outputs: [scenesTable],
  resources: { pool: 'cpu' },
  validate(p) {
    return p.weights.length !== 4 ? [`weights must have 4 numbers (hue, sat, lum, edges), got ${p.weights.length}`] : [];
  },
  cost: (t) => t.video.frame_count,
  async run(task, ctx) {
    const p = task.params;
    const v = task.video;
    setToolPaths({ ffmpeg: task.tools.ffmpeg, ffprobe: task.tools.ffprobe });
    const weights = p.weights as [number, number, number, number];
    let det: FrameDetector;
    let label: string;
    if (p.detector === 'adaptive') {
      det = createAdaptiveDetector({
        adaptive_threshold: p.adaptive_threshold,
        min_scene_len: p.min_scene_len,
        window_width: p.window_width,
        min_content_val: p.min_content_val,
        weights,
        luma_only: p.luma_only,
      });
      label = `adaptive(adaptive_threshold=${p.adaptive_threshold},min_scene_len=${p.min_scene_len})`;
    } else {
      det = createContentDetector({ threshold: p.threshold, min_scene_len: p.min_scene_len, weights, luma_only: p.luma_only, filter_mode: p.filter_mode });
      label = `content(threshold=${p.threshold},min_scene_len=${p.min_scene_len})`;
    }
    const size =
      p.downscale === 'auto'
        ? downscaleSize(v.width, v.height)
        : { width: Math.max(1, Math.round(v.width / p.downscale)), height: Math.max(1, Math.round(v.height / p.downscale)) };
    const cuts: number[] = [];
    let frames = 0;
    try {
      for await (const f of decodeFrames({
        path: v.path,
        width: size.width,
        height: size.height,
        pixFmt: 'rgb24',
        reuseBuffers: true, // the detector keeps its own HSV copy, never the frame
        threads: p.decode_threads,
        hwaccel: p.hwaccel || undefined,
        signal: ctx.signal,
      })) {
        for (const c of det.processFrame(f.index, f.data, f.width, f.height)) cuts.push(c);
        frames = f.index + 1;
      }
    } catch (e) {
      if (e instanceof DecodeError && e.permanent) throw new PermanentError(e.message);
      throw e;
    }
    for (const c of det.finish()) cuts.push(c);
    const rows = cutsToScenes(cuts, frames).map(([a, b], i) => ({
      video_id: v.video_id,
      scene_index: i,
      start_frame: a,
      end_frame: b,
      start_s: a / v.fps,
      end_s: b / v.fps,
      detector: label,
    }));
    return { rows: { scenes: rows }, stats: { frames }, video: frames !== v.frame_count ? { decoded_frames: frames } : undefined };
  },
};
