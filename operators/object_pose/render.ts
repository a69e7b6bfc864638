/**
 * A CPU rasteriser for FoundationPose-style render-and-compare: renders a mesh at a pose straight
 * into a crop (160 x 160 by default) and produces, per pixel,
 *
 *   rgb   vertex colour x shade, in [0, 1] (0 = background)
 *   xyz   the camera-frame point (metres) seen at the pixel centre (0 = background)
 *   depth camera z of that point (0 = background)
 *
 * Geometry: a camera point X projects to the image pixel (fx X/Z + cx, fy Y/Z + cy) (OpenCV,
 * integer coordinates at pixel centres), then to the crop by the affine `crop` transform
 * (image -> crop pixels, crop.ts). Crop pixel (u, v) is covered when its centre, the point
 * (u, v) itself, is inside the projected triangle; this is the same mapping the observed crop uses
 * (a crop pixel samples the image at crop^-1 (u, v)), so rendered and observed crops line up.
 *
 * Per triangle: near-plane clipping in camera space (z = znear, default 0.1 m like FoundationPose's
 * projection), optional back/front-face culling (by the camera-space facing, so it survives
 * clipping and any crop transform), a half-open top-left fill rule (shared edges are covered
 * once), a z-buffer (nearest wins) and perspective-correct interpolation (attributes are
 * interpolated as a/z and divided by the interpolated 1/z, so xyz lies exactly on the triangle's
 * plane).
 *
 * Shading, as Isaac ROS FoundationPose's renderer: per vertex, diffuse = max(0, -n_cam.z) with the
 * vertex normal rotated into the camera, colour x (0.8 + 0.5 diffuse), clamped to [0, 1]. Colours
 * are the mesh's vertex colours, else a uniform grey (102/255, trimesh's default colour). Colour
 * and shade are multiplied per vertex and interpolated together.
 */
import type { Mesh } from './mesh.js';
import type { Intrinsics, Pose } from './math.js';

/** Image -> output pixel affine map: u = a*x + b*y + c, v = d*x + e*y + f. */
export interface Affine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

export const IDENTITY_AFFINE: Affine = { a: 1, b: 0, c: 0, d: 0, e: 1, f: 0 };

export type CullMode = 'none' | 'back' | 'front';
export type Shading = 'foundationpose' | 'unlit';

export interface RenderOptions {
  width: number;
  height: number;
  /** default 'none' (nvdiffrast does not cull; the z-buffer resolves closed meshes either way) */
  cull?: CullMode;
  /** default 'foundationpose' (0.8 + 0.5 diffuse); 'unlit' = vertex colour */
  shading?: Shading;
  /** near plane in metres, default 0.1 */
  znear?: number;
  /** colour of vertices when the mesh has none, default 102/255 grey */
  defaultColor?: [number, number, number];
}

/** Output of `count` renders, each width x height, channels last. */
export interface RenderBuffers {
  width: number;
  height: number;
  count: number;
  rgb: Float32Array;
  xyz: Float32Array;
  depth: Float32Array;
}

export function allocRenderBuffers(width: number, height: number, count: number): RenderBuffers {
  const px = width * height * count;
  return { width, height, count, rgb: new Float32Array(px * 3), xyz: new Float32Array(px * 3), depth: new Float32Array(px) };
}

export interface RenderStats {
  trianglesIn: number;
  trianglesCulled: number;
  trianglesClipped: number;
  pixelsWritten: number;
}

// per-vertex slots in the working buffers: 6 attributes (cam x, y, z, r, g, b)
const NA = 6;

export class CropRenderer {
  readonly width: number;
  readonly height: number;
  private readonly mesh: Mesh;
  private readonly cull: CullMode;
  private readonly shading: Shading;
  private readonly znear: number;
  private readonly nv: number;
  private readonly colors: Float32Array;
  // working buffers: nv mesh vertices + 4 slots for a clipped polygon
  private readonly sx: Float64Array;
  private readonly sy: Float64Array;
  private readonly iz: Float64Array;
  private readonly attr: Float64Array;
  private readonly clipIn: Float64Array = new Float64Array(4 * NA);
  private readonly clipOut: Float64Array = new Float64Array(4 * NA);
  private stats: RenderStats = { trianglesIn: 0, trianglesCulled: 0, trianglesClipped: 0, pixelsWritten: 0 };
  // current target
  private rgb!: Float32Array;
  private xyz!: Float32Array;
  private depth!: Float32Array;
  private base = 0;
  // projection of the current render: u = ax * X/Z + bx, v = ay * Y/Z + by (+ shear terms)
  private pa = 0;
  private pb = 0;
  private pc = 0;
  private pd = 0;
  private pe = 0;
  private pf = 0;
  private K!: Intrinsics;

