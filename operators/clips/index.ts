/**
 * clips: turns scenes into clips, the unit of work of every later op. Long scenes are split into
 * equal clips of at most max_clip_seconds overlapping by overlap_seconds; scenes shorter than
 * min_clip_seconds are merged into a neighbour, dropped or kept. Without a scene_detect op in the
 * recipe (or when it finds no cut) the whole video is one scene, so every video becomes clips.
 */
import type { OperatorSpec, TableSpec } from '../types.js';
import { scenesToClips, type Scene, type SplitParams } from './split.js';

export const clipsTable: TableSpec = {
  name: 'clips',
  description: 'One row per clip (the unit of work). Frames are 0-based, end exclusive.',
  columns: {
    clip_id: 'VARCHAR',
    video_id: 'VARCHAR',
    scene_index: 'INTEGER',
    start_frame: 'INTEGER',
    end_frame: 'INTEGER',
    start_s: 'DOUBLE',
    end_s: 'DOUBLE',
    overlap_prev_frames: 'INTEGER',
  },
  docs: {
    clip_id: 'first 16 hex chars of sha256("<video_id>:<start_frame>")',
    scene_index: 'scene the clip belongs to (after short-scene merging)',
    video_id: 'the video (join videos)',
    start_frame: '0-based first frame',
    end_frame: 'exclusive',
    start_s: 'start_frame / fps',
    end_s: 'end_frame / fps',
    overlap_prev_frames: 'frames shared with the previous clip of the same scene (0 for the first)',
  },
};

export const op: OperatorSpec<SplitParams> = {
  name: 'clips',
  description: 'Split scenes into overlapping clips of bounded length (the unit of work for clip ops).',
  level: 'video',
  needs: [],
  reads: ['scene_detect'],
  params: {
    max_clip_seconds: { type: 'number', default: 10, min: 0.1, description: 'longest clip; longer scenes are split' },
    overlap_seconds: { type: 'number', default: 1, min: 0, description: 'overlap between consecutive clips of a scene' },
    min_clip_seconds: { type: 'number', default: 0.5, min: 0, description: 'scenes shorter than this are handled by short_scenes' },
    short_scenes: { type: 'enum', values: ['merge', 'drop', 'keep'], default: 'merge', description: 'what to do with short scenes' },
  },
  outputs: [clipsTable],
  resources: { pool: 'main', concurrency: 8 },
  validate(p) {
    return p.overlap_seconds >= p.max_clip_seconds
      ? [`overlap_seconds (${p.overlap_seconds}) must be smaller than max_clip_seconds (${p.max_clip_seconds})`]
      : [];
  },
  cost: () => 1,
  async run(task) {
    const v = task.video;
    const rows = task.upstream.scenes;
    const scenes: Scene[] = rows?.length
      ? rows.map((r) => ({ scene_index: Number(r.scene_index), start_frame: Number(r.start_frame), end_frame: Number(r.end_frame) }))
      : [{ scene_index: 0, start_frame: 0, end_frame: v.frame_count }];
    scenes.sort((a, b) => a.start_frame - b.start_frame);
    const clips = scenesToClips(v.video_id, v.fps, scenes, task.params);
    return { rows: { clips: clips.map((c) => ({ ...c })) }, clips };
  },
};
