/**
 * Multi-object SAM 2.1 video tracking over one clip, frame by frame (online, forward in time).
 *
 * Per processed frame:
 *  1. the image encoder runs once;
 *  2. every live object is propagated: memory attention over its memory bank -> mask decoder
 *     without prompt -> object score; present (score > threshold) -> mask; absent -> empty mask,
 *     and the memory encoder stores an *empty* mask for that frame (with the no-object signal);
 *  3. the frame's detections (prompt boxes/points from hands, a detector, the recipe, the previous
 *     clip) are associated with the objects: by continuity key (same hand_index as on the
 *     previous frame), else by mask IoU (src/rle.ts rleIoU) with the objects' masks on this frame,
 *     else with the last visible mask of an absent object (that object is re-prompted); what is
 *     left starts a new object (up to maxObjects), prompted on this frame without memory (a
 *     conditioning frame), with a deterministic object_id.
 */
import { createHash } from 'node:crypto';
import { rleIoU, stringToCounts, type Rle } from '../../src/rle.js';
import { IMAGE_SIZE, EMPTY_MASK_FOR_MEM } from './contract.js';
import { boxRle, clipBox, masksFromLogits, preprocessFrame, promptPoints, type Box, type MaskResult, type RgbFrame } from './image.js';
import { MemoryBank, buildMemoryInputs, type MemoryEntry } from './memory.js';
import type { DecoderOutput, ImageFeatures, Sam2Modules } from './sam2.js';

export interface Detection {
  /** prompt box [x0, y0, x1, y1] in image pixels (optional when points are given) */
  box?: Box | null;
  /** prompt clicks (x, y) in image pixels */
  points?: Array<[number, number]>;
  /** the detector's own mask at the video resolution, when it has one: matched by mask IoU instead of the box region */
  rle?: Rle | null;
  /** 1 positive / 0 negative per point (default 1) */
  pointLabels?: number[];
  /** label written to the tables */
  label: string;
  /** association class: detections only match objects of the same class (e.g. 'hand' for either hand) */
  cls: string;
  score: number;
  /** where the prompt came from: hand_keypoints | detections | recipe | previous_clip */
  source: string;
  /** continuity key (e.g. hand_keypoints' hand_index): same key on consecutive frames = same object */
  key?: string;
  /** use this object_id (warm start from the previous clip) */
  objectId?: string;
  /** caller's row, handed back in the assignment */
  ref?: unknown;
}

export interface TrackerOptions {
  width: number;
  height: number;
  /** seed of the object ids, e.g. `${video_id}:${scene_index}` */
  idSeed: string;
  maxObjects?: number;
  /** object score logit above which the object counts as present (SAM 2: 0) */
  objectScoreThreshold?: number;
  /** mask logit threshold (SAM 2: 0) */
  maskThreshold?: number;
  /** IoU between a detection box and an object's mask to count as the same object */
  matchIou?: number;
  /** a continuity-matched object whose mask overlaps its detection less than this is re-prompted */
  repromptIou?: number;
  /** objects absent for more processed frames than this are no longer tracked */
  maxAbsentFrames?: number;
  /** conditioning frames kept per object */
  maxCondFrames?: number;
  /** a continuity key still holds after this many video frames without it */
  keyMaxGap?: number;
}

export interface ObjectFrameResult {
  objectId: string;
  present: boolean;
  objectScore: number;
  iou: number;
  /** original-resolution mask; null when absent */
  mask: MaskResult | null;
  /** this frame is a conditioning (prompted) frame of the object */
  prompted: boolean;
}

export interface Assignment {
  detection: Detection;
  objectId: string | null;
  action: 'new' | 'matched' | 'reprompted' | 'skipped';
  iou: number;
}

export interface FrameResult {
  frame: number;
  t: number;
  objects: ObjectFrameResult[];
  assignments: Assignment[];
}

export interface TrackSummary {
  objectId: string;
  /** the most frequent detection label */
  label: string;
  cls: string;
  source: string;
  createdFrame: number;
  /** first / last frame with a non-empty mask; null if never visible */
  firstFrame: number | null;
  lastFrame: number | null;
  framesPresent: number;
  active: boolean;
}

interface Track {
  id: string;
  cls: string;
  source: string;
  labels: Map<string, number>;
  bank: MemoryBank;
  createdFrame: number;
  firstFrame: number | null;
  lastFrame: number | null;
  framesPresent: number;
  lastVisibleT: number;
  lastMask: Rle | null;
  absentRun: number;
  lastKey?: string;
  lastKeyFrame?: number;
}

