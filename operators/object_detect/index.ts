/**
 * object_detect: SAM 3 text-prompted concept detection ("hand", "cup", "knife", ...) on keyframes
 * of each clip: the first frame of the clip and every `keyframe_stride` frames after it. One row
 * per detected instance with its score, box and (when the decoder outputs masks) COCO RLE mask
 * at the video resolution. ONNX contract, exporters and conventions: README.md.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { DecodeError, decodeFrames, setToolPaths, type DecodeOptions, type DecodedFrame } from '../../src/ffmpeg.js';
import { PermanentError, type OperatorSpec, type Row, type TableSpec, type TaskInput, type TaskOutput } from '../types.js';
import {
  SAM3_IMAGE_SIZE,
  getSam3Runtime,
  imageToTensor,
  keyframeIndices,
  postprocess,
  resolveThresholds,
  type BoxFormat,
  type Detection,
  type Sam3Files,
  type Sam3Runtime,
} from './sam3.js';
import { ClipTokenizer, SAM3_CONTEXT_LENGTH, findTokenizerFiles, tokenizerFilesFromPath, type PadMode, type TokenizerFiles } from './tokenizer.js';
import { PROVIDERS_PARAM } from '../../src/onnx/providers.js';

export interface ObjectDetectParams {
  /** folder with vision-encoder.onnx, text-encoder.onnx, decoder.onnx and the tokenizer files */
  model_dir?: string;
  image_encoder?: string;
  text_encoder?: string;
  decoder?: string;
  tokenizer?: string;
  prompts: string[];
  threshold: number;
  thresholds?: Record<string, number> | number;
  keyframe_stride: number;
  max_detections: number;
  masks: boolean;
  mask_threshold: number;
  box_format: BoxFormat;
  image_size: number;
  context_length: number;
  text_pad: PadMode;
  providers: string[];
  threads: number;
}

export const DEFAULT_PARAMS: Omit<ObjectDetectParams, 'prompts'> = {
  threshold: 0.5,
  keyframe_stride: 30,
  max_detections: 20,
  masks: true,
  mask_threshold: 0.5,
  box_format: 'xyxy',
  image_size: SAM3_IMAGE_SIZE,
  context_length: SAM3_CONTEXT_LENGTH,
  text_pad: 'eot',
  providers: ['auto'],
  threads: 0,
};

/** File names looked for in model_dir (the layout of the usls SAM 3 export, README.md). */
export const MODEL_FILES = {
  image_encoder: ['vision-encoder.onnx', 'vision_encoder.onnx', 'image-encoder.onnx', 'image_encoder.onnx'],
  text_encoder: ['text-encoder.onnx', 'text_encoder.onnx'],
  decoder: ['decoder.onnx', 'geo-encoder-mask-decoder.onnx'],
} as const;

export const TABLE: TableSpec = {
  name: 'detections',
  description: 'Text-prompted concept detections (SAM 3) on keyframes of each clip: one row per instance, box in image pixels, optional COCO RLE mask.',
  columns: {
    clip_id: 'VARCHAR',
    frame: 'INTEGER',
    label: 'VARCHAR',
    score: 'FLOAT',
    bbox: 'FLOAT[]',
    rle_counts: 'VARCHAR',
    height: 'INTEGER',
    width: 'INTEGER',
  },
  docs: {
    clip_id: 'clip the keyframe belongs to',
    frame: '0-based frame number in the video: the first frame of the clip, then every keyframe_stride frames',
    label: 'the text prompt that found the instance, as given in prompts',
    score: 'sigmoid(pred_logit) x sigmoid(presence_logit) (SAM 3: box probability x prompt presence); rows are above the label threshold',
    bbox: 'box [x0, y0, x1, y1] in image pixels (video resolution), clipped to the image',
    rle_counts: 'COCO compressed RLE of the instance mask at the video resolution ({size: [height, width], counts}); null when the model outputs no masks or masks: false',
    height: 'mask height = video height',
    width: 'mask width = video width',
  },
};

