/**
 * Palm detector post-processing (pure functions): SSD anchors, box/keypoint decoding, sigmoid
 * scores, MediaPipe's weighted non-maximum suppression, and the letterbox that maps the full frame
 * to the square detector input and back.
 *
 * Settings follow MediaPipe's palm_detection graph for the 128x128 model: anchors with 4 layers,
 * strides [8, 16, 16, 16], offset 0.5, aspect ratio 1 plus one interpolated anchor per layer, fixed
 * anchor size; decoding with x/y/w/h scale 128, score clipping at +-100, sigmoid; minimum score 0.5;
 * weighted NMS with IoU threshold 0.3.
 */
import { iou, type PalmDetection } from './geometry.js';

export interface Anchor {
  /** normalised centre in [0, 1] of the model input */
  x: number;
  y: number;
  /** normalised size (1 with fixed_anchor_size) */
  w: number;
  h: number;
}

export interface AnchorOptions {
  inputWidth: number;
  inputHeight: number;
  minScale: number;
  maxScale: number;
  strides: readonly number[];
  aspectRatios: readonly number[];
  anchorOffsetX: number;
  anchorOffsetY: number;
  /** > 0 adds one anchor per layer with the geometric mean of this and the next scale */
  interpolatedScaleAspectRatio: number;
  reduceBoxesInLowestLayer: boolean;
  fixedAnchorSize: boolean;
}

export const PALM_ANCHOR_OPTIONS_128: AnchorOptions = {
  inputWidth: 128,
  inputHeight: 128,
  minScale: 0.1484375,
  maxScale: 0.75,
  strides: [8, 16, 16, 16],
  aspectRatios: [1.0],
  anchorOffsetX: 0.5,
  anchorOffsetY: 0.5,
  interpolatedScaleAspectRatio: 1.0,
  reduceBoxesInLowestLayer: false,
  fixedAnchorSize: true,
};

function layerScale(min: number, max: number, i: number, n: number): number {
  return n === 1 ? (min + max) / 2 : min + ((max - min) * i) / (n - 1);
}

/**
 * SSD anchors in MediaPipe's order: consecutive layers with the same stride share one grid; for
 * each grid cell (row-major) all anchors of those layers follow each other.
 */
export function ssdAnchors(o: AnchorOptions = PALM_ANCHOR_OPTIONS_128): Anchor[] {
  const anchors: Anchor[] = [];
  const n = o.strides.length;
  let layer = 0;
  while (layer < n) {
    const sizes: Array<{ w: number; h: number }> = [];
    let last = layer;
    while (last < n && o.strides[last] === o.strides[layer]) {
      const scale = layerScale(o.minScale, o.maxScale, last, n);
      if (last === 0 && o.reduceBoxesInLowestLayer) {
        for (const [ar, sc] of [
          [1.0, 0.1],
          [2.0, scale],
          [0.5, scale],
        ] as const) {
          sizes.push({ w: sc * Math.sqrt(ar), h: sc / Math.sqrt(ar) });
        }
      } else {
        for (const ar of o.aspectRatios) sizes.push({ w: scale * Math.sqrt(ar), h: scale / Math.sqrt(ar) });
        if (o.interpolatedScaleAspectRatio > 0) {
          const next = last === n - 1 ? 1.0 : layerScale(o.minScale, o.maxScale, last + 1, n);
          const sc = Math.sqrt(scale * next);
          const ar = o.interpolatedScaleAspectRatio;
          sizes.push({ w: sc * Math.sqrt(ar), h: sc / Math.sqrt(ar) });
        }
      }
      last++;
    }
    const stride = o.strides[layer];
    const gh = Math.ceil(o.inputHeight / stride);
    const gw = Math.ceil(o.inputWidth / stride);
    for (let y = 0; y < gh; y++) {
      for (let x = 0; x < gw; x++) {
        for (const sz of sizes) {
          anchors.push({
            x: (x + o.anchorOffsetX) / gw,
            y: (y + o.anchorOffsetY) / gh,
            w: o.fixedAnchorSize ? 1 : sz.w,
            h: o.fixedAnchorSize ? 1 : sz.h,
          });
        }
      }
    }
    layer = last;
  }
  return anchors;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export interface DecodeOptions {
  numKeypoints: number;
  /** values per anchor in the regressor tensor */
  numCoords: number;
  /** x/y/w/h scale: the model input size */
  scale: number;
  scoreClip: number;
  minScore: number;
}

export const PALM_DECODE_128: DecodeOptions = { numKeypoints: 7, numCoords: 18, scale: 128, scoreClip: 100, minScore: 0.5 };

/** A raw detection in normalised coordinates of the model input (box as x0, y0, x1, y1). */
export interface RawDetection {
  score: number;
  box: [number, number, number, number];
  /** keypoints x/y interleaved, normalised */
  keypoints: number[];
}

/**
 * Decode the regressor + logit tensors: box centre/size offsets are in input pixels relative to the
 * anchor centre; keypoints likewise. Returns detections with sigmoid score >= minScore.
 */
export function decodeDetections(
  regressors: ArrayLike<number>,
  logits: ArrayLike<number>,
  anchors: readonly Anchor[],
  o: DecodeOptions = PALM_DECODE_128,
): RawDetection[] {
  const out: RawDetection[] = [];
  // Compare logits against the threshold's logit first: sigmoid is monotonic, saves exp() per anchor.
  const minLogit = o.minScore <= 0 ? -Infinity : o.minScore >= 1 ? Infinity : Math.log(o.minScore / (1 - o.minScore));
  for (let i = 0; i < anchors.length; i++) {
    let logit = logits[i];
    if (logit < minLogit) continue;
    logit = Math.max(-o.scoreClip, Math.min(o.scoreClip, logit));
    const a = anchors[i];
    const base = i * o.numCoords;
    const cx = (regressors[base] / o.scale) * a.w + a.x;
    const cy = (regressors[base + 1] / o.scale) * a.h + a.y;
    const w = (regressors[base + 2] / o.scale) * a.w;
    const h = (regressors[base + 3] / o.scale) * a.h;
    const keypoints: number[] = new Array(o.numKeypoints * 2);
    for (let k = 0; k < o.numKeypoints; k++) {
      keypoints[2 * k] = (regressors[base + 4 + 2 * k] / o.scale) * a.w + a.x;
      keypoints[2 * k + 1] = (regressors[base + 5 + 2 * k] / o.scale) * a.h + a.y;
    }
    out.push({ score: sigmoid(logit), box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], keypoints });
  }
  return out;
}

