/**
 * Generated test/demo videos with known ground truth (ffmpeg lavfi sources joined at known frames),
 * and bad inputs of every kind. Deterministic: the same ffmpeg gives the same files.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { resolveTool } from './ffmpeg.js';

export interface KnownCutVideo {
  file: string;
  fps: number;
  frames: number;
  /** 0-based first frames of scenes after the first */
  cuts: number[];
}

function ffmpeg(args: string[]): void {
  const bin = resolveTool('ffmpeg').path;
  const r = spawnSync(bin, ['-nostdin', '-hide_banner', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg failed (${args.join(' ')}): ${r.stderr}`);
}

let encoderCache: string[] | null = null;
function videoCodecArgs(): string[] {
  if (!encoderCache) {
    const r = spawnSync(resolveTool('ffmpeg').path, ['-hide_banner', '-encoders'], { encoding: 'utf8' });
    encoderCache = /libx264/.test(r.stdout ?? '') ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'] : ['-c:v', 'mpeg4', '-q:v', '3'];
  }
  return encoderCache;
}

/** Segments of very different lavfi sources, concatenated: cuts at the segment boundaries. */
export function makeCutVideo(
  file: string,
  segments: Array<{ src: string; frames: number }>,
  opts: { fps?: number; size?: string; extra?: string[] } = {},
): KnownCutVideo {
  const fps = opts.fps ?? 25;
  const size = opts.size ?? '320x240';
  const args: string[] = [];
  for (const s of segments) args.push('-f', 'lavfi', '-i', `${s.src}=size=${size}:rate=${fps}`);
  const chains = segments.map((s, i) => `[${i}:v]trim=end_frame=${s.frames},setpts=PTS-STARTPTS,format=yuv420p,setsar=1[v${i}]`);
  const concat = segments.map((_, i) => `[v${i}]`).join('') + `concat=n=${segments.length}:v=1:a=0[out]`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  ffmpeg([...args, '-filter_complex', [...chains, concat].join(';'), '-map', '[out]', ...videoCodecArgs(), ...(opts.extra ?? []), file]);
  const cuts: number[] = [];
  let acc = 0;
  for (const s of segments.slice(0, -1)) cuts.push((acc += s.frames));
  return { file, fps, frames: segments.reduce((a, s) => a + s.frames, 0), cuts };
}

export const SOURCES = ['testsrc2', 'smptehdbars', 'mandelbrot', 'rgbtestsrc', 'yuvtestsrc', 'testsrc', 'pal100bars'];

export interface FixtureSet {
  dir: string;
  good: KnownCutVideo[];
  bad: Array<{ file: string; kind: string }>;
}

/** The standard set: two videos with known cuts, one long scene-less video. */
export function makeGoodFixtures(dir: string): KnownCutVideo[] {
  fs.mkdirSync(dir, { recursive: true });
  const out: KnownCutVideo[] = [];
  const a = path.join(dir, 'cuts_4scenes.mp4');
  out.push(
    reuse(a) ??
      save(makeCutVideo(a, [
        { src: 'testsrc2', frames: 50 },
        { src: 'smptehdbars', frames: 40 },
        { src: 'mandelbrot', frames: 60 },
        { src: 'rgbtestsrc', frames: 30 },
      ])),
  );
  const b = path.join(dir, 'cuts_3scenes.mkv');
  out.push(
    reuse(b) ??
      save(makeCutVideo(b, [
        { src: 'mandelbrot', frames: 45 },
        { src: 'testsrc', frames: 75 },
        { src: 'pal100bars', frames: 30 },
      ], { fps: 30 })),
  );
  const c = path.join(dir, 'long_single_scene.mp4');
  out.push(reuse(c) ?? save(makeCutVideo(c, [{ src: 'testsrc2', frames: 625 }])));
  return out;
}

function save(v: KnownCutVideo): KnownCutVideo {
  fs.writeFileSync(v.file + '.truth.json', JSON.stringify({ fps: v.fps, frames: v.frames, cuts: v.cuts }));
  return v;
}

function reuse(file: string): KnownCutVideo | null {
  try {
    const t = JSON.parse(fs.readFileSync(file + '.truth.json', 'utf8'));
    if (!fs.statSync(file).size) return null;
    return { file, ...t };
  } catch {
    return null;
  }
}

/** Bad inputs: each must be dead-lettered with a clear reason. */
export function makeBadFixtures(dir: string): Array<{ file: string; kind: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const bad: Array<{ file: string; kind: string }> = [];
  const empty = path.join(dir, 'empty.mp4');
  fs.writeFileSync(empty, '');
  bad.push({ file: empty, kind: 'zero-byte' });
  const text = path.join(dir, 'not_a_video.mp4');
  fs.writeFileSync(text, 'this is a text file with a video extension\n'.repeat(50));
  bad.push({ file: text, kind: 'not a video' });
  const audio = path.join(dir, 'audio_only.mp4');
  ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac', audio]);
  bad.push({ file: audio, kind: 'audio-only' });
  // moov atom at the end, file cut in half: the container cannot be opened
  const full = path.join(dir, '.full_for_truncation.mp4');
  makeCutVideo(full, [{ src: 'testsrc2', frames: 50 }]);
  const buf = fs.readFileSync(full);
  const trunc = path.join(dir, 'truncated.mp4');
  fs.writeFileSync(trunc, buf.subarray(0, Math.floor(buf.length / 2)));
  fs.rmSync(full);
  fs.rmSync(full + '.truth.json', { force: true });
  bad.push({ file: trunc, kind: 'truncated' });
  return bad;
}
