import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ObjParseError, approximateDiameter, centerMesh, computeNormals, loadObj, makeBox, makeIcosphere, meshBounds, meshDiameter, parseObj, triangleCount, vertexCount, type Mesh } from '../../operators/object_pose/mesh.js';

/** Sum over triangles of (a x b) . centroid direction: > 0 when faces point outward (closed, convex, centred). */
function outwardFraction(m: Mesh): number {
  let out = 0;
  const P = m.positions;
  for (let i = 0; i < m.indices.length; i += 3) {
    const [a, b, c] = [m.indices[i] * 3, m.indices[i + 1] * 3, m.indices[i + 2] * 3];
    const u = [P[b] - P[a], P[b + 1] - P[a + 1], P[b + 2] - P[a + 2]];
    const v = [P[c] - P[a], P[c + 1] - P[a + 1], P[c + 2] - P[a + 2]];
    const n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    const g = [0, 1, 2].map((k) => (P[a + k] + P[b + k] + P[c + k]) / 3);
    if (n[0] * g[0] + n[1] * g[1] + n[2] * g[2] > 0) out++;
  }
  return out / (m.indices.length / 3);
}

describe('OBJ loader', () => {
  it('reads every face index form, negative indices and polygons (fan-triangulated)', () => {
    const text = [
      '# a unit square pyramid, mixed face syntax',
      'mtllib x.mtl',
      'o pyramid',
      'v 0 0 0',
      'v 1 0 0',
      'v 1 1 0',
      'v 0 1 0',
      'v 0.5 0.5 1',
      'vt 0 0',
      'vt 1 0',
      'vt 1 1',
      'vn 0 0 -1',
      'usemtl m',
      's off',
      'f 1//1 4//1 3//1 2//1', // quad: base, normal -z
      'f 1/1 2/2 5/3', // v/vt
      'f 2 3 5', // v
      'f -3/3/1 -2/2/1 -1/1/1', // negative, v/vt/vn (vertices 3, 4, 5)
      'f 4 1 5',
    ].join('\n');
    const m = parseObj(text);
    expect(triangleCount(m)).toBe(2 + 4); // quad -> 2 triangles
    // base triangles share the explicit normal (0,0,-1)
    const i0 = m.indices[0];
    expect(Array.from(m.normals.slice(i0 * 3, i0 * 3 + 3))).toEqual([0, 0, -1]);
    // fan order of the quad: (1,4,3), (1,3,2)
    const p = (k: number) => Array.from(m.positions.slice(m.indices[k] * 3, m.indices[k] * 3 + 3));
    expect([p(0), p(1), p(2)]).toEqual([[0, 0, 0], [0, 1, 0], [1, 1, 0]]);
    expect([p(3), p(4), p(5)]).toEqual([[0, 0, 0], [1, 1, 0], [1, 0, 0]]);
    // negative indices resolve against the vertices read so far
    expect([p(12), p(13), p(14)]).toEqual([[1, 1, 0], [0, 1, 0], [0.5, 0.5, 1]]);
    // positions used with and without the explicit normal are split
    expect(vertexCount(m)).toBeGreaterThan(5);
    expect(m.colors).toBeNull();
    for (let i = 0; i < m.normals.length; i += 3) expect(Math.hypot(m.normals[i], m.normals[i + 1], m.normals[i + 2])).toBeCloseTo(1, 6);
  });

  it('reads vertex colours (0..1 or 0..255), scale, continuation lines, and reports errors with the line', () => {
    const m = parseObj('v 0 0 0 1 0 0\nv 1000 0 0 0 255 0\nv 0 1000 \\\n 0 0 0 1\nf 1 2 3\n', { scale: 0.001 });
    expect(Array.from(m.positions)).toEqual([0, 0, 0, 1, 0, 0, 0, 1, 0].map(Math.fround));
    expect(Array.from(m.colors!)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(() => parseObj('v 0 0 0\nv 1 0 0\nf 1 2 3\n', { source: 'bad.obj' })).toThrow(/bad\.obj:3: vertex index 3 out of range/);
    expect(() => parseObj('v 0 0 0\nv 1 0 x\n')).toThrow(ObjParseError);
    expect(() => parseObj('v 0 0 0\n')).toThrow(/no faces/);
    expect(() => parseObj('v 0 0 0\nf 1 1\n')).toThrow(/at least 3/);
  });

  it('computes smooth normals when the file has none', () => {
    // an octahedron without vn: normals point along the vertex directions
    const text = 'v 1 0 0\nv -1 0 0\nv 0 1 0\nv 0 -1 0\nv 0 0 1\nv 0 0 -1\n' +
      'f 1 3 5\nf 3 2 5\nf 2 4 5\nf 4 1 5\nf 3 1 6\nf 2 3 6\nf 4 2 6\nf 1 4 6\n';
    const m = parseObj(text);
    expect(vertexCount(m)).toBe(6);
    for (let i = 0; i < 6; i++) {
      for (let k = 0; k < 3; k++) expect(m.normals[i * 3 + k]).toBeCloseTo(m.positions[i * 3 + k], 6);
    }
    expect(outwardFraction(m)).toBe(1);
  });

  it('loads from a file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'egopipe-obj-'));
    try {
      const f = path.join(dir, 'tri.obj');
      writeFileSync(f, 'v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n');
      expect(triangleCount(loadObj(f))).toBe(1);
      expect(() => loadObj(path.join(dir, 'missing.obj'))).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mesh measures and generators', () => {
  it('box: bounds, diameter = space diagonal, outward winding, face normals', () => {
    const b = makeBox(0.1, 0.06, 0.04);
    expect(vertexCount(b)).toBe(24);
    expect(triangleCount(b)).toBe(12);
    const bb = meshBounds(b);
    expect(bb.size.map((v) => +v.toFixed(6))).toEqual([0.1, 0.06, 0.04]);
    expect(bb.center.map((v) => Math.abs(v) < 1e-9)).toEqual([true, true, true]);
    expect(meshDiameter(b)).toBeCloseTo(Math.hypot(0.1, 0.06, 0.04), 6);
    expect(outwardFraction(b)).toBe(1);
    // winding agrees with the stored normals
    const n = computeNormals(b.positions, b.indices);
    for (let i = 0; i < n.length; i++) expect(n[i]).toBeCloseTo(b.normals[i], 6);
  });

  it('icosphere: 20 x 4^k triangles, unit normals, outward, diameter 2r', () => {
    const s = makeIcosphere(4, 0.05);
    expect(triangleCount(s)).toBe(5120);
    expect(vertexCount(s)).toBe(2562);
    expect(outwardFraction(s)).toBe(1);
    expect(meshDiameter(s)).toBeCloseTo(0.1, 6);
  });

  it('the approximate diameter (meshes over 10,000 vertices) matches the exact value', () => {
    const s = makeIcosphere(4, 1);
    // stretch it so the diameter is along a non-axis direction
    const p = s.positions;
    for (let i = 0; i < p.length; i += 3) {
      const x = p[i], y = p[i + 1];
      p[i] = 2 * x + 0.5 * y;
      p[i + 1] = 0.7 * y;
    }
    const exact = meshDiameter(s); // 2,562 vertices: exact pair search
    expect(approximateDiameter(p)).toBeCloseTo(exact, 9);
    // a random cloud (no symmetry to help)
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
    const cloud = Float64Array.from({ length: 3 * 3000 }, (_, i) => rnd() * (i % 3 === 0 ? 3 : 1));
    const m = { positions: Float32Array.from(cloud), normals: new Float32Array(cloud.length), colors: null, indices: new Uint32Array(3) };
    expect(approximateDiameter(Float64Array.from(m.positions))).toBeCloseTo(meshDiameter(m), 9);
  });

  it('centerMesh moves the bounding-box centre to the origin', () => {
    const b = makeBox(1, 2, 3);
    for (let i = 0; i < b.positions.length; i += 3) b.positions[i] += 5;
    const { mesh, center } = centerMesh(b);
    expect(center[0]).toBeCloseTo(5, 6);
    expect(meshBounds(mesh).center.map((v) => Math.abs(v) < 1e-6)).toEqual([true, true, true]);
  });
});
