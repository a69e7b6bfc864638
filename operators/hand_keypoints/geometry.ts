/**
 * Pure 2D geometry for the hand pipeline: rotated rectangles (MediaPipe's NormalizedRect, but in
 * image pixels), MediaPipe's rect transformation, the crop <-> image affine maps, and the two
 * ROI rules (palm detection -> hand ROI, landmarks -> next-frame ROI).
 *
 * Coordinate convention everywhere in this folder: continuous pixel coordinates, x right, y down,
 * the top-left corner of the image is (0, 0) and pixel (i, j) covers [i, i+1) x [j, j+1) (its
 * centre is (i + 0.5, j + 0.5)). Angles are radians; a positive rotation turns the +x axis towards
 * +y (clockwise on screen), as in MediaPipe.
 */

/** A rectangle rotated around its centre, in image pixels. */
export interface RotatedRect {
  cx: number;
  cy: number;
  width: number;
  height: number;
  /** radians, see the file comment */
  rotation: number;
}

/** Affine map [a, b, c, d, e, f]: x' = a*x + b*y + c, y' = d*x + e*y + f. */
export type Affine = readonly [number, number, number, number, number, number];

export function normalizeRadians(angle: number): number {
  return angle - 2 * Math.PI * Math.floor((angle + Math.PI) / (2 * Math.PI));
}

/**
 * MediaPipe's rotation rule: the angle that turns the vector start->end so that it points at
 * `targetAngle` (measured counter-clockwise from +x in a y-up frame; 90 deg = straight up in the image).
 */
export function rotationFromVector(x0: number, y0: number, x1: number, y1: number, targetAngle = Math.PI / 2): number {
  return normalizeRadians(targetAngle - Math.atan2(-(y1 - y0), x1 - x0));
}

export interface RectTransform {
  scaleX: number;
  scaleY: number;
  shiftX: number;
  shiftY: number;
  squareLong: boolean;
}

/** palm_detection_detection_to_roi: scale 2.6, shift_y -0.5, square_long. */
export const PALM_TO_ROI: RectTransform = { scaleX: 2.6, scaleY: 2.6, shiftX: 0, shiftY: -0.5, squareLong: true };
/** hand_landmark_landmarks_to_roi: scale 2.0, shift_y -0.1, square_long. */
export const LANDMARKS_TO_ROI: RectTransform = { scaleX: 2.0, scaleY: 2.0, shiftX: 0, shiftY: -0.1, squareLong: true };

/**
 * MediaPipe's RectTransformationCalculator (in pixels): shift the centre by a fraction of the
 * (unscaled) width/height along the rect's own rotated axes, then make it square on the long side,
 * then scale.
 */
export function transformRect(r: RotatedRect, t: RectTransform): RotatedRect {
  const c = Math.cos(r.rotation);
  const s = Math.sin(r.rotation);
  const dx = r.width * t.shiftX;
  const dy = r.height * t.shiftY;
  const cx = r.cx + dx * c - dy * s;
  const cy = r.cy + dx * s + dy * c;
  let w = r.width;
  let h = r.height;
  if (t.squareLong) {
    const long = Math.max(w, h);
    w = long;
    h = long;
  }
  return { cx, cy, width: w * t.scaleX, height: h * t.scaleY, rotation: r.rotation };
}

/**
 * Map from crop coordinates (continuous pixels of an outW x outH crop) to image coordinates for a
 * rotated rect: the crop's centre goes to the rect's centre, its x axis along the rect's rotated x
 * axis, and the crop spans the rect's width/height (MediaPipe's rotated sub-rect crop).
 */
