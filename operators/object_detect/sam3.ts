/**
 * SAM 3 concept detection with onnxruntime: pure pre/post-processing and the three-session
 * runtime (image encoder, text encoder, decoder). The ONNX contract is in README.md.
 *
 * Pre-processing (Hugging Face Sam3ImageProcessorFast): resize to 1008 x 1008 ignoring the aspect
 * ratio, bilinear; RGB; x / 255, then (x - 0.5) / 0.5, i.e. x / 127.5 - 1; NCHW float32.
 * Post-processing (Sam3ImageProcessorFast.post_process_instance_segmentation):
 * score = sigmoid(pred_logits) * sigmoid(presence_logits); pred_boxes are xyxy in [0, 1] of the
 * (stretched) input, so they scale by the original (W, H); mask logits are resized bilinearly
 * (align_corners=False) to the original size and kept where sigmoid > mask_threshold.
 */
import * as ort from 'onnxruntime-node';
import { PermanentError } from '../types.js';
import { encodeMaskWindow, type Rle } from '../../src/rle.js';
import { ClipTokenizer, SAM3_CONTEXT_LENGTH, type PadMode } from './tokenizer.js';
import { createOnnxSession, onnxSessionOptions } from '../../src/onnx/session.js';

/** SAM 3 image size (Sam3ViTConfig.image_size = 1008, patch 14 -> 72 x 72 tokens). */
export const SAM3_IMAGE_SIZE = 1008;

/** Names of the ONNX contract (README.md). */
export const IO = {
  text: {
    inputIds: 'input_ids',
    attentionMask: 'attention_mask',
    features: 'text_features',
    mask: 'text_mask',
  },
  decoder: {
    /** text slot: either text_features/text_mask (3-file export) or prompt_features/prompt_mask (4-file export, text only) */
    textFeatures: ['text_features', 'prompt_features'] as const,
    textMask: ['text_mask', 'prompt_mask'] as const,
    boxes: 'input_boxes',
    boxLabels: 'input_boxes_labels',
    predBoxes: 'pred_boxes',
    predLogits: 'pred_logits',
    presence: 'presence_logits',
    predMasks: 'pred_masks',
  },
} as const;

/** Label of a padding box prompt (Sam3Processor point_pad_value = -10: ignored). */
export const BOX_PAD_LABEL = -10;

// ---------------------------------------------------------------------------------------------
// small math

export const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Inverse sigmoid; logit(0.5) = 0. */
export function logit(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  return Math.log(p / (1 - p));
}

// ---------------------------------------------------------------------------------------------
// keyframes and thresholds

/** Frames [start, end) processed with a stride: start, start + stride, ... (the first frame of the clip always). */
export function keyframeIndices(start: number, end: number, stride: number): number[] {
  const s = Math.max(1, Math.floor(stride));
  const out: number[] = [];
  for (let f = start; f < end; f += s) out.push(f);
  return out;
}

/** label -> threshold: per-label entries override the default. */
export function resolveThresholds(labels: readonly string[], threshold: number, perLabel?: number | Record<string, number> | null): Map<string, number> {
  const out = new Map<string, number>();
  const base = typeof perLabel === 'number' ? perLabel : threshold;
  for (const l of labels) {
    const v = perLabel && typeof perLabel === 'object' ? perLabel[l] : undefined;
    out.set(l, typeof v === 'number' ? v : base);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// pre-processing

export interface RgbImage {
  width: number;
  height: number;
  /** row-major RGB, 3 bytes per pixel */
  data: Uint8Array;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  stride: number;
}

/** PIL-style resampling taps for a triangle (bilinear) filter, widened when downscaling (antialias). */
function triangleTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = Math.max(1, scale);
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support + 0.5));
    const hi = Math.min(inSize, Math.floor(center + support + 0.5));
    let sum = 0;
    const n = hi - lo;
    for (let k = 0; k < n; k++) {
      const x = (lo + k - center + 0.5) / support;
      const w = Math.max(0, 1 - Math.abs(x));
      weights[o * stride + k] = w;
      sum += w;
    }
    if (sum > 0) for (let k = 0; k < n; k++) weights[o * stride + k] /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, stride };
}

