/**
 * Pure pre/post-processing for HaMeR / WiLoR style 3D hand pose regressors.
 *
 * Conventions (see README.md for sources):
 *   - image pixels: x right, y down, integer coordinates at pixel centres (OpenCV);
 *   - crop: CROP_SIZE x CROP_SIZE (256) RGB, the box centre maps to crop pixel (128, 128),
 *     scale CROP_SIZE / size crop px per image px; left hands are mirrored (u = 128 - (x - cx) * k);
 *   - camera frame: OpenCV (x right, y down, z forward), metres, principal point (W/2, H/2);
 *   - network outputs are for a right hand; left-hand outputs are mirrored back (x -> -x).
 */

export const CROP_SIZE = 256;
/** Virtual focal length of the crop camera (HaMeR/WiLoR cfg.EXTRA.FOCAL_LENGTH), in crop pixels. */
export const CROP_FOCAL = 5000;
/** Target aspect (w, h) the box is expanded to before cropping (cfg.MODEL.BBOX_SHAPE for ViT backbones). */
export const BBOX_SHAPE: readonly [number, number] = [192, 256];
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];
export const NUM_JOINTS = 21;
export const NUM_MANO_VERTICES = 778;

/**
 * MANO joint order (16 skeleton joints + 5 fingertip vertices) -> OpenPose hand order, as applied
 * by HaMeR's and WiLoR's MANO wrapper: openpose[i] = mano[MANO_TO_OPENPOSE[i]]. Exported models
 * must output joints already reordered (HaMeR's `pred_keypoints_3d` is).
 */
export const MANO_TO_OPENPOSE: readonly number[] = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20];

/** OpenPose / MediaPipe hand keypoint names, index = position in the 21-joint arrays. */
export const OPENPOSE_HAND_JOINTS: readonly string[] = [
  'wrist',
  'thumb_cmc', 'thumb_mcp', 'thumb_ip', 'thumb_tip',
  'index_mcp', 'index_pip', 'index_dip', 'index_tip',
  'middle_mcp', 'middle_pip', 'middle_dip', 'middle_tip',
  'ring_mcp', 'ring_pip', 'ring_dip', 'ring_tip',
  'pinky_mcp', 'pinky_pip', 'pinky_dip', 'pinky_tip',
];

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface RgbImage {
  width: number;
  height: number;
  /** interleaved RGB24 (3 channels) */
  data: Uint8Array;
  channels?: number;
}

// ---------------------------------------------------------------------------------------------
// Boxes and the crop transform

/**
 * Tight box around the finite keypoints (HaMeR demo: box from the confident ViTPose hand
 * keypoints, used only when more than 3 are valid). Returns null with fewer than `minValid` points
 * or a degenerate (zero-area) extent.
 */
export function boxFromKeypoints(kp2d: ArrayLike<number>, minValid = 4): Box | null {
  let n = 0;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i + 1 < kp2d.length; i += 2) {
    const x = kp2d[i];
    const y = kp2d[i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    n++;
    if (x < x0) x0 = x;
    if (y < y0) y0 = y;
    if (x > x1) x1 = x;
    if (y > y1) y1 = y;
  }
  if (n < minValid || !(x1 > x0) || !(y1 > y0)) return null;
  return { x0, y0, x1, y1 };
}

export function boxFromArray(b: ArrayLike<number> | null | undefined): Box | null {
  if (!b || b.length < 4) return null;
  const [x0, y0, x1, y1] = [b[0], b[1], b[2], b[3]];
  if (![x0, y0, x1, y1].every(Number.isFinite) || !(x1 > x0) || !(y1 > y0)) return null;
  return { x0, y0, x1, y1 };
}

export type CropMode = 'hamer' | 'square';

export interface CropSquare {
  /** box centre, image px */
  cx: number;
  cy: number;
  /** side of the square image region that becomes the crop (HaMeR's `box_size`), image px */
  size: number;
}

/**
 * The square image region fed to the network (HaMeR/WiLoR ViTDetDataset):
 *   centre = box centre; w, h = rescaleFactor * box size;
 *   'hamer':  expand (w, h) to the BBOX_SHAPE aspect 192:256 (never shrinking), size = max  => max(h, 4/3 w)
 *   'square': size = max(w, h)   (WiLoR-mini, no aspect expansion)
 */
export function cropSquare(box: Box, rescaleFactor = 2.0, mode: CropMode = 'hamer'): CropSquare {
  const cx = (box.x0 + box.x1) / 2;
  const cy = (box.y0 + box.y1) / 2;
  const w = rescaleFactor * (box.x1 - box.x0);
  const h = rescaleFactor * (box.y1 - box.y0);
  let size: number;
  if (mode === 'square') {
    size = Math.max(w, h);
  } else {
    const [wt, ht] = BBOX_SHAPE;
    let wNew = w;
    let hNew = h;
    if (h / w < ht / wt) hNew = Math.max((w * ht) / wt, h);
    else wNew = Math.max((h * wt) / ht, w);
    size = Math.max(wNew, hNew);
  }
  return { cx, cy, size };
}