  constructor(mesh: Mesh, opts: RenderOptions) {
    if (!(opts.width > 0 && opts.height > 0)) throw new RangeError('render size must be positive');
    this.mesh = mesh;
    this.width = opts.width;
    this.height = opts.height;
    this.cull = opts.cull ?? 'none';
    this.shading = opts.shading ?? 'foundationpose';
    this.znear = opts.znear ?? 0.1;
    this.nv = mesh.positions.length / 3;
    if (mesh.colors) this.colors = mesh.colors;
    else {
      const g = opts.defaultColor ?? [102 / 255, 102 / 255, 102 / 255];
      this.colors = new Float32Array(this.nv * 3);
      for (let i = 0; i < this.nv; i++) this.colors.set(g, i * 3);
    }
    const slots = this.nv + 4;
    this.sx = new Float64Array(slots);
    this.sy = new Float64Array(slots);
    this.iz = new Float64Array(slots);
    this.attr = new Float64Array(slots * NA);
  }

  /** Counters summed over the renders since the last call. */
  takeStats(): RenderStats {
    const s = this.stats;
    this.stats = { trianglesIn: 0, trianglesCulled: 0, trianglesClipped: 0, pixelsWritten: 0 };
    return s;
  }

  /** Render one pose into slot `index` of `out` (cleared first). */
  render(pose: Pose, K: Intrinsics, crop: Affine, out: RenderBuffers, index = 0): void {
    if (out.width !== this.width || out.height !== this.height) throw new RangeError(`buffers are ${out.width}x${out.height}, renderer ${this.width}x${this.height}`);
    if (index < 0 || index >= out.count) throw new RangeError(`slot ${index} outside 0..${out.count - 1}`);
    const W = this.width;
    const H = this.height;
    const px = W * H;
    this.rgb = out.rgb;
    this.xyz = out.xyz;
    this.depth = out.depth;
    this.base = index * px;
    out.rgb.fill(0, this.base * 3, (this.base + px) * 3);
    out.xyz.fill(0, this.base * 3, (this.base + px) * 3);
    out.depth.fill(0, this.base, this.base + px);
    this.K = K;
    // crop o K: image x = fx X/Z + cx -> u = a x + b y + c
    this.pa = crop.a;
    this.pb = crop.b;
    this.pc = crop.c;
    this.pd = crop.d;
    this.pe = crop.e;
    this.pf = crop.f;

    const R = pose.R;
    const t = pose.t;
    const P = this.mesh.positions;
    const N = this.mesh.normals;
    const C = this.colors;
    const attr = this.attr;
    const shade = this.shading === 'foundationpose';
    for (let i = 0; i < this.nv; i++) {
      const x = P[i * 3], y = P[i * 3 + 1], z = P[i * 3 + 2];
      const X = R[0] * x + R[1] * y + R[2] * z + t[0];
      const Y = R[3] * x + R[4] * y + R[5] * z + t[1];
      const Z = R[6] * x + R[7] * y + R[8] * z + t[2];
      const o = i * NA;
      attr[o] = X;
      attr[o + 1] = Y;
      attr[o + 2] = Z;
      let s = 1;
      if (shade) {
        const nx = N[i * 3], ny = N[i * 3 + 1], nz = N[i * 3 + 2];
        const cz = R[6] * nx + R[7] * ny + R[8] * nz;
        const len = Math.hypot(nx, ny, nz);
        const diffuse = len > 1e-8 ? Math.min(1, Math.max(0, -cz / len)) : 0;
        s = 0.8 + 0.5 * diffuse;
      }
      attr[o + 3] = Math.min(1, C[i * 3] * s);
      attr[o + 4] = Math.min(1, C[i * 3 + 1] * s);
      attr[o + 5] = Math.min(1, C[i * 3 + 2] * s);
      this.projectSlot(i);
    }

    const I = this.mesh.indices;
    const znear = this.znear;
    const cull = this.cull;
    const nt = I.length / 3;
    this.stats.trianglesIn += nt;
    for (let k = 0; k < nt; k++) {
      const i0 = I[k * 3], i1 = I[k * 3 + 1], i2 = I[k * 3 + 2];
      const o0 = i0 * NA, o1 = i1 * NA, o2 = i2 * NA;
      if (cull !== 'none') {
        // facing from camera-space geometry: n . v0 > 0 means the face points away from the camera
        const ux = attr[o1] - attr[o0], uy = attr[o1 + 1] - attr[o0 + 1], uz = attr[o1 + 2] - attr[o0 + 2];
        const vx = attr[o2] - attr[o0], vy = attr[o2 + 1] - attr[o0 + 1], vz = attr[o2 + 2] - attr[o0 + 2];
        const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
        const facing = nx * attr[o0] + ny * attr[o0 + 1] + nz * attr[o0 + 2];
        if ((cull === 'back' && facing >= 0) || (cull === 'front' && facing <= 0)) {
          this.stats.trianglesCulled++;
          continue;
        }
      }
      const z0 = attr[o0 + 2], z1 = attr[o1 + 2], z2 = attr[o2 + 2];
      if (z0 >= znear && z1 >= znear && z2 >= znear) {
        this.rasterize(i0, i1, i2);
      } else if (z0 < znear && z1 < znear && z2 < znear) {
        continue;
      } else {
        this.stats.trianglesClipped++;
        this.clipAndRasterize(o0, o1, o2);
      }
    }
  }