/**
 * Bilinear resize of an RGB image (PIL Image.resize(BILINEAR) semantics: pixel centres at
 * +0.5, the filter widened by the scale when shrinking). Returns row-major RGB bytes.
 */
export function resizeRgbBilinear(src: RgbImage, outW: number, outH: number): Uint8Array {
  if (src.width === outW && src.height === outH) return src.data;
  const tx = triangleTaps(src.width, outW);
  const ty = triangleTaps(src.height, outH);
  // horizontal pass into float rows, then vertical
  const tmp = new Float32Array(src.height * outW * 3);
  for (let y = 0; y < src.height; y++) {
    const row = y * src.width * 3;
    for (let x = 0; x < outW; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const s = tx.start[x];
      for (let k = 0; k < tx.count[x]; k++) {
        const w = tx.weights[x * tx.stride + k];
        const p = row + (s + k) * 3;
        r += w * src.data[p];
        g += w * src.data[p + 1];
        b += w * src.data[p + 2];
      }
      const q = (y * outW + x) * 3;
      tmp[q] = r;
      tmp[q + 1] = g;
      tmp[q + 2] = b;
    }
  }
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const s = ty.start[y];
    for (let x = 0; x < outW; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < ty.count[y]; k++) {
        const w = ty.weights[y * ty.stride + k];
        const p = ((s + k) * outW + x) * 3;
        r += w * tmp[p];
        g += w * tmp[p + 1];
        b += w * tmp[p + 2];
      }
      const q = (y * outW + x) * 3;
      out[q] = Math.min(255, Math.max(0, Math.round(r)));
      out[q + 1] = Math.min(255, Math.max(0, Math.round(g)));
      out[q + 2] = Math.min(255, Math.max(0, Math.round(b)));
    }
  }
  return out;
}

/**
 * RGB image -> NCHW float32 [1, 3, outH, outW], resized (stretched) to the encoder input and
 * normalised to [-1, 1] (x / 127.5 - 1). Frames already at the input size are not resampled.
 */
export function imageToTensor(img: RgbImage, outW: number, outH: number, out?: Float32Array): Float32Array {
  const plane = outW * outH;
  const dst = out ?? new Float32Array(3 * plane);
  if (dst.length < 3 * plane) throw new RangeError(`imageToTensor: output holds ${dst.length} floats, needs ${3 * plane}`);
  const px = resizeRgbBilinear(img, outW, outH);
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    dst[i] = px[p] / 127.5 - 1;
    dst[plane + i] = px[p + 1] / 127.5 - 1;
    dst[2 * plane + i] = px[p + 2] / 127.5 - 1;
  }
  return dst;
}

// ---------------------------------------------------------------------------------------------
// post-processing

/** Decoder outputs for one image and one prompt. */
export interface RawDetections {
  /** queries */
  count: number;
  /** count x 4, normalised to [0, 1] of the input; order per `boxFormat` */
  boxes: Float32Array;
  /** count logits */
  logits: Float32Array;
  /** presence logit for the prompt; null when the model has no presence head output */
  presence: number | null;
  /** count x maskH x maskW mask logits, when the decoder outputs masks */
  masks?: { data: Float32Array; height: number; width: number };
}

export type BoxFormat = 'xyxy' | 'cxcywh';

export interface ScoredQuery {
  query: number;
  /** sigmoid(logit) * sigmoid(presence) */
  score: number;
  /** sigmoid(logit) */
  prob: number;
  /** sigmoid(presence), 1 without a presence output */
  presence: number;
  /** normalised xyxy */
  box: [number, number, number, number];
}

export function boxXyxy(boxes: ArrayLike<number>, q: number, format: BoxFormat): [number, number, number, number] {
  const a = boxes[q * 4];
  const b = boxes[q * 4 + 1];
  const c = boxes[q * 4 + 2];
  const d = boxes[q * 4 + 3];
  if (format === 'cxcywh') return [a - c / 2, b - d / 2, a + c / 2, b + d / 2];
  return [a, b, c, d];
}

/**
 * Score every query (presence x box probability), keep those strictly above the threshold (as
 * the Hugging Face post-processing does), highest first, at most maxDetections.
 */
