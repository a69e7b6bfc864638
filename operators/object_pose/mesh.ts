/**
 * Triangle meshes for object_pose: a Wavefront OBJ loader (v / vn / vt / f with every index form,
 * negative indices, polygons fan-triangulated, optional `v x y z r g b` vertex colours), bounding
 * box, diameter (largest distance between two vertices, as FoundationPose's
 * compute_mesh_diameter), centring, and two generators used by tests and the bench (box,
 * icosphere).
 */
import { readFileSync } from 'node:fs';

export interface Mesh {
  /** n x 3 vertex positions (object frame, metres after `scale`) */
  positions: Float32Array;
  /** n x 3 unit vertex normals */
  normals: Float32Array;
  /** n x 3 vertex colours in [0, 1], or null (the renderer then uses a uniform grey) */
  colors: Float32Array | null;
  /** m x 3 triangle vertex indices, counter-clockwise seen from outside */
  indices: Uint32Array;
}

export class ObjParseError extends Error {
  override name = 'ObjParseError';
}

export interface ObjOptions {
  /** multiply positions by this (e.g. 0.001 for a mesh in millimetres) */
  scale?: number;
  /** name used in error messages */
  source?: string;
}

export function vertexCount(m: Mesh): number {
  return m.positions.length / 3;
}

export function triangleCount(m: Mesh): number {
  return m.indices.length / 3;
}

/**
 * Parse OBJ text. Vertices are split where a position is used with different normals (so flat-
 * shaded models keep their face normals); texture coordinates are read for index checking only
 * (no texture mapping). Normals missing from the file are computed (area-weighted per position).
 */
export function parseObj(text: string, opts: ObjOptions = {}): Mesh {
  const scale = opts.scale ?? 1;
  const src = opts.source ?? 'OBJ';
  const pos: number[] = [];
  const col: number[] = [];
  let colored = 0;
  const nrm: number[] = [];
  let texCount = 0;
  // face corners: position index, normal index (-1 = none)
  const cornerV: number[] = [];
  const cornerN: number[] = [];
  const lines = text.split(/\r?\n/);
  let carry = '';
  for (let ln = 0; ln < lines.length; ln++) {
    let line = carry + lines[ln];
    carry = '';
    if (line.endsWith('\\')) {
      carry = line.slice(0, -1) + ' ';
      continue;
    }
    const hash = line.indexOf('#');
    if (hash >= 0) line = line.slice(0, hash);
    line = line.trim();
    if (!line) continue;
    const parts = line.split(/\s+/);
    const kw = parts[0];
    const where = () => `${src}:${ln + 1}`;
    const num = (s: string | undefined): number => {
      const v = Number(s);
      if (s === undefined || !Number.isFinite(v)) throw new ObjParseError(`${where()}: expected a number, got ${JSON.stringify(s)} in "${line}"`);
      return v;
    };
    if (kw === 'v') {
      if (parts.length < 4) throw new ObjParseError(`${where()}: a vertex needs x y z: "${line}"`);
      pos.push(num(parts[1]) * scale, num(parts[2]) * scale, num(parts[3]) * scale);
      if (parts.length >= 7) {
        // x y z r g b (MeshLab / Open3D vertex colours); 0..1, or 0..255
        let c = [num(parts[4]), num(parts[5]), num(parts[6])];
        if (c.some((v) => v > 1)) c = c.map((v) => v / 255);
        col.push(...c.map((v) => Math.min(1, Math.max(0, v))));
        colored++;
      } else col.push(NaN, NaN, NaN);
    } else if (kw === 'vn') {
      if (parts.length < 4) throw new ObjParseError(`${where()}: a normal needs x y z: "${line}"`);
      nrm.push(num(parts[1]), num(parts[2]), num(parts[3]));
    } else if (kw === 'vt') {
      texCount++;
    } else if (kw === 'f') {
      if (parts.length < 4) throw new ObjParseError(`${where()}: a face needs at least 3 vertices: "${line}"`);
      const nv = pos.length / 3;
      const nn = nrm.length / 3;
      const vs: number[] = [];
      const ns: number[] = [];
      for (let k = 1; k < parts.length; k++) {
        const [a, b, c] = parts[k].split('/');
        const resolve = (s: string, count: number, what: string): number => {
          const i = Number(s);
          if (!Number.isInteger(i) || i === 0) throw new ObjParseError(`${where()}: bad ${what} index ${JSON.stringify(s)} in "${line}"`);
          const r = i > 0 ? i - 1 : count + i;
          if (r < 0 || r >= count) throw new ObjParseError(`${where()}: ${what} index ${i} out of range (1..${count}) in "${line}"`);
          return r;
        };
        vs.push(resolve(a, nv, 'vertex'));
        if (b) resolve(b, texCount, 'texture');
        ns.push(c ? resolve(c, nn, 'normal') : -1);
      }
      // fan triangulation (exact for convex polygons, which is what exporters write)
      for (let k = 1; k + 1 < vs.length; k++) {
        cornerV.push(vs[0], vs[k], vs[k + 1]);
        cornerN.push(ns[0], ns[k], ns[k + 1]);
      }
    }
    // o, g, s, usemtl, mtllib, l, p, ...: ignored
  }
  if (!cornerV.length) throw new ObjParseError(`${src}: no faces`);

  // unique (position, normal) pairs
  const key = new Map<number, number>();
  const nPos = pos.length / 3;
  const outV: number[] = [];
  const outN: number[] = [];
  const indices = new Uint32Array(cornerV.length);
  for (let i = 0; i < cornerV.length; i++) {
    const k = cornerN[i] * nPos + cornerV[i] + nPos; // normal -1 maps to [0, nPos)
    let idx = key.get(k);
    if (idx === undefined) {
      idx = outV.length;
      key.set(k, idx);
      outV.push(cornerV[i]);
      outN.push(cornerN[i]);
    }
    indices[i] = idx;
  }
  const n = outV.length;
  const positions = new Float32Array(n * 3);
  const colors = colored ? new Float32Array(n * 3) : null;
  for (let i = 0; i < n; i++) {
    const p = outV[i];
    positions.set([pos[p * 3], pos[p * 3 + 1], pos[p * 3 + 2]], i * 3);
    if (colors) {
      const c = [col[p * 3], col[p * 3 + 1], col[p * 3 + 2]].map((v) => (Number.isNaN(v) ? 102 / 255 : v));
      colors.set(c, i * 3);
    }
  }
  // normals: from the file where given, else smooth per position
  const smooth = positionNormals(pos, cornerV);
  const normals = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const ni = outN[i];
    const v = ni >= 0 ? [nrm[ni * 3], nrm[ni * 3 + 1], nrm[ni * 3 + 2]] : [smooth[outV[i] * 3], smooth[outV[i] * 3 + 1], smooth[outV[i] * 3 + 2]];
    const l = Math.hypot(v[0], v[1], v[2]) || 1;
    normals.set([v[0] / l, v[1] / l, v[2] / l], i * 3);
  }
  return { positions, normals, colors, indices };
}