export const WEIGHTS_HELP =
  'object_detect needs SAM 3 exported to ONNX as three files (image encoder, text encoder, decoder) plus the CLIP tokenizer files, ' +
  'laid out as in operators/object_detect/README.md: `vision-encoder.onnx` (input images [1,3,1008,1008]), `text-encoder.onnx` ' +
  "(input_ids/attention_mask [1,32] -> text_features, text_mask), `decoder.onnx` (-> pred_boxes, pred_logits, presence_logits, pred_masks), " +
  'and `vocab.json` + `merges.txt`, `tokenizer.json` or `bpe_simple_vocab_16e6.txt.gz`. Export them from the facebook/sam3 checkpoint ' +
  '(gated on Hugging Face, SAM License) with the usls exporter (github.com/jamjamjon/usls, scripts/sam3-image: `uv run export_v2.py --all --model-path <sam3 folder> --output-dir <model_dir>`) ' +
  'and copy the tokenizer files of the checkpoint beside them; then set `model_dir: <model_dir>` (or image_encoder/text_encoder/decoder/tokenizer) in the recipe. ' +
  'This operator never produces output without real weights.';

/** Missing weights: permanent (dead-lettered at once; the run refuses before any work). */
export class ObjectDetectWeightsError extends PermanentError {
  override name = 'ObjectDetectWeightsError';
}

export function resolveParams(p: Partial<ObjectDetectParams>): ObjectDetectParams {
  const given = Object.fromEntries(Object.entries(p ?? {}).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_PARAMS, prompts: [], ...given } as ObjectDetectParams;
}

export interface ResolvedFiles extends Sam3Files {
  tokenizer: TokenizerFiles;
}

const isFile = (p: string) => existsSync(p) && statSync(p).isFile() && statSync(p).size > 0;

/**
 * Locate the model files: explicit paths first, else the usual names in model_dir. Throws
 * ObjectDetectWeightsError naming every missing file.
 */
export function resolveModelFiles(params: Partial<ObjectDetectParams>): ResolvedFiles {
  const p = resolveParams(params);
  const dir = typeof p.model_dir === 'string' && p.model_dir.trim() ? path.resolve(p.model_dir) : undefined;
  const missing: string[] = [];
  const pick = (key: keyof typeof MODEL_FILES): string => {
    const explicit = p[key];
    if (typeof explicit === 'string' && explicit.trim()) {
      const f = path.resolve(explicit);
      if (!isFile(f)) missing.push(`${key}: ${f} (not found or empty)`);
      return f;
    }
    if (!dir) {
      missing.push(`${key}: no file (set model_dir or ${key})`);
      return '';
    }
    for (const n of MODEL_FILES[key]) if (isFile(path.join(dir, n))) return path.join(dir, n);
    missing.push(`${key}: none of ${MODEL_FILES[key].join(', ')} in ${dir}`);
    return path.join(dir, MODEL_FILES[key][0]);
  };
  const imageEncoder = pick('image_encoder');
  const textEncoder = pick('text_encoder');
  const decoder = pick('decoder');
  let tokenizer: TokenizerFiles | null = null;
  if (typeof p.tokenizer === 'string' && p.tokenizer.trim()) {
    tokenizer = tokenizerFilesFromPath(path.resolve(p.tokenizer));
    if (!tokenizer) missing.push(`tokenizer: ${path.resolve(p.tokenizer)} (not found, or no vocab.json + merges.txt / tokenizer.json / bpe_simple_vocab_16e6.txt.gz there)`);
  } else if (dir) {
    tokenizer = findTokenizerFiles(dir);
    if (!tokenizer) missing.push(`tokenizer: none of vocab.json + merges.txt, tokenizer.json, bpe_simple_vocab_16e6.txt.gz in ${dir}`);
  } else missing.push('tokenizer: no file (set model_dir or tokenizer)');
  if (missing.length || !tokenizer) {
    throw new ObjectDetectWeightsError(`object_detect: SAM 3 model files missing:\n  - ${missing.join('\n  - ')}\n${WEIGHTS_HELP}`);
  }
  return { imageEncoder, textEncoder, decoder, tokenizer };
}

