/**
 * Retargeting throughput on one core: Allegro right hand, the 621 recorded frames of
 * human_joint_right.json, for the vector, position and DexPilot optimizers.
 * One warm-up pass, then 5 timed passes (each after reset()); the table shows the median.
 *
 *   npx tsc -p . && node dist/bench/retarget.js
 *
 * EGOPIPE_SHARED overrides the shared data folder (default: ../shared next to the project).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Retargeter } from '../operators/retarget/retargeter.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// works from bench/ (ts) and dist/bench/ (compiled)
const root = fs.existsSync(path.join(here, '../package.json')) ? path.resolve(here, '..') : path.resolve(here, '../..');
const shared = process.env.EGOPIPE_SHARED ?? path.resolve(root, '../shared');
const handsDir = path.join(shared, 'data/robots/hands');
const cfgDir = path.join(shared, 'data/robots/retargeting');
const doc = JSON.parse(fs.readFileSync(path.join(shared, 'data/hands/human_joint_right.json'), 'utf8')) as { frames: number[][][] };
const frames = doc.frames.map((f) => Float64Array.from(f.flat()));

const CASES = [
  { name: 'vector', config: 'teleop/allegro_hand_right.yml' },
  { name: 'position', config: 'offline/allegro_hand_right.yml' },
  { name: 'DexPilot', config: 'teleop/allegro_hand_right_dexpilot.yml' },
];
const RUNS = 5;

interface Row {
  optimizer: string;
  config: string;
  vars: number;
  fps: number;
  fpsMin: number;
  fpsMax: number;
  residual: number;
  errorMm: number;
  evals: number;
}

const rows: Row[] = [];
for (const c of CASES) {
  const rt = Retargeter.fromConfig(path.join(cfgDir, c.config), handsDir);
  const pass = () => {
    rt.reset();
    let residual = 0, err = 0, evals = 0;
    const t0 = process.hrtime.bigint();
    for (const k of frames) {
      const r = rt.retarget(k);
      residual += r.residual;
      err += r.meanError;
      evals += r.evaluations;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    return { fps: frames.length / s, residual: residual / frames.length, err: err / frames.length, evals: evals / frames.length };
  };
  pass(); // warm-up (JIT)
  const runs = Array.from({ length: RUNS }, pass);
  const sorted = runs.map((r) => r.fps).sort((a, b) => a - b);
  rows.push({
    optimizer: c.name,
    config: c.config,
    vars: rt.optimizer.n,
    fps: sorted[RUNS >> 1],
    fpsMin: sorted[0],
    fpsMax: sorted[RUNS - 1],
    residual: runs[0].residual,
    errorMm: runs[0].err * 1000,
    evals: runs[0].evals,
  });
}

console.log(`Allegro right, ${frames.length} frames, median of ${RUNS} runs, one core (node ${process.version})\n`);
const header = ['optimizer', 'config', 'vars', 'frames/s', 'min..max', 'mean residual', 'mean error', 'f+g evals/frame'];
const table = rows.map((r) => [
  r.optimizer,
  r.config,
  String(r.vars),
  r.fps.toFixed(0),
  `${r.fpsMin.toFixed(0)}..${r.fpsMax.toFixed(0)}`,
  r.residual.toExponential(3),
  `${r.errorMm.toFixed(1)} mm`,
  r.evals.toFixed(1),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
console.log(line(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const t of table) console.log(line(t));
const vector = rows.find((r) => r.optimizer === 'vector')!;
console.log(`\nvector target >= 1000 frames/s/core: ${vector.fps >= 1000 ? 'met' : 'NOT met'} (${vector.fps.toFixed(0)})`);