export function scoreQueries(raw: RawDetections, threshold: number, maxDetections: number, format: BoxFormat = 'xyxy'): ScoredQuery[] {
  const presence = raw.presence === null ? 1 : sigmoid(raw.presence);
  const out: ScoredQuery[] = [];
  for (let q = 0; q < raw.count; q++) {
    const prob = sigmoid(raw.logits[q]);
    const score = prob * presence;
    if (!(score > threshold)) continue;
    out.push({ query: q, score, prob, presence, box: boxXyxy(raw.boxes, q, format) });
  }
  out.sort((a, b) => b.score - a.score || a.query - b.query);
  return maxDetections >= 0 ? out.slice(0, maxDetections) : out;
}

/** Normalised xyxy -> image pixels [x0, y0, x1, y1], clipped to the image. */
export function boxToPixels(box: readonly number[], width: number, height: number): [number, number, number, number] {
  const cx = (v: number) => Math.min(width, Math.max(0, v * width));
  const cy = (v: number) => Math.min(height, Math.max(0, v * height));
  return [cx(box[0]), cy(box[1]), cx(box[2]), cy(box[3])];
}

interface Axis {
  i0: Int32Array;
  i1: Int32Array;
  t: Float32Array;
}

/** Source indices/weights of torch bilinear interpolation, align_corners=False (negative source clamped to 0). */
function bilinearAxis(inSize: number, outSize: number, from: number, to: number): Axis {
  const n = to - from;
  const i0 = new Int32Array(n);
  const i1 = new Int32Array(n);
  const t = new Float32Array(n);
  const scale = inSize / outSize;
  for (let k = 0; k < n; k++) {
    const src = Math.max(0, (from + k + 0.5) * scale - 0.5);
    const a = Math.min(inSize - 1, Math.floor(src));
    i0[k] = a;
    i1[k] = Math.min(inSize - 1, a + 1);
    t[k] = src - a;
  }
  return { i0, i1, t };
}

/**
 * One mask's logits (maskH x maskW, row-major, at `offset` in `data`) -> COCO RLE at the original
 * resolution: bilinear resize (align_corners=False) and `logit > threshold`. Only the window that
 * can hold set pixels is resampled: a pixel above the threshold needs one of its four low-res
 * neighbours above it, so the window is the low-res bounding box of such cells, widened by one.
 * Returns the RLE and the number of set pixels.
 */
export function maskLogitsToRle(
  data: ArrayLike<number>,
  offset: number,
  maskH: number,
  maskW: number,
  height: number,
  width: number,
  logitThreshold: number,
): { rle: Rle; area: number } {
  let lx0 = maskW;
  let ly0 = maskH;
  let lx1 = -1;
  let ly1 = -1;
  for (let y = 0; y < maskH; y++) {
    const row = offset + y * maskW;
    for (let x = 0; x < maskW; x++) {
      if (data[row + x] > logitThreshold) {
        if (x < lx0) lx0 = x;
        if (x > lx1) lx1 = x;
        if (y < ly0) ly0 = y;
        if (y > ly1) ly1 = y;
      }
    }
  }
  if (lx1 < 0) return { rle: encodeMaskWindow(new Uint8Array(0), 0, 0, 0, 0, height, width), area: 0 };
  // output pixels whose source coordinate lies in (l0 - 1, l1 + 1): x = (src + 0.5) / scale - 0.5
  const sx = maskW / width;
  const sy = maskH / height;
  const x0 = Math.max(0, Math.floor((lx0 - 1 + 0.5) / sx - 0.5));
  const x1 = Math.min(width, Math.ceil((lx1 + 1 + 0.5) / sx - 0.5) + 1);
  const y0 = Math.max(0, Math.floor((ly0 - 1 + 0.5) / sy - 0.5));
  const y1 = Math.min(height, Math.ceil((ly1 + 1 + 0.5) / sy - 0.5) + 1);
  const ww = x1 - x0;
  const wh = y1 - y0;
  const ax = bilinearAxis(maskW, width, x0, x1);
  const ay = bilinearAxis(maskH, height, y0, y1);
  const win = new Uint8Array(ww * wh);
  let area = 0;
  for (let y = 0; y < wh; y++) {
    const r0 = offset + ay.i0[y] * maskW;
    const r1 = offset + ay.i1[y] * maskW;
    const ty = ay.t[y];
    for (let x = 0; x < ww; x++) {
      const a0 = ax.i0[x];
      const a1 = ax.i1[x];
      const tx = ax.t[x];
      const top = data[r0 + a0] + (data[r0 + a1] - data[r0 + a0]) * tx;
      const bot = data[r1 + a0] + (data[r1 + a1] - data[r1 + a0]) * tx;
      if (top + (bot - top) * ty > logitThreshold) {
        win[y * ww + x] = 1;
        area++;
      }
    }
  }
  return { rle: encodeMaskWindow(win, wh, ww, x0, y0, height, width), area };
}