export function cropToImageAffine(r: RotatedRect, outW: number, outH: number): Affine {
  const c = Math.cos(r.rotation);
  const s = Math.sin(r.rotation);
  const sx = r.width / outW;
  const sy = r.height / outH;
  // image = centre + R * ((p - outW/2) * sx, (q - outH/2) * sy)
  const a = c * sx;
  const b = -s * sy;
  const d = s * sx;
  const e = c * sy;
  const cx0 = r.cx - a * (outW / 2) - b * (outH / 2);
  const cy0 = r.cy - d * (outW / 2) - e * (outH / 2);
  return [a, b, cx0, d, e, cy0];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (det === 0 || !Number.isFinite(det)) throw new Error('affine map is not invertible');
  const ia = e / det;
  const ib = -b / det;
  const id = -d / det;
  const ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

export function applyAffine(m: Affine, x: number, y: number): [number, number] {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

/** Scale factor of a similarity affine (length of the image of a unit x step). */
export function affineScale(m: Affine): number {
  return Math.hypot(m[0], m[3]);
}

/** Axis-aligned bounding box [x0, y0, x1, y1] of a rotated rect. */
export function rectBounds(r: RotatedRect): [number, number, number, number] {
  const c = Math.abs(Math.cos(r.rotation));
  const s = Math.abs(Math.sin(r.rotation));
  const hw = (r.width * c + r.height * s) / 2;
  const hh = (r.width * s + r.height * c) / 2;
  return [r.cx - hw, r.cy - hh, r.cx + hw, r.cy + hh];
}

/** Intersection over union of two axis-aligned boxes [x0, y0, x1, y1]. */
export function iou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ix = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const iy = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return ua > 0 ? inter / ua : 0;
}

/** A palm detection in image pixels (box centre/size plus 7 keypoints, x/y interleaved). */
export interface PalmDetection {
  score: number;
  cx: number;
  cy: number;
  w: number;
  h: number;
  /** 7 palm keypoints, [x0, y0, x1, y1, ...]: 0 wrist centre, 2 middle-finger MCP (MediaPipe order) */
  keypoints: number[];
}

/**
 * Palm detection -> hand ROI (MediaPipe palm_detection_detection_to_roi): the detection box,
 * rotated so that wrist (kp 0) -> middle-finger MCP (kp 2) points up, then scaled 2.6 and shifted
 * half a box towards the fingers, square.
 */
export function palmDetectionToRoi(d: PalmDetection, t: RectTransform = PALM_TO_ROI): RotatedRect {
  const k = d.keypoints;
  const rotation = rotationFromVector(k[0], k[1], k[4], k[5]);
  return transformRect({ cx: d.cx, cy: d.cy, width: d.w, height: d.h, rotation }, t);
}

/** Landmarks MediaPipe uses for the tracking ROI: wrist, thumb CMC/MCP/IP, and MCP + PIP of the four fingers. */
export const ROI_LANDMARKS = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18] as const;

/**
 * Landmarks (21 x/y in image pixels, interleaved) -> next-frame ROI (MediaPipe
 * hand_landmarks_to_rect + landmarks_to_roi): rotation from the wrist to the mean of the middle MCP
 * and the midpoint of the index and ring MCPs, pointing up; the tight box of the ROI landmarks in
 * that rotated frame; then scale 2.0, shift_y -0.1, square.
 */
export function landmarksToRoi(kp: ArrayLike<number>, t: RectTransform = LANDMARKS_TO_ROI): RotatedRect {
  const x0 = kp[0];
  const y0 = kp[1];
  const x1 = ((kp[2 * 5] + kp[2 * 13]) / 2 + kp[2 * 9]) / 2;
  const y1 = ((kp[2 * 5 + 1] + kp[2 * 13 + 1]) / 2 + kp[2 * 9 + 1]) / 2;
  const rotation = rotationFromVector(x0, y0, x1, y1);
  // Axis-aligned centre first (as MediaPipe does), then the box in the rotated frame around it.
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const i of ROI_LANDMARKS) {
    const x = kp[2 * i];
    const y = kp[2 * i + 1];
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const acx = (minX + maxX) / 2;
  const acy = (minY + maxY) / 2;
  const c = Math.cos(-rotation);
  const s = Math.sin(-rotation);
  let pMinX = Infinity;
  let pMinY = Infinity;
  let pMaxX = -Infinity;
  let pMaxY = -Infinity;
  for (const i of ROI_LANDMARKS) {
    const dx = kp[2 * i] - acx;
    const dy = kp[2 * i + 1] - acy;
    const px = dx * c - dy * s;
    const py = dx * s + dy * c;
    if (px < pMinX) pMinX = px;
    if (px > pMaxX) pMaxX = px;
    if (py < pMinY) pMinY = py;
    if (py > pMaxY) pMaxY = py;
  }
  const pcx = (pMinX + pMaxX) / 2;
  const pcy = (pMinY + pMaxY) / 2;
  const cr = Math.cos(rotation);
  const sr = Math.sin(rotation);
  const rect: RotatedRect = {
    cx: acx + pcx * cr - pcy * sr,
    cy: acy + pcx * sr + pcy * cr,
    width: pMaxX - pMinX,
    height: pMaxY - pMinY,
    rotation,
  };
  return transformRect(rect, t);
}

/** Axis-aligned bounding box [x0, y0, x1, y1] of interleaved x/y points. */
export function pointsBounds(kp: ArrayLike<number>): [number, number, number, number] {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i + 1 < kp.length; i += 2) {
    const x = kp[i];
    const y = kp[i + 1];
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return [x0, y0, x1, y1];
}
