/**
 * COCO RLE masks sampled on the depth-map grid, without decoding the full-resolution mask: a
 * depth pixel (dx, dy) of a dw x dh map takes the mask value of the full-resolution pixel under its
 * centre, x = floor((dx + 0.5) W / dw), y = floor((dy + 0.5) H / dh). The RLE runs are column-major,
 * and the queried positions x H + y only grow, so one merge pass over runs and queries does it.
 */
import { rleBbox, stringToCounts } from '../../src/rle.js';
import { toNumbers } from '../types.js';

export interface MaskWindow {
  /** window origin and size in depth pixels */
  x0: number;
  y0: number;
  w: number;
  h: number;
  /** row-major w x h, 1 = inside the mask */
  data: Uint8Array;
}

/** Numeric counts of an RLE given as a compressed string or a list of numbers. */
export function rleCountsOf(counts: unknown): number[] | null {
  if (typeof counts === 'string') return stringToCounts(counts);
  return toNumbers(counts);
}

/**
 * The mask on the depth grid, restricted to the window covering its bounding box (null when the
 * mask is empty). `H x W` is the mask (video) size, `dw x dh` the depth map size.
 */
export function sampleMask(counts: ArrayLike<number>, H: number, W: number, dw: number, dh: number): MaskWindow | null {
  const [bx, by, bw, bh] = rleBbox({ size: [H, W], counts });
  if (bw === 0 || bh === 0) return null;
  const sx = dw / W;
  const sy = dh / H;
  // depth pixels whose centre falls inside the box (at least one)
  let x0 = Math.max(0, Math.ceil(bx * sx - 0.5));
  let x1 = Math.min(dw - 1, Math.floor((bx + bw) * sx - 0.5));
  let y0 = Math.max(0, Math.ceil(by * sy - 0.5));
  let y1 = Math.min(dh - 1, Math.floor((by + bh) * sy - 0.5));
  if (x1 < x0) x0 = x1 = Math.min(dw - 1, Math.max(0, Math.floor((bx + bw / 2) * sx)));
  if (y1 < y0) y0 = y1 = Math.min(dh - 1, Math.max(0, Math.floor((by + bh / 2) * sy)));
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const data = new Uint8Array(w * h);
  const ys = new Int32Array(h);
  for (let j = 0; j < h; j++) ys[j] = Math.min(H - 1, Math.floor((y0 + j + 0.5) / sy));
  // merge pass
  let k = 0; // current run
  let runStart = 0;
  let runEnd = counts.length ? counts[0] : Infinity;
  let any = false;
  let prevX = -1;
  for (let i = 0; i < w; i++) {
    const x = Math.min(W - 1, Math.floor((x0 + i + 0.5) / sx));
    if (x === prevX) {
      // depth finer than the mask: same source column (positions would go backwards)
      for (let j = 0; j < h; j++) data[j * w + i] = data[j * w + i - 1];
      continue;
    }
    prevX = x;
    const base = x * H;
    for (let j = 0; j < h; j++) {
      const p = base + ys[j];
      while (p >= runEnd && k < counts.length) {
        k++;
        runStart = runEnd;
        runEnd = k < counts.length ? runStart + counts[k] : Infinity;
      }
      if (k & 1 && p >= runStart) {
        data[j * w + i] = 1;
        any = true;
      }
    }
  }
  if (!any) {
    // a mask thinner than a depth pixel: keep the depth pixel under its box centre
    const cx = Math.min(w - 1, Math.max(0, Math.floor((bx + bw / 2) * sx) - x0));
    const cy = Math.min(h - 1, Math.max(0, Math.floor((by + bh / 2) * sy) - y0));
    data[cy * w + cx] = 1;
  }
  return { x0, y0, w, h, data };
}

/** Binary erosion with a (2r+1) square (separable min filter); pixels outside the window count as outside. */
export function erode(win: MaskWindow, r: number): MaskWindow {
  if (r <= 0) return win;
  const { w, h } = win;
  const tmp = new Uint8Array(w * h);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    let run = 0; // consecutive set pixels ending at x
    const row = y * w;
    const runs = new Int32Array(w);
    for (let x = 0; x < w; x++) {
      run = win.data[row + x] ? run + 1 : 0;
      runs[x] = run;
    }
    // pixel x survives if [x - r, x + r] is inside the window and fully set
    for (let x = r; x < w - r; x++) tmp[row + x] = runs[x + r] >= 2 * r + 1 ? 1 : 0;
  }
  for (let x = 0; x < w; x++) {
    let run = 0;
    const runs = new Int32Array(h);
    for (let y = 0; y < h; y++) {
      run = tmp[y * w + x] ? run + 1 : 0;
      runs[y] = run;
    }
    for (let y = r; y < h - r; y++) out[y * w + x] = runs[y + r] >= 2 * r + 1 ? 1 : 0;
  }
  return { ...win, data: out };
}

export function countSet(win: MaskWindow): number {
  let n = 0;
  for (let i = 0; i < win.data.length; i++) n += win.data[i];
  return n;
}
