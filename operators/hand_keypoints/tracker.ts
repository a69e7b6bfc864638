/**
 * MediaPipe-style hand tracking on a stream of RGB frames:
 *   palm detector (full frame, letterboxed to 128) -> rotated hand ROI -> 224 crop -> landmark model
 *   -> landmarks in image pixels -> next frame's ROI from the landmarks.
 * The palm detector runs only while fewer than maxHands hands are tracked (a hand whose presence
 * falls below minPresence is dropped). New palm ROIs that overlap a tracked hand's ROI are ignored,
 * and after the landmark pass overlapping hands (the same hand reached twice) are merged.
 */
import {
  affineScale,
  applyAffine,
  cropToImageAffine,
  iou,
  landmarksToRoi,
  palmDetectionToRoi,
  pointsBounds,
  rectBounds,
  type Affine,
  type PalmDetection,
  type RotatedRect,
} from './geometry.js';
import { letterboxResizeArea, warpAffineBilinear, type RgbImage } from './image.js';
import { LANDMARK_INPUT_SIZE, PALM_INPUT_SIZE, type HandModels } from './models.js';
import {
  PALM_DECODE_128,
  decodeDetections,
  detectionToImage,
  letterbox,
  ssdAnchors,
  weightedNms,
  type Anchor,
} from './palm.js';

/** Input scaling (value = pixel * mul + add). */
export interface InputNorm {
  mul: number;
  add: number;
}
export const PALM_INPUT_NORM: InputNorm = { mul: 2 / 255, add: -1 }; // [-1, 1]
export const LANDMARK_INPUT_NORM: InputNorm = { mul: 1 / 255, add: 0 }; // [0, 1]

/**
 * Handedness convention of this landmark model (hand_landmark_224.onnx), measured: its output is
 * the probability of a RIGHT hand in the image AS SEEN (not mirrored). On human_hand_video.mp4
 * (a right hand, ordinary camera) it is ~1.0; on the same frames flipped left-right it drops to
 * ~0.0; on 02_cups.mp4 (person facing the camera) the hand on the image right (their left hand)
 * gives ~0.0. MediaPipe's note that handedness "assumes a mirrored selfie image" concerns the
 * label text of its legacy solution, not this raw output. For mirrored (selfie) footage set
 * `mirroredInput: true` to swap.
 */
export function handednessLabel(rawRightProb: number, mirroredInput: boolean): { label: 'left' | 'right'; score: number } {
  const pRightAsSeen = mirroredInput ? 1 - rawRightProb : rawRightProb;
  return pRightAsSeen >= 0.5 ? { label: 'right', score: pRightAsSeen } : { label: 'left', score: 1 - pRightAsSeen };
}

export interface TrackerOptions {
  maxHands: number;
  /** palm score threshold (MediaPipe default 0.5) */
  minDetectionScore: number;
  /** hand presence threshold to keep a hand / keep tracking it (MediaPipe default 0.5) */
  minPresence: number;
  /** weighted-NMS IoU threshold for palms (MediaPipe 0.3) */
  nmsIou: number;
  /** a new palm ROI whose box IoU with a tracked ROI exceeds this is the same hand (MediaPipe 0.5) */
  associationIou: number;
  /**
   * Two hands are one (the better one is kept) when their landmark boxes overlap with IoU above
   * duplicateIou, or above duplicateIouNear while their wrists are closer than one box diagonal.
   * On 02_cups.mp4 double hits on one hand had IoU 0.2-0.5 and wrists 0.1-0.7 diagonals apart;
   * distinct hands had IoU 0 (0.3 once, wrists 1.07 diagonals apart).
   */
  duplicateIou: number;
  duplicateIouNear: number;
  /** the video is mirrored (selfie camera); flips the handedness convention */
  mirroredInput: boolean;
  /** run the palm detector on every frame even when maxHands hands are tracked */
  alwaysDetect: boolean;
  /**
   * While at least one but fewer than maxHands hands are tracked, look for more hands only every
   * N-th frame (1 = every frame, MediaPipe's behaviour). With no hand tracked, or right after a
   * tracked hand was lost, the palm detector runs on the next frame regardless.
   */
  redetectEvery: number;
  /** landmark model input scaling (default [0, 1]; see LANDMARK_INPUT_NORM) */
  landmarkNorm: InputNorm;
}

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  maxHands: 2,
  minDetectionScore: 0.5,
  minPresence: 0.5,
  nmsIou: 0.3,
  associationIou: 0.5,
  duplicateIou: 0.5,
  duplicateIouNear: 0.1,
  mirroredInput: false,
  alwaysDetect: false,
  redetectEvery: 1,
  landmarkNorm: LANDMARK_INPUT_NORM,
};