export interface Detection {
  label: string;
  query: number;
  score: number;
  prob: number;
  presence: number;
  /** image pixels x0, y0, x1, y1 */
  bbox: [number, number, number, number];
  /** COCO RLE at the original resolution; null without mask output (or masks disabled) */
  rle: Rle | null;
  maskArea: number | null;
}

export interface PostprocessOptions {
  threshold: number;
  maxDetections: number;
  boxFormat?: BoxFormat;
  /** sigmoid threshold for masks (Hugging Face default 0.5) */
  maskThreshold?: number;
  masks?: boolean;
}

/** Decoder outputs of one prompt -> detections in original image pixels. */
export function postprocess(raw: RawDetections, label: string, width: number, height: number, o: PostprocessOptions): Detection[] {
  const kept = scoreQueries(raw, o.threshold, o.maxDetections, o.boxFormat ?? 'xyxy');
  const lt = logit(o.maskThreshold ?? 0.5);
  return kept.map((k) => {
    let rle: Rle | null = null;
    let maskArea: number | null = null;
    if (raw.masks && o.masks !== false) {
      const { data, height: mh, width: mw } = raw.masks;
      const r = maskLogitsToRle(data, k.query * mh * mw, mh, mw, height, width, lt);
      rle = r.rle;
      maskArea = r.area;
    }
    return { label, query: k.query, score: k.score, prob: k.prob, presence: k.presence, bbox: boxToPixels(k.box, width, height), rle, maskArea };
  });
}

// ---------------------------------------------------------------------------------------------
// runtime

/** The ONNX files do not follow the contract: permanent. */
export class Sam3ContractError extends PermanentError {
  override name = 'Sam3ContractError';
}

export interface Sam3Files {
  imageEncoder: string;
  textEncoder: string;
  decoder: string;
}

export interface Sam3RuntimeOptions {
  providers?: readonly string[];
  /** intra-op threads (0 = onnxruntime default) */
  threads?: number;
  /** image size used when the encoder's input size is symbolic */
  imageSize?: number;
  /** tokens per prompt when the text encoder's length is symbolic (SAM 3: 32) */
  contextLength?: number;
  pad?: PadMode;
}

type Meta = ort.InferenceSession.ValueMetadata;

function metaMap(list: readonly Meta[]): Map<string, Meta> {
  return new Map(list.map((m) => [m.name, m]));
}

function describe(m: Meta | undefined): string {
  if (!m) return 'missing';
  if (!m.isTensor) return 'not a tensor';
  return `${m.type} [${m.shape.join(',')}]`;
}

function tensorMeta(m: Meta | undefined): { type: string; shape: ReadonlyArray<number | string> } | null {
  return m && m.isTensor ? { type: m.type, shape: m.shape } : null;
}

/** Names the decoder's text inputs use in this export. */
function decoderTextSlots(dec: Map<string, Meta>): { features: string; mask: string } | null {
  for (let i = 0; i < IO.decoder.textFeatures.length; i++) {
    const f = IO.decoder.textFeatures[i];
    const m = IO.decoder.textMask[i];
    if (dec.has(f) && dec.has(m)) return { features: f, mask: m };
  }
  return null;
}

/**
 * Check names, dtypes and ranks of the three sessions against the contract (README.md).
 * Returns human-readable problems (empty when it follows the contract).
 */