/**
 * MediaPipe's WEIGHTED non-maximum suppression: take the best remaining detection, gather every
 * remaining detection whose IoU with it exceeds the threshold (itself included), and replace the
 * group with one detection whose box and keypoints are the score-weighted mean of the group and
 * whose score is the best one's.
 */
export function weightedNms(dets: readonly RawDetection[], iouThreshold = 0.3, maxDetections = Infinity): RawDetection[] {
  let remaining = [...dets].sort((a, b) => b.score - a.score);
  const out: RawDetection[] = [];
  while (remaining.length > 0 && out.length < maxDetections) {
    const top = remaining[0];
    const group: RawDetection[] = [];
    const rest: RawDetection[] = [];
    for (const d of remaining) {
      if (d === top || iou(top.box, d.box) > iouThreshold) group.push(d);
      else rest.push(d);
    }
    remaining = rest;
    if (group.length === 1) {
      out.push({ score: top.score, box: [...top.box], keypoints: [...top.keypoints] });
      continue;
    }
    let total = 0;
    const box: [number, number, number, number] = [0, 0, 0, 0];
    const kps = new Array<number>(top.keypoints.length).fill(0);
    for (const d of group) {
      total += d.score;
      for (let j = 0; j < 4; j++) box[j] += d.box[j] * d.score;
      for (let j = 0; j < kps.length; j++) kps[j] += d.keypoints[j] * d.score;
    }
    for (let j = 0; j < 4; j++) box[j] /= total;
    for (let j = 0; j < kps.length; j++) kps[j] /= total;
    out.push({ score: top.score, box, keypoints: kps });
  }
  return out;
}

/** Where the image sits inside the square model input (keep aspect, centred, padded). */
export interface Letterbox {
  /** model input side in pixels */
  size: number;
  /** input pixels per image pixel */
  scale: number;
  /** offset of the image's top-left corner inside the input, in input pixels */
  offX: number;
  offY: number;
}

export function letterbox(imageW: number, imageH: number, size: number): Letterbox {
  const scale = size / Math.max(imageW, imageH);
  return { size, scale, offX: (size - imageW * scale) / 2, offY: (size - imageH * scale) / 2 };
}

/** Map a normalised detection of the letterboxed input to image pixels. */
export function detectionToImage(d: RawDetection, lb: Letterbox): PalmDetection {
  const fx = (v: number) => (v * lb.size - lb.offX) / lb.scale;
  const fy = (v: number) => (v * lb.size - lb.offY) / lb.scale;
  const x0 = fx(d.box[0]);
  const y0 = fy(d.box[1]);
  const x1 = fx(d.box[2]);
  const y1 = fy(d.box[3]);
  const keypoints = d.keypoints.map((v, i) => (i % 2 === 0 ? fx(v) : fy(v)));
  return { score: d.score, cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, w: x1 - x0, h: y1 - y0, keypoints };
}
