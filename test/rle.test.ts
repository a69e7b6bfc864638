import { describe, expect, it } from 'vitest';
import {
  countsToString,
  decodeMask,
  encodeCounts,
  encodeCountsColumnMajorWindow,
  encodeCountsWindow,
  encodeMask,
  encodeMaskWindow,
  RleError,
  rleArea,
  rleBbox,
  rleIntersectionArea,
  rleIoU,
  stringToCounts,
} from '../src/rle.js';
import { rng } from './helpers/random.js';


function randomMask(h: number, w: number, density: number, rand: () => number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let i = 0; i < m.length; i++) m[i] = rand() < density ? 1 : 0;
  return m;
}

/** Filled disc with a square hole and a separate blob: runs that wrap columns, holes, several components. */
function shapeMask(h: number, w: number): Uint8Array {
  const m = new Uint8Array(h * w);
  const cx = w * 0.4;
  const cy = h * 0.5;
  const r = Math.min(h, w) * 0.35;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
      const inHole = Math.abs(x - cx) < r * 0.3 && Math.abs(y - cy) < r * 0.3;
      const inBlob = x > w * 0.85 && y < h * 0.2;
      if ((inDisc && !inHole) || inBlob) m[y * w + x] = 255; // nonzero, not 1: must read as set
    }
  }
  return m;
}

/** Straightforward reference: transpose to column-major and count runs. */
function referenceCounts(mask: Uint8Array, h: number, w: number): number[] {
  const counts: number[] = [];
  let cur = 0;
  let run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x] ? 1 : 0;
      if (v === cur) run++;
      else {
        counts.push(run);
        cur = v;
        run = 1;
      }
    }
  }
  counts.push(run);
  return counts;
}

function directArea(mask: Uint8Array): number {
  let a = 0;
  for (const v of mask) if (v) a++;
  return a;
}