export function checkSam3Contract(image: Pick<ort.InferenceSession, 'inputMetadata' | 'outputMetadata'>, text: Pick<ort.InferenceSession, 'inputMetadata' | 'outputMetadata'>, decoder: Pick<ort.InferenceSession, 'inputMetadata' | 'outputMetadata'>): string[] {
  const problems: string[] = [];
  const want = (where: string, m: Meta | undefined, name: string, types: string[], ranks: number[], required = true) => {
    const t = tensorMeta(m);
    if (!m) {
      if (required) problems.push(`${where} '${name}' is missing`);
      return;
    }
    if (!t) return void problems.push(`${where} '${name}' is not a tensor`);
    if (!types.includes(t.type)) problems.push(`${where} '${name}' must be ${types.join(' or ')}, is ${describe(m)}`);
    else if (t.shape.length && !ranks.includes(t.shape.length)) problems.push(`${where} '${name}' must have rank ${ranks.join(' or ')}, is ${describe(m)}`);
  };
  // image encoder: one float32 rank-4 input, float32 outputs
  const imgIn = image.inputMetadata;
  if (imgIn.length !== 1) problems.push(`image encoder: must have exactly one input (the image), has ${imgIn.map((m) => m.name).join(', ') || 'none'}`);
  else {
    want('image encoder input', imgIn[0], imgIn[0].name, ['float32'], [4]);
    const s = tensorMeta(imgIn[0])?.shape;
    if (s && s.length === 4 && typeof s[1] === 'number' && s[1] !== 3) problems.push(`image encoder input '${imgIn[0].name}' must have 3 channels (NCHW RGB), is ${describe(imgIn[0])}`);
  }
  if (!image.outputMetadata.length) problems.push('image encoder: has no outputs');
  // text encoder
  const tIn = metaMap(text.inputMetadata);
  const tOut = metaMap(text.outputMetadata);
  want('text encoder input', tIn.get(IO.text.inputIds), IO.text.inputIds, ['int64'], [2]);
  want('text encoder input', tIn.get(IO.text.attentionMask), IO.text.attentionMask, ['int64', 'int32', 'bool'], [2], false);
  for (const n of tIn.keys()) if (n !== IO.text.inputIds && n !== IO.text.attentionMask) problems.push(`text encoder: unexpected input '${n}' (the contract has '${IO.text.inputIds}' and optionally '${IO.text.attentionMask}')`);
  want('text encoder output', tOut.get(IO.text.features), IO.text.features, ['float32'], [3]);
  want('text encoder output', tOut.get(IO.text.mask), IO.text.mask, ['bool', 'int64', 'int32', 'float32'], [2]);
  // decoder
  const dIn = metaMap(decoder.inputMetadata);
  const dOut = metaMap(decoder.outputMetadata);
  const imageOutputs = new Set(image.outputMetadata.map((m) => m.name));
  const slots = decoderTextSlots(dIn);
  if (!slots) problems.push(`decoder: needs text inputs '${IO.decoder.textFeatures[0]}' + '${IO.decoder.textMask[0]}' (or '${IO.decoder.textFeatures[1]}' + '${IO.decoder.textMask[1]}'), has ${[...dIn.keys()].join(', ')}`);
  else {
    want('decoder input', dIn.get(slots.features), slots.features, ['float32'], [3]);
    want('decoder input', dIn.get(slots.mask), slots.mask, ['bool', 'int64', 'int32', 'float32'], [2]);
  }
  const hasBoxes = dIn.has(IO.decoder.boxes);
  const hasLabels = dIn.has(IO.decoder.boxLabels);
  if (hasBoxes !== hasLabels) problems.push(`decoder: '${IO.decoder.boxes}' and '${IO.decoder.boxLabels}' come together`);
  if (hasBoxes) {
    want('decoder input', dIn.get(IO.decoder.boxes), IO.decoder.boxes, ['float32'], [3]);
    want('decoder input', dIn.get(IO.decoder.boxLabels), IO.decoder.boxLabels, ['int64', 'int32'], [2]);
  }
  for (const n of dIn.keys()) {
    if (imageOutputs.has(n)) continue;
    if (slots && (n === slots.features || n === slots.mask)) continue;
    if (n === IO.decoder.boxes || n === IO.decoder.boxLabels) continue;
    problems.push(`decoder: input '${n}' is neither an image encoder output (${[...imageOutputs].join(', ')}) nor a text/box input`);
  }
  want('decoder output', dOut.get(IO.decoder.predBoxes), IO.decoder.predBoxes, ['float32'], [3]);
  want('decoder output', dOut.get(IO.decoder.predLogits), IO.decoder.predLogits, ['float32'], [2, 3]);
  want('decoder output', dOut.get(IO.decoder.presence), IO.decoder.presence, ['float32'], [1, 2], false);
  want('decoder output', dOut.get(IO.decoder.predMasks), IO.decoder.predMasks, ['float32'], [4], false);
  return problems;
}

