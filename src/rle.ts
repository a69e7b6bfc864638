/**
 * COCO run-length encoding of binary masks, compatible with pycocotools (cocoapi maskApi.c).
 *
 * Layout: an H x W mask is read in column-major (Fortran) order, i.e. pixel (x, y) has index
 * x * H + y. `counts` are the alternating run lengths of that sequence, starting with a run of
 * zeros (which is 0 when the first pixel is set). The compressed form (`counts` as a string) is
 * pycocotools' rleToString: every count (from the 4th on, as a delta against the count two places
 * earlier) is written as little-endian 5-bit groups, each group plus a continuation bit (0x20) in
 * one character offset by 48; the last group's bit 0x10 is the sign.
 *
 * Masks handed to and returned by this module are row-major Uint8Arrays (index y * W + x), the
 * layout of decoded video frames; nonzero means "set". Nothing here transposes a whole mask: the
 * encoder finds the bounding box of the set pixels with memcmp row scans, then walks only that
 * box column by column with a strided read.
 */

/** Compressed COCO RLE, as stored in COCO json / our tables. size is [height, width]. */
export interface Rle {
  size: [number, number];
  counts: string;
}

/** Uncompressed COCO RLE (counts as numbers). */
export interface RleCounts {
  size: [number, number];
  counts: ArrayLike<number>;
}

export type AnyRle = Rle | RleCounts;

export class RleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RleError';
  }
}

function checkSize(h: number, w: number): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) {
    throw new RleError(`mask size must be two non-negative integers, got ${h} x ${w}`);
  }
}

// ---------------------------------------------------------------------------------------------
// counts <-> string
// ---------------------------------------------------------------------------------------------

/** pycocotools rleToString. */
export function countsToString(counts: ArrayLike<number>): string {
  const out: number[] = [];
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]!;
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      // x may be negative (delta); floor division keeps two's-complement semantics beyond 32 bits
      let c = x & 0x1f;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out.push(c + 48);
    }
    if (out.length > 8192) {
      s += String.fromCharCode(...out);
      out.length = 0;
    }
  }
  return s + String.fromCharCode(...out);
}

