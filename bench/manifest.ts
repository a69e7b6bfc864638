/**
 * npm run bench:manifest [-- --sizes 200000,2000000 --reps 5]
 *
 * Does the orchestrator's per-task cost stay flat as the manifest grows (terabyte runs hold
 * millions of tasks)? For each size, a manifest with that many tasks (six ops, a third of them
 * pending) is built, then timed (median of --reps):
 *   - nextTasks: picking the next runnable tasks of a pool (every dispatch);
 *   - lifecycle: markRunning + markFinished + markDone of 1,000 tasks, per task;
 *   - countsByOp: task counts by op and state (progress, metrics; refreshed at most once a second
 *     and at most once per 50x its own cost, see src/run.ts).
 * Prints each size and the ratio of the largest to the smallest. `lifecycle` is the mean per task
 * over all reps (it includes SQLite's WAL checkpoints, which land in some reps and not others).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Manifest } from '../src/manifest.js';

const arg = (n: string, d: string) => (process.argv.includes(`--${n}`) ? process.argv[process.argv.indexOf(`--${n}`) + 1] : d);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const OPS = ['probe', 'scene_detect', 'clips', 'hand_keypoints', 'hand_mask', 'retarget'];

interface Result {
  size: number;
  buildS: number;
  nextMs: number;
  lifecycleUs: number;
  countsMs: number;
}

function build(file: string, size: number): Manifest {
  const m = new Manifest(file);
  const ins = m.db.prepare(
    `INSERT INTO tasks(item_id, op, level, video_id, seq, pool, config_hash, state, ready, cost) VALUES (?,?,?,?,?,?,?,?,?,?)`,
  );
  const batch = 100_000;
  for (let start = 0; start < size; start += batch) {
    m.db.transaction(() => {
      for (let i = start; i < Math.min(size, start + batch); i++) {
        const k = i % OPS.length;
        const item = Math.floor(i / OPS.length);
        ins.run(`clip${item}`, OPS[k], k < 3 ? 'video' : 'clip', `v${Math.floor(item / 100)}`, k, k < 2 ? 'cpu' : k === 2 ? 'main' : 'cpu', `cfg${k}`, item % 3 === 0 ? 'pending' : 'done', 1, 1 + (item % 997));
      }
    })();
  }
  return m;
}

function measure(size: number, reps: number): Result {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'egopipe-bench-manifest-'));
  try {
    const t0 = performance.now();
    const m = build(Manifest.pathIn(dir), size);
    const buildS = (performance.now() - t0) / 1000;
    const configs = OPS.map((_, k) => `cfg${k}`);
    const next: number[] = [];
    const life: number[] = [];
    const counts: number[] = [];
    for (let r = 0; r < reps; r++) {
      let t = performance.now();
      for (let i = 0; i < 100; i++) m.nextTasks('cpu', 4, Date.now() / 1000, new Set(), configs);
      next.push((performance.now() - t) / 100);
      // 1,000 tasks through their life, as the orchestrator does it (one transaction per commit)
      const picked: Array<[string, string]> = [];
      while (picked.length < 1000) {
        const ts = m.nextTasks('cpu', 50, Date.now() / 1000, new Set(), configs);
        if (!ts.length) break;
        t = performance.now();
        for (const x of ts) m.markRunning(x.item_id, x.config_hash, 'bench', 'bench');
        life.push(performance.now() - t);
        for (const x of ts) picked.push([x.item_id, x.config_hash]);
      }
      t = performance.now();
      m.tx(() => {
        for (const [i, c] of picked) m.markFinished(i, c);
      });
      m.tx(() => m.markDoneMany(picked));
      life.push(performance.now() - t);
      t = performance.now();
      m.countsByOp(configs);
      counts.push(performance.now() - t);
    }
    m.close();
    // life: per-rep sums of the marking time, per task
    const perRep = life.reduce((a, b) => a + b, 0) / reps;
    return { size, buildS, nextMs: median(next), lifecycleUs: (perRep / 1000) * 1000, countsMs: median(counts) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const sizes = arg('sizes', '200000,2000000').split(',').map(Number);
  const reps = Number(arg('reps', '5'));
  const res: Result[] = [];
  for (const s of sizes) {
    const r = measure(s, reps);
    res.push(r);
    console.log(
      `${String(s).padStart(9)} tasks: nextTasks ${r.nextMs.toFixed(3)} ms | lifecycle ${r.lifecycleUs.toFixed(1)} us/task | countsByOp ${r.countsMs.toFixed(1)} ms (median of ${reps}; built in ${r.buildS.toFixed(1)} s)`,
    );
  }
  if (res.length > 1) {
    const a = res[0];
    const b = res[res.length - 1];
    console.log(
      `ratio ${b.size}/${a.size} tasks: nextTasks ${(b.nextMs / a.nextMs).toFixed(2)}x, lifecycle ${(b.lifecycleUs / a.lifecycleUs).toFixed(2)}x, countsByOp ${(b.countsMs / a.countsMs).toFixed(2)}x (per-task costs grow like the B-tree depth, i.e. logarithmically; countsByOp grows linearly and is rate-limited in runs)`,
    );
  }
}

main();
