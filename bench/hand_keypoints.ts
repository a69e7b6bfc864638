/**
 * Benchmark: hand_keypoints end to end (decode + palm detector + landmark model + tracking) on
 * human_hand_video.mp4 at full resolution, onnxruntime with 1 intra-op thread, median of 3 runs,
 * next to the decode-only floors of the same video:
 *   - ffmpeg alone (decode + scale + RGB conversion, output discarded: `-f null`)
 *   - decodeFrames alone (the same, piped into Node and split into frames, nothing else)
 *
 *   npx tsc -p . && node dist/bench/hand_keypoints.js [video] [--runs N]
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeArgs, decodeFrames, probe, resolveTool } from '../src/ffmpeg.js';
import { handKeypointsForRange } from '../operators/hand_keypoints/index.js';
import { loadHandModels } from '../operators/hand_keypoints/models.js';

// dist/bench/hand_keypoints.js or bench/hand_keypoints.ts -> repository root
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const shared = path.resolve(root, '../shared/data');

const args = process.argv.slice(2);
const runsIdx = args.indexOf('--runs');
const RUNS = runsIdx >= 0 ? Math.max(1, Number(args[runsIdx + 1])) : 3;
const video = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs') ?? path.join(shared, 'videos/human_hand_video.mp4');

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main(): Promise<void> {
  const p = await probe(video);
  const width = p.width!;
  const height = p.height!;
  const fps = p.fps!;
  const frames = p.frame_count!;
  const ffmpeg = resolveTool('ffmpeg');
  console.log(`video: ${path.basename(video)} ${width}x${height} ${fps.toFixed(2)} fps, ${frames} frames; ffmpeg ${ffmpeg.version}; node ${process.version}`);

  const decodeOpts = { path: video, width, height, startFrame: 0, endFrame: frames, step: 1 };
  const ffmpegOnly: number[] = [];
  const pipeOnly: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let t = performance.now();
    const res = spawnSync(ffmpeg.path, decodeArgs(decodeOpts, 'null'), { stdio: ['ignore', 'ignore', 'pipe'] });
    if (res.status !== 0) throw new Error(`ffmpeg decode failed: ${res.stderr?.toString()}`);
    ffmpegOnly.push(frames / ((performance.now() - t) / 1000));
    t = performance.now();
    let n = 0;
    for await (const f of decodeFrames(decodeOpts)) n += f.data.length > 0 ? 1 : 0;
    pipeOnly.push(n / ((performance.now() - t) / 1000));
  }

  const models = await loadHandModels({
    palmPath: path.join(shared, 'models/palm_detection_128.onnx'),
    landmarkPath: path.join(shared, 'models/hand_landmark_224.onnx'),
    threads: 1,
  });
  const variants: Array<{ name: string; maxHands: number; redetectEvery?: number }> = [
    { name: 'max_hands=2 (palm detector every frame while < 2 hands)', maxHands: 2 },
    { name: 'max_hands=2, redetect_every=5', maxHands: 2, redetectEvery: 5 },
    { name: 'max_hands=1 (tracking only, palm detector on loss)', maxHands: 1 },
  ];
  const results: Array<{ name: string; fps: number; detail: string }> = [];
  for (const v of variants) {
    const fpsRuns: number[] = [];
    let detail = '';
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now();
      const { rows, stats } = await handKeypointsForRange(
        { path: video, width, height, fps, startFrame: 0, endFrame: frames, step: 1, clipId: 'bench' },
        models,
        { maxHands: v.maxHands, redetectEvery: v.redetectEvery ?? 1 },
      );
      const el = (performance.now() - t) / 1000;
      fpsRuns.push(stats.frames / el);
      const per = (ms: number) => (ms / stats.frames).toFixed(2);
      detail =
        `hands on ${stats.frames_with_hands}/${stats.frames} frames, ${rows.length} rows; per frame: palm ${per(stats.palm_ms)} ms ` +
        `(${stats.palm_runs} runs), landmarks ${per(stats.landmark_ms)} ms (${stats.landmark_runs} runs), ` +
        `crop/resize ${per(stats.preprocess_ms)} ms, waiting for decode ${per(stats.decode_wait_ms)} ms`;
    }
    results.push({ name: v.name, fps: median(fpsRuns), detail });
  }
  await models.release();

  console.log(`\nmedian of ${RUNS} runs, frames/s (onnxruntime intra-op threads = 1; ffmpeg threads auto):`);
  console.log(`  decode floor, ffmpeg -f null (full res RGB)     ${median(ffmpegOnly).toFixed(1).padStart(8)}`);
  console.log(`  decode floor, decodeFrames into Node (full res) ${median(pipeOnly).toFixed(1).padStart(8)}`);
  for (const r of results) {
    console.log(`  hand_keypoints end to end, ${r.name.padEnd(56)} ${r.fps.toFixed(1).padStart(8)}`);
    console.log(`      ${r.detail}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