export interface TextEmbedding {
  prompt: string;
  ids: number[];
  features: ort.Tensor;
  mask: ort.Tensor;
}

export interface Sam3Counters {
  imageEncoderRuns: number;
  textEncoderRuns: number;
  decoderRuns: number;
  imageMs: number;
  textMs: number;
  decoderMs: number;
}

function castTensor(t: ort.Tensor, type: string): ort.Tensor {
  if (t.type === type) return t;
  const src = t.data as ArrayLike<number | bigint | boolean>;
  const n = src.length;
  const num = (v: number | bigint | boolean) => (typeof v === 'bigint' ? Number(v) : Number(v));
  if (type === 'bool') return new ort.Tensor('bool', Uint8Array.from({ length: n }, (_, i) => (num(src[i]) !== 0 ? 1 : 0)), t.dims);
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(Math.trunc(num(src[i])))), t.dims);
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from({ length: n }, (_, i) => Math.trunc(num(src[i]))), t.dims);
  if (type === 'float32') return new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => num(src[i])), t.dims);
  throw new Sam3ContractError(`cannot convert a ${t.type} tensor to ${type}`);
}

function intTensor(type: string, values: number[], dims: number[]): ort.Tensor {
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from(values), dims);
  return new ort.Tensor('int64', BigInt64Array.from(values.map((v) => BigInt(v))), dims);
}

function floatData(t: ort.Tensor | undefined, name: string): Float32Array {
  if (!t || t.type !== 'float32') throw new Sam3ContractError(`decoder output '${name}' must be float32, got ${t?.type ?? 'nothing'}`);
  return t.data as Float32Array;
}

async function createSession(file: string, what: string, opts: Sam3RuntimeOptions): Promise<ort.InferenceSession> {
  return createOnnxSession(file, onnxSessionOptions(opts), (why) => new Sam3ContractError(`object_detect: onnxruntime cannot load the SAM 3 ${what} ${file}: ${why}`));
}

/**
 * The three SAM 3 sessions plus the tokenizer. Text embeddings are cached per prompt for the
 * life of the runtime (one per worker and model files), so the text encoder runs once per prompt.
 */
export class Sam3Runtime {
  readonly counters: Sam3Counters = { imageEncoderRuns: 0, textEncoderRuns: 0, decoderRuns: 0, imageMs: 0, textMs: 0, decoderMs: 0 };
  /** encoder input size (from the model when fixed, else the option) */
  readonly inputWidth: number;
  readonly inputHeight: number;
  readonly contextLength: number;
  readonly imageInput: string;
  private readonly textCache = new Map<string, Promise<TextEmbedding>>();
  private readonly decoderIn: Map<string, Meta>;
  private readonly slots: { features: string; mask: string };
  private readonly fetches: string[];