/** pycocotools rleFrString (the counts only). Throws RleError on characters outside '0'..'o' or negative counts. */
export function stringToCounts(str: string): number[] {
  const counts: number[] = [];
  let p = 0;
  const n = str.length;
  while (p < n) {
    let x = 0;
    let k = 0;
    let scale = 1;
    let more = true;
    while (more) {
      if (p >= n) throw new RleError(`truncated RLE counts string (ends inside a value at char ${p})`);
      const c = str.charCodeAt(p) - 48;
      if (c < 0 || c > 63) {
        throw new RleError(`invalid character ${JSON.stringify(str[p])} at ${p} in RLE counts string (allowed: '0'..'o')`);
      }
      x += (c & 0x1f) * scale;
      scale *= 32;
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= scale; // sign-extend
    }
    const m = counts.length;
    if (m > 2) x += counts[m - 2]!;
    if (x < 0) throw new RleError(`invalid RLE counts string: count #${m} is negative (${x})`);
    counts.push(x);
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// encode
// ---------------------------------------------------------------------------------------------

/**
 * Core encoder: the h x w frame is zero except for the rectangle rw x rh whose pixels are read
 * from the row-major buffer `src` (row stride `stride`) starting at src pixel (sx, sy), and which
 * sits at frame position (fx, fy). The rectangle must lie inside both the buffer and the frame.
 * Reads column by column with a stride; no transposed copy is made.
 */
function encodeRect(
  src: Uint8Array,
  stride: number,
  sx: number,
  sy: number,
  rw: number,
  rh: number,
  fx: number,
  fy: number,
  h: number,
  w: number,
): number[] {
  if (rw <= 0 || rh <= 0) return [h * w];
  const counts: number[] = [];
  // zeros before the first rectangle pixel: all columns left of it plus the rows above it
  let run = fx * h + fy;
  let one = false; // value of the current run
  const between = h - rh; // zeros below the rectangle in one column + above it in the next
  const tail = h - fy - rh + (w - fx - rw) * h;
  for (let c = 0; c < rw; c++) {
    let idx = sy * stride + sx + c;
    for (let r = 0; r < rh; r++, idx += stride) {
      const v = src[idx] !== 0;
      if (v === one) run++;
      else {
        counts.push(run);
        run = 1;
        one = v;
      }
    }
    const gap = c < rw - 1 ? between : tail;
    if (gap > 0) {
      if (one) {
        counts.push(run);
        run = gap;
        one = false;
      } else run += gap;
    }
  }
  counts.push(run);
  return counts;
}

/**
 * Checks a winH x winW window placed at frame (ox, oy) of an h x w frame and returns the part of
 * the frame it covers, or null when it lies entirely outside.
 */
function windowInFrame(src: Uint8Array, winH: number, winW: number, ox: number, oy: number, h: number, w: number): { fx0: number; fx1: number; fy0: number; fy1: number } | null {
  checkSize(h, w);
  checkSize(winH, winW);
  if (src.length < winH * winW) throw new RleError(`mask buffer has ${src.length} bytes, expected ${winH} x ${winW} = ${winH * winW}`);
  if (!Number.isInteger(ox) || !Number.isInteger(oy)) throw new RleError(`window offset must be integers, got ${ox}, ${oy}`);
  const fx0 = Math.max(0, ox);
  const fx1 = Math.min(w, ox + winW);
  const fy0 = Math.max(0, oy);
  const fy1 = Math.min(h, oy + winH);
  return fx0 >= fx1 || fy0 >= fy1 ? null : { fx0, fx1, fy0, fy1 };
}

/**
 * Run lengths (column-major, zeros first) of an h x w frame that is all zeros except for a
 * row-major window `src` (srcH x srcW, nonzero = set) whose top-left pixel sits at frame (ox, oy).
 * Parts of the window outside the frame are ignored.
 */
export function encodeCountsWindow(
  src: Uint8Array,
  srcH: number,
  srcW: number,
  ox: number,
  oy: number,
  h: number,
  w: number,
): number[] {
  const r = windowInFrame(src, srcH, srcW, ox, oy, h, w);
  if (!r) return [h * w];
  const { fx0, fx1, fy0, fy1 } = r;
  return encodeRect(src, srcW, fx0 - ox, fy0 - oy, fx1 - fx0, fy1 - fy0, fx0, fy0, h, w);
}

/**
 * Like encodeCountsWindow, but the window is stored column-major (src[(x - ox) * winH + (y - oy)])
 * and holds only 0 and 1 (other values are not recognised). Runs are found with the native
 * TypedArray indexOf over each column, which is several times faster than a strided scan; a
 * rasteriser can produce this layout directly by drawing the transposed shape.
 */
export function encodeCountsColumnMajorWindow(
  src: Uint8Array,
  winH: number,
  winW: number,
  ox: number,
  oy: number,
  h: number,
  w: number,
): number[] {
  const r = windowInFrame(src, winH, winW, ox, oy, h, w);
  if (!r) return [h * w];
  const { fx0, fx1, fy0, fy1 } = r;
  const counts: number[] = [];
  let run = fx0 * h + fy0;
  let one = 0;
  const rows = fy1 - fy0;
  const between = h - rows;
  const tail = h - fy1 + (w - fx1) * h;
  for (let x = fx0; x < fx1; x++) {
    const start = (x - ox) * winH + (fy0 - oy);
    const col = src.subarray(start, start + rows);
    let p = 0;
    while (p < rows) {
      const j = col.indexOf(one ^ 1, p);
      if (j < 0) {
        run += rows - p;
        break;
      }
      run += j - p;
      counts.push(run);
      run = 0;
      one ^= 1;
      p = j;
    }
    const gap = x < fx1 - 1 ? between : tail;
    if (gap > 0) {
      if (one) {
        counts.push(run);
        run = gap;
        one = 0;
      } else run += gap;
    }
  }
  counts.push(run);
  return counts;
}

let zeros = Buffer.alloc(0);
function zeroBuffer(n: number): Buffer {
  if (zeros.length < n) zeros = Buffer.alloc(Math.max(n, 4096));
  return zeros;
}

/**
 * Bounding box [x0, y0, x1, y1) of the nonzero pixels of a row-major mask, or null when empty.
 * Uses memcmp against a zero row (Buffer.compare), so empty margins cost almost nothing.
 */
export function maskBounds(mask: Uint8Array, h: number, w: number): [number, number, number, number] | null {
  const buf = Buffer.from(mask.buffer, mask.byteOffset, h * w);
  const z = zeroBuffer(w);
  let x0 = w;
  let x1 = 0; // exclusive
  let y0 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    const o = y * w;
    if (buf.compare(z, 0, w, o, o + w) === 0) continue;
    if (y0 < 0) y0 = y;
    y1 = y + 1;
    // anything left of x0 in this row?
    if (x0 > 0 && buf.compare(z, 0, x0, o, o + x0) !== 0) {
      let x = 0;
      while (mask[o + x] === 0) x++;
      x0 = x;
    }
    // anything at or right of x1?
    if (x1 < w && buf.compare(z, 0, w - x1, o + x1, o + w) !== 0) {
      let x = w - 1;
      while (mask[o + x] === 0) x--;
      x1 = x + 1;
    }
  }
  return y0 < 0 ? null : [x0, y0, x1, y1];
}

/** Run lengths of a full row-major h x w mask (only the bounding box of the set pixels is scanned per pixel). */
export function encodeCounts(mask: Uint8Array, h: number, w: number): number[] {
  checkSize(h, w);
  if (mask.length < h * w) throw new RleError(`mask has ${mask.length} pixels, expected ${h} x ${w} = ${h * w}`);
  if (h * w === 0) return [0];
  const b = maskBounds(mask, h, w);
  if (!b) return [h * w];
  const [x0, y0, x1, y1] = b;
  return encodeRect(mask, w, x0, y0, x1 - x0, y1 - y0, x0, y0, h, w);
}

/** Encode a row-major h x w mask (nonzero = set) as compressed COCO RLE. */
export function encodeMask(mask: Uint8Array, h: number, w: number): Rle {
  checkSize(h, w);
  if (mask.length !== h * w) throw new RleError(`mask has ${mask.length} pixels, expected ${h} x ${w} = ${h * w}`);
  return { size: [h, w], counts: countsToString(encodeCounts(mask, h, w)) };
}

/**
 * Encode an h x w mask that is zero outside a row-major window (winH x winW) placed with its
 * top-left pixel at (x0, y0). Lets a rasteriser work on a small crop and still produce a
 * full-frame RLE without allocating the frame.
 */
export function encodeMaskWindow(
  win: Uint8Array,
  winH: number,
  winW: number,
  x0: number,
  y0: number,
  h: number,
  w: number,
): Rle {
  return { size: [h, w], counts: countsToString(encodeCountsWindow(win, winH, winW, x0, y0, h, w)) };
}

// ---------------------------------------------------------------------------------------------
// decode / measures
// ---------------------------------------------------------------------------------------------

/** Numeric counts of either RLE form, validated against the size (sum must be h * w). */
export function rleCounts(rle: AnyRle): ArrayLike<number> {
  const [h, w] = rle.size;
  checkSize(h, w);
  const counts = typeof rle.counts === 'string' ? stringToCounts(rle.counts) : rle.counts;
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (!Number.isInteger(c) || c < 0) throw new RleError(`RLE count #${i} is not a non-negative integer: ${c}`);
    sum += c;
  }
  if (sum !== h * w) throw new RleError(`RLE counts sum to ${sum} but the mask is ${h} x ${w} = ${h * w} pixels`);
  return counts;
}

