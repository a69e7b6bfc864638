import { describe, expect, it } from 'vitest';
import {
  canvasArea,
  convexHull,
  createCanvas,
  fillCapsule,
  fillPolygon,
  handScale,
  HAND_CONNECTIONS,
  rasterizeHand,
} from '../../operators/hand_mask/raster.js';
import { rng } from '../helpers/random.js';


/** even-odd crossing test of one point, for brute-force comparison */
function insidePolygon(poly: number[], x: number, y: number): boolean {
  let inside = false;
  const n = poly.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = poly[2 * i]!;
    const yi = poly[2 * i + 1]!;
    const xj = poly[2 * j]!;
    const yj = poly[2 * j + 1]!;
    if (yi <= y !== yj <= y && x < xj + ((y - yj) * (xi - xj)) / (yi - yj)) inside = !inside;
  }
  return inside;
}

function distToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const l2 = dx * dx + dy * dy;
  const t = l2 ? Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / l2)) : 0;
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

describe('polygon fill', () => {
  it('an axis-aligned N x N square sets exactly N*N pixels, wherever its corners are', () => {
    for (const off of [0, 0.3, 0.5, 0.99]) {
      const c = createCanvas(0, 0, 40, 40);
      fillPolygon(c, [5 + off, 7 + off, 25 + off, 7 + off, 25 + off, 27 + off, 5 + off, 27 + off]);
      expect(canvasArea(c)).toBe(400);
    }
  });

  it('integer square covers exactly its pixels', () => {
    const c = createCanvas(0, 0, 10, 10);
    fillPolygon(c, [2, 3, 6, 3, 6, 5, 2, 5]);
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 10; x++) expect(c.data[y * 10 + x]).toBe(x >= 2 && x < 6 && y >= 3 && y < 5 ? 1 : 0);
    }
  });

  it('rotated square and triangle match their analytic areas', () => {
    const c = createCanvas(0, 0, 200, 200);
    // square of side 100 rotated 30 degrees about (100, 100)
    const poly: number[] = [];
    for (let k = 0; k < 4; k++) {
      const a = Math.PI / 6 + (k * Math.PI) / 2;
      poly.push(100 + 50 * Math.SQRT2 * Math.cos(a), 100 + 50 * Math.SQRT2 * Math.sin(a));
    }
    fillPolygon(c, poly);
    expect(Math.abs(canvasArea(c) - 10000) / 10000).toBeLessThan(0.01);
    const t = createCanvas(0, 0, 200, 200);
    fillPolygon(t, [10.2, 10.7, 180.4, 30.1, 60.3, 170.9]); // area = |cross|/2
    const area = Math.abs((180.4 - 10.2) * (170.9 - 10.7) - (30.1 - 10.7) * (60.3 - 10.2)) / 2;
    expect(Math.abs(canvasArea(t) - area) / area).toBeLessThan(0.01);
  });

  it('equals a brute-force pixel-centre test on random polygons, on an offset canvas', () => {
    const rand = rng(3);
    for (let trial = 0; trial < 30; trial++) {
      const n = 3 + Math.floor(rand() * 8);
      const poly: number[] = [];
      for (let i = 0; i < n; i++) poly.push(rand() * 70 - 5, rand() * 50 - 5);
      const c = createCanvas(3, 2, 55, 40); // the polygon sticks out of the crop on all sides
      fillPolygon(c, poly);
      const bad: string[] = [];
      for (let y = 0; y < c.height; y++) {
        for (let x = 0; x < c.width; x++) {
          const want = insidePolygon(poly, c.x0 + x + 0.5, c.y0 + y + 0.5) ? 1 : 0;
          if (c.data[y * c.width + x] !== want) bad.push(`trial ${trial} pixel ${x},${y}`);
        }
      }
      expect(bad).toEqual([]);
    }
  });

  it('degenerate polygons fill nothing', () => {
    const c = createCanvas(0, 0, 10, 10);
    fillPolygon(c, [1, 1, 5, 5]);
    fillPolygon(c, [1, 1, 5, 5, 9, 9]);
    fillPolygon(c, [1, 1, NaN, 5, 9, 2]);
    expect(canvasArea(c)).toBe(0);
  });
});

