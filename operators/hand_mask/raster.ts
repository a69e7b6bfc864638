/**
 * Small binary rasteriser for hand masks: convex hull, polygon fill and capsules (thick line
 * segments with round caps) into a crop of the frame.
 *
 * Coordinates are continuous image coordinates in pixels: pixel (px, py) covers
 * [px, px+1) x [py, py+1) and is set when its centre (px + 0.5, py + 0.5) lies inside the shape
 * (polygons: half-open on the right/bottom edge, so two polygons sharing an edge never both set a
 * pixel and an axis-aligned N x N square sets exactly N*N pixels).
 */

/** A row-major binary crop of the frame: data[(py - y0) * width + (px - x0)] is frame pixel (px, py). */
export interface Canvas {
  data: Uint8Array;
  x0: number;
  y0: number;
  width: number;
  height: number;
}

export function createCanvas(x0: number, y0: number, width: number, height: number): Canvas {
  const w = Math.max(0, Math.floor(width));
  const h = Math.max(0, Math.floor(height));
  return { data: new Uint8Array(w * h), x0: Math.floor(x0), y0: Math.floor(y0), width: w, height: h };
}

/** Number of set pixels. */
export function canvasArea(c: Canvas): number {
  let a = 0;
  const d = c.data;
  for (let i = 0; i < d.length; i++) if (d[i]) a++;
  return a;
}

/**
 * Convex hull (Andrew's monotone chain) of points given as flat [x0, y0, x1, y1, ...].
 * Returns the hull vertices, flat, counter-clockwise in a y-up frame, without collinear points.
 * Fewer than 3 distinct non-collinear points give a degenerate hull (0-2 vertices).
 */
export function convexHull(points: ArrayLike<number>): number[] {
  const n = Math.floor(points.length / 2);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(points[2 * i]) && Number.isFinite(points[2 * i + 1])) idx.push(i);
  }
  idx.sort((a, b) => points[2 * a]! - points[2 * b]! || points[2 * a + 1]! - points[2 * b + 1]!);
  const px = (i: number) => points[2 * i]!;
  const py = (i: number) => points[2 * i + 1]!;
  const cross = (o: number, a: number, b: number) =>
    (px(a) - px(o)) * (py(b) - py(o)) - (py(a) - py(o)) * (px(b) - px(o));
  if (idx.length < 3) {
    const out: number[] = [];
    for (const i of idx) {
      if (out.length && out[out.length - 2] === px(i) && out[out.length - 1] === py(i)) continue;
      out.push(px(i), py(i));
    }
    return out;
  }
  const lower: number[] = [];
  for (const i of idx) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, i) <= 0) lower.pop();
    lower.push(i);
  }
  const upper: number[] = [];
  for (let k = idx.length - 1; k >= 0; k--) {
    const i = idx[k]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, i) <= 0) upper.pop();
    upper.push(i);
  }
  lower.pop();
  upper.pop();
  const out: number[] = [];
  for (const i of lower.concat(upper)) out.push(px(i), py(i));
  return out;
}

/**
 * Fill a simple or self-intersecting polygon (flat [x0, y0, x1, y1, ...], implicitly closed) with
 * the even-odd rule by scanlines through pixel centres. Sets pixels to 1; never clears.
 */
export function fillPolygon(c: Canvas, poly: ArrayLike<number>): void {
  const n = Math.floor(poly.length / 2);
  if (n < 3 || c.width === 0 || c.height === 0) return;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (let i = 0; i < n; i++) {
    const y = poly[2 * i + 1]!;
    if (!Number.isFinite(y) || !Number.isFinite(poly[2 * i]!)) return;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
  }
  // rows whose centre lies in [ymin, ymax)
  const r0 = Math.max(c.y0, Math.ceil(ymin - 0.5));
  const r1 = Math.min(c.y0 + c.height, Math.ceil(ymax - 0.5)); // exclusive
  const xs: number[] = [];
  for (let py = r0; py < r1; py++) {
    const yc = py + 0.5;
    xs.length = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const ay = poly[2 * j + 1]!;
      const by = poly[2 * i + 1]!;
      // half-open crossing test: each edge counts for yc in [min(ay,by), max(ay,by))
      if (ay <= yc !== by <= yc) {
        const ax = poly[2 * j]!;
        const bx = poly[2 * i]!;
        xs.push(ax + ((yc - ay) * (bx - ax)) / (by - ay));
      }
    }
    if (xs.length < 2) continue;
    xs.sort((a, b) => a - b);
    const row = (py - c.y0) * c.width;
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // pixels whose centre lies in [xa, xb)
      const a = Math.max(c.x0, Math.ceil(xs[k]! - 0.5));
      const b = Math.min(c.x0 + c.width, Math.ceil(xs[k + 1]! - 0.5));
      if (b > a) c.data.fill(1, row + a - c.x0, row + b - c.x0);
    }
  }
}

