/**
 * npm run bench:model-worker
 *
 * Model-worker duty cycle while decoding runs concurrently: the debug_model op runs a tiny ONNX
 * model for a fixed --ms per frame on frames the worker decodes itself (the next clip is decoded
 * ahead while the current one runs). Duty cycle = (time in tasks - time waiting for frames) /
 * time from the first task to the last result (the first clip's cold decode included). Target >= 95%.
 * Baseline in the same run: the same work with read-ahead disabled (EGOPIPE_PREFETCH_BYTES=0: a
 * task's frames are decoded only when it runs).
 * Also: COCO RLE encode throughput (MB/s of mask pixels).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeMask } from '../src/rle.js';
import { ROOT } from '../src/paths.js';

const arg = (n: string, d: string) => (process.argv.includes(`--${n}`) ? process.argv[process.argv.indexOf(`--${n}`) + 1] : d);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function runOnce(video: string, ms: number, size: string, env: NodeJS.ProcessEnv): { duty: number; wait: number; busy: number; active: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-bench-mw-'));
  const [w, h] = size.split('x').map(Number);
  const recipe = path.join(dir, 'r.yaml');
  fs.writeFileSync(
    recipe,
    `resources: {gpus: none, model_workers_cpu: 1}\nops:\n  - op: probe\n  - op: clips\n    params: {max_clip_seconds: 2, overlap_seconds: 0}\n  - op: debug_model\n    params: {ms_per_frame: ${ms}, width: ${w}, height: ${h}}\n`,
  );
  const out = path.join(dir, 'out');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'egopipe.js'), 'run', recipe, '--input', ...video.split(','), '--out', out, '--quiet', '--log-format', 'json'], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const q = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'egopipe.js'), 'query', '--out', out, '--format', 'json', `SELECT counts FROM runs WHERE run_id = '${summary.run_id}'`], { encoding: 'utf8' });
  const counts = JSON.parse(JSON.parse(q.stdout)[0].counts);
  fs.rmSync(dir, { recursive: true, force: true });
  const s = counts.model_workers[0];
  return { duty: s.duty_cycle, wait: s.decode_wait_ms, busy: s.busy_ms, active: s.active_ms };
}

function main(): void {
  const vids = path.resolve(ROOT, '..', 'shared', 'data', 'videos');
  const video = arg('video', [path.join(vids, '02_cups.mp4'), path.join(vids, 'human_hand_video.mp4'), path.join(vids, 'testvideo.mp4')].join(','));
  const ms = Number(arg('ms', '8'));
  const size = arg('size', '640x360');
  const reps = Number(arg('reps', '3'));
  console.log(`# model-worker duty cycle — ${video.split(',').map((v) => path.basename(v)).join(', ')} in 2 s clips decoded at ${size}, ${ms} ms of model time per frame, 1 CPU model worker, ${reps} reps`);
  const runs = Array.from({ length: reps }, () => runOnce(video, ms, size, process.env));
  const base = Array.from({ length: reps }, () => runOnce(video, ms, size, { ...process.env, EGOPIPE_PREFETCH_BYTES: '0' }));
  const show = (name: string, xs: typeof runs) =>
    console.log(`${name.padEnd(34)} duty ${(100 * median(xs.map((x) => x.duty))).toFixed(1)}%  decode wait ${median(xs.map((x) => x.wait))} ms of ${median(xs.map((x) => x.active))} ms active`);
  show('prefetch (default 256 MiB)', runs);
  show('baseline: no read-ahead (decode on demand)', base);
  const d = median(runs.map((x) => x.duty));
  console.log(`target duty cycle >= 95%: ${d >= 0.95 ? 'met' : 'NOT met'}`);

  console.log('\n# COCO RLE encode throughput, 1280x720 masks');
  const W = 1280;
  const H = 720;
  const masks: Array<[string, Uint8Array]> = [];
  const blob = new Uint8Array(W * H);
  for (let y = 200; y < 500; y++) for (let x = 400; x < 700; x++) if ((x - 550) ** 2 + (y - 350) ** 2 < 150 ** 2) blob[y * W + x] = 1;
  masks.push(['hand-sized disc', blob]);
  const many = new Uint8Array(W * H);
  for (let k = 0; k < 40; k++) {
    const cx = (k * 211) % W;
    const cy = (k * 97) % H;
    for (let y = Math.max(0, cy - 40); y < Math.min(H, cy + 40); y++) for (let x = Math.max(0, cx - 60); x < Math.min(W, cx + 60); x++) many[y * W + x] = 1;
  }
  masks.push(['40 boxes over the frame', many]);
  for (const [name, m] of masks) {
    const times: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t0 = performance.now();
      for (let i = 0; i < 20; i++) encodeMask(m, H, W);
      times.push((performance.now() - t0) / 20);
    }
    const t = median(times);
    console.log(`${name.padEnd(34)} ${t.toFixed(3)} ms/mask, ${((W * H) / 1e6 / (t / 1000)).toFixed(0)} MB/s of mask pixels (median of 7)`);
  }
}

main();