const NO_PROMPT = promptPoints(1, 1);

/** Deterministic object id: first 16 hex of sha256(seed:cls:frame:rounded prompt). */
export function objectIdFor(seed: string, cls: string, frame: number, d: Pick<Detection, 'box' | 'points'>): string {
  const geo = d.box ? d.box.map((v) => Math.round(v)).join(',') : (d.points ?? []).map((p) => `${Math.round(p[0])},${Math.round(p[1])}`).join(';');
  return createHash('sha256').update(`${seed}:${cls}:${frame}:${geo}`).digest('hex').slice(0, 16);
}

/** Whether pixel (x, y) is set in an RLE (walks the counts). */
export function rleContains(rle: Rle, x: number, y: number): boolean {
  const [h, w] = rle.size;
  const xi = Math.floor(x);
  const yi = Math.floor(y);
  if (xi < 0 || yi < 0 || xi >= w || yi >= h) return false;
  const pos = xi * h + yi; // column-major
  const counts = stringToCounts(rle.counts);
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    p += counts[i];
    if (pos < p) return (i & 1) === 1;
  }
  return false;
}

export class VideoObjectTracker {
  readonly opts: Required<TrackerOptions>;
  private t = 0;
  private readonly tracks = new Map<string, Track>();
  private readonly finished: Track[] = [];
  private temporalCode: Float32Array | null = null;
  private posEnc: Float32Array | null = null;
  private readonly input = new Float32Array(3 * IMAGE_SIZE * IMAGE_SIZE);
  private emptyMfm: Float32Array | null = null;
  readonly stats = { frames: 0, objects_created: 0, reprompts: 0, matched: 0, skipped_max_objects: 0, skipped_invalid: 0, absent_object_frames: 0, preprocess_ms: 0, rle_ms: 0 };

  constructor(
    private readonly m: Sam2Modules,
    opts: TrackerOptions,
  ) {
    this.opts = {
      maxObjects: 16,
      objectScoreThreshold: 0,
      maskThreshold: 0,
      matchIou: 0.3,
      repromptIou: 0.1,
      maxAbsentFrames: 90,
      maxCondFrames: 4,
      keyMaxGap: 1,
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    } as Required<TrackerOptions>;
  }

  get liveObjects(): number {
    return this.tracks.size;
  }

  /** Memory bank of a live object (tests, diagnostics). */
  bank(objectId: string): MemoryBank | undefined {
    return this.tracks.get(objectId)?.bank;
  }