/** Parameter checks beyond the schema (prompts, thresholds). */
export function checkParams(p: Partial<ObjectDetectParams>): string[] {
  const errs: string[] = [];
  const prompts = p.prompts;
  if (!Array.isArray(prompts) || prompts.length === 0) errs.push('prompts: give at least one text prompt, e.g. prompts: [hand, cup, knife]');
  else {
    const seen = new Set<string>();
    for (const q of prompts) {
      if (typeof q !== 'string' || !q.trim()) errs.push(`prompts: every prompt must be a non-empty string, got ${JSON.stringify(q)}`);
      else if (seen.has(q)) errs.push(`prompts: "${q}" is listed twice`);
      else seen.add(q);
    }
  }
  const t = p.thresholds;
  if (t !== undefined && t !== null) {
    if (typeof t === 'number') {
      if (!(t >= 0 && t <= 1)) errs.push(`thresholds: must be in [0, 1], got ${t}`);
    } else if (typeof t === 'object' && !Array.isArray(t)) {
      for (const [k, v] of Object.entries(t)) {
        if (Array.isArray(prompts) && !prompts.includes(k)) errs.push(`thresholds.${k}: "${k}" is not one of the prompts (${(prompts ?? []).join(', ')})`);
        if (typeof v !== 'number' || !(v >= 0 && v <= 1)) errs.push(`thresholds.${k}: must be a number in [0, 1], got ${JSON.stringify(v)}`);
      }
    } else errs.push('thresholds: a number or a mapping label -> number');
  }
  return errs;
}

export interface ObjectDetectState {
  runtime: Sam3Runtime;
}

/** Keyframes of the task as decode options (frames decoded at the encoder input size). */
export function keyframeDecodeOptions(task: Pick<TaskInput<Partial<ObjectDetectParams>>, 'video' | 'clip' | 'params'>): DecodeOptions {
  const p = resolveParams(task.params);
  const clip = task.clip;
  if (!clip) throw new Error('object_detect is a clip-level op and needs task.clip');
  const v = task.video;
  return {
    path: v.path,
    width: p.image_size,
    height: p.image_size,
    startFrame: clip.start_frame,
    endFrame: clip.end_frame,
    step: p.keyframe_stride,
    fps: v.vfr ? undefined : v.fps,
    pixFmt: 'rgb24',
  };
}

export interface KeyframeImage {
  index: number;
  width: number;
  height: number;
  data: Uint8Array;
}

export interface DetectResult {
  rows: Row[];
  stats: Record<string, number>;
}

const f32 = (x: number) => Math.fround(x);

/**
 * Everything but decoding: for each keyframe, encode the image once, run the decoder per prompt
 * with the cached text embeddings, score and threshold, map boxes and masks to the video size.
 */
export async function detectKeyframes(
  frames: AsyncIterable<KeyframeImage> | Iterable<KeyframeImage>,
  runtime: Sam3Runtime,
  p: ObjectDetectParams,
  where: { clip_id: string; width: number; height: number; keyframes?: ReadonlySet<number> },
): Promise<DetectResult> {
  const textRuns0 = runtime.counters.textEncoderRuns;
  const texts = await runtime.encodeTexts(p.prompts);
  const thresholds = resolveThresholds(p.prompts, p.threshold, p.thresholds);
  const stats: Record<string, number> = { keyframes: 0, detections: 0, decoder_runs: 0, image_ms: 0, decoder_ms: 0, post_ms: 0 };
  const rows: Row[] = [];
  const { width, height } = where;
  const tensor = new Float32Array(3 * runtime.inputWidth * runtime.inputHeight);
  for await (const fr of frames) {
    if (where.keyframes && !where.keyframes.has(fr.index)) continue;
    stats.keyframes++;
    const t0 = performance.now();
    imageToTensor(fr, runtime.inputWidth, runtime.inputHeight, tensor);
    const feats = await runtime.encodeImage(tensor);
    stats.image_ms += performance.now() - t0;
    for (let i = 0; i < p.prompts.length; i++) {
      const label = p.prompts[i];
      const t1 = performance.now();
      const raw = await runtime.decode(feats, texts[i]);
      stats.decoder_ms += performance.now() - t1;
      stats.decoder_runs++;
      const t2 = performance.now();
      const dets: Detection[] = postprocess(raw, label, width, height, {
        threshold: thresholds.get(label)!,
        maxDetections: p.max_detections,
        boxFormat: p.box_format,
        maskThreshold: p.mask_threshold,
        masks: p.masks,
      });
      stats.post_ms += performance.now() - t2;
      for (const d of dets) {
        rows.push({
          clip_id: where.clip_id,
          frame: fr.index,
          label: d.label,
          score: f32(d.score),
          bbox: d.bbox.map(f32),
          rle_counts: d.rle ? d.rle.counts : null,
          height,
          width,
        });
      }
      stats.detections += dets.length;
    }
  }
  stats.text_encoder_runs = runtime.counters.textEncoderRuns - textRuns0;
  return { rows, stats };
}