describe('convex hull', () => {
  it('drops interior and collinear points', () => {
    const hull = convexHull([0, 0, 5, 5, 10, 0, 5, 0, 10, 10, 0, 10, 3, 7, 0, 5]);
    const pts = new Set<string>();
    for (let i = 0; i < hull.length; i += 2) pts.add(`${hull[i]},${hull[i + 1]}`);
    expect(pts).toEqual(new Set(['0,0', '10,0', '10,10', '0,10']));
    expect(hull.length).toBe(8);
  });

  it('hull of random points contains every point', () => {
    const rand = rng(11);
    const pts: number[] = [];
    for (let i = 0; i < 40; i++) pts.push(rand() * 100, rand() * 100);
    const hull = convexHull(pts);
    const n = hull.length / 2;
    for (let k = 0; k < pts.length; k += 2) {
      for (let i = 0; i < n; i++) {
        const j = (i + 1) % n;
        const cross =
          (hull[2 * j]! - hull[2 * i]!) * (pts[k + 1]! - hull[2 * i + 1]!) -
          (hull[2 * j + 1]! - hull[2 * i + 1]!) * (pts[k]! - hull[2 * i]!);
        expect(cross).toBeGreaterThanOrEqual(-1e-9); // counter-clockwise: every point on the left
      }
    }
  });

  it('fewer than 3 points', () => {
    expect(convexHull([])).toEqual([]);
    expect(convexHull([1, 2])).toEqual([1, 2]);
    expect(convexHull([1, 2, 1, 2])).toEqual([1, 2]);
  });
});

describe('capsule fill', () => {
  it('a zero-length capsule is a disc of area ~ pi r^2', () => {
    for (const r of [8, 20.5, 40]) {
      const c = createCanvas(0, 0, 100, 100);
      fillCapsule(c, 50.2, 49.7, 50.2, 49.7, r);
      const want = Math.PI * r * r;
      expect(Math.abs(canvasArea(c) - want) / want).toBeLessThan(0.02);
    }
  });

  it('a diagonal capsule has area ~ 2 r L + pi r^2', () => {
    const c = createCanvas(0, 0, 200, 200);
    const [ax, ay, bx, by, r] = [30.3, 40.1, 150.7, 130.9, 12];
    fillCapsule(c, ax, ay, bx, by, r);
    const L = Math.hypot(bx - ax, by - ay);
    const want = 2 * r * L + Math.PI * r * r;
    expect(Math.abs(canvasArea(c) - want) / want).toBeLessThan(0.01);
  });

  it('equals a brute-force distance test, clipped to an offset canvas', () => {
    const rand = rng(5);
    const fixed: Array<readonly [number, number, number, number]> = [
      [10.2, 20.7, 40.2, 20.7], // horizontal
      [15.3, 5.1, 15.3, 35.9], // vertical
      [22.4, 18.8, 22.4, 18.8], // a point
    ];
    for (let trial = 0; trial < 33; trial++) {
      const seg = fixed[trial - 30] ?? ([rand() * 60 - 10, rand() * 60 - 10, rand() * 60 - 10, rand() * 60 - 10] as const);
      const r = trial >= 30 ? 5.3 : 0.5 + rand() * 12;
      const c = createCanvas(4, 6, 37, 33);
      fillCapsule(c, seg[0], seg[1], seg[2], seg[3], r);
      const bad: string[] = [];
      for (let y = 0; y < c.height; y++) {
        for (let x = 0; x < c.width; x++) {
          const d = distToSegment(c.x0 + x + 0.5, c.y0 + y + 0.5, ...seg);
          if (Math.abs(d - r) < 1e-9) continue; // exactly on the boundary: either is fine
          if (c.data[y * c.width + x] !== (d <= r ? 1 : 0)) bad.push(`trial ${trial} pixel ${x},${y}`);
        }
      }
      expect(bad).toEqual([]);
    }
  });
});