  async step(frame: RgbFrame & { index: number }, detections: readonly Detection[] = []): Promise<FrameResult> {
    const { width: W, height: H } = this.opts;
    if (frame.width !== W || frame.height !== H) throw new Error(`frame is ${frame.width}x${frame.height}, the tracker was set up for ${W}x${H}`);
    const t = this.t++;
    this.stats.frames++;
    let t0 = performance.now();
    preprocessFrame(frame, IMAGE_SIZE, this.input);
    this.stats.preprocess_ms += performance.now() - t0;
    const feats = await this.m.encodeImage(this.input);

    // 2. propagate every live object
    const results = new Map<string, ObjectFrameResult>();
    const embeds = new Map<string, Float32Array>();
    for (const tr of this.tracks.values()) {
      const mem = buildMemoryInputs(tr.bank.select(t), this.temporalCode!);
      const embed = await this.m.attend(feats, mem);
      embeds.set(tr.id, embed);
      const out = await this.m.decode(embed, feats, NO_PROMPT.coords, NO_PROMPT.labels, NO_PROMPT.count);
      results.set(tr.id, await this.commit(tr, t, feats, out, false));
    }

    // 3. associate detections
    const assignments: Assignment[] = [];
    const used = new Set<string>();
    const dets = [...detections].sort((a, b) => b.score - a.score);
    for (const d of dets) {
      const box = d.box ? clipBox(d.box, W, H) : null;
      const pts = (d.points ?? []).filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
      if (!box && !pts.length) {
        this.stats.skipped_invalid++;
        assignments.push({ detection: d, objectId: null, action: 'skipped', iou: 0 });
        continue;
      }
      const det: Detection = { ...d, box, points: pts.length ? pts : undefined };
      const dRle = d.rle && d.rle.size[0] === H && d.rle.size[1] === W ? d.rle : box ? boxRle(box, W, H) : null;
      const overlap = (rle: Rle | null | undefined): number => {
        if (!rle) return 0;
        if (dRle) return rleIoU(dRle, rle);
        // points only: inside the mask counts as a match
        const pos = pts.filter((_, i) => (det.pointLabels?.[i] ?? 1) === 1);
        return pos.length && pos.every((p) => rleContains(rle, p[0], p[1])) ? 1 : 0;
      };
      // a. continuity key or forced id
      let tr: Track | undefined;
      if (d.key !== undefined) {
        for (const x of this.tracks.values()) {
          if (!used.has(x.id) && x.lastKey === d.key && x.lastKeyFrame !== undefined && frame.index - x.lastKeyFrame <= this.opts.keyMaxGap && x.cls === d.cls) {
            tr = x;
            break;
          }
        }
      }
      if (!tr && d.objectId && this.tracks.has(d.objectId) && !used.has(d.objectId)) tr = this.tracks.get(d.objectId);
      if (tr) {
        const r = results.get(tr.id);
        const iou = r?.mask ? overlap(r.mask.rle) : 0;
        if (r && r.present && r.mask && r.mask.area > 0 && iou >= this.opts.repromptIou) {
          this.assign(tr, det, frame.index);
          used.add(tr.id);
          this.stats.matched++;
          assignments.push({ detection: d, objectId: tr.id, action: 'matched', iou });
        } else {
          await this.reprompt(tr, det, t, frame.index, feats, embeds, results);
          used.add(tr.id);
          assignments.push({ detection: d, objectId: tr.id, action: 'reprompted', iou });
        }
        continue;
      }
      // b. best IoU with a present object of the same class on this frame
      let best: Track | undefined;
      let bestIou = 0;
      for (const x of this.tracks.values()) {
        if (used.has(x.id) || x.cls !== d.cls) continue;
        const r = results.get(x.id);
        if (!r?.mask || r.mask.area === 0) continue;
        const iou = overlap(r.mask.rle);
        if (iou > bestIou) {
          bestIou = iou;
          best = x;
        }
      }
      if (best && bestIou >= this.opts.matchIou) {
        this.assign(best, det, frame.index);
        used.add(best.id);
        this.stats.matched++;
        assignments.push({ detection: d, objectId: best.id, action: 'matched', iou: bestIou });
        continue;
      }
      // c. an absent object whose last visible mask it overlaps: re-prompt that object
      best = undefined;
      bestIou = 0;
      for (const x of this.tracks.values()) {
        if (used.has(x.id) || x.cls !== d.cls) continue;
        const r = results.get(x.id);
        if (r?.mask && r.mask.area > 0) continue; // visible: handled above
        const iou = overlap(x.lastMask);
        if (iou > bestIou) {
          bestIou = iou;
          best = x;
        }
      }
      if (best && bestIou >= this.opts.matchIou) {
        await this.reprompt(best, det, t, frame.index, feats, embeds, results);
        used.add(best.id);
        assignments.push({ detection: d, objectId: best.id, action: 'reprompted', iou: bestIou });
        continue;
      }
      // d. a new object
      if (this.tracks.size >= this.opts.maxObjects) {
        this.stats.skipped_max_objects++;
        assignments.push({ detection: d, objectId: null, action: 'skipped', iou: 0 });
        continue;
      }
      const id = d.objectId ?? objectIdFor(this.opts.idSeed, d.cls, frame.index, det);
      if (this.tracks.has(id) || this.finished.some((f) => f.id === id)) {
        assignments.push({ detection: d, objectId: id, action: 'skipped', iou: 0 });
        continue;
      }
      const nt: Track = {
        id,
        cls: d.cls,
        source: d.source,
        labels: new Map(),
        bank: new MemoryBank({ maxCond: this.opts.maxCondFrames }),
        createdFrame: frame.index,
        firstFrame: null,
        lastFrame: null,
        framesPresent: 0,
        lastVisibleT: -1,
        lastMask: null,
        absentRun: 0,
      };
      this.tracks.set(id, nt);
      const p = promptPoints(W, H, det.box, det.points, det.pointLabels);
      const out = await this.m.decode(feats.visionFeats, feats, p.coords, p.labels, p.count);
      results.set(id, await this.commit(nt, t, feats, out, true));
      this.assign(nt, det, frame.index);
      used.add(id);
      this.stats.objects_created++;
      assignments.push({ detection: d, objectId: id, action: 'new', iou: 0 });
    }

    // 4. bookkeeping, drop long-absent objects
    t0 = performance.now();
    for (const tr of [...this.tracks.values()]) {
      const r = results.get(tr.id)!;
      if (r.present && r.mask && r.mask.area > 0) {
        tr.firstFrame ??= frame.index;
        tr.lastFrame = frame.index;
        tr.framesPresent++;
        tr.lastVisibleT = t;
        tr.lastMask = r.mask.rle;
        tr.absentRun = 0;
      } else {
        tr.absentRun++;
        this.stats.absent_object_frames++;
        if (tr.absentRun > this.opts.maxAbsentFrames) {
          this.tracks.delete(tr.id);
          this.finished.push(tr);
        }
      }
    }
    this.stats.rle_ms += performance.now() - t0;
    return { frame: frame.index, t, objects: [...results.values()], assignments };
  }

