/** Pure scene -> clip splitting. Frames are 0-based, end exclusive. */
import { createHash } from 'node:crypto';
import type { ClipInfo } from '../types.js';

export interface SplitParams {
  max_clip_seconds: number;
  overlap_seconds: number;
  min_clip_seconds: number;
  short_scenes: 'merge' | 'drop' | 'keep';
}

/** Deterministic clip id: first 16 hex of sha256("<video_id>:<start_frame>"). */
export function clipId(videoId: string, startFrame: number): string {
  return createHash('sha256').update(`${videoId}:${startFrame}`).digest('hex').slice(0, 16);
}

export interface Scene {
  scene_index: number;
  start_frame: number;
  end_frame: number;
}

/** Apply the short-scene policy: merge into the previous scene (the next one for the first), drop, or keep. */
export function handleShortScenes(scenes: Scene[], minFrames: number, mode: SplitParams['short_scenes']): Scene[] {
  if (mode === 'keep' || minFrames <= 0) return scenes.map((s) => ({ ...s }));
  if (mode === 'drop') return scenes.filter((s) => s.end_frame - s.start_frame >= minFrames).map((s) => ({ ...s }));
  const out: Scene[] = [];
  let carry: Scene | null = null; // short leading scenes waiting for a successor
  for (const s of scenes) {
    const cur: Scene = carry ? { scene_index: s.scene_index, start_frame: carry.start_frame, end_frame: s.end_frame } : { ...s };
    carry = null;
    if (cur.end_frame - cur.start_frame >= minFrames) out.push(cur);
    else if (out.length) out[out.length - 1].end_frame = cur.end_frame;
    else carry = cur;
  }
  if (carry) out.push(carry); // the whole video is shorter than min: keep it as one scene
  return out;
}

/**
 * Split one scene into clips of at most maxFrames that overlap by overlapFrames. Clips have equal
 * length (rounded), so there is never a tiny tail clip.
 */
export function splitScene(start: number, end: number, maxFrames: number, overlapFrames: number): Array<[number, number]> {
  const n = end - start;
  if (n <= 0) return [];
  if (n <= maxFrames) return [[start, end]];
  const k = Math.ceil((n - overlapFrames) / (maxFrames - overlapFrames));
  const len = (n + (k - 1) * overlapFrames) / k;
  const out: Array<[number, number]> = [];
  for (let i = 0; i < k; i++) {
    const s = start + Math.round(i * (len - overlapFrames));
    const e = i === k - 1 ? end : start + Math.round(i * (len - overlapFrames) + len);
    out.push([s, e]);
  }
  return out;
}

export function scenesToClips(videoId: string, fps: number, scenes: Scene[], p: SplitParams): ClipInfo[] {
  const maxFrames = Math.max(1, Math.round(p.max_clip_seconds * fps));
  const overlap = Math.min(Math.max(0, Math.round(p.overlap_seconds * fps)), maxFrames - 1);
  const minFrames = Math.round(p.min_clip_seconds * fps);
  const clips: ClipInfo[] = [];
  for (const s of handleShortScenes(scenes, minFrames, p.short_scenes)) {
    let prevEnd: number | null = null;
    for (const [a, b] of splitScene(s.start_frame, s.end_frame, maxFrames, overlap)) {
      clips.push({
        clip_id: clipId(videoId, a),
        video_id: videoId,
        scene_index: s.scene_index,
        start_frame: a,
        end_frame: b,
        start_s: a / fps,
        end_s: b / fps,
        overlap_prev_frames: prevEnd === null ? 0 : Math.max(0, prevEnd - a),
      });
      prevEnd = b;
    }
  }
  return clips;
}