/**
 * Fill a capsule: all pixels whose centre is within distance r of the segment (ax, ay)-(bx, by)
 * (a disc when the two ends coincide). Area is about 2 r L + pi r^2. Sets pixels to 1.
 *
 * Per row the capsule is one interval (it is convex): the union of the spans of the two end discs
 * and of the swept rectangle, each solved in closed form, so the cost is one fill per row.
 */
export function fillCapsule(c: Canvas, ax: number, ay: number, bx: number, by: number, r: number): void {
  if (!(r > 0) || ![ax, ay, bx, by].every(Number.isFinite) || c.width === 0 || c.height === 0) return;
  const r2 = r * r;
  const L = Math.hypot(bx - ax, by - ay);
  const ux = L > 0 ? (bx - ax) / L : 0;
  const uy = L > 0 ? (by - ay) / L : 0;
  const ylo = Math.max(c.y0, Math.floor(Math.min(ay, by) - r - 0.5));
  const yhi = Math.min(c.y0 + c.height, Math.ceil(Math.max(ay, by) + r + 0.5)); // exclusive
  const xmin = c.x0;
  const xmax = c.x0 + c.width; // exclusive
  const d = c.data;
  for (let py = ylo; py < yhi; py++) {
    const yc = py + 0.5;
    let lo = Infinity;
    let hi = -Infinity;
    let dy = yc - ay;
    if (dy * dy <= r2) {
      const h = Math.sqrt(r2 - dy * dy);
      lo = ax - h;
      hi = ax + h;
    }
    dy = yc - by;
    if (dy * dy <= r2) {
      const h = Math.sqrt(r2 - dy * dy);
      lo = Math.min(lo, bx - h);
      hi = Math.max(hi, bx + h);
    }
    if (L > 0) {
      // swept rectangle, for P = (x, yc): along the axis 0 <= (P - A).u <= L, i.e. 0 <= ux x + m1 <= L;
      // across it -r <= (P - A).n <= r with n = (-uy, ux), i.e. -r <= -uy x + m2 <= r
      const ry = yc - ay;
      let a = -Infinity;
      let b = Infinity;
      const m1 = ry * uy - ax * ux;
      if (Math.abs(ux) > 1e-12) {
        const s0 = -m1 / ux;
        const s1 = (L - m1) / ux;
        a = Math.min(s0, s1);
        b = Math.max(s0, s1);
      } else if (m1 < 0 || m1 > L) a = Infinity;
      const m2 = ry * ux + ax * uy;
      if (Math.abs(uy) > 1e-12) {
        const s0 = (m2 + r) / uy; // -uy x + m2 = -r
        const s1 = (m2 - r) / uy; // -uy x + m2 = r
        a = Math.max(a, Math.min(s0, s1));
        b = Math.min(b, Math.max(s0, s1));
      } else if (m2 < -r || m2 > r) a = Infinity;
      if (a <= b) {
        lo = Math.min(lo, a);
        hi = Math.max(hi, b);
      }
    }
    if (lo > hi) continue;
    // pixels whose centre lies in [lo, hi]
    const p0 = Math.max(xmin, Math.ceil(lo - 0.5));
    const p1 = Math.min(xmax, Math.floor(hi - 0.5) + 1);
    if (p1 > p0) {
      const row = (py - c.y0) * c.width - c.x0;
      d.fill(1, row + p0, row + p1);
    }
  }
}

/** MediaPipe HAND_CONNECTIONS: palm, then thumb, index, middle, ring, little finger (landmark indices). */
export const HAND_CONNECTIONS: ReadonlyArray<readonly [number, number]> = [
  [0, 1], [0, 5], [5, 9], [9, 13], [13, 17], [0, 17],
  [1, 2], [2, 3], [3, 4],
  [5, 6], [6, 7], [7, 8],
  [9, 10], [10, 11], [11, 12],
  [13, 14], [14, 15], [15, 16],
  [17, 18], [18, 19], [19, 20],
];

