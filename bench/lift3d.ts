/**
 * lift3d and object_motion throughput on generated data (no models, no video): per clip 20 depth
 * frames (512 x 288 PNG16, the MoGe default size for 16:9) with intrinsics, N object masks per
 * frame as COCO RLE at 1280 x 720, and 2 hands per frame (keypoints + relative z). Objects are
 * ellipses in front of a tilted table, drifting across the frames. One warm-up pass, then RUNS
 * timed passes; the table shows medians.
 *
 *   npx tsc -p . && node dist/bench/lift3d.js
 */
import { decodeDepthRow, encodeDepth } from '../operators/depth/map.js';
import { lift3d } from '../operators/lift3d/index.js';
import { analyzeMotion } from '../operators/object_motion/index.js';
import type { Row } from '../operators/types.js';
import { median } from '../src/geometry3d.js';
import { countsToString, encodeCounts } from '../src/rle.js';

const W = 1280;
const H = 720;
const DW = 512;
const DH = 288;
const FPS = 30;
const FRAMES = 20;
const STEP = 15; // 2 frames/s sampled
const RUNS = 5;
const K = { fx: 900, fy: 900, cx: (W - 1) / 2, cy: (H - 1) / 2 };

interface Obj {
  id: number;
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  z: number;
  vx: number;
}

function objects(n: number, radius: number): Obj[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    cx: 200 + ((i * 997) % (W - 400)),
    cy: 200 + ((i * 571) % (H - 400)),
    rx: radius,
    ry: radius * 0.7,
    z: 0.6 + 0.1 * (i % 4),
    vx: i % 3 === 0 ? 6 : 0, // every third object slides 6 px per sampled frame
  }));
}

function generate(nObjects: number, radius: number): { depth: Row[]; masks: Row[]; hands: Row[] } {
  const depth: Row[] = [];
  const masks: Row[] = [];
  const hands: Row[] = [];
  const objs = objects(nObjects, radius);
  for (let k = 0; k < FRAMES; k++) {
    const frame = k * STEP;
    const d = new Float32Array(DW * DH);
    for (let y = 0; y < DH; y++) for (let x = 0; x < DW; x++) d[y * DW + x] = 1.2 + 0.6 * (1 - y / DH) + 0.0002 * x; // table
    for (const o of objs) {
      const cx = o.cx + o.vx * k;
      // depth pixels of the ellipse
      const sx = DW / W;
      const sy = DH / H;
      for (let y = Math.max(0, Math.floor((o.cy - o.ry) * sy)); y <= Math.min(DH - 1, Math.ceil((o.cy + o.ry) * sy)); y++) {
        for (let x = Math.max(0, Math.floor((cx - o.rx) * sx)); x <= Math.min(DW - 1, Math.ceil((cx + o.rx) * sx)); x++) {
          const u = (x + 0.5) / sx - 0.5;
          const v = (y + 0.5) / sy - 0.5;
          if (((u - cx) / o.rx) ** 2 + ((v - o.cy) / o.ry) ** 2 <= 1) d[y * DW + x] = o.z - 0.02 * Math.cos((u - cx) / o.rx);
        }
      }
      const m = new Uint8Array(W * H);
      for (let y = Math.max(0, Math.floor(o.cy - o.ry)); y <= Math.min(H - 1, Math.ceil(o.cy + o.ry)); y++) {
        for (let x = Math.max(0, Math.floor(cx - o.rx)); x <= Math.min(W - 1, Math.ceil(cx + o.rx)); x++) if (((x - cx) / o.rx) ** 2 + ((y - o.cy) / o.ry) ** 2 <= 1) m[y * W + x] = 1;
      }
      masks.push({ clip_id: 'bench', frame, object_id: o.id, label: `obj${o.id}`, score: 0.9, rle_counts: countsToString(encodeCounts(m, H, W)), height: H, width: W, bbox: [cx - o.rx, o.cy - o.ry, 2 * o.rx, 2 * o.ry] });
    }
    const enc = encodeDepth(d, DW, DH);
    depth.push({ clip_id: 'bench', frame, width: DW, height: DH, image_width: W, image_height: H, ...K, depth_unit_m: 0.001, depth_png: enc.png.toString('base64') });
    for (let h = 0; h < 2; h++) {
      const kp2d: number[] = [];
      const kp3d: number[] = [];
      for (let j = 0; j < 21; j++) {
        const x = 400 + 300 * h + 8 * (j % 5) + 3 * k;
        const y = 500 - 10 * Math.floor(j / 5);
        kp2d.push(x, y);
        kp3d.push(x, y, -2 * (j % 4));
      }
      hands.push({ clip_id: 'bench', frame, hand_index: h, handedness: h ? 'left' : 'right', kp2d, kp3d_rel: kp3d });
    }
  }
  return { depth, masks, hands };
}

function time<T>(fn: () => T): { ms: number; out: T } {
  const t0 = process.hrtime.bigint();
  const out = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, out };
}

const CASES = [
  { name: 'small masks (r=40 px)', objects: 5, radius: 40 },
  { name: 'large masks (r=200 px)', objects: 5, radius: 200 },
  { name: 'many masks (r=60 px)', objects: 20, radius: 60 },
];

const lines: string[] = [];
lines.push('| case | masks/clip | lift3d masks/s | lift3d ms/clip | of which depth PNG decode ms | object_motion masks/s | object_motion ms/clip |');
lines.push('|---|---|---|---|---|---|---|');
for (const c of CASES) {
  const data = generate(c.objects, c.radius);
  const input = { clipId: 'bench', fps: FPS, depth: data.depth, masks: data.masks, hands: data.hands, handPoses: [] as Row[] };
  const warm = lift3d(input, {});
  analyzeMotion({ clipId: 'bench', fps: FPS, objects: warm.objects, hands: warm.hands }, {});
  const liftMs: number[] = [];
  const motionMs: number[] = [];
  const decodeMs: number[] = [];
  let objectsOut = 0;
  for (let r = 0; r < RUNS; r++) {
    // the part of lift3d that decodes the clip's 20 depth PNGs (each once)
    decodeMs.push(time(() => data.depth.forEach((d) => decodeDepthRow(d))).ms);
    const l = time(() => lift3d(input, {}));
    liftMs.push(l.ms);
    objectsOut = l.out.objects.length;
    const m = time(() => analyzeMotion({ clipId: 'bench', fps: FPS, objects: l.out.objects, hands: l.out.hands }, {}));
    motionMs.push(m.ms);
  }
  const n = data.masks.length;
  const lm = median(liftMs);
  const mm = median(motionMs);
  lines.push(`| ${c.name} | ${n} (${objectsOut} lifted) | ${Math.round((n / lm) * 1000)} | ${lm.toFixed(1)} | ${median(decodeMs).toFixed(1)} | ${Math.round((objectsOut / mm) * 1000)} | ${mm.toFixed(1)} |`);
}
console.log(`lift3d / object_motion throughput, one thread; ${FRAMES} depth frames ${DW}x${DH}, masks at ${W}x${H}, 2 hands per frame; median of ${RUNS}\n`);
console.log(lines.join('\n'));
