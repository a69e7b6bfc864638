/**
 * npm run bench:scenes
 *
 * 1. Scene detection frames/s vs the ffmpeg decode-only floor on the same file, same ffmpeg
 *    thread count (decode + the same downscale + RGB conversion, output discarded). Median of
 *    --reps runs each, interleaved. Target: detection >= 0.85 x floor.
 * 2. Peak RSS of `egopipe run` over ~2,000 short clips vs ~200 (generated videos, a no-op clip op).
 *    Target: within 1.2x.
 *
 * Options: --video <file> (default ../shared/data/videos/testvideo.mp4), --reps N (5),
 * --threads N (ffmpeg decoder threads, 1), --skip-rss.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { op as sceneDetect } from '../operators/scene_detect/index.js';
import { downscaleSize } from '../operators/scene_detect/detectors.js';
import { decodeArgs, probe, resolveTool } from '../src/ffmpeg.js';
import { makeCutVideo } from '../src/fixtures.js';
import { ROOT } from '../src/paths.js';
import { validateParams } from '../src/params.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function detectionFps(video: string, threads: number): Promise<{ fps: number; frames: number; cuts: number }> {
  const m = await probe(video);
  const { params } = validateParams(sceneDetect.params, { decode_threads: threads }, []);
  const t0 = performance.now();
  const out = await sceneDetect.run(
    {
      op: 'scene_detect',
      video: { video_id: 'bench', path: video, fps: m.fps!, frame_count: m.frame_count!, width: m.width!, height: m.height!, rotation: 0, vfr: false, duration_s: m.duration_s! },
      params: params as never,
      upstream: {},
      attempt: 1,
      tools: { ffmpeg: resolveTool('ffmpeg').path, ffprobe: resolveTool('ffprobe').path },
    },
    { state: undefined },
  );
  const s = (performance.now() - t0) / 1000;
  const frames = out.stats!.frames;
  return { fps: frames / s, frames, cuts: out.rows.scenes.length - 1 };
}

async function decodeFloorFps(video: string, threads: number): Promise<number> {
  const m = await probe(video);
  const size = downscaleSize(m.width!, m.height!);
  const args = decodeArgs({ path: video, width: size.width, height: size.height, pixFmt: 'rgb24', threads }, 'null');
  const t0 = performance.now();
  const r = spawnSync(resolveTool('ffmpeg').path, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return m.frame_count! / ((performance.now() - t0) / 1000);
}

async function peakRss(recipe: string, input: string, out: string): Promise<{ peakMb: number; seconds: number; clips: number }> {
  fs.rmSync(out, { recursive: true, force: true });
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'egopipe.js'), 'run', recipe, '--input', input, '--out', out, '--quiet'], { stdio: 'ignore' });
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const st = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(st)?.[1] ?? 0);
      const rss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0);
      peak = Math.max(peak, hwm, rss);
    } catch {
      /* exited */
    }
  }, 25);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearInterval(poll);
  if (code !== 0) throw new Error(`egopipe run exited ${code}`);
  const q = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'egopipe.js'), 'query', '--out', out, '--format', 'json', 'SELECT count(*) AS n FROM debug_fault'], { encoding: 'utf8' });
  return { peakMb: peak / 1024, seconds: (performance.now() - t0) / 1000, clips: JSON.parse(q.stdout)[0].n };
}

async function main(): Promise<void> {
  const video = arg('video', path.resolve(ROOT, '..', 'shared', 'data', 'videos', 'testvideo.mp4'));
  const reps = Number(arg('reps', '5'));
  const threads = Number(arg('threads', '1'));
  if (!fs.existsSync(video)) throw new Error(`no video at ${video}; pass --video <file>`);
  console.log(`# scene detection vs decode floor — ${path.basename(video)}, ffmpeg threads=${threads}, ${reps} reps, ${os.cpus().length} cores`);
  const det: number[] = [];
  const floor: number[] = [];
  let frames = 0;
  let cuts = 0;
  for (let i = 0; i < reps; i++) {
    floor.push(await decodeFloorFps(video, threads));
    const d = await detectionFps(video, threads);
    det.push(d.fps);
    frames = d.frames;
    cuts = d.cuts;
  }
  const ratio = median(det) / median(floor);
  console.log(`frames per run           ${frames} (cuts found: ${cuts})`);
  console.log(`decode floor             ${median(floor).toFixed(0)} frames/s (median; runs: ${floor.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`scene detection          ${median(det).toFixed(0)} frames/s (median; runs: ${det.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`ratio detection/floor    ${ratio.toFixed(3)}  (target >= 0.85: ${ratio >= 0.85 ? 'met' : 'NOT met'})`);

  if (process.argv.includes('--skip-rss')) return;
  console.log('\n# peak RSS: ~200 clips vs ~2,000 clips (no-op clip op, 0.5 s clips)');
  const gen = path.join(ROOT, 'fixtures', 'generated', 'bench-rss');
  const make = (dir: string, n: number) => {
    const stamp = path.join(dir, `.ok-${n}`);
    if (fs.existsSync(stamp)) return;
    fs.rmSync(dir, { recursive: true, force: true });
    for (let i = 0; i < n; i++) {
      makeCutVideo(path.join(dir, `v${String(i).padStart(3, '0')}.mp4`), [{ src: i % 2 ? 'testsrc2' : 'testsrc', frames: 1000 + i }], { size: '64x48', fps: 20 });
    }
    fs.writeFileSync(stamp, '');
  };
  make(path.join(gen, 'small'), 2);
  make(path.join(gen, 'large'), 20);
  const recipe = path.join(gen, 'recipe.yaml');
  fs.writeFileSync(
    recipe,
    'name: rss\noutput: {flush_rows: 500}\nops:\n  - op: probe\n  - op: scene_detect\n  - op: clips\n    params: {max_clip_seconds: 0.5, overlap_seconds: 0}\n  - op: debug_fault\n',
  );
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-bench-'));
  const small = await peakRss(recipe, path.join(gen, 'small'), path.join(tmp, 's'));
  const large = await peakRss(recipe, path.join(gen, 'large'), path.join(tmp, 'l'));
  const r = large.peakMb / small.peakMb;
  console.log(`~200 clips               ${small.clips} clips, peak RSS ${small.peakMb.toFixed(0)} MB, ${small.seconds.toFixed(1)} s`);
  console.log(`~2,000 clips             ${large.clips} clips, peak RSS ${large.peakMb.toFixed(0)} MB, ${large.seconds.toFixed(1)} s`);
  console.log(`ratio RSS large/small    ${r.toFixed(3)}  (target <= 1.2: ${r <= 1.2 ? 'met' : 'NOT met'})`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