/** Affine map between image pixels and crop pixels (including the left-hand mirror). */
export interface CropTransform extends CropSquare {
  flip: boolean;
  cropSize: number;
}

export function cropTransform(sq: CropSquare, flip: boolean, cropSize = CROP_SIZE): CropTransform {
  return { ...sq, flip, cropSize };
}

/**
 * Image px -> crop px. Same as OpenCV warpAffine with HaMeR's gen_trans_from_patch_cv: the box
 * centre lands on (cropSize/2, cropSize/2); for flips the image is mirrored first (x' = W-1-x,
 * cx' = W-1-cx), which gives u = cropSize/2 - (x - cx) * k.
 */
export function imageToCrop(t: CropTransform, x: number, y: number): [number, number] {
  const k = t.cropSize / t.size;
  const half = t.cropSize / 2;
  const dx = (x - t.cx) * k;
  return [t.flip ? half - dx : half + dx, half + (y - t.cy) * k];
}

/** Crop px -> image px (inverse of imageToCrop). */
export function cropToImage(t: CropTransform, u: number, v: number): [number, number] {
  const k = t.size / t.cropSize;
  const half = t.cropSize / 2;
  const du = (u - half) * k;
  return [t.flip ? t.cx - du : t.cx + du, t.cy + (v - half) * k];
}

/**
 * Sample the crop with bilinear interpolation (pixels outside the image read as black, like
 * cv2.BORDER_CONSTANT) and write it as a normalised NCHW float32 tensor:
 *   value = (rgb / 255 - mean) / std, channel order R, G, B.
 * Writes 3 * cropSize^2 floats at `offset` of `out` (allocated when left out) and returns `out`.
 */
export function preprocessCrop(
  img: RgbImage,
  t: CropTransform,
  out?: Float32Array,
  offset = 0,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): Float32Array {
  const S = t.cropSize;
  const plane = S * S;
  const dst = out ?? new Float32Array(3 * plane);
  if (dst.length < offset + 3 * plane) throw new RangeError('preprocessCrop: output buffer too small');
  const { width: W, height: H, data } = img;
  const C = img.channels ?? 3;
  if (C < 3) throw new Error(`preprocessCrop needs an RGB image, got ${C} channel(s)`);
  if (data.length < W * H * C) throw new RangeError('preprocessCrop: image buffer smaller than width*height*channels');
  const scale = [1 / (255 * std[0]), 1 / (255 * std[1]), 1 / (255 * std[2])];
  const bias = [-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]];
  const k = t.size / S;
  const half = S / 2;
  const sx = t.flip ? -k : k;
  for (let v = 0; v < S; v++) {
    const y = t.cy + (v - half) * k;
    const yf = Math.floor(y);
    const wy = y - yf;
    for (let u = 0; u < S; u++) {
      const x = t.cx + (u - half) * sx;
      const xf = Math.floor(x);
      const wx = x - xf;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let dy = 0; dy < 2; dy++) {
        const yy = yf + dy;
        const wyy = dy === 0 ? 1 - wy : wy;
        if (yy < 0 || yy >= H || wyy === 0) continue;
        for (let dx = 0; dx < 2; dx++) {
          const xx = xf + dx;
          const w = wyy * (dx === 0 ? 1 - wx : wx);
          if (xx < 0 || xx >= W || w === 0) continue;
          const p = (yy * W + xx) * C;
          r += w * data[p];
          g += w * data[p + 1];
          b += w * data[p + 2];
        }
      }
      const o = offset + v * S + u;
      dst[o] = r * scale[0] + bias[0];
      dst[o + plane] = g * scale[1] + bias[1];
      dst[o + 2 * plane] = b * scale[2] + bias[2];
    }
  }
  return dst;
}

/** Mirror an interleaved image horizontally (x -> W-1-x). Used by tests and for debugging. */
export function mirrorImage(img: RgbImage): RgbImage {
  const { width: W, height: H, data } = img;
  const C = img.channels ?? 3;
  const out = new Uint8Array(W * H * C);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = (y * W + x) * C;
      const d = (y * W + (W - 1 - x)) * C;
      for (let c = 0; c < C; c++) out[d + c] = data[s + c];
    }
  }
  return { width: W, height: H, channels: C, data: out };
}

// ---------------------------------------------------------------------------------------------
// Rotations (row-major 3x3)

