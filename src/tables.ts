/** Tables the orchestrator itself writes (ops declare their own in their `outputs`). */
import type { TableSpec } from '../operators/types.js';

export const videosTable: TableSpec = {
  name: 'videos',
  description: 'One row per distinct video (by content). Written when the video-level ops of a video have finished or failed.',
  columns: {
    video_id: 'VARCHAR',
    path: 'VARCHAR',
    size_bytes: 'BIGINT',
    duration_s: 'DOUBLE',
    fps: 'DOUBLE',
    frame_count: 'INTEGER',
    width: 'INTEGER',
    height: 'INTEGER',
    codec: 'VARCHAR',
    rotation: 'INTEGER',
    vfr: 'BOOLEAN',
    bitrate: 'BIGINT',
    status: 'VARCHAR',
    error: 'VARCHAR',
  },
  docs: {
    video_id: 'first 16 hex chars of sha256 over the file size and sampled content (see README: video ids)',
    path: 'path of the file when first seen (later duplicates of the same content are not processed again)',
    width: 'width as decoded (after rotation)',
    frame_count: 'frames decoded by scene_detect when it ran, else the container/packet count',
    status: '"ok" or "failed"',
    error: 'why the video failed (op: reason), null when ok',
  },
};

export const runsTable: TableSpec = {
  name: 'runs',
  description: 'One row per `egopipe run` invocation (provenance).',
  columns: {
    run_id: 'VARCHAR',
    started_at: 'TIMESTAMP',
    ended_at: 'TIMESTAMP',
    status: 'VARCHAR',
    recipe_name: 'VARCHAR',
    recipe_hash: 'VARCHAR',
    recipe_yaml: 'VARCHAR',
    code_version: 'VARCHAR',
    tools: 'VARCHAR',
    models: 'VARCHAR',
    host: 'VARCHAR',
    argv: 'VARCHAR',
    counts: 'VARCHAR',
  },
  docs: {
    status: 'running | finished | finished_with_dead_letters | interrupted | failed',
    tools: 'JSON: ffmpeg/ffprobe path+version, node, onnxruntime, duckdb versions',
    models: 'JSON list: op, model name, path, sha256 and size of every model file the run used',
    counts: 'JSON: tasks by op and state at the end of the run, rows written per table',
  },
};
