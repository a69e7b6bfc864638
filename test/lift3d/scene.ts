/**
 * Synthetic scenes of known geometry for the lift3d / object_motion tests: a tilted table plane,
 * boxes and plates (axis-aligned in the camera frame), ray-cast to a depth map with known
 * intrinsics; masks of the objects as COCO RLE at the image resolution.
 */
import { encodeDepth } from '../../operators/depth/map.js';
import { countsToString, encodeCounts } from '../../src/rle.js';
import { scaleIntrinsics, type Intrinsics } from '../../src/geometry3d.js';
import type { Row } from '../../operators/types.js';

export interface Box {
  id: number;
  label: string;
  /** centre (m, camera frame) and full size */
  center: [number, number, number];
  size: [number, number, number];
}

export interface Scene {
  /** image (video) size and intrinsics */
  W: number;
  H: number;
  K: Intrinsics;
  /** depth map size */
  dw: number;
  dh: number;
  /** table plane n . p + d = 0, or null for a wall at `wall` m */
  plane: { n: [number, number, number]; d: number } | null;
  wall: number;
  boxes: Box[];
}

/** Nearest hit along the ray through image pixel (u, v): depth z and the id of the box (or -1). */
export function castRay(s: Scene, u: number, v: number): { z: number; id: number } {
  const dx = (u - s.K.cx) / s.K.fx;
  const dy = (v - s.K.cy) / s.K.fy;
  const dir = [dx, dy, 1];
  let best = Infinity;
  let id = -1;
  for (const b of s.boxes) {
    let t0 = 0;
    let t1 = Infinity;
    let ok = true;
    for (let a = 0; a < 3 && ok; a++) {
      const lo = b.center[a] - b.size[a] / 2;
      const hi = b.center[a] + b.size[a] / 2;
      if (Math.abs(dir[a]) < 1e-12) {
        if (0 < lo || 0 > hi) ok = false;
        continue;
      }
      let ta = lo / dir[a];
      let tb = hi / dir[a];
      if (ta > tb) [ta, tb] = [tb, ta];
      t0 = Math.max(t0, ta);
      t1 = Math.min(t1, tb);
      if (t0 > t1) ok = false;
    }
    if (ok && t0 > 0 && t0 < best) {
      best = t0;
      id = b.id;
    }
  }
  let bg = s.wall;
  if (s.plane) {
    const den = s.plane.n[0] * dx + s.plane.n[1] * dy + s.plane.n[2];
    const t = -s.plane.d / den;
    if (t > 0 && t < bg) bg = t;
  }
  if (bg < best) return { z: bg, id: -1 };
  return { z: best, id };
}

/** Depth map (dw x dh) of the scene, ray-cast through the centres of the depth pixels. */
export function renderDepth(s: Scene): Float32Array {
  const depth = new Float32Array(s.dw * s.dh);
  for (let y = 0; y < s.dh; y++) {
    for (let x = 0; x < s.dw; x++) {
      // depth pixel centre in image pixels
      const u = (x + 0.5) * (s.W / s.dw) - 0.5;
      const v = (y + 0.5) * (s.H / s.dh) - 0.5;
      depth[y * s.dw + x] = castRay(s, u, v).z;
    }
  }
  return depth;
}

/** Row-major image-resolution mask of a box (visible pixels). */
export function renderMask(s: Scene, id: number): Uint8Array {
  const m = new Uint8Array(s.W * s.H);
  for (let v = 0; v < s.H; v++) for (let u = 0; u < s.W; u++) if (castRay(s, u, v).id === id) m[v * s.W + u] = 1;
  return m;
}

export function depthRow(s: Scene, clipId: string, frame: number, unitM = 0.001): Row {
  const enc = encodeDepth(renderDepth(s), s.dw, s.dh, unitM);
  return {
    clip_id: clipId,
    frame,
    model: 'synthetic',
    width: s.dw,
    height: s.dh,
    image_width: s.W,
    image_height: s.H,
    fx: s.K.fx,
    fy: s.K.fy,
    cx: s.K.cx,
    cy: s.K.cy,
    depth_unit_m: unitM,
    depth_png: enc.png.toString('base64'),
  };
}

export function maskRow(s: Scene, clipId: string, frame: number, box: Box): Row {
  const mask = renderMask(s, box.id);
  let area = 0;
  for (const v of mask) area += v;
  return {
    clip_id: clipId,
    frame,
    object_id: box.id,
    label: box.label,
    score: 0.9,
    area,
    rle_counts: countsToString(encodeCounts(mask, s.H, s.W)),
    height: s.H,
    width: s.W,
  };
}

export function depthK(s: Scene): Intrinsics {
  return scaleIntrinsics(s.K, s.W, s.H, s.dw, s.dh);
}

/** Mean of the visible surface points of a box, from a dense full-resolution ray cast. */
export function visibleCentroid(s: Scene, id: number): [number, number, number] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let v = 0; v < s.H; v++) {
    for (let u = 0; u < s.W; u++) {
      const r = castRay(s, u, v);
      if (r.id !== id) continue;
      sum[0] += ((u - s.K.cx) / s.K.fx) * r.z;
      sum[1] += ((v - s.K.cy) / s.K.fy) * r.z;
      sum[2] += r.z;
      n++;
    }
  }
  return [sum[0] / n, sum[1] / n, sum[2] / n];
}

export const BASE_SCENE: Omit<Scene, 'boxes'> = {
  W: 320,
  H: 240,
  K: { fx: 300, fy: 300, cx: 159.5, cy: 119.5 },
  dw: 160,
  dh: 120,
  // a table seen from above and in front: normal towards the camera (up-ish, y down in the camera frame)
  plane: { n: [0, -0.8, -0.6], d: 0.75 },
  wall: 5,
};