  /** Render many poses; `crops[i]` belongs to `poses[i]`. */
  renderBatch(poses: readonly Pose[], K: Intrinsics, crops: readonly Affine[], out?: RenderBuffers): RenderBuffers {
    if (crops.length !== poses.length) throw new RangeError(`${poses.length} poses but ${crops.length} crop transforms`);
    const buf = out ?? allocRenderBuffers(this.width, this.height, poses.length);
    if (buf.count < poses.length) throw new RangeError(`buffers hold ${buf.count} renders, ${poses.length} requested`);
    for (let i = 0; i < poses.length; i++) this.render(poses[i], K, crops[i], buf, i);
    return buf;
  }

  private projectSlot(i: number): void {
    const o = i * NA;
    const Z = this.attr[o + 2];
    const K = this.K;
    const inv = 1 / Z;
    const x = K.fx * this.attr[o] * inv + K.cx;
    const y = K.fy * this.attr[o + 1] * inv + K.cy;
    this.sx[i] = this.pa * x + this.pb * y + this.pc;
    this.sy[i] = this.pd * x + this.pe * y + this.pf;
    this.iz[i] = inv;
  }

  /** Sutherland-Hodgman against z >= znear, then fan-rasterise the polygon (3 or 4 vertices). */
  private clipAndRasterize(o0: number, o1: number, o2: number): void {
    const attr = this.attr;
    const inp = this.clipIn;
    const out = this.clipOut;
    for (let a = 0; a < NA; a++) {
      inp[a] = attr[o0 + a];
      inp[NA + a] = attr[o1 + a];
      inp[2 * NA + a] = attr[o2 + a];
    }
    const zn = this.znear;
    let n = 0;
    for (let i = 0; i < 3; i++) {
      const p = i * NA;
      const q = ((i + 1) % 3) * NA;
      const zp = inp[p + 2];
      const zq = inp[q + 2];
      const pin = zp >= zn;
      const qin = zq >= zn;
      if (pin) {
        for (let a = 0; a < NA; a++) out[n * NA + a] = inp[p + a];
        n++;
      }
      if (pin !== qin) {
        const s = (zn - zp) / (zq - zp);
        for (let a = 0; a < NA; a++) out[n * NA + a] = inp[p + a] + s * (inp[q + a] - inp[p + a]);
        out[n * NA + 2] = zn;
        n++;
      }
    }
    if (n < 3) return;
    const base = this.nv;
    for (let k = 0; k < n; k++) {
      for (let a = 0; a < NA; a++) attr[(base + k) * NA + a] = out[k * NA + a];
      this.projectSlot(base + k);
    }
    for (let k = 1; k + 1 < n; k++) this.rasterize(base, base + k, base + k + 1);
  }