export interface HandObservation {
  /** track slot, stable while the hand is tracked (0..maxHands-1) */
  handIndex: number;
  handedness: 'left' | 'right';
  /** probability of the reported handedness label (>= 0.5) */
  handednessScore: number;
  /** raw model output (probability of a right hand as seen in the image) */
  rawHandedness: number;
  presence: number;
  /** [x0, y0, x1, y1] of the 21 landmarks, image pixels */
  bbox: [number, number, number, number];
  /** 21 x (x, y), image pixels */
  kp2d: Float32Array;
  /** 21 x (x, y, z): x, y image pixels, z the model's relative depth (wrist-relative) scaled like x, i.e. image pixels */
  kp3d: Float32Array;
  /** the ROI the landmarks were computed in */
  roi: RotatedRect;
  /** the ROI came from a palm detection on this frame (not from tracking) */
  fromDetection: boolean;
}

export interface TrackerStats {
  frames: number;
  palmRuns: number;
  landmarkRuns: number;
  palmMs: number;
  landmarkMs: number;
  preprocessMs: number;
}

/** Map the landmark model's 21 x/y/z (pixels of the crop) to image pixels through cropToImage. */
export function landmarksToImage(lm: ArrayLike<number>, cropToImage: Affine): { kp2d: Float32Array; kp3d: Float32Array } {
  const kp2d = new Float32Array(42);
  const kp3d = new Float32Array(63);
  const zScale = affineScale(cropToImage);
  for (let i = 0; i < 21; i++) {
    const [x, y] = applyAffine(cropToImage, lm[3 * i], lm[3 * i + 1]);
    kp2d[2 * i] = x;
    kp2d[2 * i + 1] = y;
    kp3d[3 * i] = x;
    kp3d[3 * i + 1] = y;
    kp3d[3 * i + 2] = lm[3 * i + 2] * zScale;
  }
  return { kp2d, kp3d };
}

function isDuplicate(a: HandObservation, b: HandObservation, o: TrackerOptions): boolean {
  const ov = iou(a.bbox, b.bbox);
  if (ov > o.duplicateIou) return true;
  if (ov <= o.duplicateIouNear) return false;
  const diag = Math.min(Math.hypot(a.bbox[2] - a.bbox[0], a.bbox[3] - a.bbox[1]), Math.hypot(b.bbox[2] - b.bbox[0], b.bbox[3] - b.bbox[1]));
  return Math.hypot(a.kp2d[0] - b.kp2d[0], a.kp2d[1] - b.kp2d[1]) < diag;
}

interface Track {
  slot: number;
  roi: RotatedRect;
}

const now = () => performance.now();

export class HandTracker {
  readonly options: TrackerOptions;
  readonly stats: TrackerStats = { frames: 0, palmRuns: 0, landmarkRuns: 0, palmMs: 0, landmarkMs: 0, preprocessMs: 0 };
  private tracks: Track[] = [];
  private framesSinceDetect = 0;
  private lostTrack = false;
  private readonly anchors: Anchor[] = ssdAnchors();
  private readonly palmInput = new Float32Array(3 * PALM_INPUT_SIZE * PALM_INPUT_SIZE);
  private readonly lmInput = new Float32Array(3 * LANDMARK_INPUT_SIZE * LANDMARK_INPUT_SIZE);

  constructor(
    private readonly models: HandModels,
    options: Partial<TrackerOptions> = {},
  ) {
    this.options = { ...DEFAULT_TRACKER_OPTIONS, ...options };
  }

  /** Forget tracked hands (e.g. at a scene cut). */
  reset(): void {
    this.tracks = [];
    this.framesSinceDetect = 0;
    this.lostTrack = false;
  }