describe('rasterizeHand', () => {
  // an open right hand, palm facing the camera, ~200 px long
  const kp: number[] = [];
  const wrist = [300, 400];
  kp.push(wrist[0]!, wrist[1]!);
  const bases = [
    [250, 360], // thumb CMC
    [270, 300], // index MCP
    [300, 295], // middle MCP
    [330, 300], // ring MCP
    [355, 310], // little MCP
  ];
  const dirs = [
    [-1, -0.6],
    [-0.15, -1],
    [0, -1],
    [0.15, -1],
    [0.35, -1],
  ];
  const lens = [25, 30, 32, 30, 24];
  for (let f = 0; f < 5; f++) {
    for (let j = 0; j < 4; j++) {
      const n = Math.hypot(dirs[f]![0]!, dirs[f]![1]!);
      kp.push(bases[f]![0]! + (dirs[f]![0]! / n) * lens[f]! * j, bases[f]![1]! + (dirs[f]![1]! / n) * lens[f]! * j);
    }
  }

  it('covers every keypoint and every bone, and is bigger than the hull', () => {
    const { canvas, radius } = rasterizeHand(kp, 640, 480, 0.05);
    expect(radius).toBeCloseTo(0.05 * handScale(kp), 9);
    const at = (x: number, y: number) => canvas.data[(Math.floor(y) - canvas.y0) * canvas.width + (Math.floor(x) - canvas.x0)];
    for (let i = 0; i < 21; i++) expect(at(kp[2 * i]!, kp[2 * i + 1]!), `keypoint ${i}`).toBe(1);
    for (const [a, b] of HAND_CONNECTIONS) {
      expect(at((kp[2 * a]! + kp[2 * b]!) / 2, (kp[2 * a + 1]! + kp[2 * b + 1]!) / 2)).toBe(1);
    }
    const hullOnly = createCanvas(0, 0, 640, 480);
    fillPolygon(hullOnly, convexHull(kp));
    expect(canvasArea(canvas)).toBeGreaterThan(canvasArea(hullOnly));
    // a thicker skeleton gives a bigger mask
    expect(canvasArea(rasterizeHand(kp, 640, 480, 0.1).canvas)).toBeGreaterThan(canvasArea(canvas));
  });

  it("hull 'palm' keeps spread fingers apart: smaller mask, still covering every keypoint", () => {
    const full = rasterizeHand(kp, 640, 480, 0.05, 'hand').canvas;
    const palm = rasterizeHand(kp, 640, 480, 0.05, 'palm').canvas;
    expect(canvasArea(palm)).toBeLessThan(canvasArea(full) * 0.9);
    const at = (x: number, y: number) => palm.data[(Math.floor(y) - palm.y0) * palm.width + (Math.floor(x) - palm.x0)];
    for (let i = 0; i < 21; i++) expect(at(kp[2 * i]!, kp[2 * i + 1]!), `keypoint ${i}`).toBe(1);
    // between the index and middle fingertips there is background again
    expect(at((kp[16]! + kp[24]!) / 2, (kp[17]! + kp[25]!) / 2)).toBe(0);
    // every pixel of the palm-hull mask is also in the full-hull mask (same crop)
    expect([palm.x0, palm.y0, palm.width, palm.height]).toEqual([full.x0, full.y0, full.width, full.height]);
    expect(palm.data.every((v, i) => !v || full.data[i] === 1)).toBe(true);
  });

  it("layout 'column' gives the same pixels, column-major", () => {
    for (const hull of ['hand', 'palm'] as const) {
      for (const pts of [kp, kp.map((v, i) => (i % 2 ? v + 150.37 : v - 290.61))]) {
        const row = rasterizeHand(pts, 640, 480, 0.05, hull).canvas;
        const col = rasterizeHand(pts, 640, 480, 0.05, hull, 'column');
        expect(col.layout).toBe('column');
        const c = col.canvas;
        expect([c.x0, c.y0, c.width, c.height]).toEqual([row.x0, row.y0, row.width, row.height]);
        let diff = 0;
        for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) if (c.data[x * c.height + y] !== row.data[y * row.width + x]) diff++;
        expect(diff).toBe(0);
      }
    }
  });

  it('clips to the frame; a hand outside the frame gives an empty crop', () => {
    const shifted = kp.map((v, i) => (i % 2 === 0 ? v - 300 : v)); // wrist at x = 0
    const { canvas } = rasterizeHand(shifted, 640, 480, 0.05);
    expect(canvas.x0).toBe(0);
    expect(canvasArea(canvas)).toBeGreaterThan(0);
    const gone = kp.map((v, i) => (i % 2 === 0 ? v + 2000 : v));
    const out = rasterizeHand(gone, 640, 480, 0.05).canvas;
    expect(out.width * out.height).toBe(0);
  });

  it('a closed fist keeps finger thickness (hand scale uses the palm length)', () => {
    // all fingertips folded onto the palm: small box, same palm
    const fist = kp.slice();
    for (let f = 0; f < 5; f++) {
      for (let j = 1; j < 4; j++) {
        const i = 1 + f * 4 + j;
        fist[2 * i] = (kp[2 * (1 + f * 4)]! + kp[0]!) / 2 + j;
        fist[2 * i + 1] = (kp[2 * (1 + f * 4) + 1]! + kp[1]!) / 2 + j;
      }
    }
    const palm = Math.hypot(kp[18]! - kp[0]!, kp[19]! - kp[1]!);
    expect(handScale(fist)).toBeGreaterThanOrEqual(2 * palm - 1e-9);
  });
});