  private constructor(
    readonly files: Sam3Files,
    readonly image: ort.InferenceSession,
    readonly text: ort.InferenceSession,
    readonly decoder: ort.InferenceSession,
    readonly tokenizer: ClipTokenizer,
    readonly options: Sam3RuntimeOptions,
  ) {
    const inMeta = tensorMeta(image.inputMetadata[0]);
    const size = options.imageSize ?? SAM3_IMAGE_SIZE;
    const h = inMeta?.shape[2];
    const w = inMeta?.shape[3];
    this.inputHeight = typeof h === 'number' && h > 0 ? h : size;
    this.inputWidth = typeof w === 'number' && w > 0 ? w : size;
    this.imageInput = image.inputNames[0];
    const ids = tensorMeta(metaMap(text.inputMetadata).get(IO.text.inputIds));
    const len = ids?.shape[1];
    this.contextLength = typeof len === 'number' && len > 0 ? len : (options.contextLength ?? SAM3_CONTEXT_LENGTH);
    this.decoderIn = metaMap(decoder.inputMetadata);
    this.slots = decoderTextSlots(this.decoderIn)!;
    const outs = new Set(decoder.outputNames);
    this.fetches = [IO.decoder.predBoxes, IO.decoder.predLogits, IO.decoder.presence, IO.decoder.predMasks].filter((n) => outs.has(n));
  }

  static async load(files: Sam3Files, tokenizer: ClipTokenizer, opts: Sam3RuntimeOptions = {}): Promise<Sam3Runtime> {
    const sessions: ort.InferenceSession[] = [];
    try {
      for (const [file, what] of [
        [files.imageEncoder, 'image encoder'],
        [files.textEncoder, 'text encoder'],
        [files.decoder, 'decoder'],
      ] as const) {
        sessions.push(await createSession(file, what, opts));
      }
      const [image, text, decoder] = sessions;
      const problems = checkSam3Contract(image, text, decoder);
      if (problems.length) {
        throw new Sam3ContractError(
          `object_detect: the SAM 3 ONNX files do not follow the contract (operators/object_detect/README.md):\n  - ${problems.join('\n  - ')}\n` +
            `  (image encoder ${files.imageEncoder}, text encoder ${files.textEncoder}, decoder ${files.decoder})`,
        );
      }
      return new Sam3Runtime(files, image, text, decoder, tokenizer, opts);
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
      throw e;
    }
  }

  /** Encoded prompt (text encoder output), computed once per prompt and cached. */
  encodeText(prompt: string): Promise<TextEmbedding> {
    let p = this.textCache.get(prompt);
    if (!p) {
      p = this.runText(prompt);
      this.textCache.set(prompt, p);
      p.catch(() => this.textCache.delete(prompt));
    }
    return p;
  }

  /** Every prompt's embedding, in order (cached). */
  encodeTexts(prompts: readonly string[]): Promise<TextEmbedding[]> {
    return Promise.all(prompts.map((p) => this.encodeText(p)));
  }

  private async runText(prompt: string): Promise<TextEmbedding> {
    const tk = this.tokenizer.tokenize(prompt, { contextLength: this.contextLength, pad: this.options.pad ?? 'eot' });
    const L = this.contextLength;
    const inMeta = metaMap(this.text.inputMetadata);
    const feeds: Record<string, ort.Tensor> = { [IO.text.inputIds]: intTensor('int64', tk.ids, [1, L]) };
    const am = tensorMeta(inMeta.get(IO.text.attentionMask));
    if (am) {
      const t = intTensor('int64', tk.attentionMask, [1, L]);
      feeds[IO.text.attentionMask] = castTensor(t, am.type);
    }
    const t0 = performance.now();
    const res = await this.text.run(feeds, [IO.text.features, IO.text.mask]);
    this.counters.textMs += performance.now() - t0;
    this.counters.textEncoderRuns++;
    const features = res[IO.text.features];
    const mask = res[IO.text.mask];
    if (!features || !mask) throw new Sam3ContractError(`text encoder did not return '${IO.text.features}' and '${IO.text.mask}'`);
    return { prompt, ids: tk.ids, features, mask };
  }

  /** Encoder input [1, 3, H, W] (see imageToTensor) -> image features by output name. */
  async encodeImage(tensor: Float32Array): Promise<Record<string, ort.Tensor>> {
    const t0 = performance.now();
    const input = new ort.Tensor('float32', tensor, [1, 3, this.inputHeight, this.inputWidth]);
    const out = await this.image.run({ [this.imageInput]: input });
    this.counters.imageMs += performance.now() - t0;
    this.counters.imageEncoderRuns++;
    return out;
  }