/** Axis-angle (Rodrigues vector) -> row-major rotation matrix. */
export function axisAngleToRotmat(aa: ArrayLike<number>, off = 0): Float64Array {
  const x = aa[off];
  const y = aa[off + 1];
  const z = aa[off + 2];
  const th = Math.hypot(x, y, z);
  const R = new Float64Array(9);
  if (th < 1e-12) {
    R[0] = R[4] = R[8] = 1;
    return R;
  }
  const kx = x / th;
  const ky = y / th;
  const kz = z / th;
  const c = Math.cos(th);
  const s = Math.sin(th);
  const C = 1 - c;
  R[0] = c + kx * kx * C;
  R[1] = kx * ky * C - kz * s;
  R[2] = kx * kz * C + ky * s;
  R[3] = ky * kx * C + kz * s;
  R[4] = c + ky * ky * C;
  R[5] = ky * kz * C - kx * s;
  R[6] = kz * kx * C - ky * s;
  R[7] = kz * ky * C + kx * s;
  R[8] = c + kz * kz * C;
  return R;
}

/** Row-major rotation matrix -> axis-angle, via a quaternion (stable near 0 and near pi). */
export function rotmatToAxisAngle(R: ArrayLike<number>, off = 0): [number, number, number] {
  const m = (i: number, j: number) => R[off + i * 3 + j];
  const tr = m(0, 0) + m(1, 1) + m(2, 2);
  let w: number;
  let x: number;
  let y: number;
  let z: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    w = s / 4;
    x = (m(2, 1) - m(1, 2)) / s;
    y = (m(0, 2) - m(2, 0)) / s;
    z = (m(1, 0) - m(0, 1)) / s;
  } else if (m(0, 0) > m(1, 1) && m(0, 0) > m(2, 2)) {
    const s = Math.sqrt(1 + m(0, 0) - m(1, 1) - m(2, 2)) * 2;
    w = (m(2, 1) - m(1, 2)) / s;
    x = s / 4;
    y = (m(0, 1) + m(1, 0)) / s;
    z = (m(0, 2) + m(2, 0)) / s;
  } else if (m(1, 1) > m(2, 2)) {
    const s = Math.sqrt(1 + m(1, 1) - m(0, 0) - m(2, 2)) * 2;
    w = (m(0, 2) - m(2, 0)) / s;
    x = (m(0, 1) + m(1, 0)) / s;
    y = s / 4;
    z = (m(1, 2) + m(2, 1)) / s;
  } else {
    const s = Math.sqrt(1 + m(2, 2) - m(0, 0) - m(1, 1)) * 2;
    w = (m(1, 0) - m(0, 1)) / s;
    x = (m(0, 2) + m(2, 0)) / s;
    y = (m(1, 2) + m(2, 1)) / s;
    z = s / 4;
  }
  if (w < 0) {
    w = -w;
    x = -x;
    y = -y;
    z = -z;
  }
  const n = Math.hypot(x, y, z);
  if (n < 1e-12) return [2 * x, 2 * y, 2 * z];
  const angle = 2 * Math.atan2(n, w);
  return [(x / n) * angle, (y / n) * angle, (z / n) * angle];
}

/** Mirror a rotation through the x = 0 plane: M R M with M = diag(-1, 1, 1). */
export function mirrorRotmat(R: ArrayLike<number>, off = 0): Float64Array {
  const out = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const sign = (i === 0 ? -1 : 1) * (j === 0 ? -1 : 1);
      out[i * 3 + j] = sign * R[off + i * 3 + j];
    }
  }
  return out;
}

/** Mirror axis-angle rotations through x = 0: (x, y, z) -> (x, -y, -z), for every triple. */
export function mirrorAxisAngles(aa: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(aa);
  for (let i = 0; i + 2 < out.length; i += 3) {
    out[i + 1] = -out[i + 1];
    out[i + 2] = -out[i + 2];
  }
  return out;
}