  private assign(tr: Track, d: Detection, frame: number): void {
    tr.labels.set(d.label, (tr.labels.get(d.label) ?? 0) + 1);
    if (d.key !== undefined) {
      tr.lastKey = d.key;
      tr.lastKeyFrame = frame;
    }
  }

  /** Prompt an existing object again on frame t: memory-conditioned features + the box; the frame becomes a conditioning frame. */
  private async reprompt(tr: Track, d: Detection, t: number, frame: number, feats: ImageFeatures, embeds: Map<string, Float32Array>, results: Map<string, ObjectFrameResult>): Promise<void> {
    const { width: W, height: H } = this.opts;
    const embed = embeds.get(tr.id) ?? feats.visionFeats;
    const p = promptPoints(W, H, d.box, d.points, d.pointLabels);
    const out = await this.m.decode(embed, feats, p.coords, p.labels, p.count);
    results.set(tr.id, await this.commit(tr, t, feats, out, true));
    this.assign(tr, d, frame);
    this.stats.reprompts++;
  }

  /** Decoder output -> result + memory entry (absent: empty mask into the memory encoder). */
  private async commit(tr: Track, t: number, feats: ImageFeatures, out: DecoderOutput, cond: boolean): Promise<ObjectFrameResult> {
    const { width: W, height: H, objectScoreThreshold, maskThreshold } = this.opts;
    const present = out.objectScore > objectScoreThreshold;
    const t0 = performance.now();
    const mask = present ? masksFromLogits(out.predMask, W, H, maskThreshold) : null;
    this.stats.rle_ms += performance.now() - t0;
    let mfm = out.maskForMem;
    let score = out.objectScore;
    if (!present) {
      if (!this.emptyMfm) this.emptyMfm = new Float32Array(IMAGE_SIZE * IMAGE_SIZE).fill(EMPTY_MASK_FOR_MEM);
      mfm = this.emptyMfm;
      score = Math.min(score, -1); // the memory encoder adds its no-object embedding for logits <= 0
    }
    const enc = await this.m.encodeMemory(mfm, feats, score);
    if (!this.temporalCode) this.temporalCode = Float32Array.from(enc.temporalCode);
    // maskmem_pos_enc does not depend on the frame: share one copy when it is the same
    let pos = enc.posEnc;
    if (this.posEnc && sameArray(this.posEnc, pos)) pos = this.posEnc;
    else if (!this.posEnc) this.posEnc = pos;
    const entry: MemoryEntry = { t, features: enc.features, posEnc: pos, objPtr: out.objPtr, present };
    if (cond) tr.bank.addCond(entry);
    else tr.bank.addNonCond(entry);
    return { objectId: tr.id, present, objectScore: out.objectScore, iou: out.iou, mask, prompted: cond };
  }

  /** Every object seen so far (live and dropped), in creation order. */
  summaries(): TrackSummary[] {
    const all = [...this.finished.map((tr) => ({ tr, active: false })), ...[...this.tracks.values()].map((tr) => ({ tr, active: true }))];
    all.sort((a, b) => a.tr.createdFrame - b.tr.createdFrame || a.tr.id.localeCompare(b.tr.id));
    return all.map(({ tr, active }) => ({
      objectId: tr.id,
      label: majority(tr.labels) ?? tr.cls,
      cls: tr.cls,
      source: tr.source,
      createdFrame: tr.createdFrame,
      firstFrame: tr.firstFrame,
      lastFrame: tr.lastFrame,
      framesPresent: tr.framesPresent,
      active,
    }));
  }
}

function sameArray(a: Float32Array, b: Float32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function majority(m: Map<string, number>): string | undefined {
  let best: string | undefined;
  let n = -1;
  for (const [k, v] of m) {
    if (v > n || (v === n && best !== undefined && k < best)) {
      best = k;
      n = v;
    }
  }
  return best;
}