/** Area-weighted vertex normals over positions (`tri` indexes `pos`). */
function positionNormals(pos: ArrayLike<number>, tri: ArrayLike<number>): Float64Array {
  const out = new Float64Array(pos.length);
  for (let i = 0; i < tri.length; i += 3) {
    const a = tri[i] * 3;
    const b = tri[i + 1] * 3;
    const c = tri[i + 2] * 3;
    const ux = pos[b] - pos[a], uy = pos[b + 1] - pos[a + 1], uz = pos[b + 2] - pos[a + 2];
    const vx = pos[c] - pos[a], vy = pos[c + 1] - pos[a + 1], vz = pos[c + 2] - pos[a + 2];
    // cross product = 2 x area x unit normal: area weighting for free
    const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    for (const v of [a, b, c]) {
      out[v] += nx;
      out[v + 1] += ny;
      out[v + 2] += nz;
    }
  }
  return out;
}

/** Recompute smooth normals for a mesh (e.g. after building it by hand). */
export function computeNormals(positions: Float32Array, indices: Uint32Array): Float32Array {
  const acc = positionNormals(positions, indices);
  const out = new Float32Array(positions.length);
  for (let i = 0; i < out.length; i += 3) {
    const l = Math.hypot(acc[i], acc[i + 1], acc[i + 2]) || 1;
    out[i] = acc[i] / l;
    out[i + 1] = acc[i + 1] / l;
    out[i + 2] = acc[i + 2] / l;
  }
  return out;
}

export function loadObj(file: string, opts: Omit<ObjOptions, 'source'> = {}): Mesh {
  return parseObj(readFileSync(file, 'utf8'), { ...opts, source: file });
}

export interface Bounds {
  min: [number, number, number];
  max: [number, number, number];
  /** (min + max) / 2: FoundationPose's model_center */
  center: [number, number, number];
  /** max - min */
  size: [number, number, number];
}

export function meshBounds(m: Mesh): Bounds {
  const min: [number, number, number] = [Infinity, Infinity, Infinity];
  const max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  const p = m.positions;
  for (let i = 0; i < p.length; i += 3) {
    for (let a = 0; a < 3; a++) {
      if (p[i + a] < min[a]) min[a] = p[i + a];
      if (p[i + a] > max[a]) max[a] = p[i + a];
    }
  }
  return {
    min,
    max,
    center: [(min[0] + max[0]) / 2, (min[1] + max[1]) / 2, (min[2] + max[2]) / 2],
    size: [max[0] - min[0], max[1] - min[1], max[2] - min[2]],
  };
}