/** Negate x of every (x, y, z) triple. */
export function mirrorPoints(p: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(p);
  for (let i = 0; i < out.length; i += 3) out[i] = -out[i];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Network output -> full image

/** One hand's network output, in the network's (right-hand) frame, rotations as axis-angle. */
export interface HandNetOutput {
  /** 21 x 3, OpenPose order, metres, MANO root frame (camera axes, not yet translated) */
  keypoints3d: Float32Array;
  /** weak-perspective camera of the crop: (s, tx, ty) */
  cam: [number, number, number];
  /** 3 (axis-angle) */
  globalOrient?: Float32Array;
  /** 45 (15 x axis-angle) */
  handPose?: Float32Array;
  /** 10 */
  betas?: Float32Array;
  /** 778 x 3 */
  vertices?: Float32Array;
}

/**
 * Undo the left-hand mirror of the input: the network saw a mirrored (right-looking) hand, so
 * 3D points get x -> -x, the crop camera tx -> -tx, and MANO rotations are mirrored
 * ((x, y, z) -> (x, -y, -z) in axis-angle; they then parameterise the MANO *left* hand). Betas
 * are unchanged. Right hands are returned as they are.
 */
export function unflipOutput(o: HandNetOutput, isRight: boolean): HandNetOutput {
  if (isRight) return o;
  return {
    keypoints3d: mirrorPoints(o.keypoints3d),
    cam: [o.cam[0], -o.cam[1], o.cam[2]],
    globalOrient: o.globalOrient ? mirrorAxisAngles(o.globalOrient) : undefined,
    handPose: o.handPose ? mirrorAxisAngles(o.handPose) : undefined,
    betas: o.betas,
    vertices: o.vertices ? mirrorPoints(o.vertices) : undefined,
  };
}

/** HaMeR's full-image focal length: CROP_FOCAL / CROP_SIZE * max(W, H) (5000 / 256 * max side). */
export function fullImageFocal(width: number, height: number, cropFocal = CROP_FOCAL, cropSize = CROP_SIZE): number {
  return (cropFocal / cropSize) * Math.max(width, height);
}

/**
 * Weak-perspective crop camera -> camera translation in the full image (HaMeR/4D-Humans
 * cam_crop_to_full):
 *   bs = size * s;  tz = 2 f / bs;  tx = 2 (cx - W/2) / bs + tx_c;  ty = 2 (cy - H/2) / bs + ty_c
 * with the box centre (cx, cy) and square size in image px and f the full-image focal (px).
 * `cam` must already be un-flipped (tx negated for left hands).
 */
export function camCropToFull(cam: readonly [number, number, number], cx: number, cy: number, size: number, width: number, height: number, focal: number): [number, number, number] {
  const [s, txc, tyc] = cam;
  const bs = size * s + 1e-9;
  return [(2 * (cx - width / 2)) / bs + txc, (2 * (cy - height / 2)) / bs + tyc, (2 * focal) / bs];
}

/** Add a translation to every (x, y, z) triple. */
export function translatePoints(p: ArrayLike<number>, t: readonly number[]): Float32Array {
  const out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i += 3) {
    out[i] = p[i] + t[0];
    out[i + 1] = p[i + 1] + t[1];
    out[i + 2] = p[i + 2] + t[2];
  }
  return out;
}

/** Pinhole projection of camera-frame points (OpenCV axes): u = f x / z + px, v = f y / z + py. */
export function projectPoints(p: ArrayLike<number>, focal: number, px: number, py: number): Float32Array {
  const n = Math.floor(p.length / 3);
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const z = p[i * 3 + 2];
    out[i * 2] = (focal * p[i * 3]) / z + px;
    out[i * 2 + 1] = (focal * p[i * 3 + 1]) / z + py;
  }
  return out;
}

/** Mean distance (px) between two 2D point sets over pairs where both are finite; null if none. */
export function meanPointError(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  let sum = 0;
  let n = 0;
  const len = Math.min(a.length, b.length);
  for (let i = 0; i + 1 < len; i += 2) {
    const d = Math.hypot(a[i] - b[i], a[i + 1] - b[i + 1]);
    if (Number.isFinite(d)) {
      sum += d;
      n++;
    }
  }
  return n ? sum / n : null;
}

export interface HandPose3dResult {
  /** 21 x 3, camera frame, metres */
  jointsCam: Float32Array;
  /** 21 x 2, image px */
  joints2d: Float32Array;
  camT: [number, number, number];
  focal: number;
  /** MANO parameters in axis-angle (left hands: for the MANO left-hand model) */
  globalOrient?: Float32Array;
  handPose?: Float32Array;
  betas?: Float32Array;
  /** 778 x 3, camera frame, metres */
  verticesCam?: Float32Array;
}

/** Un-flip, place in the full-image camera and project: everything after the network. */
export function postprocessHand(raw: HandNetOutput, t: CropTransform, isRight: boolean, width: number, height: number, focal: number): HandPose3dResult {
  const o = unflipOutput(raw, isRight);
  const camT = camCropToFull(o.cam, t.cx, t.cy, t.size, width, height, focal);
  const jointsCam = translatePoints(o.keypoints3d, camT);
  return {
    jointsCam,
    joints2d: projectPoints(jointsCam, focal, width / 2, height / 2),
    camT,
    focal,
    globalOrient: o.globalOrient,
    handPose: o.handPose,
    betas: o.betas,
    verticesCam: o.vertices ? translatePoints(o.vertices, camT) : undefined,
  };
}
