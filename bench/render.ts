/**
 * object_pose CPU renderer throughput at FoundationPose's crop size (160 x 160), one core:
 * hypotheses rendered per second (RGB + XYZ + depth) for a cube (12 triangles) and an
 * icosphere (5,120 triangles), each over the 252-rotation hypothesis grid at 0.5 m with the
 * refiner's crop window (cull none = the op's setting; back = closed meshes only); plus the full
 * per-hypothesis input preparation of estimate.ts (render + observed RGB/XYZ crops + XYZ
 * normalisation + packing into the 6-channel layout) on a synthetic 640x480 RGB-D frame, with
 * all hypotheses at one t (first refiner pass: one observed crop per batch) and with one t each
 * (later passes and scoring).
 * One warm-up pass, then RUNS timed passes; the table shows the median (min..max).
 *
 *   npx tsc -p . && node dist/bench/render.js [--runs 7]
 */
import { CROP_SIZE, REFINE_CROP_RATIO, cropWindow } from '../operators/object_pose/crop.js';
import { Workspace, fillPairs, prepareObject } from '../operators/object_pose/estimate.js';
import { makeHypotheses, rotationGrid } from '../operators/object_pose/hypotheses.js';
import type { Intrinsics } from '../operators/object_pose/math.js';
import { makeBox, makeIcosphere, meshDiameter, triangleCount, type Mesh } from '../operators/object_pose/mesh.js';
import { CropRenderer, allocRenderBuffers, type CullMode } from '../operators/object_pose/render.js';

const argRuns = process.argv.indexOf('--runs');
const RUNS = argRuns > 0 ? Math.max(1, Number(process.argv[argRuns + 1]) || 7) : 7;
const K: Intrinsics = { fx: 600, fy: 600, cx: 319.5, cy: 239.5 };
const T: [number, number, number] = [0.02, -0.01, 0.5];
const poses = makeHypotheses(rotationGrid(), T);

const color = (x: number, y: number, z: number): [number, number, number] => [0.5 + x * 4, 0.5 + y * 4, 0.5 + z * 4];
const MESHES: Array<{ name: string; mesh: Mesh }> = [
  { name: 'cube 10 cm', mesh: makeBox(0.1, 0.1, 0.1, color) },
  { name: 'icosphere r 6 cm', mesh: makeIcosphere(4, 0.06, color) },
];

function median(a: number[]): number {
  const s = a.slice().sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function timed(pass: () => void): { med: number; min: number; max: number } {
  pass(); // warm-up (JIT)
  const rates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    pass();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(poses.length / s);
  }
  return { med: median(rates), min: Math.min(...rates), max: Math.max(...rates) };
}

const rows: string[][] = [];
for (const { name, mesh } of MESHES) {
  const diameter = meshDiameter(mesh);
  const crops = poses.map((p) => cropWindow(p.t, K, diameter, REFINE_CROP_RATIO, CROP_SIZE));
  for (const cull of ['none', 'back'] as CullMode[]) {
    const r = new CropRenderer(mesh, { width: CROP_SIZE, height: CROP_SIZE, cull });
    const out = allocRenderBuffers(CROP_SIZE, CROP_SIZE, 1);
    let px = 0;
    const res = timed(() => {
      for (let i = 0; i < poses.length; i++) r.render(poses[i], K, crops[i], out, 0);
      px = r.takeStats().pixelsWritten / poses.length;
    });
    rows.push([name, String(triangleCount(mesh)), `render, cull ${cull}`, res.med.toFixed(0), `${res.min.toFixed(0)}..${res.max.toFixed(0)}`, (1000 / res.med).toFixed(2), px.toFixed(0)]);
  }
  // full input preparation for the networks (what estimate.ts does per hypothesis and pass)
  const W = 640, H = 480;
  const rgb = new Uint8Array(W * H * 3).map((_, i) => (i * 7) % 251);
  const depth = new Float32Array(W * H).fill(0.52);
  const obs = { rgb: { width: W, height: H, data: rgb }, depth: { width: W, height: H, data: depth }, K };
  const obj = prepareObject(name, mesh);
  const ws = new Workspace();
  const batch = 42;
  // first refiner pass: every hypothesis has the same t, the observed crop is made once per batch;
  // later passes: each refined hypothesis has its own t, hence its own observed crop
  const jittered = poses.map((p, i) => ({ R: p.R, t: [p.t[0] + 1e-4 * (i % 7), p.t[1] - 1e-4 * (i % 5), p.t[2] + 1e-4 * (i % 3)] as [number, number, number] }));
  for (const [label, set] of [['inputs, shared t (1st pass)', poses], ['inputs, own t per hypothesis', jittered]] as const) {
    const res = timed(() => {
      for (let b = 0; b < set.length; b += batch) fillPairs(obj, obs, set.slice(b, b + batch), REFINE_CROP_RATIO, ws);
    });
    rows.push([name, String(triangleCount(mesh)), label, res.med.toFixed(0), `${res.min.toFixed(0)}..${res.max.toFixed(0)}`, (1000 / res.med).toFixed(2), '']);
  }
}

console.log(`object_pose renderer, ${CROP_SIZE}x${CROP_SIZE} crops, ${poses.length} hypotheses per pass, median of ${RUNS} (node ${process.version})\n`);
const header = ['mesh', 'triangles', 'work', 'hypotheses/s', 'min..max', 'ms/hypothesis', 'px drawn/hyp'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
console.log(line(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(line(r));
