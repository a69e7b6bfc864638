import { describe, expect, it } from 'vitest';
import { cropWindow, invertAffine } from '../../operators/object_pose/crop.js';
import { axisAngleToMatrix, mulVec3, transpose3, type Intrinsics, type Pose } from '../../operators/object_pose/math.js';
import { makeBox, type Mesh } from '../../operators/object_pose/mesh.js';
import { CropRenderer, IDENTITY_AFFINE, allocRenderBuffers, type Affine, type RenderBuffers } from '../../operators/object_pose/render.js';

const S = 160;
const K: Intrinsics = { fx: 210, fy: 205, cx: 79.3, cy: 80.6 };
const HALF = 0.05;
const cube = makeBox(2 * HALF, 2 * HALF, 2 * HALF, (x, y, z) => [0.5 + x / (4 * HALF), 0.5 + y / (4 * HALF), 0.5 + z / (4 * HALF)]);
const pose: Pose = { R: axisAngleToMatrix([0.35, -0.55, 0.2]), t: [0.01, -0.006, 0.42] };

/** Ray through image point (x, y) hits the cube (object frame, slab test): entry / exit parameters along the camera ray. */
function rayCube(p: Pose, x: number, y: number, half = HALF): { tIn: number; tOut: number } | null {
  const Rt = transpose3(p.R);
  const o = mulVec3(Rt, [-p.t[0], -p.t[1], -p.t[2]]);
  const d = mulVec3(Rt, [(x - K.cx) / K.fx, (y - K.cy) / K.fy, 1]); // camera z = parameter
  let t0 = -Infinity, t1 = Infinity;
  for (let a = 0; a < 3; a++) {
    if (Math.abs(d[a]) < 1e-15) {
      if (Math.abs(o[a]) > half) return null;
      continue;
    }
    let ta = (-half - o[a]) / d[a], tb = (half - o[a]) / d[a];
    if (ta > tb) [ta, tb] = [tb, ta];
    t0 = Math.max(t0, ta);
    t1 = Math.min(t1, tb);
  }
  return t0 <= t1 && t1 > 0 ? { tIn: t0, tOut: t1 } : null;
}

function render(mesh: Mesh, p: Pose, crop: Affine = IDENTITY_AFFINE, opts: Partial<ConstructorParameters<typeof CropRenderer>[1]> = {}): RenderBuffers {
  const r = new CropRenderer(mesh, { width: S, height: S, ...opts });
  const out = allocRenderBuffers(S, S, 1);
  r.render(p, K, crop, out, 0);
  return out;
}

function covered(b: RenderBuffers, i: number): boolean {
  return b.depth[i] > 0;
}