export interface HandRaster {
  /**
   * The crop, in frame coordinates (x0, y0, width, height). layout 'row': data is row-major as
   * everywhere else in this file; layout 'column': data is column-major,
   * data[(px - x0) * height + (py - y0)] (the layout COCO RLE is defined on).
   */
  canvas: Canvas;
  layout: 'row' | 'column';
  /** capsule radius used, px */
  radius: number;
}

/**
 * Hand size used to scale the bone thickness: the diagonal of the keypoints' bounding box, but at
 * least twice the wrist -> middle-finger-MCP length, so a closed fist (small box) keeps fingers
 * as thick as an open hand of the same size.
 */
export function handScale(kp: ArrayLike<number>): number {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i + 1 < kp.length; i += 2) {
    const x = kp[i]!;
    const y = kp[i + 1]!;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  const diag = Math.hypot(x1 - x0, y1 - y0);
  const palm = kp.length >= 20 ? Math.hypot(kp[18]! - kp[0]!, kp[19]! - kp[1]!) : 0;
  return Math.max(diag, 2 * palm);
}

/** Landmarks that outline the palm: wrist, thumb CMC and MCP, and the four finger MCPs. */
export const PALM_LANDMARKS: readonly number[] = [0, 1, 2, 5, 9, 13, 17];

/**
 * Which points the filled hull is made of: 'hand' = all 21 keypoints (fills the gaps between
 * spread fingers: a generous silhouette), 'palm' = the palm landmarks only (fingers are then
 * only their capsules, so spread fingers stay separate).
 */
export type HullMode = 'hand' | 'palm';

/**
 * Rasterise one hand (21 keypoints, flat x,y in image px) into a crop of a frameW x frameH frame:
 * the convex hull of the keypoints (or of the palm landmarks) plus every bone as a capsule of
 * radius dilateFrac * handScale. The crop is the keypoints' box grown by the radius and clipped to
 * the frame (possibly empty). layout 'column' draws the transposed hand, which yields the crop in
 * column-major order without a transposing copy (same pixels, up to ties exactly on an edge).
 */
export function rasterizeHand(
  kp: ArrayLike<number>,
  frameW: number,
  frameH: number,
  dilateFrac: number,
  hull: HullMode = 'hand',
  layout: 'row' | 'column' = 'row',
): HandRaster {
  if (layout === 'column') {
    const t: number[] = [];
    for (let i = 0; i + 1 < kp.length; i += 2) t.push(kp[i + 1]!, kp[i]!);
    const r = rasterizeRowMajor(t, frameH, frameW, dilateFrac, hull);
    const c = r.canvas;
    return { canvas: { data: c.data, x0: c.y0, y0: c.x0, width: c.height, height: c.width }, layout, radius: r.radius };
  }
  return rasterizeRowMajor(kp, frameW, frameH, dilateFrac, hull);
}

function rasterizeRowMajor(kp: ArrayLike<number>, frameW: number, frameH: number, dilateFrac: number, hull: HullMode): HandRaster {
  const radius = Math.max(1, dilateFrac * handScale(kp));
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i + 1 < kp.length; i += 2) {
    x0 = Math.min(x0, kp[i]!);
    x1 = Math.max(x1, kp[i]!);
    y0 = Math.min(y0, kp[i + 1]!);
    y1 = Math.max(y1, kp[i + 1]!);
  }
  const cx0 = Math.max(0, Math.floor(x0 - radius - 1));
  const cy0 = Math.max(0, Math.floor(y0 - radius - 1));
  const cx1 = Math.min(frameW, Math.ceil(x1 + radius + 1));
  const cy1 = Math.min(frameH, Math.ceil(y1 + radius + 1));
  const canvas = createCanvas(cx0, cy0, Math.max(0, cx1 - cx0), Math.max(0, cy1 - cy0));
  if (canvas.width === 0 || canvas.height === 0) return { canvas, layout: 'row', radius };
  const hullPts = hull === 'palm' ? PALM_LANDMARKS.flatMap((i) => [kp[2 * i]!, kp[2 * i + 1]!]) : kp;
  fillPolygon(canvas, convexHull(hullPts));
  for (const [a, b] of HAND_CONNECTIONS) {
    fillCapsule(canvas, kp[2 * a]!, kp[2 * a + 1]!, kp[2 * b]!, kp[2 * b + 1]!, radius);
  }
  return { canvas, layout: 'row', radius };
}
