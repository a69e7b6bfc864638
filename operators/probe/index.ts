/**
 * probe: ffprobe metadata of a video (duration, fps, frame count, size, codec, rotation, VFR,
 * bitrate). Runs inline in the orchestrator (it only waits on ffprobe). Its result becomes the
 * video's row in the `videos` table. A file without a decodable video stream fails permanently.
 */
import { probe, ProbeError } from '../../src/ffmpeg.js';
import { PermanentError, type OperatorSpec } from '../types.js';
import fs from 'node:fs';

export interface ProbeParams {
  count_frames: boolean;
  timeout_s: number;
}

export const op: OperatorSpec<ProbeParams> = {
  name: 'probe',
  description: 'ffprobe metadata per video; must be the first op of every recipe.',
  level: 'video',
  needs: [],
  params: {
    count_frames: {
      type: 'boolean',
      default: true,
      description: 'count packets when the container does not store the frame count (mkv, webm); slower but exact',
    },
    timeout_s: { type: 'number', default: 120, min: 1, description: 'ffprobe time limit per file' },
  },
  outputs: [],
  resources: { pool: 'main', concurrency: 4 },
  cost: () => 1,
  async run(task) {
    const file = task.video.path;
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      throw new PermanentError(`cannot read ${file}: ${(e as Error).message}`);
    }
    if (!st.isFile()) throw new PermanentError(`not a regular file: ${file}`);
    if (st.size === 0) throw new PermanentError('empty file (0 bytes)');
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch {
      throw new PermanentError(`permission denied reading ${file}`);
    }
    let m;
    try {
      m = await probe(file, { countFrames: task.params.count_frames, timeoutMs: task.params.timeout_s * 1000 });
    } catch (e) {
      if (e instanceof ProbeError && e.permanent) throw new PermanentError(`not a readable video: ${e.message}`);
      throw e;
    }
    if (!m.has_video) {
      throw new PermanentError(m.has_audio ? 'no video stream (audio-only file)' : 'no video stream in the file');
    }
    if (!m.width || !m.height) throw new PermanentError('video stream has no width/height (corrupt header?)');
    if (!m.fps) throw new PermanentError('video stream has no frame rate');
    if (!m.frame_count || m.frame_count <= 0) throw new PermanentError('video stream has no frames');
    const rotated = m.rotation === 90 || m.rotation === 270;
    return {
      rows: {},
      video: {
        fps: m.fps,
        frame_count: m.frame_count,
        frame_count_source: m.frame_count_source,
        // sizes as decoded (ffmpeg applies the rotation when decoding)
        width: rotated ? m.height : m.width,
        height: rotated ? m.width : m.height,
        coded_width: m.width,
        coded_height: m.height,
        duration_s: m.duration_s ?? m.frame_count / m.fps,
        codec: m.codec,
        pix_fmt: m.pix_fmt,
        rotation: m.rotation,
        vfr: m.vfr,
        bitrate: m.bitrate,
        format: m.format,
        has_audio: m.has_audio,
      },
    };
  },
};