/** Distinct vertex positions (duplicates from split normals removed). */
function distinctPositions(p: Float32Array): Float64Array {
  const seen = new Set<string>();
  const out: number[] = [];
  for (let i = 0; i < p.length; i += 3) {
    const k = `${p[i]},${p[i + 1]},${p[i + 2]}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(p[i], p[i + 1], p[i + 2]);
  }
  return Float64Array.from(out);
}

function maxPairDistance(p: ArrayLike<number>): number {
  let best = 0;
  const n = p.length / 3;
  for (let i = 0; i < n; i++) {
    const x = p[i * 3], y = p[i * 3 + 1], z = p[i * 3 + 2];
    for (let j = i + 1; j < n; j++) {
      const dx = p[j * 3] - x, dy = p[j * 3 + 1] - y, dz = p[j * 3 + 2] - z;
      const d = dx * dx + dy * dy + dz * dz;
      if (d > best) best = d;
    }
  }
  return Math.sqrt(best);
}

/**
 * Largest distance between two vertices. Exact up to 10,000 distinct vertices; above that,
 * `approximateDiameter` (a lower bound, exact in practice).
 */
export function meshDiameter(m: Mesh): number {
  const p = distinctPositions(m.positions);
  return p.length / 3 <= 10000 ? maxPairDistance(p) : approximateDiameter(p);
}

/**
 * Diameter of a point set (x, y, z triples) without the O(n^2) pair search: the two ends of a
 * diameter are extreme along its direction, so the pair is searched among the extreme points
 * along 1,024 directions, then improved by farthest-point steps (replace one end by the point
 * farthest from the other until nothing grows).
 */
export function approximateDiameter(p: ArrayLike<number>): number {
  const n = p.length / 3;
  const dirs = 1024;
  const cand = new Set<number>();
  const golden = Math.PI * (3 - Math.sqrt(5));
  for (let k = 0; k < dirs; k++) {
    // Fibonacci half-sphere: each direction gives both extremes
    const z = 1 - (k + 0.5) / dirs;
    const r = Math.sqrt(1 - z * z);
    const dx = Math.cos(golden * k) * r, dy = Math.sin(golden * k) * r, dz = z;
    let lo = Infinity, hi = -Infinity, iLo = 0, iHi = 0;
    for (let i = 0; i < n; i++) {
      const s = p[i * 3] * dx + p[i * 3 + 1] * dy + p[i * 3 + 2] * dz;
      if (s < lo) (lo = s), (iLo = i);
      if (s > hi) (hi = s), (iHi = i);
    }
    cand.add(iLo);
    cand.add(iHi);
  }
  const ids = [...cand];
  const d2 = (i: number, j: number) => {
    const dx = p[i * 3] - p[j * 3], dy = p[i * 3 + 1] - p[j * 3 + 1], dz = p[i * 3 + 2] - p[j * 3 + 2];
    return dx * dx + dy * dy + dz * dz;
  };
  let best = 0, bi = 0, bj = 0;
  for (let a = 0; a < ids.length; a++) {
    for (let b = a + 1; b < ids.length; b++) {
      const d = d2(ids[a], ids[b]);
      if (d > best) (best = d), (bi = ids[a]), (bj = ids[b]);
    }
  }
  const farthest = (i: number): [number, number] => {
    let f = i, fd = 0;
    for (let j = 0; j < n; j++) {
      const d = d2(i, j);
      if (d > fd) (fd = d), (f = j);
    }
    return [f, fd];
  };
  for (let it = 0; it < 32; it++) {
    const [fi, di] = farthest(bj);
    const [fj, dj] = farthest(bi);
    if (di <= best && dj <= best) break;
    if (di >= dj) (best = di), (bi = fi);
    else (best = dj), (bj = fj);
  }
  return Math.sqrt(best);
}

/** A copy of the mesh translated so its bounding-box centre is the origin, and that centre. */
export function centerMesh(m: Mesh): { mesh: Mesh; center: [number, number, number] } {
  const { center } = meshBounds(m);
  const positions = new Float32Array(m.positions.length);
  for (let i = 0; i < positions.length; i += 3) {
    positions[i] = m.positions[i] - center[0];
    positions[i + 1] = m.positions[i + 1] - center[1];
    positions[i + 2] = m.positions[i + 2] - center[2];
  }
  return { mesh: { ...m, positions }, center };
}

/**
 * Axis-aligned box centred at the origin with flat faces (24 vertices, 12 triangles). `color`
 * gives each vertex a colour from its position (default: uniform grey).
 */
export function makeBox(sx: number, sy: number, sz: number, color?: (x: number, y: number, z: number) => [number, number, number]): Mesh {
  const hx = sx / 2, hy = sy / 2, hz = sz / 2;
  // each face: outward normal and 4 corners counter-clockwise seen from outside
  const faces: Array<{ n: [number, number, number]; c: Array<[number, number, number]> }> = [
    { n: [1, 0, 0], c: [[hx, -hy, -hz], [hx, hy, -hz], [hx, hy, hz], [hx, -hy, hz]] },
    { n: [-1, 0, 0], c: [[-hx, -hy, -hz], [-hx, -hy, hz], [-hx, hy, hz], [-hx, hy, -hz]] },
    { n: [0, 1, 0], c: [[-hx, hy, -hz], [-hx, hy, hz], [hx, hy, hz], [hx, hy, -hz]] },
    { n: [0, -1, 0], c: [[-hx, -hy, -hz], [hx, -hy, -hz], [hx, -hy, hz], [-hx, -hy, hz]] },
    { n: [0, 0, 1], c: [[-hx, -hy, hz], [hx, -hy, hz], [hx, hy, hz], [-hx, hy, hz]] },
    { n: [0, 0, -1], c: [[-hx, -hy, -hz], [-hx, hy, -hz], [hx, hy, -hz], [hx, -hy, -hz]] },
  ];
  const positions = new Float32Array(24 * 3);
  const normals = new Float32Array(24 * 3);
  const colors = color ? new Float32Array(24 * 3) : null;
  const indices = new Uint32Array(36);
  faces.forEach((f, fi) => {
    f.c.forEach((p, k) => {
      positions.set(p, (fi * 4 + k) * 3);
      normals.set(f.n, (fi * 4 + k) * 3);
      if (colors && color) colors.set(color(p[0], p[1], p[2]), (fi * 4 + k) * 3);
    });
    const b = fi * 4;
    indices.set([b, b + 1, b + 2, b, b + 2, b + 3], fi * 6);
  });
  return { positions, normals, colors, indices };
}

/** Unit-radius icosahedron (12 vertices, 20 faces, counter-clockwise outward). */
export function icosahedron(): { vertices: number[][]; faces: number[][] } {
  const t = (1 + Math.sqrt(5)) / 2;
  const raw = [
    [-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0],
    [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
    [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1],
  ];
  const vertices = raw.map((v) => {
    const l = Math.hypot(v[0], v[1], v[2]);
    return [v[0] / l, v[1] / l, v[2] / l];
  });
  const faces = [
    [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
    [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
    [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
    [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
  ];
  return { vertices, faces };
}

/** Loop-style midpoint subdivision on the unit sphere: each pass splits every face in four. */
export function subdivideSphere(vertices: number[][], faces: number[][]): { vertices: number[][]; faces: number[][] } {
  const verts = vertices.map((v) => v.slice());
  const cache = new Map<string, number>();
  const mid = (a: number, b: number): number => {
    const k = a < b ? `${a},${b}` : `${b},${a}`;
    let i = cache.get(k);
    if (i === undefined) {
      const m = [0, 1, 2].map((j) => (verts[a][j] + verts[b][j]) / 2);
      const l = Math.hypot(m[0], m[1], m[2]);
      i = verts.length;
      verts.push([m[0] / l, m[1] / l, m[2] / l]);
      cache.set(k, i);
    }
    return i;
  };
  const out: number[][] = [];
  for (const [a, b, c] of faces) {
    const ab = mid(a, b), bc = mid(b, c), ca = mid(c, a);
    out.push([a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]);
  }
  return { vertices: verts, faces: out };
}

/** Sphere mesh: icosahedron subdivided `levels` times (20 x 4^levels triangles; 4 -> 5,120). */
export function makeIcosphere(levels: number, radius = 1, color?: (x: number, y: number, z: number) => [number, number, number]): Mesh {
  let s = icosahedron();
  for (let i = 0; i < levels; i++) s = subdivideSphere(s.vertices, s.faces);
  const n = s.vertices.length;
  const positions = new Float32Array(n * 3);
  const normals = new Float32Array(n * 3);
  const colors = color ? new Float32Array(n * 3) : null;
  s.vertices.forEach((v, i) => {
    positions.set([v[0] * radius, v[1] * radius, v[2] * radius], i * 3);
    normals.set(v, i * 3);
    if (colors && color) colors.set(color(v[0] * radius, v[1] * radius, v[2] * radius), i * 3);
  });
  return { positions, normals, colors, indices: Uint32Array.from(s.faces.flat()) };
}