function directBbox(mask: Uint8Array, h: number, w: number): [number, number, number, number] {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

function binarize(mask: Uint8Array): Uint8Array {
  return mask.map((v) => (v ? 1 : 0));
}

function checkAll(mask: Uint8Array, h: number, w: number): void {
  const rle = encodeMask(mask, h, w);
  expect(rle.size).toEqual([h, w]);
  expect(stringToCounts(rle.counts)).toEqual(referenceCounts(mask, h, w));
  expect(decodeMask(rle)).toEqual(binarize(mask));
  expect(rleArea(rle)).toBe(directArea(mask));
  expect(rleBbox(rle)).toEqual(directBbox(mask, h, w));
}

describe('COCO RLE: known vectors (hand-computed from the pycocotools algorithm)', () => {
  it('2x2 [[0,1],[1,1]] -> column-major 0,1,1,1 -> counts [1,3] -> "13"', () => {
    const rle = encodeMask(Uint8Array.from([0, 1, 1, 1]), 2, 2);
    expect(stringToCounts(rle.counts)).toEqual([1, 3]);
    expect(rle.counts).toBe('13');
    expect(rleBbox(rle)).toEqual([0, 0, 2, 2]);
    expect(rleArea(rle)).toBe(3);
  });

  it('column-major order: 2x3 [[1,0,0],[1,0,1]] -> 1,1,0,0,0,1 -> counts [0,2,3,1] -> "023O"', () => {
    // count 1 at i=3 is delta-coded against counts[1]=2: 1-2 = -1 -> group 31 (sign bit set, x becomes -1, stop) -> 'O'
    const rle = encodeMask(Uint8Array.from([1, 0, 0, 1, 0, 1]), 2, 3);
    expect(stringToCounts(rle.counts)).toEqual([0, 2, 3, 1]);
    expect(rle.counts).toBe('023O');
    expect(rleBbox(rle)).toEqual([0, 0, 3, 2]);
  });

  it('all ones starts with a zero-length zero run: 2x2 -> [0,4] -> "04"', () => {
    const rle = encodeMask(new Uint8Array(4).fill(1), 2, 2);
    expect(rle.counts).toBe('04');
  });

  it('all zeros 3x3 -> [9] -> "9"; empty bbox', () => {
    const rle = encodeMask(new Uint8Array(9), 3, 3);
    expect(rle.counts).toBe('9');
    expect(rleBbox(rle)).toEqual([0, 0, 0, 0]);
    expect(rleArea(rle)).toBe(0);
  });

  it('counts[2] is not delta-coded, counts[3] is: 11x1 -> [1,5,2,3] -> "152N"', () => {
    // 3 - counts[1]=5 = -2: low 5 bits 11110 = 30 -> '0'+30 = 'N'; x>>5 = -1 and bit 0x10 set -> stop
    const col = Uint8Array.from([0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1]);
    const rle = encodeMask(col, 11, 1);
    expect(stringToCounts(rle.counts)).toEqual([1, 5, 2, 3]);
    expect(rle.counts).toBe('152N');
  });

  it('multi-character values', () => {
    // 40 = 0b1_01000: group 8 (+continuation 0x20 -> 40 -> 'X'), then group 1 -> '1'
    expect(countsToString([40])).toBe('X1');
    // 16 = 0b10000: group 16 has the sign bit but x>>5 = 0 != -1, so continue: 48 -> '`', then '0'
    expect(countsToString([16])).toBe('`0');
    // 1280*720 = 921600: groups 0,0,4,28 (28 has the sign bit -> one more 0 group) -> 'P','P','T','l','0'
    expect(countsToString([921600])).toBe('PPTl0');
    expect(encodeMask(new Uint8Array(1280 * 720), 720, 1280).counts).toBe('PPTl0');
    for (const s of ['X1', '`0', 'PPTl0']) expect(countsToString(stringToCounts(s))).toBe(s);
    expect(stringToCounts('PPTl0')).toEqual([921600]);
  });

  it('large negative deltas round-trip', () => {
    const counts = [3, 100000, 7, 2, 50000, 1, 0, 123456789, 5];
    expect(stringToCounts(countsToString(counts))).toEqual(counts);
  });

  it('rejects bad strings', () => {
    expect(() => stringToCounts('1 3')).toThrow(RleError);
    expect(() => stringToCounts('X')).toThrow(/truncated/);
    expect(() => decodeMask({ size: [2, 2], counts: '12' })).toThrow(/sum to 3/);
  });
});

describe('COCO RLE: round trips', () => {
  it('random masks of odd sizes and densities', () => {
    const rand = rng(12345);
    const sizes: Array<[number, number]> = [
      [1, 1],
      [1, 7],
      [7, 1],
      [3, 5],
      [17, 31],
      [64, 48],
      [101, 3],
    ];
    for (const [h, w] of sizes) {
      for (const d of [0.02, 0.3, 0.5, 0.97]) checkAll(randomMask(h, w, d, rand), h, w);
    }
  });

  it('shapes with holes and several components', () => {
    for (const [h, w] of [
      [37, 53],
      [120, 160],
      [99, 101],
    ] as Array<[number, number]>) {
      checkAll(shapeMask(h, w), h, w);
    }
  });

  it('all-zero, all-one, single pixels, first and last pixel', () => {
    for (const [h, w] of [
      [1, 1],
      [5, 3],
      [4, 9],
    ] as Array<[number, number]>) {
      checkAll(new Uint8Array(h * w), h, w);
      checkAll(new Uint8Array(h * w).fill(1), h, w);
      for (let i = 0; i < h * w; i++) {
        const m = new Uint8Array(h * w);
        m[i] = 1;
        checkAll(m, h, w);
      }
    }
  });

  it('column-major encoder on a whole frame', () => {
    const m = binarize(shapeMask(45, 67));
    const col = new Uint8Array(m.length);
    for (let y = 0; y < 45; y++) for (let x = 0; x < 67; x++) col[x * 45 + y] = m[y * 67 + x]!;
    expect(encodeCountsColumnMajorWindow(col, 45, 67, 0, 0, 45, 67)).toEqual(referenceCounts(m, 45, 67));
    expect(encodeCountsColumnMajorWindow(new Uint8Array(12).fill(1), 3, 4, 0, 0, 3, 4)).toEqual([0, 12]);
  });

  it('accepts uncompressed counts', () => {
    const m = shapeMask(20, 30);
    const counts = encodeCounts(m, 20, 30);
    expect(decodeMask({ size: [20, 30], counts })).toEqual(binarize(m));
    expect(rleArea({ size: [20, 30], counts })).toBe(directArea(m));
  });

  it('window encoder equals encoding the full frame, including windows that stick out of it', () => {
    const rand = rng(7);
    const H = 23;
    const W = 19;
    for (let trial = 0; trial < 200; trial++) {
      const wh = 1 + Math.floor(rand() * 12);
      const ww = 1 + Math.floor(rand() * 12);
      const ox = Math.floor(rand() * (W + 8)) - 6;
      const oy = Math.floor(rand() * (H + 8)) - 6;
      const win = randomMask(wh, ww, 0.5, rand);
      const full = new Uint8Array(H * W);
      for (let y = 0; y < wh; y++) {
        for (let x = 0; x < ww; x++) {
          const fx = ox + x;
          const fy = oy + y;
          if (fx >= 0 && fx < W && fy >= 0 && fy < H) full[fy * W + fx] = win[y * ww + x]!;
        }
      }
      expect(encodeMaskWindow(win, wh, ww, ox, oy, H, W)).toEqual(encodeMask(full, H, W));
      // the same window stored column-major
      const colMajor = new Uint8Array(wh * ww);
      for (let y = 0; y < wh; y++) for (let x = 0; x < ww; x++) colMajor[x * wh + y] = win[y * ww + x]!;
      expect(encodeCountsColumnMajorWindow(colMajor, wh, ww, ox, oy, H, W)).toEqual(encodeCountsWindow(win, wh, ww, ox, oy, H, W));
    }
  });
});

describe('COCO RLE: IoU', () => {
  it('matches direct pixel counting', () => {
    const rand = rng(99);
    for (let t = 0; t < 20; t++) {
      const h = 10 + Math.floor(rand() * 30);
      const w = 10 + Math.floor(rand() * 30);
      const a = randomMask(h, w, rand(), rand);
      const b = randomMask(h, w, rand(), rand);
      let inter = 0;
      let union = 0;
      for (let i = 0; i < a.length; i++) {
        if (a[i] && b[i]) inter++;
        if (a[i] || b[i]) union++;
      }
      const ra = encodeMask(a, h, w);
      const rb = encodeMask(b, h, w);
      expect(rleIntersectionArea(ra, rb)).toBe(inter);
      expect(rleIoU(ra, rb)).toBeCloseTo(union ? inter / union : 0, 12);
    }
  });

  it('identical = 1, disjoint = 0, both empty = 0, size mismatch throws', () => {
    const m = shapeMask(30, 40);
    const r = encodeMask(m, 30, 40);
    expect(rleIoU(r, r)).toBe(1);
    const inv = encodeMask(m.map((v) => (v ? 0 : 1)), 30, 40);
    expect(rleIoU(r, inv)).toBe(0);
    const z = encodeMask(new Uint8Array(12), 3, 4);
    expect(rleIoU(z, z)).toBe(0);
    expect(() => rleIoU(r, z)).toThrow(/sizes differ/);
  });
});

describe('COCO RLE: throughput (reported, not asserted)', () => {
  it('1280x720 hand-like mask', () => {
    const h = 720;
    const w = 1280;
    // a hand-sized blob (~300 x 300 px) like the hand_mask op produces
    const hand = new Uint8Array(h * w);
    const blob = shapeMask(300, 300);
    for (let y = 0; y < 300; y++) hand.set(blob.subarray(y * 300, (y + 1) * 300), (y + 200) * w + 500);
    const masks = [shapeMask(h, w), hand, randomMask(h, w, 0.5, rng(1)), new Uint8Array(h * w)];
    const labels = ['frame-wide shapes', 'hand-sized blob', 'random 50% (worst case)', 'empty'];
    const lines: string[] = [];
    masks.forEach((m, k) => {
      for (let i = 0; i < 3; i++) encodeMask(m, h, w); // warm up
      const reps = k === 2 ? 5 : 20;
      let t0 = performance.now();
      let rle = encodeMask(m, h, w);
      for (let i = 1; i < reps; i++) rle = encodeMask(m, h, w);
      const encMs = (performance.now() - t0) / reps;
      t0 = performance.now();
      for (let i = 0; i < reps; i++) decodeMask(rle);
      const decMs = (performance.now() - t0) / reps;
      const mb = (h * w) / 1e6;
      lines.push(
        `${labels[k]}: encode ${encMs.toFixed(2)} ms (${(mb / (encMs / 1000)).toFixed(0)} MB/s), ` +
          `decode ${decMs.toFixed(2)} ms (${(mb / (decMs / 1000)).toFixed(0)} MB/s), ${rle.counts.length} chars`,
      );
    });
    console.log(`[rle throughput 1280x720]\n  ${lines.join('\n  ')}`);
  });
});