export const op: OperatorSpec<Partial<ObjectDetectParams>, ObjectDetectState> = {
  name: 'object_detect',
  description:
    'SAM 3 text-prompted concept detection (e.g. hand, cup, knife) on keyframes of each clip: boxes, scores and COCO RLE masks; needs the SAM 3 ONNX export.',
  level: 'clip',
  needs: [],
  params: {
    model_dir: {
      type: 'string',
      description: 'Folder with the SAM 3 ONNX export (vision-encoder.onnx, text-encoder.onnx, decoder.onnx) and the CLIP tokenizer files (vocab.json + merges.txt, tokenizer.json or bpe_simple_vocab_16e6.txt.gz); see operators/object_detect/README.md. Required unless every file is given.',
    },
    image_encoder: { type: 'string', description: 'Explicit path of the image encoder ONNX (overrides model_dir).' },
    text_encoder: { type: 'string', description: 'Explicit path of the text encoder ONNX (overrides model_dir).' },
    decoder: { type: 'string', description: 'Explicit path of the decoder ONNX (overrides model_dir).' },
    tokenizer: { type: 'string', description: 'Explicit tokenizer: a folder, vocab.json (merges.txt beside it), tokenizer.json or bpe_simple_vocab_16e6.txt.gz.' },
    prompts: { type: 'string[]', description: 'Text prompts (noun phrases), one label each, e.g. [hand, cup, knife, bowl].', required: true },
    threshold: { type: 'number', description: 'Keep instances whose score (box probability x presence) is above this, for labels without their own threshold.', default: 0.5, min: 0, max: 1 },
    thresholds: { type: 'object', description: 'Per-label thresholds overriding `threshold`, e.g. {hand: 0.4, knife: 0.6}.' },
    keyframe_stride: { type: 'integer', description: 'Run on the first frame of each clip and every this many frames after it.', default: 30, min: 1 },
    max_detections: { type: 'integer', description: 'At most this many instances per label and keyframe (highest scores).', default: 20, min: 1, max: 1000 },
    masks: { type: 'boolean', description: 'Store instance masks (COCO RLE) when the decoder outputs pred_masks.', default: true },
    mask_threshold: { type: 'number', description: 'Mask pixels are kept where sigmoid(mask logit) is above this (after resizing to the video size).', default: 0.5, min: 0, max: 1 },
    box_format: { type: 'enum', values: ['xyxy', 'cxcywh'], description: 'Layout of pred_boxes (normalised): xyxy for the Hugging Face SAM 3 model and the usls export.', default: 'xyxy' },
    image_size: { type: 'integer', description: 'Keyframes are decoded (stretched) to this square size; the encoder input size when the model does not fix it (SAM 3: 1008).', default: SAM3_IMAGE_SIZE, min: 16, max: 4096 },
    context_length: { type: 'integer', description: 'Tokens per prompt when the text encoder does not fix it (SAM 3: 32).', default: SAM3_CONTEXT_LENGTH, min: 2, max: 512 },
    text_pad: {
      type: 'enum',
      values: ['eot', 'zero'],
      description: "Token padding: 'eot' pads with the end token 49407 (Hugging Face tokenizer, the usls export); 'zero' pads with 0 (original SAM 3 tokenizer, exports that derive the mask from tokens != 0).",
      default: 'eot',
    },
    providers: { ...PROVIDERS_PARAM, default: [...PROVIDERS_PARAM.default] },
    threads: { type: 'integer', description: 'onnxruntime intra-op threads (0 = onnxruntime default).', default: 0, min: 0, max: 256 },
  },
  outputs: [TABLE],
  resources: { pool: 'gpu', concurrency: 1 },
  models: ['sam3'],
  validate(params) {
    const errs = checkParams(params);
    try {
      resolveModelFiles(params);
    } catch (e) {
      errs.push((e as Error).message);
    }
    return errs;
  },
  async resolveModels(params) {
    const errs = checkParams(params);
    if (errs.length) throw new PermanentError(`object_detect: ${errs.join('; ')}`);
    const f = resolveModelFiles(params);
    // vocab.json stands for vocab.json + merges.txt (found beside it)
    const tokenizerFile = f.tokenizer.files[0];
    return {
      params: { ...params, image_encoder: f.imageEncoder, text_encoder: f.textEncoder, decoder: f.decoder, tokenizer: tokenizerFile },
      files: [
        { name: 'sam3_image_encoder', path: f.imageEncoder },
        { name: 'sam3_text_encoder', path: f.textEncoder },
        { name: 'sam3_decoder', path: f.decoder },
        ...f.tokenizer.files.map((file) => ({ name: `sam3_tokenizer:${path.basename(file)}`, path: file })),
      ],
    };
  },
  frames: (task) => keyframeDecodeOptions(task),
  cost(task) {
    const p = resolveParams(task.params);
    const c = task.clip;
    const n = c ? Math.ceil((c.end_frame - c.start_frame) / Math.max(1, p.keyframe_stride)) : 1;
    return n * Math.max(1, p.prompts.length);
  },
  async setup(params) {
    const p = resolveParams(params);
    const f = resolveModelFiles(p);
    const runtime = await getSam3Runtime(f, f.tokenizer.files, () => ClipTokenizer.fromFiles(f.tokenizer), {
      providers: p.providers,
      threads: p.threads,
      imageSize: p.image_size,
      contextLength: p.context_length,
      pad: p.text_pad,
    });
    return { runtime };
  },
  async run(task: TaskInput<Partial<ObjectDetectParams>>, ctx): Promise<TaskOutput> {
    const p = resolveParams(task.params);
    // Refuse before anything else: no weights, no output (also when setup was skipped).
    resolveModelFiles(p);
    const errs = checkParams(p);
    if (errs.length) throw new PermanentError(`object_detect: ${errs.join('; ')}`);
    const runtime = ctx.state?.runtime;
    if (!runtime) throw new ObjectDetectWeightsError(`object_detect: the SAM 3 model was not loaded (setup did not run). ${WEIGHTS_HELP}`);
    const clip = task.clip;
    if (!clip) throw new Error('object_detect is a clip-level op and needs task.clip');
    const v = task.video;
    const wanted = new Set(keyframeIndices(clip.start_frame, clip.end_frame, p.keyframe_stride));
    let frames: AsyncIterable<DecodedFrame> | undefined = ctx.frames;
    if (!frames) {
      setToolPaths({ ffmpeg: task.tools.ffmpeg, ffprobe: task.tools.ffprobe });
      frames = decodeFrames({ ...keyframeDecodeOptions(task), signal: ctx.signal });
    }
    try {
      const { rows, stats } = await detectKeyframes(frames, runtime, p, { clip_id: clip.clip_id, width: v.width, height: v.height, keyframes: wanted });
      return { rows: { [TABLE.name]: rows }, stats: { ...stats, frames: stats.keyframes } };
    } catch (e) {
      if (e instanceof DecodeError && e.permanent) throw new PermanentError(e.message);
      throw e;
    }
  },
};

export default op;
