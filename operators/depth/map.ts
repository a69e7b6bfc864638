/**
 * Depth maps as stored in the `depth` table (16-bit PNG, base64) and helpers to read them back:
 * ops downstream (lift3d) use decodeDepthRow + the samplers here, never the PNG directly.
 */
import { median, scaleIntrinsics, type Intrinsics } from '../../src/geometry3d.js';
import { toNumbers, type Row } from '../types.js';
import { decodePng16, encodePng16 } from './png16.js';

export interface DepthMap {
  frame: number;
  /** depth map size (px) */
  width: number;
  height: number;
  /** size of the image the intrinsics refer to (the decoded video frame) */
  imageWidth: number;
  imageHeight: number;
  /** intrinsics in image pixels */
  K: Intrinsics;
  /** the same camera in depth-map pixels */
  Kd: Intrinsics;
  /** metres, row-major, NaN = no depth */
  depth: Float32Array;
}

export interface EncodedDepth {
  png: Buffer;
  /** pixels without depth (NaN, <= 0, or beyond the 16-bit range) */
  invalid: number;
  /** of those, pixels beyond the range (depth > 65535 units) */
  overRange: number;
  min: number;
  median: number;
  max: number;
}

/** Encode metres as 16-bit PNG in `unitM` metres per count (0 = no depth). */
export function encodeDepth(depth: ArrayLike<number>, width: number, height: number, unitM = 0.001): EncodedDepth {
  const q = new Uint16Array(width * height);
  let invalid = 0;
  let over = 0;
  let min = Infinity;
  let max = -Infinity;
  const sample: number[] = [];
  const stride = Math.max(1, Math.floor((width * height) / 20000));
  for (let i = 0; i < width * height; i++) {
    const d = depth[i];
    if (!(d > 0) || !Number.isFinite(d)) {
      invalid++;
      continue;
    }
    const c = Math.round(d / unitM);
    if (c > 65535) {
      invalid++;
      over++;
      continue;
    }
    q[i] = Math.max(1, c);
    if (d < min) min = d;
    if (d > max) max = d;
    if (i % stride === 0) sample.push(d);
  }
  return {
    png: encodePng16(q, width, height),
    invalid,
    overRange: over,
    min: Number.isFinite(min) ? min : NaN,
    median: sample.length ? median(sample) : NaN,
    max: Number.isFinite(max) ? max : NaN,
  };
}

/** Decode a PNG16 depth image back to metres (NaN where 0). */
export function decodeDepth(png: Uint8Array, unitM = 0.001): { width: number; height: number; depth: Float32Array } {
  const { width, height, data } = decodePng16(png);
  const depth = new Float32Array(width * height);
  for (let i = 0; i < depth.length; i++) depth[i] = data[i] === 0 ? NaN : data[i] * unitM;
  return { width, height, depth };
}

function num(v: unknown): number {
  return v == null ? NaN : Number(v);
}

/** A `depth` table row -> DepthMap. Throws on a row without a decodable depth_png. */
export function decodeDepthRow(row: Row): DepthMap {
  const b64 = row.depth_png;
  let bytes: Uint8Array;
  if (typeof b64 === 'string') bytes = Buffer.from(b64, 'base64');
  else if (b64 instanceof Uint8Array) bytes = b64;
  else {
    const arr = toNumbers(b64);
    if (!arr) throw new Error(`depth row of frame ${String(row.frame)} has no depth_png`);
    bytes = Uint8Array.from(arr);
  }
  const unit = Number.isFinite(num(row.depth_unit_m)) && num(row.depth_unit_m) > 0 ? num(row.depth_unit_m) : 0.001;
  const { width, height, depth } = decodeDepth(bytes, unit);
  const imageWidth = Number.isFinite(num(row.image_width)) ? num(row.image_width) : width;
  const imageHeight = Number.isFinite(num(row.image_height)) ? num(row.image_height) : height;
  const K: Intrinsics = { fx: num(row.fx), fy: num(row.fy), cx: num(row.cx), cy: num(row.cy) };
  if (![K.fx, K.fy, K.cx, K.cy].every(Number.isFinite) || !(K.fx > 0) || !(K.fy > 0)) throw new Error(`depth row of frame ${String(row.frame)} has no valid intrinsics`);
  return { frame: Number(row.frame), width, height, imageWidth, imageHeight, K, Kd: scaleIntrinsics(K, imageWidth, imageHeight, width, height), depth };
}

/** Depth-map pixel (column, row) of an image pixel (u, v), both in OpenCV pixel-centre coordinates. */
export function toDepthPixel(map: Pick<DepthMap, 'width' | 'height' | 'imageWidth' | 'imageHeight'>, u: number, v: number): [number, number] {
  return [(u + 0.5) * (map.width / map.imageWidth) - 0.5, (v + 0.5) * (map.height / map.imageHeight) - 0.5];
}

/**
 * Median depth (m) of the valid depth pixels within `radius` depth pixels of image pixel (u, v);
 * NaN when none.
 */
export function depthAround(map: DepthMap, u: number, v: number, radius = 2): number {
  const [dx, dy] = toDepthPixel(map, u, v);
  const cx = Math.round(dx);
  const cy = Math.round(dy);
  const vals: number[] = [];
  for (let y = Math.max(0, cy - radius); y <= Math.min(map.height - 1, cy + radius); y++) {
    for (let x = Math.max(0, cx - radius); x <= Math.min(map.width - 1, cx + radius); x++) {
      const d = map.depth[y * map.width + x];
      if (d > 0) vals.push(d);
    }
  }
  return vals.length ? median(vals) : NaN;
}