  /** Palm detections (after NMS) in image pixels, best first. */
  async detectPalms(img: RgbImage): Promise<PalmDetection[]> {
    const t0 = now();
    const lb = letterbox(img.width, img.height, PALM_INPUT_SIZE);
    letterboxResizeArea(img, lb, this.palmInput, PALM_INPUT_NORM.mul, PALM_INPUT_NORM.add, 0);
    const t1 = now();
    const { regressors, logits } = await this.models.palm.run(this.palmInput);
    const t2 = now();
    this.stats.palmRuns++;
    this.stats.preprocessMs += t1 - t0;
    this.stats.palmMs += t2 - t1;
    const raw = decodeDetections(regressors, logits, this.anchors, { ...PALM_DECODE_128, minScore: this.options.minDetectionScore });
    return weightedNms(raw, this.options.nmsIou).map((d) => detectionToImage(d, lb));
  }

  /** Run the landmark model in one ROI; null when the hand presence is below the threshold. */
  async landmarksInRoi(img: RgbImage, roi: RotatedRect): Promise<Omit<HandObservation, 'handIndex' | 'fromDetection'> | null> {
    const t0 = now();
    const m = cropToImageAffine(roi, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE);
    warpAffineBilinear(img, m, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE, this.lmInput, this.options.landmarkNorm.mul, this.options.landmarkNorm.add);
    const t1 = now();
    const out = await this.models.landmark.run(this.lmInput);
    const t2 = now();
    this.stats.landmarkRuns++;
    this.stats.preprocessMs += t1 - t0;
    this.stats.landmarkMs += t2 - t1;
    const presence = out.presence;
    if (!(presence >= this.options.minPresence)) return null;
    const { kp2d, kp3d } = landmarksToImage(out.landmarks, m);
    const h = handednessLabel(out.handedness, this.options.mirroredInput);
    return {
      handedness: h.label,
      handednessScore: h.score,
      rawHandedness: out.handedness,
      presence,
      bbox: pointsBounds(kp2d),
      kp2d,
      kp3d,
      roi,
    };
  }

  /** Process the next frame of the stream; returns the hands found, by handIndex. */
  async process(img: RgbImage): Promise<HandObservation[]> {
    const o = this.options;
    this.stats.frames++;
    const candidates: Array<{ slot: number; roi: RotatedRect; fromDetection: boolean }> = this.tracks.map((t) => ({
      slot: t.slot,
      roi: t.roi,
      fromDetection: false,
    }));
    const due = this.lostTrack || this.framesSinceDetect + 1 >= Math.max(1, o.redetectEvery);
    if (o.alwaysDetect || candidates.length === 0 || (candidates.length < o.maxHands && due)) {
      this.framesSinceDetect = 0;
      this.lostTrack = false;
      const palms = await this.detectPalms(img);
      for (const p of palms) {
        if (candidates.length >= o.maxHands) break;
        const roi = palmDetectionToRoi(p);
        const box = rectBounds(roi);
        if (candidates.some((c) => iou(rectBounds(c.roi), box) > o.associationIou)) continue;
        candidates.push({ slot: -1, roi, fromDetection: true });
      }
    } else {
      this.framesSinceDetect++;
    }
    const found: Array<HandObservation & { slotHint: number }> = [];
    for (const c of candidates) {
      const r = await this.landmarksInRoi(img, c.roi);
      if (r) found.push({ ...r, handIndex: -1, fromDetection: c.fromDetection, slotHint: c.slot });
    }
    // Merge duplicates: tracked hands first, then by presence.
    found.sort((a, b) => Number(b.slotHint >= 0) - Number(a.slotHint >= 0) || b.presence - a.presence);
    const kept: typeof found = [];
    for (const h of found) {
      if (kept.length >= o.maxHands) break;
      if (kept.some((k) => isDuplicate(k, h, o))) continue;
      kept.push(h);
    }
    const used = new Set<number>();
    for (const h of kept) if (h.slotHint >= 0 && !used.has(h.slotHint)) used.add((h.handIndex = h.slotHint));
    for (const h of kept) {
      if (h.handIndex >= 0) continue;
      let s = 0;
      while (used.has(s)) s++;
      used.add((h.handIndex = s));
    }
    kept.sort((a, b) => a.handIndex - b.handIndex);
    if (this.tracks.some((t) => !used.has(t.slot))) this.lostTrack = true;
    this.tracks = kept.map((h) => ({ slot: h.handIndex, roi: landmarksToRoi(h.kp2d) }));
    return kept.map(({ slotHint: _s, ...h }) => h);
  }
}
