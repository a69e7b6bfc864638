/**
 * npm run bench:overhead
 *
 * Orchestration overhead: ~5,000 short clips (generated videos, 0.2 s clips) through a no-op CPU
 * op that spends a fixed --ms per clip (debug_fault sleep_ms). Reports the clip stage's wall time
 * (first clip task started .. last clip task finished, from the events table) against the ideal:
 * the sum of the op's own time (events.run_s, measured in the worker) divided by the CPU workers
 * (target <= 1.05x), plus the whole run's
 * wall time and peak RSS.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeCutVideo } from '../src/fixtures.js';
import { ROOT } from '../src/paths.js';

const arg = (n: string, d: string) => (process.argv.includes(`--${n}`) ? process.argv[process.argv.indexOf(`--${n}`) + 1] : d);

interface One {
  n: number;
  opTime: number;
  span: number;
  wall: number;
  peakMb: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const reps = Number(arg('reps', '3'));
  const clipsWanted = Number(arg('clips', '5000'));
  const ms = Number(arg('ms', '20'));
  const workers = Number(arg('workers', String(os.availableParallelism())));
  const gen = path.join(ROOT, 'fixtures', 'generated', 'bench-overhead');
  const videos = 25;
  const framesPer = Math.ceil((clipsWanted / videos) * 5); // 0.2 s clips at 25 fps = 5 frames
  const stamp = path.join(gen, `.ok-${videos}-${framesPer}`);
  if (!fs.existsSync(stamp)) {
    fs.rmSync(gen, { recursive: true, force: true });
    for (let i = 0; i < videos; i++) makeCutVideo(path.join(gen, `v${String(i).padStart(2, '0')}.mp4`), [{ src: i % 2 ? 'testsrc2' : 'testsrc', frames: framesPer + i }], { size: '32x24' });
    fs.writeFileSync(stamp, '');
  }
  const runs: One[] = [];
  for (let i = 0; i < reps; i++) runs.push(await once(gen, ms, workers));
  const r = runs[0];
  const ratios = runs.map((x) => x.span / (x.opTime / workers));
  console.log(`# orchestration overhead — ${r.n} clips, no-op CPU op of ${ms} ms per clip, ${workers} worker(s), ${os.availableParallelism()} cores, ${reps} runs`);
  console.log(`sum of op time / workers  ${median(runs.map((x) => x.opTime / workers)).toFixed(2)} s (median; op time measured inside the workers)`);
  console.log(`clip stage wall time      ${median(runs.map((x) => x.span)).toFixed(2)} s (median; first clip task start .. last finish)`);
  console.log(`ratio                     ${median(ratios).toFixed(3)} median (runs: ${ratios.map((x) => x.toFixed(3)).join(', ')}; target <= 1.05: ${median(ratios) <= 1.05 ? 'met' : 'NOT met'})`);
  console.log(`whole run wall time       ${median(runs.map((x) => x.wall)).toFixed(2)} s (median; start-up, discovery, probe, commits included)`);
  console.log(`peak RSS                  ${median(runs.map((x) => x.peakMb)).toFixed(0)} MB (median)`);
}

async function once(gen: string, ms: number, workers: number): Promise<One> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-bench-overhead-'));
  const recipe = path.join(tmp, 'r.yaml');
  fs.writeFileSync(
    recipe,
    `resources: {cpu_workers: ${workers}}\noutput: {flush_rows: 20000, flush_seconds: 30}\nops:\n  - op: probe\n  - op: clips\n    params: {max_clip_seconds: 0.2, overlap_seconds: 0, min_clip_seconds: 0}\n  - op: debug_fault\n    params: {sleep_ms: ${ms}}\n`,
  );
  const out = path.join(tmp, 'out');
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'egopipe.js'), 'run', recipe, '--input', gen, '--out', out, '--quiet'], { stdio: 'inherit' });
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const st = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(st)?.[1] ?? 0));
    } catch {
      /* gone */
    }
  }, 50);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearInterval(poll);
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`run exited ${code}`);
  const q = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'egopipe.js'),
      'query',
      '--out',
      out,
      '--format',
      'json',
      `SELECT count(*) AS n, sum(run_s) AS busy, epoch(max(ts)) - min(epoch(ts) - duration_s) AS span FROM events WHERE op = 'debug_fault' AND event = 'finished'`,
    ],
    { encoding: 'utf8' },
  );
  const [r] = JSON.parse(q.stdout) as Array<{ n: number; busy: number; span: number }>;
  fs.rmSync(tmp, { recursive: true, force: true });
  return { n: r.n, opTime: r.busy, span: r.span, wall, peakMb: peak / 1024 };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