/** Compress numeric counts. */
export function compressRle(rle: RleCounts): Rle {
  return { size: [rle.size[0], rle.size[1]], counts: countsToString(rle.counts) };
}

/** Decompress to numeric counts. */
export function decompressRle(rle: AnyRle): RleCounts {
  return { size: [rle.size[0], rle.size[1]], counts: Array.from(rleCounts(rle)) };
}

/** Decode to a row-major h x w Uint8Array of 0/1. */
export function decodeMask(rle: AnyRle): Uint8Array {
  const [h, w] = rle.size;
  const counts = rleCounts(rle);
  const out = new Uint8Array(h * w);
  let p = 0; // column-major position
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (i & 1) {
      let x = Math.floor(p / h);
      let y = p - x * h;
      let idx = y * w + x;
      for (let k = 0; k < c; k++) {
        out[idx] = 1;
        if (++y === h) {
          y = 0;
          x++;
          idx = x;
        } else idx += w;
      }
    }
    p += c;
  }
  return out;
}

/** Number of set pixels. */
export function rleArea(rle: AnyRle): number {
  const counts = rleCounts(rle);
  let a = 0;
  for (let i = 1; i < counts.length; i += 2) a += counts[i]!;
  return a;
}

/** Tight bounding box of the set pixels as COCO [x, y, w, h] (all zeros for an empty mask); same as pycocotools toBbox. */
export function rleBbox(rle: AnyRle): [number, number, number, number] {
  const [h] = rle.size;
  const counts = rleCounts(rle);
  let xs = Infinity;
  let xe = -1;
  let ys = Infinity;
  let ye = -1;
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (i & 1 && c > 0) {
      const xa = Math.floor(p / h);
      const ya = p - xa * h;
      const last = p + c - 1;
      const xb = Math.floor(last / h);
      const yb = last - xb * h;
      if (xa < xs) xs = xa;
      if (xb > xe) xe = xb;
      if (xb > xa) {
        // the run wraps from the bottom of one column to the top of the next
        ys = 0;
        ye = h - 1;
      } else {
        if (ya < ys) ys = ya;
        if (yb > ye) ye = yb;
      }
    }
    p += c;
  }
  if (xe < 0) return [0, 0, 0, 0];
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/** Set-pixel intervals [start, end) in column-major positions. */
function onesIntervals(counts: ArrayLike<number>): number[] {
  const iv: number[] = [];
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (i & 1 && c > 0) iv.push(p, p + c);
    p += c;
  }
  return iv;
}

/** Number of pixels set in both masks (sizes must match). */
export function rleIntersectionArea(a: AnyRle, b: AnyRle): number {
  if (a.size[0] !== b.size[0] || a.size[1] !== b.size[1]) {
    throw new RleError(`mask sizes differ: ${a.size[0]} x ${a.size[1]} vs ${b.size[0]} x ${b.size[1]}`);
  }
  const ia = onesIntervals(rleCounts(a));
  const ib = onesIntervals(rleCounts(b));
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < ia.length && j < ib.length) {
    const lo = Math.max(ia[i]!, ib[j]!);
    const hi = Math.min(ia[i + 1]!, ib[j + 1]!);
    if (hi > lo) inter += hi - lo;
    if (ia[i + 1]! < ib[j + 1]!) i += 2;
    else j += 2;
  }
  return inter;
}

/** Intersection over union of two masks of the same size; 0 when both are empty. */
export function rleIoU(a: AnyRle, b: AnyRle): number {
  const inter = rleIntersectionArea(a, b);
  const union = rleArea(a) + rleArea(b) - inter;
  return union > 0 ? inter / union : 0;
}