  /** Decoder on one image's features and one prompt's embedding. */
  async decode(imageFeatures: Record<string, ort.Tensor>, text: TextEmbedding): Promise<RawDetections> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, m] of this.decoderIn) {
      if (imageFeatures[name]) feeds[name] = imageFeatures[name];
      else if (name === this.slots.features) feeds[name] = text.features;
      else if (name === this.slots.mask) feeds[name] = castTensor(text.mask, tensorMeta(m)?.type ?? text.mask.type);
      else if (name === IO.decoder.boxes) feeds[name] = new ort.Tensor('float32', new Float32Array(4), [1, 1, 4]);
      else if (name === IO.decoder.boxLabels) feeds[name] = intTensor(tensorMeta(m)?.type ?? 'int64', [BOX_PAD_LABEL], [1, 1]);
      else throw new Sam3ContractError(`decoder input '${name}' has no source (the image encoder did not output it)`);
    }
    const t0 = performance.now();
    const res = await this.decoder.run(feeds, this.fetches);
    this.counters.decoderMs += performance.now() - t0;
    this.counters.decoderRuns++;
    const boxesT = res[IO.decoder.predBoxes];
    const boxes = floatData(boxesT, IO.decoder.predBoxes);
    const logits = floatData(res[IO.decoder.predLogits], IO.decoder.predLogits);
    const count = logits.length;
    if (boxes.length !== count * 4) throw new Sam3ContractError(`decoder: '${IO.decoder.predBoxes}' has ${boxes.length} values for ${count} queries (dims [${boxesT?.dims.join(',')}]); batch 1 expected`);
    let presence: number | null = null;
    if (res[IO.decoder.presence]) {
      const p = floatData(res[IO.decoder.presence], IO.decoder.presence);
      if (p.length !== 1) throw new Sam3ContractError(`decoder: '${IO.decoder.presence}' must hold one value per prompt, has ${p.length}`);
      presence = p[0];
    }
    let masks: RawDetections['masks'];
    const mt = res[IO.decoder.predMasks];
    if (mt) {
      const data = floatData(mt, IO.decoder.predMasks);
      const dims = mt.dims;
      const mh = dims[dims.length - 2];
      const mw = dims[dims.length - 1];
      if (data.length !== count * mh * mw) throw new Sam3ContractError(`decoder: '${IO.decoder.predMasks}' dims [${dims.join(',')}] do not match ${count} queries`);
      masks = { data, height: mh, width: mw };
    }
    return { count, boxes, logits, presence, masks };
  }

  async release(): Promise<void> {
    await Promise.all([this.image, this.text, this.decoder].map((s) => s.release().catch(() => undefined)));
  }
}

// Runtimes shared within a worker, keyed by model files + options: two ops (or two param sets)
// with the same model share the sessions and the text cache.
const runtimes = new Map<string, Promise<Sam3Runtime>>();

export function runtimeKey(files: Sam3Files, tokenizerFiles: readonly string[], opts: Sam3RuntimeOptions): string {
  return JSON.stringify([files.imageEncoder, files.textEncoder, files.decoder, tokenizerFiles, opts.providers ?? ['cpu'], opts.threads ?? 0, opts.imageSize ?? SAM3_IMAGE_SIZE, opts.contextLength ?? SAM3_CONTEXT_LENGTH, opts.pad ?? 'eot']);
}

export function getSam3Runtime(files: Sam3Files, tokenizerFiles: readonly string[], loadTokenizer: () => ClipTokenizer, opts: Sam3RuntimeOptions = {}): Promise<Sam3Runtime> {
  const key = runtimeKey(files, tokenizerFiles, opts);
  let p = runtimes.get(key);
  if (!p) {
    p = Promise.resolve().then(() => Sam3Runtime.load(files, loadTokenizer(), opts));
    runtimes.set(key, p);
    p.catch(() => runtimes.delete(key));
  }
  return p;
}

/** Drop (and release) every cached runtime of this worker. */
export async function releaseSam3Runtimes(): Promise<void> {
  const all = [...runtimes.values()];
  runtimes.clear();
  await Promise.all(all.map((p) => p.then((r) => r.release()).catch(() => undefined)));
}