describe('renderer vs analytic cube', () => {
  it('xyz at every pixel centre is the first ray-cube intersection; coverage is the analytic silhouette', () => {
    const b = render(cube, pose);
    let hits = 0;
    let mismatched = 0;
    for (let v = 0; v < S; v++) {
      for (let u = 0; u < S; u++) {
        const i = v * S + u;
        const hit = rayCube(pose, u, v);
        if (!hit) {
          if (covered(b, i)) mismatched++;
          continue;
        }
        if (!covered(b, i)) {
          mismatched++;
          continue;
        }
        hits++;
        const z = hit.tIn;
        const want = [((u - K.cx) / K.fx) * z, ((v - K.cy) / K.fy) * z, z];
        for (let a = 0; a < 3; a++) expect(Math.abs(b.xyz[i * 3 + a] - want[a])).toBeLessThan(1e-5);
        expect(b.depth[i]).toBeCloseTo(b.xyz[i * 3 + 2], 6);
      }
    }
    expect(hits).toBeGreaterThan(3000);
    expect(mismatched).toBe(0);
    // background is all zeros
    for (let i = 0; i < S * S; i++) {
      if (!covered(b, i)) expect(b.rgb[i * 3] + b.rgb[i * 3 + 1] + b.rgb[i * 3 + 2] + b.xyz[i * 3 + 2]).toBe(0);
    }
  });

  it('silhouette: area = area of the projected hull of the 8 vertices; vertex projections sit on its corners', () => {
    const b = render(cube, pose);
    const pts: Array<[number, number]> = [];
    for (const sx of [-1, 1]) for (const sy of [-1, 1]) for (const sz of [-1, 1]) {
      const X = mulVec3(pose.R, [sx * HALF, sy * HALF, sz * HALF]);
      const c = [X[0] + pose.t[0], X[1] + pose.t[1], X[2] + pose.t[2]];
      pts.push([(K.fx * c[0]) / c[2] + K.cx, (K.fy * c[1]) / c[2] + K.cy]);
    }
    // convex hull (monotone chain)
    const sorted = pts.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const crossz = (o: number[], a: number[], c: number[]) => (a[0] - o[0]) * (c[1] - o[1]) - (a[1] - o[1]) * (c[0] - o[0]);
    const lower: number[][] = [];
    for (const p of sorted) {
      while (lower.length >= 2 && crossz(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
      lower.push(p);
    }
    const upper: number[][] = [];
    for (const p of sorted.slice().reverse()) {
      while (upper.length >= 2 && crossz(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
      upper.push(p);
    }
    const hull = [...lower.slice(0, -1), ...upper.slice(0, -1)];
    let area = 0;
    let perimeter = 0;
    for (let i = 0; i < hull.length; i++) {
      const a = hull[i], c = hull[(i + 1) % hull.length];
      area += a[0] * c[1] - c[0] * a[1];
      perimeter += Math.hypot(c[0] - a[0], c[1] - a[1]);
    }
    area = Math.abs(area) / 2;
    let count = 0;
    for (let i = 0; i < S * S; i++) if (covered(b, i)) count++;
    expect(area).toBeGreaterThan(3000);
    expect(Math.abs(count - area)).toBeLessThan(0.25 * perimeter);
    // every hull corner: covered 4 px inside (towards the centroid), empty 4 px outside
    const cx = hull.reduce((s, p) => s + p[0], 0) / hull.length;
    const cy = hull.reduce((s, p) => s + p[1], 0) / hull.length;
    const at = (x: number, y: number) => covered(b, Math.round(y) * S + Math.round(x));
    for (const [x, y] of hull) {
      const l = Math.hypot(x - cx, y - cy);
      const dx = (x - cx) / l, dy = (y - cy) / l;
      expect(at(x - 4 * dx, y - 4 * dy)).toBe(true);
      expect(at(x + 4 * dx, y + 4 * dy)).toBe(false);
    }
  });

  it('perspective-correct attributes: unlit vertex colours linear in object space match at every pixel', () => {
    const b = render(cube, pose, IDENTITY_AFFINE, { shading: 'unlit' });
    const Rt = transpose3(pose.R);
    let n = 0;
    for (let i = 0; i < S * S; i++) {
      if (!covered(b, i)) continue;
      const X = mulVec3(Rt, [b.xyz[i * 3] - pose.t[0], b.xyz[i * 3 + 1] - pose.t[1], b.xyz[i * 3 + 2] - pose.t[2]]);
      for (let a = 0; a < 3; a++) expect(Math.abs(b.rgb[i * 3 + a] - (0.5 + X[a] / (4 * HALF)))).toBeLessThan(2e-5);
      n++;
    }
    expect(n).toBeGreaterThan(3000);
  });

  it('renders through a crop window: crop pixel (u, v) shows the ray through crop^-1 (u, v)', () => {
    const far: Pose = { R: pose.R, t: [0.05, 0.03, 1.1] };
    const win = cropWindow(far.t, K, Math.sqrt(3) * 2 * HALF, 1.2, S);
    const inv = invertAffine(win);
    const b = render(cube, far, win);
    let hits = 0;
    for (let v = 0; v < S; v++) {
      for (let u = 0; u < S; u++) {
        const x = inv.a * u + inv.b * v + inv.c;
        const y = inv.d * u + inv.e * v + inv.f;
        const hit = rayCube(far, x, y);
        const i = v * S + u;
        expect(covered(b, i)).toBe(!!hit);
        if (!hit) continue;
        hits++;
        expect(Math.abs(b.xyz[i * 3 + 2] - hit.tIn)).toBeLessThan(1e-5);
        expect(Math.abs((K.fx * b.xyz[i * 3]) / b.xyz[i * 3 + 2] + K.cx - x)).toBeLessThan(1e-3);
      }
    }
    // the crop is sized to the object: it fills a good part of the crop
    expect(hits).toBeGreaterThan(0.15 * S * S);
  });

  it('foundationpose shading: colour x (0.8 + 0.5 diffuse), diffuse = facing towards the camera; clamped', () => {
    const grey = makeBox(0.1, 0.1, 0.1); // no colours: 102/255
    const front: Pose = { R: axisAngleToMatrix([0, 0, 0]), t: [0, 0, 0.5] };
    const lit = render(grey, front);
    const c = ((80 * S + 80) * 3);
    expect(lit.rgb[c]).toBeCloseTo((102 / 255) * 1.3, 5); // -z face looks straight at the camera: diffuse 1
    const unlit = render(grey, front, IDENTITY_AFFINE, { shading: 'unlit' });
    expect(unlit.rgb[c]).toBeCloseTo(102 / 255, 6);
    const white = makeBox(0.1, 0.1, 0.1, () => [1, 1, 1]);
    expect(render(white, front).rgb[c]).toBe(1);
  });
});

describe('rasteriser rules', () => {
  it('z-buffer: result does not depend on triangle order', () => {
    const a = render(cube, pose);
    const rev: Mesh = { ...cube, indices: Uint32Array.from(cube.indices).reverse() };
    const b = render(rev, pose);
    expect(Buffer.from(b.depth.buffer).equals(Buffer.from(a.depth.buffer))).toBe(true);
    expect(Buffer.from(b.xyz.buffer).equals(Buffer.from(a.xyz.buffer))).toBe(true);
  });

  it('back-face culling keeps the image of a closed mesh; front-face culling shows the far side', () => {
    const none = render(cube, pose);
    const back = render(cube, pose, IDENTITY_AFFINE, { cull: 'back' });
    expect(Buffer.from(back.depth.buffer).equals(Buffer.from(none.depth.buffer))).toBe(true);
    const front = render(cube, pose, IDENTITY_AFFINE, { cull: 'front' });
    let deeper = 0;
    for (let i = 0; i < S * S; i++) {
      expect(covered(front, i)).toBe(covered(none, i));
      if (covered(none, i)) {
        expect(front.depth[i]).toBeGreaterThanOrEqual(none.depth[i] - 1e-7);
        const hit = rayCube(pose, i % S, Math.floor(i / S))!;
        expect(Math.abs(front.depth[i] - hit.tOut)).toBeLessThan(1e-5);
        if (front.depth[i] > none.depth[i] + 1e-4) deeper++;
      }
    }
    expect(deeper).toBeGreaterThan(1000);
  });

  it('a shared edge is covered exactly once (top-left style rule)', () => {
    // a quad facing the camera split along a diagonal that passes through pixel centres
    const z = 1;
    const px = (u: number) => ((u - K.cx) / K.fx) * z;
    const py = (v: number) => ((v - K.cy) / K.fy) * z;
    const corners = [
      [px(20), py(20), z],
      [px(120), py(20), z],
      [px(120), py(120), z],
      [px(20), py(120), z],
    ];
    const positions = Float32Array.from(corners.flat());
    const normals = Float32Array.from([0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1]);
    const tri = (idx: number[]): Mesh => ({ positions, normals, colors: null, indices: Uint32Array.from(idx) });
    const id: Pose = { R: axisAngleToMatrix([0, 0, 0]), t: [0, 0, 0] };
    const A = render(tri([0, 1, 2]), id);
    const B = render(tri([0, 2, 3]), id);
    const Q = render(tri([0, 1, 2, 0, 2, 3]), id);
    let both = 0, union = 0, q = 0;
    for (let i = 0; i < S * S; i++) {
      if (covered(A, i) && covered(B, i)) both++;
      if (covered(A, i) || covered(B, i)) union++;
      if (covered(Q, i)) q++;
    }
    expect(both).toBe(0);
    expect(union).toBe(q);
    // pixel centres on the diagonal (k, k) belong to exactly one triangle
    for (let k = 21; k < 120; k++) expect(Number(covered(A, k * S + k)) + Number(covered(B, k * S + k))).toBe(1);
    // float32 corners land a hair off the integer columns/rows, so the edge rows/columns may go either way
    expect(Math.abs(q - 100 * 100)).toBeLessThanOrEqual(2 * 101);
  });

  it('near-plane clipping: nothing nearer than znear; the far walls show where the front is clipped', () => {
    const near: Pose = { R: axisAngleToMatrix([0.1, 0.2, 0]), t: [0, 0, 0.12] };
    const b = render(cube, near, IDENTITY_AFFINE, { znear: 0.1 });
    const r = new CropRenderer(cube, { width: S, height: S, znear: 0.1 });
    r.render(near, K, IDENTITY_AFFINE, allocRenderBuffers(S, S, 1));
    expect(r.takeStats().trianglesClipped).toBeGreaterThan(0);
    let n = 0;
    for (let i = 0; i < S * S; i++) {
      if (!covered(b, i)) continue;
      n++;
      expect(b.depth[i]).toBeGreaterThanOrEqual(0.1 - 1e-7);
      const hit = rayCube(near, i % S, Math.floor(i / S));
      expect(hit).not.toBeNull();
      // first surface beyond the near plane
      const want = hit!.tIn >= 0.1 ? hit!.tIn : hit!.tOut;
      expect(Math.abs(b.depth[i] - want)).toBeLessThan(1e-5);
    }
    expect(n).toBeGreaterThan(1000);
  });

  it('renderBatch equals one render per slot, and clears each slot', () => {
    const r = new CropRenderer(cube, { width: S, height: S });
    const poses: Pose[] = [pose, { R: axisAngleToMatrix([1, 0.2, -0.4]), t: [0, 0.01, 0.5] }, { R: pose.R, t: [0, 0, -1] }];
    const crops = [IDENTITY_AFFINE, IDENTITY_AFFINE, IDENTITY_AFFINE];
    const out = allocRenderBuffers(S, S, 3);
    out.depth.fill(7);
    r.renderBatch(poses, K, crops, out);
    for (let k = 0; k < 2; k++) {
      const single = render(cube, poses[k]);
      expect(Buffer.from(out.depth.buffer, k * S * S * 4, S * S * 4).equals(Buffer.from(single.depth.buffer))).toBe(true);
    }
    // behind the camera: nothing drawn, slot cleared
    expect(out.depth.subarray(2 * S * S).every((v) => v === 0)).toBe(true);
    expect(() => r.renderBatch(poses, K, crops.slice(1), out)).toThrow(/crop transforms/);
  });
});
