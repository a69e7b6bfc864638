/**
 * What object_pose reads from upstream rows, behind two small interfaces so the producers can
 * change without touching the pose code:
 *
 *  - `ObjectMask`: one object's binary mask in one frame (from the `masks` table of
 *    object_masks: clip_id, frame, object_id, label, bbox, rle_counts, height, width);
 *  - `DepthFrame`: metric depth of one frame with its pinhole intrinsics (from a `depth` table:
 *    clip_id, frame, fx, fy, cx, cy + the depth map; see `depthFrameFromRow` for the columns).
 */
import { decodeDepthRow } from '../depth/map.js';
import { decodeMask } from '../../src/rle.js';
import { toNumbers, type Row } from '../types.js';
import type { DepthImage } from './crop.js';
import type { Intrinsics } from './math.js';

export interface ObjectMask {
  clip_id: string;
  frame: number;
  object_id: string;
  label: string;
  width: number;
  height: number;
  /** row-major width x height, 1 = object */
  mask: Uint8Array;
  /** set pixels */
  area: number;
}

export interface DepthFrame {
  frame: number;
  /** intrinsics of the depth map's own pixel grid */
  K: Intrinsics;
  width: number;
  height: number;
  /** row-major metres; 0 / NaN = no depth */
  depth: Float32Array;
}

export class InputError extends Error {
  override name = 'InputError';
}

/** A masks row -> ObjectMask (null without a usable mask). */
export function maskFromRow(row: Row): ObjectMask | null {
  const height = Number(row.height);
  const width = Number(row.width);
  const counts = row.rle_counts;
  if (!(height > 0 && width > 0) || typeof counts !== 'string') return null;
  const mask = decodeMask({ size: [height, width], counts });
  let area = 0;
  for (let i = 0; i < mask.length; i++) area += mask[i];
  return {
    clip_id: String(row.clip_id),
    frame: Number(row.frame),
    object_id: String(row.object_id),
    label: String(row.label ?? ''),
    width,
    height,
    mask,
    area,
  };
}

function depthValues(v: unknown): Float32Array | null {
  if (v instanceof Float32Array) return v;
  if (v instanceof Uint8Array || Buffer.isBuffer(v)) {
    // raw little-endian float32 (a BLOB column)
    const b = v as Uint8Array;
    if (b.byteLength % 4) return null;
    const out = new Float32Array(b.byteLength / 4);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
    return out;
  }
  const n = toNumbers(v);
  return n ? Float32Array.from(n) : null;
}

/**
 * A depth row -> DepthFrame. Columns: `frame`, `fx`, `fy`, `cx`, `cy` (pixels of the depth map),
 * the map as `depth` or `depth_m` (list of floats, or a float32 little-endian BLOB), its size as
 * `width`/`height` (or `depth_width`/`depth_height`), optional `depth_scale` (multiplier to metres,
 * default 1). Null when something is missing.
 */
export function depthFrameFromRow(row: Row): DepthFrame | null {
  // rows of the depth op: a 16-bit millimetre PNG (base64) + intrinsics in video pixels
  if (row.depth_png !== undefined && row.depth_png !== null) {
    try {
      const m = decodeDepthRow(row);
      return { frame: Number(row.frame), K: m.K, width: m.width, height: m.height, depth: m.depth };
    } catch {
      return null;
    }
  }
  const width = Number(row.depth_width ?? row.width);
  const height = Number(row.depth_height ?? row.height);
  const fx = Number(row.fx), fy = Number(row.fy), cx = Number(row.cx), cy = Number(row.cy);
  if (!(width > 0 && height > 0) || ![fx, fy, cx, cy].every(Number.isFinite)) return null;
  let depth = depthValues(row.depth ?? row.depth_m);
  if (!depth || depth.length !== width * height) return null;
  const scale = row.depth_scale === undefined || row.depth_scale === null ? 1 : Number(row.depth_scale);
  if (scale !== 1) depth = depth.map((d) => d * scale);
  return { frame: Number(row.frame), K: { fx, fy, cx, cy }, width, height, depth };
}

/**
 * The depth map and intrinsics on a width x height pixel grid (the video frame's): nearest
 * resampling, intrinsics scaled with pixel centres kept (u' = (u + 0.5) s - 0.5).
 */
export function depthOnGrid(d: DepthFrame, width: number, height: number): { depth: DepthImage; K: Intrinsics } {
  if (d.width === width && d.height === height) return { depth: { width, height, data: d.depth }, K: d.K };
  const sx = width / d.width;
  const sy = height / d.height;
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const ys = Math.min(d.height - 1, Math.floor((y + 0.5) / sy));
    for (let x = 0; x < width; x++) {
      const xs = Math.min(d.width - 1, Math.floor((x + 0.5) / sx));
      out[y * width + x] = d.depth[ys * d.width + xs];
    }
  }
  return {
    depth: { width, height, data: out },
    K: { fx: d.K.fx * sx, fy: d.K.fy * sy, cx: (d.K.cx + 0.5) * sx - 0.5, cy: (d.K.cy + 0.5) * sy - 0.5 },
  };
}

/** A mask resampled (nearest) to width x height, when it is not already that size. */
export function maskOnGrid(m: ObjectMask, width: number, height: number): Uint8Array {
  if (m.width === width && m.height === height) return m.mask;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const ys = Math.min(m.height - 1, Math.floor(((y + 0.5) * m.height) / height));
    for (let x = 0; x < width; x++) {
      const xs = Math.min(m.width - 1, Math.floor(((x + 0.5) * m.width) / width));
      out[y * width + x] = m.mask[ys * m.width + xs];
    }
  }
  return out;
}
