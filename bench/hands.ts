/**
 * recipes/hands.yaml end to end (probe, scenes, clips, hand keypoints, masks, Allegro retargeting)
 * on human_hand_video.mp4 through the CLI, median of --reps runs, next to the ffmpeg decode-only
 * floor of the same video at full resolution (what hand_keypoints decodes).
 *   npm run bench:hands   (options: --video <file> --reps N --workers N)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeArgs, probe, resolveTool } from '../src/ffmpeg.js';
import { ROOT } from '../src/paths.js';

const arg = (n: string, d: string) => (process.argv.includes(`--${n}`) ? process.argv[process.argv.indexOf(`--${n}`) + 1] : d);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const video = arg('video', path.resolve(ROOT, '..', 'shared', 'data', 'videos', 'human_hand_video.mp4'));
  const reps = Number(arg('reps', '3'));
  const workers = arg('workers', String(os.availableParallelism()));
  const shared = path.resolve(ROOT, '..', 'shared', 'data');
  const env = { ...process.env, ...(fs.existsSync(shared) && !process.env.EGOPIPE_MIRROR ? { EGOPIPE_MIRROR: shared } : {}) };
  const m = await probe(video);
  const frames = m.frame_count!;
  const floor: number[] = [];
  const e2e: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = spawnSync(resolveTool('ffmpeg').path, decodeArgs({ path: video, width: m.width!, height: m.height!, pixFmt: 'rgb24', threads: 1 }, 'null'));
    if (r.status !== 0) throw new Error(String(r.stderr));
    floor.push(frames / ((performance.now() - t0) / 1000));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-bench-hands-'));
    const t1 = performance.now();
    const run = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'egopipe.js'), 'run', path.join(ROOT, 'recipes', 'hands.yaml'), '--input', video, '--out', out, '--quiet', '--workers', workers], { env, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(run.stderr);
    e2e.push(frames / ((performance.now() - t1) / 1000));
    fs.rmSync(out, { recursive: true, force: true });
  }
  console.log(`# recipes/hands.yaml end to end — ${path.basename(video)} (${frames} frames, ${m.width}x${m.height}), ${workers} worker(s), ${os.availableParallelism()} cores, ${reps} reps`);
  console.log(`decode floor (1 thread)  ${median(floor).toFixed(0)} frames/s (runs: ${floor.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`hands.yaml end to end    ${median(e2e).toFixed(1)} video frames/s (runs: ${e2e.map((x) => x.toFixed(1)).join(', ')}; includes start-up, probe, scene detection, overlap frames)`);
  console.log(`ratio e2e/floor          ${(median(e2e) / median(floor)).toFixed(3)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