  /** Rasterise the triangle of working slots i0, i1, i2 (all in front of the near plane). */
  private rasterize(i0: number, i1: number, i2: number): void {
    const sx = this.sx, sy = this.sy;
    let x0 = sx[i0], y0 = sy[i0];
    let x1 = sx[i1], y1 = sy[i1];
    let x2 = sx[i2], y2 = sy[i2];
    let area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0);
    if (!(area !== 0) || !Number.isFinite(area)) return;
    if (area < 0) {
      // make the orientation positive: swap vertices 1 and 2
      const ti = i1;
      i1 = i2;
      i2 = ti;
      x1 = sx[i1];
      y1 = sy[i1];
      x2 = sx[i2];
      y2 = sy[i2];
      area = -area;
    }
    const W = this.width, H = this.height;
    const xmin = Math.max(0, Math.ceil(Math.min(x0, x1, x2)));
    const xmax = Math.min(W - 1, Math.floor(Math.max(x0, x1, x2)));
    const ymin = Math.max(0, Math.ceil(Math.min(y0, y1, y2)));
    const ymax = Math.min(H - 1, Math.floor(Math.max(y0, y1, y2)));
    if (xmin > xmax || ymin > ymax) return;

    // edge functions e_ab(p) = (bx-ax)(py-ay) - (by-ay)(px-ax); e_12 weights vertex 0, etc.
    // Inside: all > 0; on an edge: counted when the edge is "owned" (antisymmetric rule, so
    // two triangles sharing an edge never both cover a pixel centre on it).
    const A0 = -(y2 - y1), B0 = x2 - x1; // e_12: dE/dx, dE/dy
    const A1 = -(y0 - y2), B1 = x0 - x2; // e_20
    const A2 = -(y1 - y0), B2 = x1 - x0; // e_01
    const own0 = B0 > 0 || (B0 === 0 && A0 < 0) ? 1 : 0;
    const own1 = B1 > 0 || (B1 === 0 && A1 < 0) ? 1 : 0;
    const own2 = B2 > 0 || (B2 === 0 && A2 < 0) ? 1 : 0;
    let r0 = (x2 - x1) * (ymin - y1) - (y2 - y1) * (xmin - x1);
    let r1 = (x0 - x2) * (ymin - y2) - (y0 - y2) * (xmin - x2);
    let r2 = (x1 - x0) * (ymin - y0) - (y1 - y0) * (xmin - x0);
    const invArea = 1 / area;
    const iz = this.iz;
    const w0 = iz[i0], w1 = iz[i1], w2 = iz[i2];
    const attr = this.attr;
    const a0 = i0 * NA, a1 = i1 * NA, a2 = i2 * NA;
    const depth = this.depth, rgb = this.rgb, xyz = this.xyz;
    const base = this.base;
    let written = 0;
    for (let y = ymin; y <= ymax; y++) {
      let e0 = r0, e1 = r1, e2 = r2;
      for (let x = xmin; x <= xmax; x++) {
        if ((e0 > 0 || (e0 === 0 && own0 === 1)) && (e1 > 0 || (e1 === 0 && own1 === 1)) && (e2 > 0 || (e2 === 0 && own2 === 1))) {
          const b0 = e0 * invArea, b1 = e1 * invArea, b2 = e2 * invArea;
          const q0 = b0 * w0, q1 = b1 * w1, q2 = b2 * w2;
          const z = 1 / (q0 + q1 + q2);
          const p = base + y * W + x;
          const d = depth[p];
          if (d === 0 || z < d) {
            depth[p] = z;
            const c0 = q0 * z, c1 = q1 * z, c2 = q2 * z;
            const p3 = p * 3;
            xyz[p3] = c0 * attr[a0] + c1 * attr[a1] + c2 * attr[a2];
            xyz[p3 + 1] = c0 * attr[a0 + 1] + c1 * attr[a1 + 1] + c2 * attr[a2 + 1];
            xyz[p3 + 2] = z;
            rgb[p3] = c0 * attr[a0 + 3] + c1 * attr[a1 + 3] + c2 * attr[a2 + 3];
            rgb[p3 + 1] = c0 * attr[a0 + 4] + c1 * attr[a1 + 4] + c2 * attr[a2 + 4];
            rgb[p3 + 2] = c0 * attr[a0 + 5] + c1 * attr[a1 + 5] + c2 * attr[a2 + 5];
            written++;
          }
        }
        e0 += A0;
        e1 += A1;
        e2 += A2;
      }
      r0 += B0;
      r1 += B1;
      r2 += B2;
    }
    this.stats.pixelsWritten += written;
  }
}
